//! The author's face of the contract: two ordinary traits.
//!
//! Every method is called on a thread of the host's blocking pool, never on an async worker,
//! so it may block (file I/O, a database query, a socket to another server). Each call has a
//! deadline in the host; a call that runs past it costs the session, not the server.
//! A panic in any method is caught and becomes `-ERR [SYS/TEMP]` for that session only.

use crate::{Connection, Expire, MessageInfo, MessageRef, PluginInfo, PopError};
use std::io::Read;

/// A byte stream of one message, in whatever line endings the store has: the host turns
/// every line ending into CRLF and dot-stuffs.
pub type MessageReader = Box<dyn Read + Send>;

/// The backend: who may log in, and to which maildrop. One value per loaded plugin, shared by
/// all sessions (hence `Sync`).
pub trait Backend: Send + Sync + Sized + 'static {
    /// The maildrop of one logged-in session.
    type Mailbox: Mailbox;

    /// Name, version and configuration help. Called without `init`, so no side effects.
    fn describe() -> PluginInfo;

    /// Called once at load with the `--plugin-config` JSON text (`null` when none was given).
    /// An error stops the server at startup with this message.
    fn init(config: &str) -> Result<Self, PopError>;

    /// A client connected. An error refuses the connection with that reply (bans, rate
    /// limits). The default admits everyone.
    fn connect(&self, _conn: &Connection) -> Result<(), PopError> {
        Ok(())
    }

    /// The connection ended, however it ended.
    fn disconnect(&self, _conn: &Connection) {}

    /// USER/PASS (and SASL PLAIN/LOGIN). On success the returned mailbox holds the maildrop's
    /// exclusive lock until it is dropped (return [`PopError::in_use`] if another session
    /// holds it). A wrong user and a wrong password should both be [`PopError::auth`].
    fn authenticate(
        &self,
        user: &str,
        password: &str,
        conn: &Connection,
    ) -> Result<Self::Mailbox, PopError>;

    /// Whether [`Backend::apop`] works. When false the greeting carries no APOP timestamp.
    fn supports_apop(&self) -> bool {
        false
    }

    /// APOP (RFC 1939 §7): `digest` is 32 lowercase hex digits of MD5(timestamp + secret).
    fn apop(
        &self,
        _user: &str,
        _digest: &str,
        _timestamp: &str,
        _conn: &Connection,
    ) -> Result<Self::Mailbox, PopError> {
        Err(PopError::auth("APOP is not supported by this backend"))
    }

    /// The minimum number of seconds between two logins (RFC 2449 LOGIN-DELAY): for a user,
    /// or for everyone when `user` is `None` (announced before login). The host enforces it.
    fn login_delay(&self, _user: Option<&str>) -> Option<u32> {
        None
    }

    /// How long retrieved mail stays on the server (RFC 2449 EXPIRE), as for `login_delay`.
    fn expire(&self, _user: Option<&str>) -> Option<Expire> {
        None
    }
}

/// One session's maildrop. Dropping it releases the lock; that is all that happens when a
/// client disconnects without QUIT, times out, or the server shuts down.
pub trait Mailbox: Send + 'static {
    /// The messages, once at login. Their order is the message numbering of the session.
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError>;

    /// The size of a message whose [`MessageInfo::size`] was `None`. The default has no
    /// answer, and the host then measures the message by reading it once.
    fn size(&mut self, _msg: MessageRef<'_>) -> Result<Option<u64>, PopError> {
        Ok(None)
    }

    /// The whole message (RETR). The host streams it in chunks; keep memory bounded.
    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError>;

    /// A reader for TOP that holds at least the header, the blank line and `lines` body lines
    /// (the host cuts the rest). The default, `None`, makes the host read from `retrieve`.
    fn top(
        &mut self,
        _msg: MessageRef<'_>,
        _lines: u32,
    ) -> Result<Option<MessageReader>, PopError> {
        Ok(None)
    }

    /// The UPDATE state: called once when the client QUITs from TRANSACTION, with the
    /// messages marked deleted (possibly none). Never called for a dropped connection.
    /// An error tells the client that some messages were not removed.
    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError>;
}
