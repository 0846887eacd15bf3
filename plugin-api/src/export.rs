//! The plugin side of the boundary: [`export_plugin!`](crate::export_plugin) turns an
//! author's [`Backend`] into the ABI root module. Every call into author code runs inside
//! `catch_unwind`: abi_stable would end the whole server on a panic that crosses the boundary,
//! so a panic here becomes a `SYS/TEMP` error for the one session that hit it.

use crate::convert::expire_to_ffi;
use crate::ffi::*;
use crate::{log, Backend, Connection, Mailbox, MessageReader, MessageRef, PopError};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::{TD_CanDowncast, TD_Opaque};
use abi_stable::std_types::{ROption, RResult, RSlice, RSliceMut, RStr, RVec};
use std::any::Any;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Exports `$backend` (a type implementing [`Backend`]) as this library's pop3host plugin.
/// Write it once, at the top level of a `cdylib` crate (see the crate docs for an example).
///
/// It exports two symbols: the plain C function `pop3host_plugin_abi_major`, which the host
/// probes first (so that "not a plugin" and "built for another ABI" are one clear line each),
/// and abi_stable's library header, through which the host loads the root module and checks
/// its layout. The plugin crate needs no abi_stable dependency of its own.
///
/// Every callback of `$backend`, of its mailboxes and of their readers runs inside
/// `catch_unwind`, drops included: a panic becomes `-ERR [SYS/TEMP]` for that session and a
/// log line, instead of ending the server. That needs `panic = "unwind"` (cargo's default)
/// in the profile the plugin is built with.
#[macro_export]
macro_rules! export_plugin {
    ($backend:ty) => {
        /// The plugin ABI major version, for the host's probe before the typed load.
        #[no_mangle]
        pub extern "C" fn pop3host_plugin_abi_major() -> u32 {
            $crate::ffi::ABI_MAJOR
        }

        /// abi_stable's library header: what `#[export_root_module]` generates, spelled out so
        /// that plugin crates need not depend on abi_stable themselves. The symbol name is
        /// abi_stable 0.11's `ROOT_MODULE_LOADER_NAME` (checked by a plugin-api test).
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static POP3HOST_PLUGIN_HEADER: $crate::__private::LibHeader = {
            extern "C" fn load_root_module() -> $crate::__private::RootModuleResult {
                $crate::__private::call_root_module_loader(
                    $crate::__private::plugin_module::<$backend>,
                )
            }
            // SAFETY: `load_root_module` returns the `PluginModuleRef` built by
            // `plugin_module`, the module type named here.
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::ffi::PluginModuleRef>(
                    load_root_module,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// The root module for backend `B`.
pub fn plugin_module<B: Backend>() -> PluginModuleRef {
    PluginModule {
        describe: describe::<B>,
        init: init::<B>,
        extension: extension::<B>,
    }
    .leak_into_prefix()
}

/// What backend `B` offers beyond ABI v1 (see [`Extension`]).
extern "C" fn extension<B: Backend>(name: RStr<'_>) -> ROption<Extension> {
    static PREFETCH: Prefetch = Prefetch { enabled: true };
    match name.as_str() {
        Prefetch::NAME if B::PREFETCH => ROption::RSome(Extension::new(&PREFETCH)),
        Descriptors::NAME if B::DESCRIPTORS_PER_SESSION > 0 => {
            ROption::RSome(Extension::new(descriptors::<B>()))
        }
        PluginCalls::NAME => ROption::RSome(Extension::new(plugin_calls::<B>())),
        _ => ROption::RNone,
    }
}

/// Backend `B`'s [`Backend::DESCRIPTORS_PER_SESSION`], as a table with a `'static` address.
fn descriptors<B: Backend>() -> &'static Descriptors {
    struct Table<B>(std::marker::PhantomData<B>);
    impl<B: Backend> Table<B> {
        const TABLE: &'static Descriptors = &Descriptors {
            per_session: B::DESCRIPTORS_PER_SESSION,
        };
    }
    Table::<B>::TABLE
}

/// plugin-api 1.2's callbacks for backend `B`. They get the ABI objects the host holds and
/// find the author's values in them again: the export glue makes every backend and mailbox
/// downcast-capable for this.
fn plugin_calls<B: Backend>() -> &'static PluginCalls {
    struct Calls<B>(std::marker::PhantomData<B>);
    impl<B: Backend> Calls<B> {
        const TABLE: &'static PluginCalls = &PluginCalls {
            maildrop: maildrop::<B>,
            shutdown: shutdown::<B>,
        };
    }
    Calls::<B>::TABLE
}

