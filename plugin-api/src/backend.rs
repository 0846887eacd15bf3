//! The author's face of the contract: two ordinary traits.
//!
//! Every method is called on a thread of the host's blocking pool, never on an async worker,
//! so it may block (file I/O, a database query, a socket to another server). Each call has a
//! deadline in the host (`--backend-timeout`, 30 s by default); a call that runs past it costs
//! the session (`-ERR [SYS/TEMP]`, then the connection closes), not the server, and whatever
//! the call owned is dropped when it returns. A panic in any method is caught and becomes
//! `-ERR [SYS/TEMP]` for that session only.

use crate::{Connection, Expire, MessageInfo, MessageRef, PluginInfo, PopError};
use std::io::Read;

/// A byte stream of one message, in whatever line endings the store has: the host turns
/// every line ending into CRLF and dot-stuffs.
///
/// The host reads it in chunks, each `read` a separate call on its blocking pool with its own
/// deadline, and stops early (dropping the reader) when it has what TOP needs or the client
/// went away. Stream from the store rather than loading a large message whole. An error from
/// `read` after the first bytes went out can only be signalled by closing the connection, so
/// find what can fail (a missing file) in [`Mailbox::retrieve`], before returning the reader.
/// A [`PopError`] wrapped in the `io::Error` (`io::Error::other(err)`) keeps its code.
pub type MessageReader = Box<dyn Read + Send>;

