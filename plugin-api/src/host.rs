//! The host side of the boundary: loads a plugin library with abi_stable and wraps its ABI
//! objects in handles that speak the author's types, so the host never sees `RString` or
//! abi_stable (which could then be replaced without touching the host).
//!
//! The handles are blocking, like the callbacks behind them: the host calls them from its
//! blocking pool.

use crate::convert::{expire_from_ffi, into_result, user_to_ffi};
use crate::ffi::*;
use crate::{Connection, Expire, Maildrop, MessageInfo, MessageRef, PluginInfo, PopError};
use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RSlice, RStr};
use abi_stable::StableAbi;
use std::path::Path;
use std::sync::Arc;

pub use crate::host_services::{with_deadline, OpenConnection};

/// A loaded plugin library. Never unloaded: its code may still run in abandoned calls.
pub struct Plugin {
    module: PluginModuleRef,
}

/// Why a library could not be loaded: a short summary for the user and the full text (which
/// for a layout mismatch is thousands of lines) for the debug log.
#[derive(Debug)]
pub struct LoadError {
    pub summary: String,
    pub detail: String,
}

impl From<LibraryError> for LoadError {
    fn from(err: LibraryError) -> Self {
        let detail = err.to_string();
        let summary = match &err {
            LibraryError::OpenError { err, .. } => format!("cannot load it: {err}"),
            LibraryError::GetSymbolError { .. } => {
                "it is not a pop3host plugin (it exports no pop3host root module)".to_string()
            }
            LibraryError::IncompatibleVersionNumber {
                expected_version,
                actual_version,
                ..
            } => format!(
                "it was built against pop3_plugin_api {actual_version}, which this host \
                 (pop3_plugin_api {expected_version}) cannot load; rebuild the plugin"
            ),
            LibraryError::AbiInstability(_) => format!(
                "its plugin ABI layout does not match this host's; rebuild the plugin against \
                 this pop3_plugin_api\n{}",
                layout_summary(&detail)
            ),
            _ => detail.lines().next().unwrap_or_default().to_string(),
        };
        Self { summary, detail }
    }
}

/// The `Error:` lines of abi_stable's layout report, with a little context each.
fn layout_summary(report: &str) -> String {
    const CONTEXT: usize = 4;
    const MAX_LINES: usize = 12;
    let lines: Vec<&str> = report.lines().collect();
    let mut picked: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("Error:") {
            picked.extend(lines[i..].iter().take(CONTEXT + 1).copied());
        }
        if picked.len() >= MAX_LINES {
            picked.truncate(MAX_LINES);
            break;
        }
    }
    picked.join("\n")
}

/// Loads the plugin at `path`: the typed load through its library header, which (unlike
/// `RootModule::load_from_file`) never returns a module cached from another path. The host
/// probes the library first and keeps it open, so this finds it loaded already.
pub fn load(path: &Path) -> Result<Plugin, LoadError> {
    let header = lib_header_from_path(path)?;
    let module = header.init_root_module::<PluginModuleRef>()?;
    Ok(Plugin { module })
}

impl Plugin {
    pub fn describe(&self) -> PluginInfo {
        (self.module.describe())().into()
    }

    /// Runs the plugin's `init` with its configuration JSON (`null` for none).
    pub fn init(&self, config: &str) -> Result<BackendHandle, PopError> {
        let host = HostContext {
            log: log_to_tracing,
            extension: crate::host_services::extension,
        }
        .leak_into_prefix();
        let backend = into_result((self.module.init())(RStr::from_str(config), host))?;
        Ok(BackendHandle(Arc::new(Generation {
            backend,
            calls: self.extension::<PluginCalls>(PluginCalls::NAME),
        })))
    }

    /// Whether the plugin lets the host prefetch messages ([`crate::Backend::PREFETCH`]).
    pub fn prefetch(&self) -> bool {
        self.extension::<Prefetch>(Prefetch::NAME)
            .is_some_and(|prefetch| prefetch.enabled)
    }

