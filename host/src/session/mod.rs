//! One POP3 session as a state machine (RFC 1939 §3-6), without sockets or backend calls.
//!
//! The driver (the server's connection task) feeds parsed commands in; the session appends
//! its replies to an output buffer and returns an [`Action`] when something beyond a reply
//! is needed: a backend call, a message transfer, or closing. Backend results come back
//! through [`Session::login_done`] and [`Session::update_done`]. So every protocol rule is
//! decided here and tested with plain calls.

mod login_delay;
mod maildrop;

pub use login_delay::LoginTracker;
pub use maildrop::Maildrop;

use crate::protocol::capa::Capabilities;
use crate::protocol::command::{Command, ParseError};
use crate::protocol::reply;
use pop3_plugin_api::{Expire, PopError};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Server-wide settings every session reads.
pub struct SessionConfig {
    /// The greeting text after `+OK`.
    pub greeting: String,
    /// Whether the backend verifies APOP: then the greeting carries a timestamp.
    pub apop: bool,
    /// The backend's LOGIN-DELAY and EXPIRE for everyone, announced before login.
    pub login_delay: Option<u32>,
    pub expire: Option<Expire>,
    /// For APOP timestamps `<pid.connection.time@hostname>`.
    pub hostname: String,
}

/// What the driver must do after a command, beyond writing the buffered reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Write the reply, then close the connection.
    Close,
    /// Check credentials with the backend, then call [`Session::login_done`].
    Login(Login),
    /// Send a message: on success write [`Transfer::ok_line`] and the encoded body.
    Transfer(Transfer),
    /// Enter UPDATE: delete these (index, id) through the backend, then call
    /// [`Session::update_done`].
    Update(Vec<(usize, String)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub secret: Secret,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    Password(String),
    Apop { digest: String, timestamp: String },
}

/// What the backend granted at login.
pub struct Granted {
    /// (id, size) of every message, sizes resolved.
    pub messages: Vec<(String, u64)>,
    pub login_delay: Option<u32>,
    pub expire: Option<Expire>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Transfer {
    pub index: usize,
    pub id: String,
    pub size: u64,
    /// `Some(n)` for TOP with n body lines.
    pub top: Option<u32>,
}

impl Transfer {
    pub fn ok_line(&self, out: &mut Vec<u8>) {
        match self.top {
            None => reply::ok(out, &format!("{} octets", self.size)),
            Some(_) => reply::ok(out, "Top of message follows."),
        }
    }
}

enum State {
    Authorization {
        user: Option<String>,
    },
    Transaction {
        maildrop: Maildrop,
        login_delay: Option<u32>,
        expire: Option<Expire>,
    },
    Closed,
}

pub struct Session {
    config: Arc<SessionConfig>,
    logins: Arc<LoginTracker>,
    apop_timestamp: Option<String>,
    state: State,
}

impl Session {
    /// A new session for connection number `connection`, opened at `unix_time`.
    pub fn new(
        config: Arc<SessionConfig>,
        logins: Arc<LoginTracker>,
        connection: u64,
        unix_time: u64,
    ) -> Self {
        let apop_timestamp = config.apop.then(|| {
            format!(
                "<{}.{connection}.{unix_time}@{}>",
                std::process::id(),
                config.hostname
            )
        });
        Self {
            config,
            logins,
            apop_timestamp,
            state: State::Authorization { user: None },
        }
    }

    pub fn greeting(&self, out: &mut Vec<u8>) {
        match &self.apop_timestamp {
            Some(timestamp) => reply::ok(out, &format!("{} {timestamp}", self.config.greeting)),
            None => reply::ok(out, &self.config.greeting),
        }
    }

    pub fn parse_error(&self, error: ParseError, out: &mut Vec<u8>) {
        reply::err_plain(out, &error.to_string());
    }

    pub fn line_too_long(&self, out: &mut Vec<u8>) {
        reply::err_plain(out, "Command line too long.");
    }

    pub fn handle(&mut self, command: Command, out: &mut Vec<u8>) -> Action {
        match (&mut self.state, command) {
            (_, Command::Capa) => {
                self.capabilities().write(out);
                Action::Continue
            }
            (State::Authorization { .. }, Command::Quit) => {
                reply::ok(out, "Logging out.");
                self.state = State::Closed;
                Action::Close
            }
            (State::Authorization { user }, Command::User(name)) => {
                *user = Some(name);
                reply::ok(out, "Send PASS.");
                Action::Continue
            }
            (State::Authorization { user }, Command::Pass(password)) => match user.take() {
                Some(user) => Action::Login(Login {
                    user,
                    secret: Secret::Password(password),
                }),
                None => {
                    reply::err_plain(out, "No user name given, send USER first.");
                    Action::Continue
                }
            },
            (State::Authorization { user }, Command::Apop { user: name, digest }) => {
                *user = None;
                match &self.apop_timestamp {
                    Some(timestamp) => Action::Login(Login {
                        user: name,
                        secret: Secret::Apop {
                            digest,
                            timestamp: timestamp.clone(),
                        },
                    }),
                    None => {
                        reply::err_plain(out, "APOP is not available.");
                        Action::Continue
                    }
                }
            }
            (State::Transaction { maildrop, .. }, command) => transaction(maildrop, command, out),
            (State::Authorization { .. }, _) => {
                reply::err_plain(out, "Not allowed before login.");
                Action::Continue
            }
            (State::Closed, _) => Action::Close,
        }
    }