/// The backend: who may log in, and to which maildrop. One value per loaded plugin, made by
/// [`Backend::init`] and shared by all sessions (hence `Sync`), for as long as sessions use it.
///
/// Per connection the host calls [`connect`](Backend::connect), then, for each login attempt,
/// [`authenticate`](Backend::authenticate) or [`apop`](Backend::apop) (and after a success
/// [`login_delay`](Backend::login_delay) and [`expire`](Backend::expire) for that user), and
/// finally [`disconnect`](Backend::disconnect). Calls for different connections run at the
/// same time on different threads: guard shared state with a `Mutex` or the store's own
/// transactions.
pub trait Backend: Send + Sync + Sized + 'static {
    /// The maildrop of one logged-in session.
    type Mailbox: Mailbox;

    /// Whether the host may prefetch. Clients download a maildrop in order, so once a RETR
    /// has read its message the host may open the next message through [`Mailbox::top`] with `u32::MAX` lines
    /// before the client asks for it, and read its first octets; if the client asks for
    /// something else, the reader is dropped unread. A RETR served from a prefetch still gets
    /// its [`Mailbox::retrieve`] call, later (before the next call on that mailbox, if one
    /// comes), with the reader dropped unread: what `retrieve` records, such as a Seen flag
    /// for UPDATE, stays exact.
    ///
    /// Say `true` only when `top` then returns the whole message, with no effect a client
    /// could see, and costs little when abandoned: a local file, yes; a command sent to
    /// another server, no. `false` by default.
    ///
    /// A constant, where [`supports_apop`](Backend::supports_apop) is a method: the host reads
    /// it from the library (ABI 1.1's `Prefetch` table), before and apart from any `init`,
    /// whereas APOP depends on the configuration (whether any user has a shared secret).
    const PREFETCH: bool = false;

    /// File descriptors (files, directories, sockets) one logged-in session of this backend
    /// keeps open beyond the host's client socket: the maildir plugin's lock file and
    /// directory handles, say. The host checks at startup that its open-file limit holds
    /// `--max-connections` sessions of this size (plugin-api 1.3). 0 by default.
    const DESCRIPTORS_PER_SESSION: u32 = 0;

    /// Name, version and configuration help, for `pop3host --describe` and the log line at
    /// load. Called before (and without) `init`, possibly more than once: no side effects, no
    /// I/O, no configuration.
    fn describe() -> PluginInfo;

    /// Called once when the host loads the plugin, with the `--plugin-config` JSON text as
    /// given (`null` when none was given), before the server accepts connections. Parse and
    /// check the configuration here, and open or check what it names (a database, a
    /// directory, an upstream address), so that a mistake stops the server at startup with a
    /// message that names the file or key at fault. An error does exactly that: pop3host
    /// exits with `plugin PATH: init failed: MESSAGE`. [`PopError::permanent`] is the natural
    /// code; it is not sent to any client.
    ///
    /// A reload (SIGHUP with a changed plugin file, path or configuration) calls `init` again,
    /// in the same library when the file's content is unchanged, while sessions of the
    /// previous backend value finish: keep state in the value, not in statics. State that
    /// must hold across reloads (a maildrop lock) belongs to the host
    /// ([`Mailbox::maildrop`]) or to the store (a kernel or database lock), not to the value. `init` and the calls the host makes right after it
    /// ([`supports_apop`](Backend::supports_apop), and [`login_delay`](Backend::login_delay)
    /// and [`expire`](Backend::expire) with `None`) have no deadline; keep them reasonably
    /// short all the same (a reload runs them while the server goes on serving).
    fn init(config: &str) -> Result<Self, PopError>;

    /// A client connected (after the PROXY header and, for implicit TLS, the handshake),
    /// before the greeting. An error refuses the connection with that reply and closes it:
    /// bans, rate limits ([`PopError::temporary`] for "try later", [`PopError::permanent`] for
    /// "go away"). The default admits everyone.
    fn connect(&self, _conn: &Connection) -> Result<(), PopError> {
        Ok(())
    }

    /// The connection ended, however it ended: QUIT, the client going away, a timeout, a
    /// shutdown. Called for every connection that reached [`connect`](Backend::connect), even
    /// one that `connect` refused. Do not count on its mailbox being dropped already (the
    /// host drops it on another thread). The default does nothing.
    fn disconnect(&self, _conn: &Connection) {}

    /// USER/PASS, SASL PLAIN and SASL LOGIN, in the AUTHORIZATION state (only over TLS unless
    /// the host's plaintext policy allows it). `user` and `password` are as the client sent
    /// them (bytes that are not UTF-8 replaced by U+FFFD).
    ///
    /// On success, return the maildrop. The host keeps it exclusive (RFC 1939 §8): it asks
    /// [`Mailbox::maildrop`] which maildrop this is and answers a second login to it
    /// `-ERR [IN-USE]` itself, across reloads, until the first mailbox is dropped (after
    /// QUIT, on disconnect, on timeout, at shutdown). A lock of the backend's own (a kernel
    /// `flock`, a database lock) is a second line that also holds against other processes;
    /// a lock kept in the backend value alone does not survive a reload. Right after, the
    /// host calls [`Mailbox::list`]; the login succeeds only if that does too.
    ///
    /// Errors:
    /// - wrong user name or wrong password: [`PopError::auth`], the same for both, so that a
    ///   client cannot probe which names exist. The client sees a fixed text; yours is logged.
    ///   The host counts failures per client and slows them down.
    /// - another session holds the maildrop: [`PopError::in_use`].
    /// - the user may not log in yet (a delay the backend tracks itself):
    ///   [`PopError::login_delay`]. (For the standard LOGIN-DELAY, return it from
    ///   [`login_delay`](Backend::login_delay) instead: the host enforces it.)
    /// - the user store is unreachable or busy: [`PopError::temporary`]; the account is
    ///   disabled or its maildrop unusable until someone acts: [`PopError::permanent`].
    fn authenticate(
        &self,
        user: &str,
        password: &str,
        conn: &Connection,
    ) -> Result<Self::Mailbox, PopError>;

    /// Whether [`Backend::apop`] works (the backend can see users' shared secrets). Asked once
    /// after `init`; when false the greeting carries no APOP timestamp and the host refuses
    /// APOP itself. The default is false.
    fn supports_apop(&self) -> bool {
        false
    }

    /// APOP (RFC 1939 §7): `digest` is what the client sent (normally 32 lowercase hex digits
    /// of MD5(timestamp + secret)); `timestamp` is the greeting's `<...>`, brackets included.
    /// Compare the digest you compute with the one given. Returns and errors as for
    /// [`authenticate`](Backend::authenticate). Called only when
    /// [`supports_apop`](Backend::supports_apop) is true; the default refuses with `[AUTH]`.
    fn apop(
        &self,
        _user: &str,
        _digest: &str,
        _timestamp: &str,
        _conn: &Connection,
    ) -> Result<Self::Mailbox, PopError> {
        Err(PopError::auth("APOP is not supported by this backend"))
    }

    /// The minimum number of seconds between two logins (RFC 2449 LOGIN-DELAY). With `None`,
    /// asked once after `init`: the value announced in CAPA before login. With `Some(user)`,
    /// asked after each successful authentication: that user's value, shown in CAPA after
    /// login and enforced by the host, which refuses a login that comes sooner with
    /// `-ERR [LOGIN-DELAY]` (and drops the mailbox). The host remembers logins in memory
    /// only. `None` (the default) means no delay is announced or enforced.
    fn login_delay(&self, _user: Option<&str>) -> Option<u32> {
        None
    }

    /// The host stops using this backend value (plugin-api 1.2): a reload replaced it and
    /// its last session ended, or the server stops. Close pools and flush here, within the
    /// backend timeout; the value is dropped afterwards, except at a shutdown that calls
    /// still stuck in the plugin would hold up, where the process exits after this call. The
    /// default does nothing. Hosts older than 1.2 never call it.
    fn shutdown(&self) {}

    /// How long retrieved mail stays on the server (RFC 2449 EXPIRE), asked like
    /// [`login_delay`](Backend::login_delay) and shown in CAPA. The host only announces it:
    /// removing old mail is the store's business. `None` (the default) announces nothing.
    fn expire(&self, _user: Option<&str>) -> Option<Expire> {
        None
    }
}

