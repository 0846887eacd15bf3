//! One POP3 session as a state machine (RFC 1939 §3-6), without sockets or backend calls.
//!
//! The driver (the server's connection task) feeds parsed commands in; the session appends
//! its replies to an output buffer and returns an [`Action`] when something beyond a reply
//! is needed: a backend call, a message transfer, or closing. Backend results come back
//! through [`Session::login_done`] and [`Session::update_done`]. So every protocol rule is
//! decided here and tested with plain calls.

mod listing;
mod login_delay;
mod maildrop;

pub use listing::Listing;
pub use login_delay::LoginTracker;
pub use maildrop::Maildrop;

use crate::protocol::capa::Capabilities;
use crate::protocol::command::Command;
use crate::protocol::reply;
use crate::protocol::sasl::{self, Exchange, Mechanism};
use pop3_plugin_api::{Expire, PopError, ResponseCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Server-wide settings every session reads.
#[derive(Clone)]
pub struct SessionConfig {
    /// The greeting text after `+OK`.
    pub greeting: String,
    /// Whether the backend verifies APOP: then the greeting carries a timestamp.
    pub apop: bool,
    /// The backend's LOGIN-DELAY and EXPIRE for everyone, announced before login.
    pub login_delay: Option<u32>,
    pub expire: Option<Expire>,
    /// For APOP timestamps `<random.connection.time@hostname>`.
    pub hostname: String,
    /// Whether STLS can be offered (a certificate is configured).
    pub tls_available: bool,
    /// Failed logins on one connection before it is closed.
    pub max_auth_failures: usize,
}

/// What the session knows of its connection's security.
#[derive(Clone, Copy, Debug)]
pub struct Transport {
    /// Encrypted from the start (implicit TLS).
    pub tls: bool,
    /// The plaintext policy allows passwords in clear from this client.
    pub cleartext_auth: bool,
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
    /// The status line of a LIST or UIDL is written: call [`Session::write_listing`] until it
    /// returns `false`, writing the output out in between.
    Listing(Listing),
    /// Enter UPDATE: delete these (index, id) through the backend, then call
    /// [`Session::update_done`].
    Update(Vec<(usize, String)>),
    /// The `+OK` to STLS is written: discard unread input, do the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls,
}

/// How a login attempt ended, for the driver's limits.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    LoggedIn,
    Refused {
        /// The credentials were wrong: the failed-login delay applies.
        bad_credentials: bool,
        /// Too many failures on this connection: close it after the reply.
        close: bool,
    },
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub index: usize,
    pub id: String,
    pub size: u64,
    /// `Some(n)` for TOP with n body lines.
    pub top: Option<u32>,
}

impl Transfer {
    fn new(index: usize, msg: &maildrop::Message, top: Option<u32>) -> Self {
        Self {
            index,
            id: msg.id.clone(),
            size: msg.size,
            top,
        }
    }

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
    /// An AUTH exchange waits for the client's next response line.
    Sasl(Exchange),
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
    transport: Transport,
    failures: usize,
}

impl Session {
    /// A new session for connection number `connection`, opened at `unix_time`.
    pub fn new(
        config: Arc<SessionConfig>,
        logins: Arc<LoginTracker>,
        connection: u64,
        unix_time: u64,
        transport: Transport,
    ) -> Self {
        let apop_timestamp = config.apop.then(|| {
            format!(
                "<{}.{connection}.{unix_time}@{}>",
                apop_nonce(),
                config.hostname
            )
        });
        Self {
            config,
            logins,
            apop_timestamp,
            state: State::Authorization { user: None },
            transport,
            failures: 0,
        }
    }

    pub fn greeting(&self, out: &mut Vec<u8>) {
        match &self.apop_timestamp {
            Some(timestamp) => reply::ok(out, &format!("{} {timestamp}", self.config.greeting)),
            None => reply::ok(out, &self.config.greeting),
        }
    }

