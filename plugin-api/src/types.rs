//! The plain Rust values that cross between host and backend.

use std::net::SocketAddr;

/// One client connection, as the host sees it. Passed to every backend call so that a backend
/// can rate-limit, ban or log by address without keeping its own table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Unique for the life of the server process; `connect` and `disconnect` share it.
    pub id: u64,
    /// The client's address (the real one behind a trusted proxy).
    pub peer: SocketAddr,
    /// The server address the client connected to.
    pub local: SocketAddr,
    /// Whether the connection is encrypted (implicit TLS or after STLS).
    pub tls: bool,
}

impl Connection {
    /// More of what the host knows of this connection (plugin-api 1.2): TLS version and SNI
    /// name, the address the client connected to, whether the address came from a PROXY
    /// header. Asked of the host at the time of the call, so it is current (STLS changes it).
    /// `None` from hosts older than 1.2, after the connection closed, and in unit tests.
    pub fn details(&self) -> Option<ConnectionDetails> {
        crate::context::connection_details(self.id)
    }
}

/// What [`Connection::details`] tells. More fields may come in later 1.x versions, so it
/// cannot be built with a struct literal outside this crate; hosts use
/// [`ConnectionDetails::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionDetails {
    /// The negotiated TLS version (`"TLSv1.3"`), `None` in plaintext.
    pub tls_version: Option<String>,
    /// The server name the client asked for in its TLS handshake (SNI), if any.
    pub sni: Option<String>,
    /// The address the client connected to: behind a PROXY header, the one the header names.
    pub local: SocketAddr,
    /// Whether [`Connection::peer`] and `local` came from a PROXY header.
    pub proxied: bool,
    /// `false` when a PROXY header named no client (`UNKNOWN`, `LOCAL`, a Unix socket): then
    /// [`Connection::peer`] is the proxy's own address, not the client's.
    pub client_known: bool,
}

impl ConnectionDetails {
    /// A plaintext, direct connection to `local`.
    pub fn new(local: SocketAddr) -> Self {
        Self {
            tls_version: None,
            sni: None,
            local,
            proxied: false,
            client_known: true,
        }
    }
}

/// Which maildrop a mailbox opened, as the backend names it ([`crate::Mailbox::maildrop`]):
/// the key of the host's RFC 1939 lock and of `--max-sessions-per-user`. Two logins that
/// reach the same maildrop under different names (`ALICE` and `alice`, an alias) must give
/// the same name here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Maildrop {
    /// One session at a time (RFC 1939 §8): while one is open, the host answers a second
    /// login `-ERR [IN-USE]`, also when the second comes after a reload.
    Exclusive(String),
    /// Many sessions at once (a shared or read-only maildrop); the name still counts for
    /// `--max-sessions-per-user`.
    Shared(String),
}

/// One message of a maildrop, as listed at login by [`crate::Mailbox::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    /// Unique within the maildrop, stable across sessions and never reused for another
    /// message: the host serves it as the UIDL when it is 1-70 characters of 0x21-0x7E, and a
    /// stable hash of it otherwise. The host hands it back in every [`MessageRef`].
    pub id: String,
    /// The size in octets as sent, with every line ending in CRLF and before dot-stuffing: a
    /// bare LF counts two octets, and a message that does not end in a line ending gets a
    /// final CRLF (an LF after a final CR), counted too. `None` when it is not cheap to know:
    /// the host then asks [`crate::Mailbox::size`], and if that has no answer either,
    /// measures the message once by reading it.
    pub size: Option<u64>,
}

impl MessageInfo {
    pub fn new(id: impl Into<String>, size: Option<u64>) -> Self {
        Self {
            id: id.into(),
            size,
        }
    }
}

/// Which message a call is about: its position in the list returned at login (0-based: the
/// client's message 1 is index 0) and its id as listed. A backend uses whichever it finds
/// handy. It always names a message of this session's list, never one the client named
/// that does not exist (the host answers those itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRef<'a> {
    pub index: usize,
    pub id: &'a str,
}

/// How long the server keeps messages after they were retrieved (RFC 2449 EXPIRE), as
/// announced in CAPA. `Days(0)` tells clients that retrieved mail may be deleted at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expire {
    Never,
    Days(u32),
}

/// What `pop3host --describe` prints about a plugin. No side effects to produce it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// One or two sentences: what mailboxes this backend serves.
    pub description: String,
    /// The configuration keys and an example, for `--plugin-config`.
    pub config_help: String,
}
