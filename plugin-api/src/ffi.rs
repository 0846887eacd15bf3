//! The ABI face: `#[repr(C)]` types that cross the shared-library boundary, checked by
//! abi_stable's layout check at load. Plugin authors never touch this module; the
//! [`crate::export_plugin!`] macro and the `host` module (feature `host`) adapt it to and from the
//! author's traits.
//!
//! ABI v1 is complete: a host built against an API with appended fields rejects older plugins,
//! so nothing is appended here, to [`PluginModule`] and [`HostContext`] alike. Later
//! additions go through [`PluginModule::extension`]. `tests/fixtures/abi-v1` (a plugin built
//! against the frozen 1.0.0) fails CI on any change here that older plugins would not survive;
//! see the crate docs, "Compatibility".

// abi_stable 0.11's `#[sabi_trait]` expands to impls inside a const block.
#![allow(non_local_definitions)]

use crate::ResponseCode;
use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RSliceMut, RStr, RString, RVec},
    type_layout::TypeLayout,
    StableAbi,
};

/// The plugin ABI major version, also exported as the plain C symbol [`ABI_SYMBOL`] so that the
/// host can tell "not a plugin" and "built for another ABI" apart before the typed load.
pub const ABI_MAJOR: u32 = 1;

/// Name of the `extern "C" fn() -> u32` that returns the plugin's [`ABI_MAJOR`].
pub const ABI_SYMBOL: &str = "pop3host_plugin_abi_major";

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiError {
    pub code: ResponseCode,
    pub message: RString,
}

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiConnection {
    pub id: u64,
    /// `SocketAddr` in its `Display` form.
    pub peer: RString,
    pub local: RString,
    pub tls: bool,
}

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiMessageInfo {
    pub id: RString,
    pub size: ROption<u64>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct FfiMessageRef<'a> {
    pub index: u64,
    pub id: RStr<'a>,
}

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiPluginInfo {
    pub name: RString,
    pub version: RString,
    pub description: RString,
    pub config_help: RString,
}

/// `expire` returns this for EXPIRE NEVER; any other value is a number of days.
pub const EXPIRE_NEVER: u32 = u32::MAX;

#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug)]
pub struct LogLevel(pub u8);

impl LogLevel {
    pub const ERROR: Self = Self(1);
    pub const WARN: Self = Self(2);
    pub const INFO: Self = Self(3);
    pub const DEBUG: Self = Self(4);
    pub const TRACE: Self = Self(5);
}

