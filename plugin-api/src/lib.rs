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
//! Build it as a `cdylib` (`[lib] crate-type = ["cdylib"]`) with the default `panic = "unwind"`
//! (the export glue catches panics; with `abort` a panic would end the server), then run
//! `pop3host --plugin path/to/libhello.so`.
//!
//! ## The contract
//!
//! - Calls come from the host's blocking pool, so they may block; each has a deadline.
//! - A panic becomes `-ERR [SYS/TEMP]` for that session; other sessions go on.
//! - Sizes are octets as sent: every line ending CRLF, before dot-stuffing.
//! - Ids are unique and stable across sessions; ids of 1-70 characters in 0x21-0x7E are served
//!   as UIDL unchanged, others are hashed by the host.
//! - [`Mailbox::delete`] is the only place where mail may be removed; it is called only when the
//!   client QUITs. A dropped connection just drops the mailbox.
//! - Log through [`info!`], [`warn!`], [`error!`], [`debug!`]; the plugin's own `tracing` reaches
//!   nothing.
//!
//! ## Compatibility
//!
//! The host probes the C symbol `pop3host_plugin_abi_major` ([`ffi::ABI_MAJOR`]) and then checks
//! the whole layout. A host loads plugins of the same ABI major built against this crate's
//! 1.x versions up to its own; additions after 1.0 go through [`ffi::PluginModule::extension`].

mod backend;
mod convert;
mod error;
mod export;
pub mod ffi;
pub mod host;
pub mod log;
mod types;

pub use backend::{Backend, Mailbox, MessageReader};
pub use error::{PopError, ResponseCode};
pub use types::{Connection, Expire, MessageInfo, MessageRef, PluginInfo};

/// What [`export_plugin!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::plugin_module;
    pub use abi_stable::library::{
        __call_root_module_loader as call_root_module_loader, CheckTypeLayout, LibHeader,
        RootModuleResult,
    };
}