    /// One command line, or a response line during an AUTH exchange.
    pub fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Action {
        if let State::Sasl(exchange) = &mut self.state {
            let step = exchange.respond(&String::from_utf8_lossy(line));
            return self.sasl_step(step, out);
        }
        match Command::parse(line) {
            Ok(command) => self.handle(command, out),
            Err(error) => {
                reply::err_plain(out, &error.to_string());
                Action::Continue
            }
        }
    }

    pub fn line_too_long(&mut self, out: &mut Vec<u8>) {
        if let State::Sasl(_) = self.state {
            self.state = State::Authorization { user: None };
        }
        reply::err_plain(out, "Command line too long.");
    }

    pub fn handle(&mut self, command: Command, out: &mut Vec<u8>) -> Action {
        let plaintext_auth = self.plaintext_auth();
        match (&mut self.state, command) {
            (_, Command::Capa) => {
                self.capabilities().write(out);
                Action::Continue
            }
            (_, Command::Proxy) => {
                reply::err_plain(out, "PROXY header not accepted from your address.");
                self.state = State::Closed;
                Action::Close
            }
            (State::Authorization { .. }, Command::Quit) => {
                reply::ok(out, "Logging out.");
                self.state = State::Closed;
                Action::Close
            }
            (
                State::Authorization { .. },
                Command::User(_)
                | Command::Auth {
                    mechanism: Some(_), ..
                },
            ) if !plaintext_auth => {
                reply::err_coded(out, ResponseCode::AUTH, PLAINTEXT_REFUSED);
                Action::Continue
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
            (
                State::Authorization { .. },
                Command::Auth {
                    mechanism: None, ..
                },
            ) => {
                let mut list = String::from("+OK Mechanisms follow\r\n");
                for mechanism in Mechanism::ALL.iter().filter(|_| plaintext_auth) {
                    list.push_str(mechanism.name());
                    list.push_str("\r\n");
                }
                list.push_str(".\r\n");
                out.extend_from_slice(list.as_bytes());
                Action::Continue
            }
            (
                State::Authorization { .. },
                Command::Auth {
                    mechanism: Some(name),
                    initial_response,
                },
            ) => match Mechanism::from_name(&name) {
                Some(mechanism) => {
                    let (exchange, step) = Exchange::start(mechanism, initial_response.as_deref());
                    self.state = State::Sasl(exchange);
                    self.sasl_step(step, out)
                }
                None => {
                    reply::err_plain(out, "Unsupported authentication mechanism.");
                    Action::Continue
                }
            },
            (State::Authorization { user }, Command::Stls) => {
                if self.transport.tls {
                    reply::err_plain(out, "TLS is already active.");
                    Action::Continue
                } else if !self.config.tls_available {
                    reply::err_plain(out, "STLS is not available.");
                    Action::Continue
                } else {
                    *user = None;
                    reply::ok(out, "Begin TLS negotiation.");
                    Action::StartTls
                }
            }
            (State::Authorization { .. }, Command::Utf8) => {
                reply::ok(out, "UTF8 enabled.");
                Action::Continue
            }
            (State::Transaction { maildrop, .. }, command) => transaction(maildrop, command, out),
            (State::Authorization { .. }, _) => {
                reply::err_plain(out, "Not allowed before login.");
                Action::Continue
            }
            // Lines during an exchange go to `line`; a closed session reads nothing more.
            (State::Sasl(_) | State::Closed, _) => Action::Close,
        }
    }

    /// Moves an AUTH exchange on by one step.
    fn sasl_step(&mut self, step: sasl::Step, out: &mut Vec<u8>) -> Action {
        let next = match step {
            sasl::Step::Challenge(challenge) => {
                out.extend_from_slice(format!("+ {challenge}\r\n").as_bytes());
                return Action::Continue;
            }
            sasl::Step::Credentials { user, password } => Action::Login(Login {
                user,
                secret: Secret::Password(password),
            }),
            sasl::Step::Cancelled => {
                reply::err_plain(out, "Authentication cancelled.");
                Action::Continue
            }
            sasl::Step::Invalid(why) => {
                reply::err_plain(out, why);
                Action::Continue
            }
        };
        self.state = State::Authorization { user: None };
        next
    }

    /// Appends the next lines of a LIST or UIDL until `out` holds `bound` octets; returns
    /// whether lines remain (see [`Listing::write`]).
    pub fn write_listing(&self, listing: &mut Listing, out: &mut Vec<u8>, bound: usize) -> bool {
        match &self.state {
            State::Transaction { maildrop, .. } => listing.write(maildrop, out, bound),
            // Not reached: a listing starts in TRANSACTION, and nothing runs until it is done.
            _ => {
                out.extend_from_slice(b".\r\n");
                false
            }
        }
    }

    /// The RETR a client downloading the maildrop in order sends after the one of message
    /// `index`: what the server may prefetch.
    pub fn next_retrieve(&self, index: usize) -> Option<Transfer> {
        match &self.state {
            State::Transaction { maildrop, .. } => maildrop
                .next_live(index)
                .map(|(next, msg)| Transfer::new(next, msg, None)),
            _ => None,
        }
    }

    /// STLS succeeded: nothing from before the handshake is trusted (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.transport.tls = true;
        self.state = State::Authorization { user: None };
    }