#[sabi_trait]
pub trait FfiBackend: Send + Sync {
    fn connect(&self, conn: &FfiConnection) -> RResult<(), FfiError>;
    fn disconnect(&self, conn: &FfiConnection);
    fn authenticate(
        &self,
        user: RStr<'_>,
        password: RStr<'_>,
        conn: &FfiConnection,
    ) -> RResult<MailboxBox, FfiError>;
    fn supports_apop(&self) -> bool;
    fn apop(
        &self,
        user: RStr<'_>,
        digest: RStr<'_>,
        timestamp: RStr<'_>,
        conn: &FfiConnection,
    ) -> RResult<MailboxBox, FfiError>;
    fn login_delay(&self, user: ROption<RStr<'_>>) -> ROption<u32>;
    fn expire(&self, user: ROption<RStr<'_>>) -> ROption<u32>;
}

#[sabi_trait]
pub trait FfiMailbox: Send {
    fn list(&mut self) -> RResult<RVec<FfiMessageInfo>, FfiError>;
    fn size(&mut self, msg: FfiMessageRef<'_>) -> RResult<ROption<u64>, FfiError>;
    fn retrieve(&mut self, msg: FfiMessageRef<'_>) -> RResult<ReaderBox, FfiError>;
    fn top(&mut self, msg: FfiMessageRef<'_>, lines: u32) -> RResult<ROption<ReaderBox>, FfiError>;
    fn delete(&mut self, msgs: RSlice<'_, FfiMessageRef<'_>>) -> RResult<(), FfiError>;
}

#[sabi_trait]
pub trait FfiReader: Send {
    /// Like `std::io::Read::read`: 0 is the end of the message.
    fn read(&mut self, buf: RSliceMut<'_, u8>) -> RResult<usize, FfiError>;
}

pub type BackendBox = FfiBackend_TO<'static, RBox<()>>;
pub type MailboxBox = FfiMailbox_TO<'static, RBox<()>>;
pub type ReaderBox = FfiReader_TO<'static, RBox<()>>;

/// What the host offers a plugin, handed to `init`.
///
/// A prefix type, but that does not let a later 1.x host append fields: abi_stable checks it
/// as part of the plugin's root module, with the host's layout as the expected one, and a
/// host whose `HostContext` has more fields than an older plugin's refuses that plugin ("too
/// many fields"; measured by appending a field and loading the `tests/fixtures/abi-v1`
/// plugin). So it stays as it is for all of ABI v1, and what a later host offers goes
/// through `extension`, as for [`PluginModule`].
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostContextRef)))]
#[sabi(missing_field(panic))]
pub struct HostContext {
    /// Writes one line to the host's log, attributed to the plugin.
    pub log: extern "C" fn(level: LogLevel, plugin: RStr<'_>, message: RStr<'_>),
    /// Later host services, by name; `RNone` for every name in ABI v1. The plugin checks the
    /// layout of what it gets (see [`Extension::get`] and [`crate::host_extension`]).
    #[sabi(last_prefix_field)]
    pub extension: extern "C" fn(name: RStr<'_>) -> ROption<Extension>,
}

/// An addition to ABI v1, found by name: its layout is checked before the host uses it.
///
/// The way to grow the contract within 1.x: a new plugin offers a `'static` value (a
/// `#[repr(C)]` `StableAbi` struct, say a table of `extern "C"` functions) under a name; a new
/// host asks for it by name with `host::Plugin::extension` (feature `host`) and gets `None` from
/// plugins that predate it, and a value only if its layout is compatible. The same holds the
/// other way for what a host offers its plugins ([`crate::host_extension`]).
///
/// The fields are private so that safe code can only make an `Extension` from a real
/// `&'static` value, and `Sync` is required because the value is shared by every thread of
/// the process:
///
/// ```compile_fail
/// # use pop3_plugin_api::ffi::Extension;
/// # use abi_stable::StableAbi;
/// // A forged pointer: refused, the fields are private.
/// let forged = Extension { layout: <u32 as StableAbi>::LAYOUT, value: 8 as *const () };
/// ```
///
/// ```compile_fail
/// # use pop3_plugin_api::ffi::Extension;
/// // Not `Sync`: refused.
/// static CELL: std::cell::Cell<u32> = std::cell::Cell::new(0);
/// let ext = Extension::new(&CELL);
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct Extension {
    layout: &'static TypeLayout,
    value: *const (),
}

impl Extension {
    /// Offers `value` under its own layout, for [`PluginModule::extension`] or
    /// [`HostContext::extension`].
    pub fn new<T: StableAbi + Sync>(value: &'static T) -> Self {
        Self {
            layout: T::LAYOUT,
            value: (value as *const T).cast(),
        }
    }

    /// The value, if its layout is compatible with `T`.
    pub fn get<T: StableAbi + Sync>(self) -> Option<&'static T> {
        abi_stable::abi_stability::check_layout_compatibility(T::LAYOUT, self.layout)
            .into_result()
            .ok()?;
        // SAFETY: an `Extension` is only made by `Extension::new` (its fields are private),
        // from a `&'static` of a `Sync` type whose layout is `self.layout`, and abi_stable
        // just checked that layout against `T`'s.
        Some(unsafe { &*self.value.cast::<T>() })
    }
}

/// A plugin's [`crate::Backend::PREFETCH`], offered under [`Prefetch::NAME`] when `true`
/// (an addition to ABI v1: plugins built before it offer nothing, which means no prefetch).
#[repr(C)]
#[derive(StableAbi)]
pub struct Prefetch {
    pub enabled: bool,
}

impl Prefetch {
    pub const NAME: &'static str = "prefetch";
}

/// A plugin's [`crate::Backend::DESCRIPTORS_PER_SESSION`], offered under
/// [`Descriptors::NAME`] when not 0 (plugin-api 1.3; a plugin without it declares none).
#[repr(C)]
#[derive(StableAbi)]
pub struct Descriptors {
    pub per_session: u32,
}

impl Descriptors {
    pub const NAME: &'static str = "pop3host/1.3/descriptors";
}

/// plugin-api 1.2's additions to a plugin, offered under [`PluginCalls::NAME`] by every plugin
/// built against 1.2 or later: [`crate::Mailbox::maildrop`] and [`crate::Backend::shutdown`].
/// Frozen like everything in ABI v1: a later addition comes as another table under another
/// name.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginCalls {
    /// The maildrop a mailbox made by this plugin opened; `RNone` for "the user name as
    /// typed".
    pub maildrop: extern "C" fn(mailbox: &MailboxBox) -> ROption<FfiMaildrop>,
    /// The host stops using this backend (a reload replaced it, or the server stops).
    pub shutdown: extern "C" fn(backend: &BackendBox),
}

impl PluginCalls {
    pub const NAME: &'static str = "pop3host/1.2/plugin";
}

/// [`crate::Maildrop`] across the boundary.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiMaildrop {
    pub name: RString,
    pub shared: bool,
}

