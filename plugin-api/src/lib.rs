//! # pop3_plugin_api: write a pop3host backend
//!
//! pop3host speaks POP3; a backend only answers "who may log in, which messages, what bytes,
//! delete these". You implement two plain Rust traits, [`Backend`] and [`Mailbox`], and export
//! them with one line; the host handles the protocol (numbering, deletion marks, CRLF and
//! dot-stuffing, CAPA, response codes, TLS, limits) for every backend alike.
//!
//! ```no_run
//! use pop3_plugin_api::{export_plugin, Backend, Connection, Mailbox, MessageInfo,
//!     MessageReader, MessageRef, PluginInfo, PopError};
//!
//! pub struct Hello;
//! pub struct HelloBox;
//!
//! impl Backend for Hello {
//!     type Mailbox = HelloBox;
//!     fn describe() -> PluginInfo {
//!         PluginInfo { name: "hello".into(), version: "0.1.0".into(),
//!             description: "One user, one message.".into(), config_help: "none".into() }
//!     }
//!     fn init(_config: &str) -> Result<Self, PopError> { Ok(Hello) }
//!     fn authenticate(&self, user: &str, pass: &str, _: &Connection) -> Result<HelloBox, PopError> {
//!         if (user, pass) == ("me", "secret") { Ok(HelloBox) } else { Err(PopError::auth("no")) }
//!     }
//! }
//!
//! impl Mailbox for HelloBox {
//!     fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
//!         Ok(vec![MessageInfo::new("hello-1", None)])
//!     }
//!     fn retrieve(&mut self, _: MessageRef<'_>) -> Result<MessageReader, PopError> {
//!         Ok(Box::new(&b"Subject: hi\n\nHello!\n"[..]))
//!     }
//!     fn delete(&mut self, _: &[MessageRef<'_>]) -> Result<(), PopError> { Ok(()) }
//! }
//!
//! export_plugin!(Hello);
//! ```
//!
//! This one is deliberately too small: it has no maildrop lock, and its `delete` removes
//! nothing. The repository's `examples/hello` (about 80 lines) does both, and
//! `examples/sqlite` shows a real store. The tutorial below goes from an empty directory to a
//! tested plugin.
//!
//! # Tutorial
//!
//! ## 1. Make a crate
//!
//! The quickest way is the repository's template script, which writes a crate that builds
//! and serves a first message:
//!
//! ```sh
//! examples/new-plugin.sh my-store            # or: examples/new-plugin.sh my-store some/dir
//! ```
//!
//! By hand, with `cargo new`:
//!
//! ```sh
//! cargo new --lib my-store && cd my-store
//! cargo add pop3_plugin_api --path /path/to/pop3host/plugin-api   # a checkout of pop3host
//! # or, without a checkout: cargo add pop3_plugin_api --git <pop3host's repository URL>
//! cargo add serde_json                                            # to read the config
//! ```
//!
//! then add to its `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]      # a shared library: what pop3host loads
//!
//! # The export glue turns a panic in your code into -ERR [SYS/TEMP] for that one session,
//! # which works only if panics unwind. "unwind" is cargo's default; these lines keep it
//! # from being changed. In a workspace, profiles belong in the workspace root's Cargo.toml
//! # (cargo ignores them in members).
//! [profile.dev]
//! panic = "unwind"
//!
//! [profile.release]
//! panic = "unwind"
//! ```
//!
//! With `panic = "abort"` a panic in the plugin ends the whole server, every session with it.
//!
//! ## 2. Write the backend
//!
//! Replace `src/lib.rs` with an `impl Backend`, an `impl Mailbox` and one
//! [`export_plugin!`] line, as above. What the host expects of each callback (when it is
//! called, on which thread, what a size and an id must be, which error code to return) is on
//! the callback: see [`Backend`] and [`Mailbox`], and the summary under
//! [The contract](#the-contract) below. Log with [`info!`] and friends, not `tracing` or
//! `println!`.
//!
//! ## 3. Build
//!
//! ```sh
//! cargo build                 # target/debug/libmy_store.so ('-' becomes '_')
//! cargo build --release       # target/release/libmy_store.so, for production
//! ```
//!
//! Build plugins with the same pop3_plugin_api major version as the host, and with abi_stable
//! 0.11 (which this crate brings): see [Compatibility](#compatibility).
//!
//! ## 4. Load it
//!
//! ```sh
//! pop3host --plugin target/debug/libmy_store.so --describe     # what the plugin says of itself
//! pop3host --plugin target/debug/libmy_store.so --listen 127.0.0.1:1110 \
//!     --plugin-config '{"database": "/var/mail/store.db"}'
//! curl pop3://127.0.0.1:1110/ -u me:secret                     # LIST
//! curl pop3://127.0.0.1:1110/1 -u me:secret                    # RETR 1
//! ```
//!
//! `--plugin` takes a path, or a name (`my-store` finds `libmy_store.so` next to the
//! `pop3host` binary or in `--plugin-dir`). `--plugin-config` is JSON text handed to
//! [`Backend::init`] as it is. A plugin built for another ABI, or that is no plugin at all,
//! is refused with one line that says so.
//!
//! ## 5. Test it
//!
//! The traits are plain Rust, so unit tests call them directly, without a host:
//!
//! ```
//! use pop3_plugin_api::{Backend, Connection, Mailbox, MessageInfo, MessageReader,
//!     MessageRef, PluginInfo, PopError, ResponseCode};
//! use std::io::Read;
//!
//! struct Demo;
//! struct DemoBox;
//!
//! impl Backend for Demo {
//!     type Mailbox = DemoBox;
//!     fn describe() -> PluginInfo {
//!         PluginInfo { name: "demo".into(), version: "0.1.0".into(),
//!             description: "A test.".into(), config_help: "none".into() }
//!     }
//!     fn init(_config: &str) -> Result<Self, PopError> { Ok(Demo) }
//!     fn authenticate(&self, user: &str, pass: &str, _: &Connection) -> Result<DemoBox, PopError> {
//!         if (user, pass) == ("me", "secret") { Ok(DemoBox) } else { Err(PopError::auth("no")) }
//!     }
//! }
//!
//! const TEXT: &[u8] = b"Subject: hi\r\n\r\nHello!\r\n";
//!
//! impl Mailbox for DemoBox {
//!     fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
//!         Ok(vec![MessageInfo::new("demo-1", Some(TEXT.len() as u64))])
//!     }
//!     fn retrieve(&mut self, _: MessageRef<'_>) -> Result<MessageReader, PopError> {
//!         Ok(Box::new(TEXT))
//!     }
//!     fn delete(&mut self, _: &[MessageRef<'_>]) -> Result<(), PopError> { Ok(()) }
//! }
//!
//! // In a #[test]:
//! let conn = Connection {
//!     id: 1,
//!     peer: "127.0.0.1:50000".parse().unwrap(),
//!     local: "127.0.0.1:110".parse().unwrap(),
//!     tls: false,
//! };
//! let backend = Demo::init("null").unwrap();
//! let wrong = backend.authenticate("me", "guess", &conn).err().unwrap();
//! assert_eq!(wrong.code, ResponseCode::AUTH);
//!
//! let mut mailbox = backend.authenticate("me", "secret", &conn).unwrap();
//! let list = mailbox.list().unwrap();
//! let msg = MessageRef { index: 0, id: &list[0].id };
//! let mut text = Vec::new();
//! mailbox.retrieve(msg).unwrap().read_to_end(&mut text).unwrap();
//! // The listed size must be what the host will send: here the text is already CRLF.
//! assert_eq!(list[0].size, Some(text.len() as u64));
//! ```
//!
//! End to end, run the real server: build the plugin and `pop3host` (note that `cargo test`
//! does not build `cdylib` crates other than the one under test, so a test runs
//! `cargo build` itself), start `pop3host --plugin ... --listen 127.0.0.1:0`, read the port
//! from its `listening addr=` log line, and talk POP3 to it over TCP or with `curl`. The
//! repository's `tests/examples.rs` does exactly this for the examples and for a crate made
//! by the template script.
//!
//! # The contract
//!
//! The details are on each callback of [`Backend`] and [`Mailbox`]; in short:
//!
//! - **Threads**: every call comes from the host's blocking pool, never from an async worker,
//!   so it may block (files, a database, a socket). Each call has a deadline,
//!   `--backend-timeout` (30 s by default): past it the session gets `-ERR [SYS/TEMP]` and
//!   ends, and the call's objects are dropped when it finally returns. [`call_deadline`] tells
//!   a call when that is, so that a plugin waiting on a socket or a database can give up
//!   then too instead of holding a thread for nothing. A plugin that wants
//!   async I/O keeps its own runtime and `block_on`s inside its calls; the host's runtime is
//!   not reachable from a plugin.
//! - **Sessions**: [`Backend`] is one value shared by every session (`Sync`). A [`Mailbox`]
//!   belongs to one session; the host calls it (and its readers) one call at a time, possibly
//!   from different threads (`Send`).
//! - **When**: [`Mailbox::list`] once, at login; [`Mailbox::size`] only during login;
//!   [`Mailbox::retrieve`] for RETR, for TOP when [`Mailbox::top`] returns `None`, and to
//!   measure a message that has no size; [`Mailbox::delete`] only in the UPDATE state, when
//!   the client QUITs from TRANSACTION. A dropped connection, a timeout or a shutdown only
//!   drops the mailbox. A backend that sets [`Backend::PREFETCH`] also gets `top` with
//!   `u32::MAX` lines for the message after each RETR, before the client asks for it.
//! - **Locking**: the host keeps a maildrop to one session (RFC 1939 §8): it asks each new
//!   mailbox [`Mailbox::maildrop`] which maildrop it is (the user name as typed by default)
//!   and answers a second login `-ERR [IN-USE]` while the first mailbox lives, across
//!   reloads. A lock of the store's own (a `flock`, a database lock) is a useful second line
//!   against other processes; a lock kept only in the backend value is not, since a reload
//!   makes a new value with an empty lock set. Return [`PopError::in_use`] for a lock of the
//!   store's own that is taken.
//! - **Login timing**: an unknown user name must cost what a known user with a wrong
//!   password costs (verify against a dummy credential of the costliest kind you store),
//!   or a client can list which names exist by timing `-ERR [AUTH]`.
//! - **Sizes** are the octets the client receives, before dot-stuffing: every line ending
//!   counted as CRLF (a bare LF as two octets), plus a final CRLF if the message does not end
//!   in a line ending. A wrong size breaks clients that trust LIST.
//! - **Ids** ([`MessageInfo::id`]) are the UIDLs: unique in the maildrop, stable across
//!   sessions, never reused for another message. An id of 1-70 characters in 0x21-0x7E is
//!   served as it is; any other is replaced by a stable hash of it.
//! - **Bytes**: [`Mailbox::retrieve`] returns the message as stored, in any line endings; the
//!   host converts line endings, dot-stuffs, and adds the terminating `.`.
//! - **Panics** become `-ERR [SYS/TEMP]` for that session; other sessions go on.
//! - **Logging**: [`info!`], [`warn!`], [`error!`], [`debug!`] reach the host's log; the
//!   plugin's own `tracing` and `log` reach nothing (a plugin has its own copy of every
//!   crate and every global).
//! - **Reloads**: on SIGHUP the host may load the plugin again and call [`Backend::init`]
//!   anew while sessions of the old backend finish, so two backends can live at once in one
//!   process: keep state in the backend value, not in statics. The host loads a private copy
//!   of the library named by its content, so rebuilding the plugin and sending SIGHUP loads
//!   the new code. An old backend hears [`Backend::shutdown`] after its last session, and
//!   is dropped after every mailbox and reader it made.
//!
//! ## Which error when
//!
//! | situation | return | the client sees |
//! |---|---|---|
//! | wrong user name or wrong password (the same for both) | [`PopError::auth`] | `-ERR [AUTH] Authentication failed.` (the text only in the log) |
//! | another session holds the maildrop | [`PopError::in_use`] | `-ERR [IN-USE] your text` |
//! | the user must wait before logging in again | [`PopError::login_delay`] | `-ERR [LOGIN-DELAY] your text` |
//! | a failure that may go away: database busy, upstream down, disk full | [`PopError::temporary`] | `-ERR [SYS/TEMP] Temporary server failure, try again later.` |
//! | a failure that needs a human: account disabled, store corrupt, permissions | [`PopError::permanent`] | `-ERR [SYS/PERM] your text` |
//! | one request fails, the session is fine: a message vanished | [`PopError::plain`] | `-ERR your text` |
//!
//! Response codes go on the wire as RFC 2449 and RFC 3206 define them. `AUTH` and `SYS/TEMP`
//! messages go only to the log, so they may carry internal detail; the others reach the
//! client, so keep them short and free of secrets. An `std::io::Error` converts with `?`
//! (see [`PopError`]'s `From` impl).
//!
//! # Features
//!
//! - `host` (off by default): the host's side of the boundary, the `host` module (loading a
//!   plugin library, calling it through handles, the host's 1.2 services). pop3host enables
//!   it; a plugin never needs it, so without it these docs show only what a plugin author
//!   uses.
//!
//! # Compatibility
//!
//! A plugin is a shared library built against one version of this crate; the host is built
//! against another. Which plugins a host loads:
//!
//! - **The same ABI major only.** Before anything else the host calls the plain C function
//!   `pop3host_plugin_abi_major` ([`ffi::ABI_SYMBOL`], which returns [`ffi::ABI_MAJOR`]); a
//!   plugin built for another major is refused with one line naming both. A major bump is
//!   also a major version of this crate (2.0.0 for ABI 2).
//! - **Within ABI 1: plugins built against this crate's 1.x versions up to the host's own.**
//!   A host with pop3_plugin_api 1.4 loads plugins built against 1.0 through 1.4. abi_stable
//!   then checks the whole layout: every type the plugin and the host exchange must have the
//!   same fields, in the same order, declared in the package `pop3_plugin_api` with the same
//!   major version.
//! - **A plugin newer than the host** (built against 1.5, loaded by a 1.4 host) loads too, as
//!   far as the layout goes, but the host will not know its additions.
//!
//! This works because ABI v1 is complete and nothing is ever appended to it: version skew in
//! abi_stable is one-way. A host whose root module had one more field than an older plugin's
//! would refuse that plugin ("too many fields"), and appending an enum variant fails the
//! layout check both ways (hence response codes are an integer newtype, [`ResponseCode`]).
//! So every 1.x addition goes through [`ffi::PluginModule::extension`]: the host asks the
//! plugin for an addition by name, gets `None` from plugins that predate it, and checks the
//! layout of what it gets with abi_stable before using it. Host and plugins must also agree
//! on abi_stable itself (0.11.x), whose types carry their package version too.
//!
//! The rule for growing it:
//!
//! - **Never changes** within ABI 1: every `#[repr(C)]` type in [`ffi`], the `Ffi*` traits,
//!   [`ffi::PluginModule`], [`ffi::HostContext`], [`ffi::ABI_MAJOR`] and its symbol, and
//!   every extension table once released (its name and its layout).
//! - **Can grow**: a new minor version adds a new table under a new name, offered by the
//!   plugin ([`ffi::PluginModule::extension`], like [`ffi::Prefetch`] in 1.1 and
//!   [`ffi::PluginCalls`] in 1.2) or by the host ([`ffi::HostContext::extension`], like
//!   [`ffi::HostCalls`] in 1.2); the author's traits get a method with a default that means
//!   what a host or plugin without the table does (1.2's [`Mailbox::maildrop`] defaults to
//!   the user name as typed, [`Backend::shutdown`] to nothing), so existing plugins compile
//!   and behave as before. Author-facing structs that may grow are `#[non_exhaustive]`
//!   ([`ConnectionDetails`]).
//!
//! What 1.2 added: [`Mailbox::maildrop`] and [`Backend::shutdown`] (plugin side,
//! [`ffi::PluginCalls`]), [`call_deadline`] and [`Connection::details`] (host side,
//! [`ffi::HostCalls`]). What 1.3 added: [`Backend::DESCRIPTORS_PER_SESSION`] (plugin side,
//! [`ffi::Descriptors`]).
//!
//! The promise is tested: the repository's `tests/fixtures/abi-v1` holds a frozen copy of
//! this crate as released (1.0.0) and a plugin built against it, and `tests/abi_fixture.rs`
//! loads and serves that plugin with today's host, so a change here that would break plugins
//! already built fails CI; the other way round, a host built against that copy
//! (`abi-v1-host`) loads today's plugins and drives every callback. Its README says what abi_stable compares and when the copy may be
//! refreshed (only on an ABI major bump).

mod apop;
mod backend;
mod context;
mod convert;
mod error;
mod export;
pub mod ffi;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "host")]
mod host_services;
pub mod log;
mod size;
mod types;

pub use apop::{apop_digest, apop_matches};
pub use backend::{Backend, Mailbox, MessageReader};
pub use context::{call_deadline, host_extension};
pub use error::{PopError, ResponseCode};
pub use size::{crlf_size, SizeCounter};
pub use types::{
    Connection, ConnectionDetails, Expire, Maildrop, MessageInfo, MessageRef, PluginInfo,
};

/// What [`export_plugin!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::plugin_module;
    pub use abi_stable::library::{
        __call_root_module_loader as call_root_module_loader, CheckTypeLayout, LibHeader,
        RootModuleResult,
    };
}
