//! One POP3 session as a state machine (RFC 1939 §3-6), without sockets or backend calls.
//!
//! The driver (the server's connection task) feeds parsed commands in; the session appends
//! its replies to an output buffer and returns an [`Action`] when something beyond a reply
//! is needed: a backend call, a message transfer, or closing. Backend results come back
//! through [`Session::login_done`] and [`Session::update_done`]. So every protocol rule is
//! decided here and tested with plain calls: the AUTHORIZATION state in [`authorization`],
//! TRANSACTION and UPDATE in [`transaction`], what goes in and out in [`types`].

mod authorization;
mod listing;
mod login_delay;
mod message_table;
mod transaction;
mod types;

pub use listing::Listing;
pub use login_delay::LoginTracker;
pub use message_table::MessageTable;
pub use types::{Action, Granted, Login, LoginOutcome, Secret, SessionConfig, Transfer, Transport};

use crate::protocol::capa::Capabilities;
use crate::protocol::command::Command;
use crate::protocol::reply;
use crate::protocol::sasl::Exchange;
use pop3_plugin_api::Expire;
use std::sync::Arc;

enum State {
    Authorization {
        user: Option<String>,
    },
    /// An AUTH exchange waits for the client's next response line.
    Sasl(Exchange),
    Transaction {
        messages: MessageTable,
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
    /// The client sent QUIT (in any state).
    quit: bool,
    /// The keyword of the last command line, until the driver counts it.
    command: Option<&'static str>,
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
                authorization::apop_nonce(),
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
            quit: false,
            command: None,
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
                self.command = Some("invalid");
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
        self.quit |= command == Command::Quit;
        self.command = Some(command.keyword());
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
            (State::Authorization { .. }, command) => self.authorization(command, out),
            (State::Transaction { messages, .. }, command) => {
                transaction::command(messages, command, out)
            }
            // Lines during an exchange go to `line`; a closed session reads nothing more.
            (State::Sasl(_) | State::Closed, _) => Action::Close,
        }
    }

    /// The keyword of the command line just handled, once (`invalid` for a line that did not
    /// parse; `None` after an AUTH response line).
    pub fn take_command(&mut self) -> Option<&'static str> {
        self.command.take()
    }

    /// Whether the client sent QUIT: a session it closed, not the server.
    pub fn quit_received(&self) -> bool {
        self.quit
    }

    /// DELE marks standing: in TRANSACTION, those UPDATE would delete.
    pub fn marked_count(&self) -> usize {
        match &self.state {
            State::Transaction { messages, .. } => messages.marked_count(),
            _ => 0,
        }
    }

    /// Appends the next lines of a LIST or UIDL until `out` holds `bound` octets; returns
    /// whether lines remain (see [`Listing::write`]).
    pub fn write_listing(&self, listing: &mut Listing, out: &mut Vec<u8>, bound: usize) -> bool {
        match &self.state {
            State::Transaction { messages, .. } => listing.write(messages, out, bound),
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
            State::Transaction { messages, .. } => messages
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

    /// Whether USER/PASS and SASL PLAIN/LOGIN work now: over TLS, or where the plaintext
    /// policy allows them without.
    fn plaintext_auth(&self) -> bool {
        self.transport.tls || self.transport.plaintext_auth_without_tls
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

#[cfg(test)]
mod tests;