/// plugin-api 1.2's services of a host, offered under [`HostCalls::NAME`] in
/// [`HostContext::extension`]: [`crate::call_deadline`] and [`crate::Connection::details`].
#[repr(C)]
#[derive(StableAbi)]
pub struct HostCalls {
    /// Milliseconds left before the host stops waiting for the call running on this thread;
    /// `RNone` outside a call.
    pub call_deadline: extern "C" fn() -> ROption<u64>,
    /// What the host knows of connection `id` beyond [`FfiConnection`], while it is open.
    pub connection: extern "C" fn(id: u64) -> ROption<FfiConnectionDetails>,
}

impl HostCalls {
    pub const NAME: &'static str = "pop3host/1.2/host";
}

/// [`crate::ConnectionDetails`] across the boundary.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiConnectionDetails {
    pub tls_version: ROption<RString>,
    pub sni: ROption<RString>,
    /// `SocketAddr` in its `Display` form.
    pub local: RString,
    pub proxied: bool,
    pub client_known: bool,
}

/// The root module every plugin exports (through [`crate::export_plugin!`]). Its fields are
/// frozen for ABI v1: see the module docs.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    pub describe: extern "C" fn() -> FfiPluginInfo,
    pub init:
        extern "C" fn(config: RStr<'_>, host: HostContextRef) -> RResult<BackendBox, FfiError>,
    /// Later additions to the contract, by name; `RNone` for every name in ABI v1. The host
    /// checks the layout of what it gets (see [`Extension::get`]).
    #[sabi(last_prefix_field)]
    pub extension: extern "C" fn(name: RStr<'_>) -> ROption<Extension>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "pop3host_plugin";
    const NAME: &'static str = "pop3host_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[derive(StableAbi)]
    struct Counter {
        count: u32,
    }

    #[repr(C)]
    #[derive(StableAbi)]
    struct Other {
        name: RString,
    }

    static COUNTER: Counter = Counter { count: 7 };

    #[test]
    fn extension_is_returned_only_to_a_compatible_layout() {
        let ext = Extension::new(&COUNTER);
        assert_eq!(ext.get::<Counter>().map(|c| c.count), Some(7));
        assert!(ext.get::<Other>().is_none());
    }
}
