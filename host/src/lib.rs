//! pop3host: a POP3 server whose mailboxes come from plugins.
//!
//! - [`protocol`]: the wire format, sans I/O.
//! - [`session`]: the per-connection state machine, sans I/O.
//! - [`server`]: tokio listeners and connections, the blocking pool for backend calls.
//! - [`config`] and [`loader`]: settings and plugin loading.

pub mod protocol;
pub mod session;