extern "C" fn maildrop<B: Backend>(mailbox: &MailboxBox) -> ROption<FfiMaildrop> {
    let Ok(mailbox) = mailbox.obj.downcast_as::<MailboxAdapter<B::Mailbox>>() else {
        return ROption::RNone;
    };
    guarded_or("maildrop", None, || mailbox.0.maildrop())
        .map(FfiMaildrop::from)
        .into()
}

extern "C" fn shutdown<B: Backend>(backend: &BackendBox) {
    if let Ok(backend) = backend.obj.downcast_as::<BackendAdapter<B>>() {
        guarded_or("shutdown", (), || backend.0.shutdown())
    }
}

extern "C" fn describe<B: Backend>() -> FfiPluginInfo {
    match catch_unwind(B::describe) {
        Ok(info) => info.into(),
        Err(payload) => crate::PluginInfo {
            name: "unknown".into(),
            version: String::new(),
            description: format!("describe panicked: {}", panic_text(&*payload)),
            config_help: String::new(),
        }
        .into(),
    }
}

extern "C" fn init<B: Backend>(
    config: RStr<'_>,
    host: HostContextRef,
) -> RResult<BackendBox, FfiError> {
    guarded("init", || {
        crate::context::connect(host, B::describe().name);
        let backend = B::init(config.as_str())?;
        Ok(FfiBackend_TO::from_value(
            BackendAdapter(DropGuard::new(backend)),
            TD_CanDowncast,
        ))
    })
}

/// Runs author code, turning a panic into `SYS/TEMP` and logging it.
fn guarded<T>(callback: &str, f: impl FnOnce() -> Result<T, PopError>) -> RResult<T, FfiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(FfiError::from).into(),
        Err(payload) => {
            let message = format!("plugin panicked in {callback}: {}", panic_text(&*payload));
            log::error(&message);
            RResult::RErr(PopError::temporary(message).into())
        }
    }
}