    /// Descriptors a session of this plugin keeps open ([`crate::Backend::DESCRIPTORS_PER_SESSION`]);
    /// 0 for a plugin built before plugin-api 1.3.
    pub fn descriptors_per_session(&self) -> u32 {
        self.extension::<Descriptors>(Descriptors::NAME)
            .map_or(0, |descriptors| descriptors.per_session)
    }

    /// An addition to ABI v1 offered by the plugin under `name`, if its layout matches `T`.
    pub fn extension<T: StableAbi + Sync>(&self, name: &str) -> Option<&'static T> {
        (self.module.extension())(RStr::from_str(name))
            .into_option()?
            .get()
    }
}

extern "C" fn log_to_tracing(level: LogLevel, plugin: RStr<'_>, message: RStr<'_>) {
    let (plugin, message) = (plugin.as_str(), message.as_str());
    match level {
        LogLevel::ERROR => tracing::error!(target: "plugin", plugin, "{message}"),
        LogLevel::WARN => tracing::warn!(target: "plugin", plugin, "{message}"),
        LogLevel::INFO => tracing::info!(target: "plugin", plugin, "{message}"),
        LogLevel::DEBUG => tracing::debug!(target: "plugin", plugin, "{message}"),
        _ => tracing::trace!(target: "plugin", plugin, "{message}"),
    }
}

/// One backend value and the 1.2 callbacks of the library that made it. Every mailbox and
/// reader holds it, so it is dropped after the last of them.
struct Generation {
    backend: BackendBox,
    /// `None` for plugins built before 1.2.
    calls: Option<&'static PluginCalls>,
}

/// An initialised backend; see [`crate::Backend`] for what each call means. Clones share the
/// value, which the plugin drops when the last clone, mailbox and reader are gone.
#[derive(Clone)]
pub struct BackendHandle(Arc<Generation>);

impl BackendHandle {
    pub fn connect(&self, conn: &Connection) -> Result<(), PopError> {
        into_result(self.0.backend.connect(&conn.into()))
    }

    pub fn disconnect(&self, conn: &Connection) {
        self.0.backend.disconnect(&conn.into())
    }

    pub fn authenticate(
        &self,
        user: &str,
        password: &str,
        conn: &Connection,
    ) -> Result<MailboxHandle, PopError> {
        let mailbox = self
            .0
            .backend
            .authenticate(user.into(), password.into(), &conn.into());
        into_result(mailbox).map(|mailbox| self.mailbox(mailbox))
    }

    pub fn supports_apop(&self) -> bool {
        self.0.backend.supports_apop()
    }

    pub fn apop(
        &self,
        user: &str,
        digest: &str,
        timestamp: &str,
        conn: &Connection,
    ) -> Result<MailboxHandle, PopError> {
        let mailbox =
            self.0
                .backend
                .apop(user.into(), digest.into(), timestamp.into(), &conn.into());
        into_result(mailbox).map(|mailbox| self.mailbox(mailbox))
    }

    pub fn login_delay(&self, user: Option<&str>) -> Option<u32> {
        self.0.backend.login_delay(user_to_ffi(user)).into_option()
    }

    pub fn expire(&self, user: Option<&str>) -> Option<Expire> {
        expire_from_ffi(self.0.backend.expire(user_to_ffi(user)))
    }

    /// [`crate::Backend::shutdown`]; nothing for plugins built before 1.2.
    pub fn shutdown(&self) {
        if let Some(calls) = self.0.calls {
            (calls.shutdown)(&self.0.backend)
        }
    }

    fn mailbox(&self, mailbox: MailboxBox) -> MailboxHandle {
        MailboxHandle {
            mailbox,
            generation: self.0.clone(),
        }
    }
}

/// A logged-in session's maildrop; dropping it releases the plugin's lock.
pub struct MailboxHandle {
    // Declared first: dropped before the backend it came from.
    mailbox: MailboxBox,
    generation: Arc<Generation>,
}