    fn plaintext_auth(&self) -> bool {
        self.transport.tls || self.transport.cleartext_auth
    }

    /// The backend's answer to [`Action::Login`]. When it is not [`LoginOutcome::LoggedIn`],
    /// the driver releases the mailbox it may hold.
    pub fn login_done(
        &mut self,
        login: &Login,
        result: Result<Granted, PopError>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> LoginOutcome {
        let granted = match result {
            Ok(granted) => granted,
            Err(error) => {
                reply::err(out, &error);
                let bad_credentials = error.code == ResponseCode::AUTH;
                self.failures += usize::from(bad_credentials);
                let close = self.failures >= self.config.max_auth_failures;
                if close {
                    self.state = State::Closed;
                }
                return LoginOutcome::Refused {
                    bad_credentials,
                    close,
                };
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
                return LoginOutcome::Refused {
                    bad_credentials: false,
                    close: false,
                };
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
        LoginOutcome::LoggedIn
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
                plaintext_auth: false,
                stls: false,
                login_delay: *login_delay,
                expire: *expire,
            },
            _ => Capabilities {
                logged_in: false,
                plaintext_auth: self.plaintext_auth(),
                stls: self.config.tls_available && !self.transport.tls,
                login_delay: self.config.login_delay,
                expire: self.config.expire,
            },
        }
    }
}

const PLAINTEXT_REFUSED: &str = "Plaintext authentication is not allowed without TLS; use STLS.";

/// The TRANSACTION state (RFC 1939 §5).
fn transaction(maildrop: &mut Maildrop, command: Command, out: &mut Vec<u8>) -> Action {
    match command {
        Command::Stat => {
            let (count, octets) = maildrop.stat();
            reply::ok(out, &format!("{count} {octets}"));
        }
        Command::List(None) => {
            return Action::Listing(Listing::start(maildrop, listing::Kind::Sizes, out))
        }
        Command::Uidl(None) => {
            return Action::Listing(Listing::start(maildrop, listing::Kind::Uidls, out))
        }
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
                Ok((index, msg)) => return Action::Transfer(Transfer::new(index, msg, top)),
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
        Command::User(_)
        | Command::Pass(_)
        | Command::Apop { .. }
        | Command::Auth { .. }
        | Command::Stls
        | Command::Utf8 => reply::err_plain(out, "Already logged in."),
        Command::Capa | Command::Proxy => unreachable!("answered in every state"),
    }
    Action::Continue
}

/// The random part of an APOP timestamp (RFC 1939 §7): unique per greeting, and telling
/// nothing about the server (a process id would help guess other names it makes). At most
/// `u32::MAX`, which `service::check_greeting_fits` assumes.
fn apop_nonce() -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No entropy source at all: the process's random hash keys still hide the pid.
        use std::hash::BuildHasher;
        return std::collections::hash_map::RandomState::new().hash_one(()) as u32;
    }
    u32::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests;