/// One session's maildrop, made by [`Backend::authenticate`] or [`Backend::apop`] and owned by
/// that session alone. The host calls it (and the readers it returns) one call at a time,
/// dropping a reader included: a call waits until any read still running has ended and its
/// reader is dropped. Calls come from whichever blocking-pool thread is free: it must be
/// `Send`, and need not be `Sync` (a database connection per session is fine).
///
/// The host keeps one session per maildrop ([`Mailbox::maildrop`]); a lock of the store's
/// own, if any, is released in `Drop` (a guard field does it). Dropping it is all that happens
/// when a client disconnects without QUIT, times out, or the server shuts down; nothing is
/// deleted then. The host drops it on its blocking pool, after every reader it returned and
/// before the backend value that made it, and a panic in `Drop` is caught.
///
/// The host keeps the session's view: the numbering, the sizes and the deletion marks of the
/// list taken at login (RFC 1939 says the maildrop does not change during a session). Mail
/// that arrives later shows up in the next session.
pub trait Mailbox: Send + 'static {
    /// The messages, once per session, right after authentication and before the client
    /// gets `+OK`. Their order is the session's message numbering (message 1 is the first;
    /// [`MessageRef::index`] is 0-based). Put the oldest first: clients expect it.
    ///
    /// For each message:
    /// - [`MessageInfo::id`] is its UIDL: unique in the maildrop, the same in every session,
    ///   never reused for another message (not even after this one is deleted). An id of
    ///   1-70 characters, each 0x21-0x7E, is served as it is; any other (empty, longer,
    ///   with spaces or non-ASCII) is replaced by a stable hash of it, which is as good for
    ///   clients but unreadable in logs.
    /// - [`MessageInfo::size`] is its size in octets as the client will receive it before
    ///   dot-stuffing: every line ending counted as CRLF (a bare LF adds one octet), plus a
    ///   final CRLF (or an LF after a final CR) if the message does not end in a line ending.
    ///   Not the stored size when the store uses LF. Give it when it is cheap (stored
    ///   beforehand); `None` makes the host ask [`size`](Mailbox::size), then, if that has no
    ///   answer, read the message once to count.
    ///
    /// An error fails the login with that error (the mailbox is dropped):
    /// [`PopError::temporary`] for a store that is busy or down, [`PopError::permanent`] for
    /// one that needs repair.
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError>;

    /// The size of a message whose [`MessageInfo::size`] was `None`, as defined there. Called
    /// only at login, in list order, once per such message. `Ok(None)` (the default) lets the
    /// host measure the message by reading it through [`retrieve`](Mailbox::retrieve) once. An
    /// error fails the login.
    fn size(&mut self, _msg: MessageRef<'_>) -> Result<Option<u64>, PopError> {
        Ok(None)
    }

    /// The whole message: for RETR, for TOP when [`top`](Mailbox::top) returns `None`, and at
    /// login to measure a message that has no size. With [`Backend::PREFETCH`], also for a
    /// RETR served from a prefetch, after the fact, with the reader dropped unread. Return it
    /// as stored, in any line endings and without dot-stuffing or a terminating `.`: the host
    /// converts and stuffs. It must be the bytes whose size was listed, or clients that check
    /// sizes will fail.
    ///
    /// `msg` is one of the messages listed at login and not deleted in this session; look it
    /// up by [`MessageRef::id`] or [`MessageRef::index`]. If it has vanished from the store
    /// meanwhile, return [`PopError::plain`]: the client gets `-ERR` for this request and the
    /// session goes on. [`PopError::temporary`] for a store that is busy or down. See
    /// [`MessageReader`] for how the host reads the result.
    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError>;

    /// TOP (RFC 1939 §7): a reader that starts at the beginning of the message and holds at
    /// least its header, the blank line and `lines` body lines; the host cuts the rest and
    /// stops reading. Worth it only when a store can avoid reading a large message whole.
    /// The default, `Ok(None)`, makes the host use [`retrieve`](Mailbox::retrieve) instead.
    /// Errors as for `retrieve`. With [`Backend::PREFETCH`], the host also calls it with
    /// `u32::MAX` lines to prefetch a message the client may not ask for.
    fn top(
        &mut self,
        _msg: MessageRef<'_>,
        _lines: u32,
    ) -> Result<Option<MessageReader>, PopError> {
        Ok(None)
    }

    /// Which maildrop this is (plugin-api 1.2), asked once right after login: the host lets
    /// one session at a time open an [`Maildrop::Exclusive`](crate::Maildrop::Exclusive) maildrop, answering
    /// `-ERR [IN-USE]` to the others (across reloads too), and counts sessions per maildrop
    /// for `--max-sessions-per-user`. Name it so that every login that reaches the same mail
    /// gives the same name (`ALICE` and `alice`, aliases), and so that logins to different
    /// mail never share one. `None` (the default, and what the host assumes of plugins
    /// before 1.2) is an exclusive maildrop named by the user name as the client typed it.
    fn maildrop(&self) -> Option<crate::Maildrop> {
        None
    }

    /// The UPDATE state (RFC 1939 §6): called exactly once when the client sends QUIT in the
    /// TRANSACTION state, with the messages it marked deleted (possibly none), before the
    /// mailbox is dropped. This is the only place where a backend removes mail: never on DELE
    /// (the host keeps the marks, and RSET clears them), never for a connection that ended any
    /// other way (a dropped connection, an idle or backend timeout, a shutdown).
    ///
    /// Remove them all or none where the store allows it (one transaction). A message that is
    /// already gone is not an error: the client wanted it gone. An error tells the client that
    /// some messages were not removed (`-ERR [CODE] ...`); the session ends either way, and
    /// the client will see the messages again next time.
    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError>;
}