impl MailboxHandle {
    pub fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        let list: Vec<FfiMessageInfo> = into_result(self.mailbox.list())?;
        Ok(list.into_iter().map(MessageInfo::from).collect())
    }

    pub fn size(&mut self, msg: MessageRef<'_>) -> Result<Option<u64>, PopError> {
        into_result(self.mailbox.size(msg.into()))
    }

    pub fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<ReaderHandle, PopError> {
        into_result(self.mailbox.retrieve(msg.into())).map(|reader| self.reader(reader))
    }

    pub fn top(
        &mut self,
        msg: MessageRef<'_>,
        lines: u32,
    ) -> Result<Option<ReaderHandle>, PopError> {
        let reader: Option<ReaderBox> = into_result(self.mailbox.top(msg.into(), lines))?;
        Ok(reader.map(|reader| self.reader(reader)))
    }

    pub fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        let msgs: Vec<FfiMessageRef<'_>> = msgs.iter().map(|&m| m.into()).collect();
        into_result(self.mailbox.delete(RSlice::from_slice(&msgs)))
    }

    /// [`crate::Mailbox::maildrop`]; `None` also from plugins built before 1.2.
    pub fn maildrop(&self) -> Option<Maildrop> {
        let calls = self.generation.calls?;
        (calls.maildrop)(&self.mailbox)
            .into_option()
            .map(Maildrop::from)
    }

    fn reader(&self, reader: ReaderBox) -> ReaderHandle {
        ReaderHandle {
            reader,
            _generation: self.generation.clone(),
        }
    }
}

/// A message being read from the plugin.
pub struct ReaderHandle {
    // Declared first: dropped before the backend it came from.
    reader: ReaderBox,
    _generation: Arc<Generation>,
}

impl ReaderHandle {
    /// Fills `buf` from the start; 0 is the end of the message. A plugin that claims to have
    /// read more than `buf` holds gets a `SYS/TEMP` error, never an out-of-bounds slice.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, PopError> {
        let capacity = buf.len();
        let n: usize = into_result(self.reader.read(buf.into()))?;
        if n > capacity {
            return Err(PopError::temporary(format!(
                "the plugin's reader claimed {n} octets read into a buffer of {capacity}"
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_stable::sabi_trait::TD_Opaque;
    use abi_stable::std_types::{RResult, RSliceMut};

    /// A reader (of a plugin not built with the export glue) that claims more than it got.
    struct Liar;

    impl FfiReader for Liar {
        fn read(&mut self, buf: RSliceMut<'_, u8>) -> RResult<usize, FfiError> {
            RResult::ROk(buf.len() + 1)
        }
    }

    #[test]
    fn a_reader_that_claims_more_than_its_buffer_is_an_error() {
        let plugin = Plugin {
            module: crate::export::plugin_module::<crate::export::tests::Plain>(),
        };
        let backend = plugin.init("null").expect("init");
        let mut reader = ReaderHandle {
            reader: FfiReader_TO::from_value(Liar, TD_Opaque),
            _generation: backend.0.clone(),
        };
        let error = reader.read(&mut [0; 16]).expect_err("refused");
        assert_eq!(error.code, crate::ResponseCode::SYS_TEMP);
    }

    #[test]
    fn export_macro_names_abi_stables_root_symbol() {
        let exported = "_1as_0lib_1header_0root_bmodule_bloader";
        assert_eq!(abi_stable::library::ROOT_MODULE_LOADER_NAME, exported);
        assert!(include_str!("export.rs").contains(exported));
    }

    #[test]
    fn layout_summary_keeps_error_lines_and_context() {
        let report = "noise\nError: field count\n a\n b\n c\n d\nmore\nError: type\n x\n";
        let summary = super::layout_summary(report);
        assert_eq!(
            summary,
            "Error: field count\n a\n b\n c\n d\nError: type\n x"
        );
    }
}
