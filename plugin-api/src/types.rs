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