/// For callbacks without an error channel: a panic gives `fallback`.
fn guarded_or<T>(callback: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match guarded(callback, || Ok(f())) {
        RResult::ROk(value) => value,
        RResult::RErr(_) => fallback,
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Owns author data whose `Drop` may panic: the host drops plugin objects through an
/// `extern "C"` function, where an unwinding panic would abort the server.
struct DropGuard<T>(ManuallyDrop<T>);

impl<T> DropGuard<T> {
    fn new(value: T) -> Self {
        Self(ManuallyDrop::new(value))
    }
}

impl<T> Drop for DropGuard<T> {
    fn drop(&mut self) {
        // SAFETY: the value is taken exactly once, here, and never used afterwards.
        let value = unsafe { ManuallyDrop::take(&mut self.0) };
        let _ = guarded("drop", || {
            drop(value);
            Ok(())
        });
    }
}

impl<T> Deref for DropGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for DropGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

struct BackendAdapter<B>(DropGuard<B>);

fn mailbox_box<M: Mailbox>(mailbox: M) -> MailboxBox {
    FfiMailbox_TO::from_value(MailboxAdapter(DropGuard::new(mailbox)), TD_CanDowncast)
}

impl<B: Backend> FfiBackend for BackendAdapter<B> {
    fn connect(&self, conn: &FfiConnection) -> RResult<(), FfiError> {
        guarded("connect", || self.0.connect(&Connection::from(conn)))
    }

    fn disconnect(&self, conn: &FfiConnection) {
        guarded_or("disconnect", (), || {
            self.0.disconnect(&Connection::from(conn))
        })
    }

    fn authenticate(
        &self,
        user: RStr<'_>,
        password: RStr<'_>,
        conn: &FfiConnection,
    ) -> RResult<MailboxBox, FfiError> {
        guarded("authenticate", || {
            let mailbox =
                self.0
                    .authenticate(user.as_str(), password.as_str(), &Connection::from(conn))?;
            Ok(mailbox_box(mailbox))
        })
    }

    fn supports_apop(&self) -> bool {
        guarded_or("supports_apop", false, || self.0.supports_apop())
    }

    fn apop(
        &self,
        user: RStr<'_>,
        digest: RStr<'_>,
        timestamp: RStr<'_>,
        conn: &FfiConnection,
    ) -> RResult<MailboxBox, FfiError> {
        guarded("apop", || {
            let conn = Connection::from(conn);
            let mailbox = self
                .0
                .apop(user.as_str(), digest.as_str(), timestamp.as_str(), &conn)?;
            Ok(mailbox_box(mailbox))
        })
    }

    fn login_delay(&self, user: ROption<RStr<'_>>) -> ROption<u32> {
        let user = user.map(|u| u.as_str()).into_option();
        guarded_or("login_delay", None, || self.0.login_delay(user)).into()
    }

    fn expire(&self, user: ROption<RStr<'_>>) -> ROption<u32> {
        let user = user.map(|u| u.as_str()).into_option();
        expire_to_ffi(guarded_or("expire", None, || self.0.expire(user)))
    }
}

struct MailboxAdapter<M>(DropGuard<M>);

fn reader_box(reader: MessageReader) -> ReaderBox {
    FfiReader_TO::from_value(ReaderAdapter(DropGuard::new(reader)), TD_Opaque)
}

impl<M: Mailbox> FfiMailbox for MailboxAdapter<M> {
    fn list(&mut self) -> RResult<RVec<FfiMessageInfo>, FfiError> {
        guarded("list", || {
            Ok(self
                .0
                .list()?
                .into_iter()
                .map(FfiMessageInfo::from)
                .collect())
        })
    }

    fn size(&mut self, msg: FfiMessageRef<'_>) -> RResult<ROption<u64>, FfiError> {
        guarded("size", || Ok(self.0.size(msg.into())?.into()))
    }

    fn retrieve(&mut self, msg: FfiMessageRef<'_>) -> RResult<ReaderBox, FfiError> {
        guarded("retrieve", || Ok(reader_box(self.0.retrieve(msg.into())?)))
    }

    fn top(&mut self, msg: FfiMessageRef<'_>, lines: u32) -> RResult<ROption<ReaderBox>, FfiError> {
        guarded("top", || {
            Ok(self.0.top(msg.into(), lines)?.map(reader_box).into())
        })
    }

    fn delete(&mut self, msgs: RSlice<'_, FfiMessageRef<'_>>) -> RResult<(), FfiError> {
        guarded("delete", || {
            let msgs: Vec<MessageRef<'_>> = msgs.iter().map(|&m| m.into()).collect();
            self.0.delete(&msgs)
        })
    }
}

struct ReaderAdapter(DropGuard<MessageReader>);

impl FfiReader for ReaderAdapter {
    fn read(&mut self, mut buf: RSliceMut<'_, u8>) -> RResult<usize, FfiError> {
        guarded("retrieve (reading)", || Ok(self.0.read(&mut buf)?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{MessageInfo, PluginInfo};

    /// A backend with no mail, for tests here and in `host`.
    pub(crate) struct Plain;
    struct Prefetching;
    pub(crate) struct NoMail;

    impl Mailbox for NoMail {
        fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
            Ok(Vec::new())
        }
        fn retrieve(&mut self, _: MessageRef<'_>) -> Result<MessageReader, PopError> {
            Err(PopError::plain("no mail"))
        }
        fn delete(&mut self, _: &[MessageRef<'_>]) -> Result<(), PopError> {
            Ok(())
        }
        fn maildrop(&self) -> Option<crate::Maildrop> {
            Some(crate::Maildrop::Shared("box".into()))
        }
    }

    macro_rules! backend {
        ($name:ident, $prefetch:expr, $descriptors:expr) => {
            impl Backend for $name {
                type Mailbox = NoMail;
                const PREFETCH: bool = $prefetch;
                const DESCRIPTORS_PER_SESSION: u32 = $descriptors;
                fn describe() -> PluginInfo {
                    PluginInfo {
                        name: stringify!($name).into(),
                        version: String::new(),
                        description: String::new(),
                        config_help: String::new(),
                    }
                }
                fn init(_: &str) -> Result<Self, PopError> {
                    Ok($name)
                }
                fn authenticate(
                    &self,
                    _: &str,
                    _: &str,
                    _: &Connection,
                ) -> Result<NoMail, PopError> {
                    Ok(NoMail)
                }
            }
        };
    }
    backend!(Plain, false, 0);
    backend!(Prefetching, true, 3);

    fn prefetch<B: Backend>() -> Option<bool> {
        let module = plugin_module::<B>();
        (module.extension())(RStr::from_str(Prefetch::NAME))
            .into_option()?
            .get::<Prefetch>()
            .map(|prefetch| prefetch.enabled)
    }

    /// A backend whose value panics when dropped.
    struct PanicsOnDrop;

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("backend drop");
        }
    }

    impl Backend for PanicsOnDrop {
        type Mailbox = NoMail;
        fn describe() -> PluginInfo {
            PluginInfo {
                name: "panics-on-drop".into(),
                version: String::new(),
                description: String::new(),
                config_help: String::new(),
            }
        }
        fn init(_: &str) -> Result<Self, PopError> {
            Ok(PanicsOnDrop)
        }
        fn authenticate(&self, _: &str, _: &str, _: &Connection) -> Result<NoMail, PopError> {
            Ok(NoMail)
        }
    }

    extern "C" fn no_log(_: LogLevel, _: RStr<'_>, _: RStr<'_>) {}

    /// A host that offers nothing beyond ABI v1.
    extern "C" fn no_extension(_: RStr<'_>) -> ROption<Extension> {
        ROption::RNone
    }

    #[test]
    fn a_backend_that_panics_when_dropped_costs_nothing_and_its_mailbox_names_its_maildrop() {
        let module = plugin_module::<PanicsOnDrop>();
        let host = HostContext {
            log: no_log,
            extension: no_extension,
        }
        .leak_into_prefix();
        let RResult::ROk(backend) = (module.init())(RStr::from_str("null"), host) else {
            panic!("init failed");
        };
        let conn = FfiConnection::from(&Connection {
            id: 1,
            peer: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:110".parse().unwrap(),
            tls: false,
        });
        let RResult::ROk(mailbox) = backend.authenticate("u".into(), "p".into(), &conn) else {
            panic!("authenticate failed");
        };
        let calls = (module.extension())(RStr::from_str(PluginCalls::NAME))
            .into_option()
            .and_then(|ext| ext.get::<PluginCalls>())
            .expect("a 1.2 plugin offers its calls");
        let named = (calls.maildrop)(&mailbox)
            .into_option()
            .map(crate::Maildrop::from);
        assert_eq!(named, Some(crate::Maildrop::Shared("box".into())));
        (calls.shutdown)(&backend);
        drop(mailbox);
        // Unguarded, this panic would cross `extern "C"` and abort the whole test binary.
        drop(backend);
    }

    #[test]
    fn prefetch_is_offered_only_by_a_backend_that_allows_it() {
        assert_eq!(prefetch::<Prefetching>(), Some(true));
        assert_eq!(prefetch::<Plain>(), None);
        let other = (plugin_module::<Prefetching>().extension())(RStr::from_str("other"));
        assert!(other.is_none());
    }

    #[test]
    fn descriptors_are_offered_only_by_a_backend_that_declares_some() {
        let declared = |module: PluginModuleRef| {
            (module.extension())(RStr::from_str(Descriptors::NAME))
                .into_option()
                .and_then(|table| table.get::<Descriptors>())
                .map(|descriptors| descriptors.per_session)
        };
        assert_eq!(declared(plugin_module::<Prefetching>()), Some(3));
        assert_eq!(declared(plugin_module::<Plain>()), None);
    }
}