    /// The backend's answer to [`Action::Login`]. Returns whether the session is now logged in;
    /// when not, the driver releases the mailbox it may hold.
    pub fn login_done(
        &mut self,
        login: &Login,
        result: Result<Granted, PopError>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        let granted = match result {
            Ok(granted) => granted,
            Err(error) => {
                reply::err(out, &error);
                return false;
            }
        };
        if let Some(delay) = granted.login_delay {
            if let Err(wait) =
                self.logins
                    .admit(&login.user, Duration::from_secs(delay.into()), now)
            {
                let text = format!(
                    "Logged in too recently, try again in {} seconds.",
                    wait.as_secs().max(1)
                );
                reply::err(out, &PopError::login_delay(text));
                return false;
            }
        }
        let maildrop = Maildrop::new(granted.messages);
        let (count, octets) = maildrop.stat();
        reply::ok(
            out,
            &format!("Logged in, {count} messages ({octets} octets)."),
        );
        self.state = State::Transaction {
            maildrop,
            login_delay: granted.login_delay,
            expire: granted.expire,
        };
        true
    }

    /// The backend's answer to [`Action::Update`]. The session is over either way.
    pub fn update_done(&mut self, deleted: usize, result: Result<(), PopError>, out: &mut Vec<u8>) {
        match result {
            Ok(()) => reply::ok(out, &format!("Logging out, {deleted} messages deleted.")),
            Err(error) => {
                let text = format!("Some deleted messages were not removed: {}", error.message);
                reply::err(out, &PopError::new(error.code, text));
            }
        }
        self.state = State::Closed;
    }

    fn capabilities(&self) -> Capabilities {
        match &self.state {
            State::Transaction {
                login_delay,
                expire,
                ..
            } => Capabilities {
                logged_in: true,
                login_delay: *login_delay,
                expire: *expire,
            },
            _ => Capabilities {
                logged_in: false,
                login_delay: self.config.login_delay,
                expire: self.config.expire,
            },
        }
    }
}

/// The TRANSACTION state (RFC 1939 §5).
fn transaction(maildrop: &mut Maildrop, command: Command, out: &mut Vec<u8>) -> Action {
    match command {
        Command::Stat => {
            let (count, octets) = maildrop.stat();
            reply::ok(out, &format!("{count} {octets}"));
        }
        Command::List(None) => listing(maildrop, out, |m, text| write!(text, "{}", m.size)),
        Command::Uidl(None) => listing(maildrop, out, |m, text| text.write_str(&m.uidl)),
        Command::List(Some(n)) => match maildrop.get(n) {
            Ok((_, msg)) => reply::ok(out, &format!("{} {}", n.0, msg.size)),
            Err(e) => reply::err_plain(out, e.text()),
        },
        Command::Uidl(Some(n)) => match maildrop.get(n) {
            Ok((_, msg)) => reply::ok(out, &format!("{} {}", n.0, msg.uidl)),
            Err(e) => reply::err_plain(out, e.text()),
        },
        Command::Retr(n) | Command::Top { msg: n, .. } => {
            let top = match command {
                Command::Top { lines, .. } => Some(lines),
                _ => None,
            };
            match maildrop.get(n) {
                Ok((index, msg)) => {
                    return Action::Transfer(Transfer {
                        index,
                        id: msg.id.clone(),
                        size: msg.size,
                        top,
                    })
                }
                Err(e) => reply::err_plain(out, e.text()),
            }
        }
        Command::Dele(n) => match maildrop.mark_deleted(n) {
            Ok(()) => reply::ok(out, &format!("Message {} deleted.", n.0)),
            Err(e) => reply::err_plain(out, e.text()),
        },
        Command::Rset => {
            maildrop.unmark_all();
            let (count, octets) = maildrop.stat();
            reply::ok(
                out,
                &format!("Maildrop has {count} messages ({octets} octets)."),
            );
        }
        Command::Noop => reply::ok(out, ""),
        Command::Quit => return Action::Update(maildrop.marked()),
        Command::User(_) | Command::Pass(_) | Command::Apop { .. } => {
            reply::err_plain(out, "Already logged in.")
        }
        Command::Capa => unreachable!("CAPA is answered in every state"),
    }
    Action::Continue
}

/// A multi-line LIST or UIDL of the messages not marked deleted.
fn listing(
    maildrop: &Maildrop,
    out: &mut Vec<u8>,
    value: impl Fn(&maildrop::Message, &mut String) -> std::fmt::Result,
) {
    let (count, octets) = maildrop.stat();
    reply::ok(out, &format!("{count} messages ({octets} octets)"));
    let mut text = String::with_capacity(count * 16);
    for (n, msg) in maildrop.live() {
        let _ = write!(text, "{n} ");
        let _ = value(msg, &mut text);
        text.push_str("\r\n");
    }
    text.push_str(".\r\n");
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests;
