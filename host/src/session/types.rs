//! What the session and its driver exchange: settings in, actions out, backend results back.

use super::message_table::Message;
use super::Listing;
use crate::protocol::reply;
use pop3_plugin_api::Expire;

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
    /// The plaintext policy (`--plaintext-auth`) allows USER/PASS and SASL PLAIN/LOGIN from
    /// this client without TLS.
    pub plaintext_auth_without_tls: bool,
}

/// What the driver must do after a command, beyond writing the buffered reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Write the reply, then close the connection.
    Close,
    /// Check credentials with the backend, then call [`super::Session::login_done`].
    Login(Login),
    /// Send a message: on success write [`Transfer::ok_line`] and the encoded body.
    Transfer(Transfer),
    /// The status line of a LIST or UIDL is written: call [`super::Session::write_listing`]
    /// until it returns `false`, writing the output out in between.
    Listing(Listing),
    /// Enter UPDATE: delete these (index, id) through the backend, then call
    /// [`super::Session::update_done`].
    Update(Vec<(usize, String)>),
    /// The `+OK` to STLS is written: discard unread input, do the TLS handshake, then call
    /// [`super::Session::tls_started`].
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
    /// `USER`, `APOP`, or the SASL mechanism (for the metrics).
    pub mechanism: &'static str,
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

/// A RETR or TOP of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub index: usize,
    pub id: String,
    pub size: u64,
    /// `Some(n)` for TOP with n body lines.
    pub top: Option<u32>,
}

impl Transfer {
    pub(super) fn new(index: usize, msg: &Message, top: Option<u32>) -> Self {
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
