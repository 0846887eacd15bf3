//! The host a plugin was loaded by, kept from `init` on: where its log lines go, and where
//! it asks for services a later host may offer.

use crate::ffi::HostContextRef;
use abi_stable::std_types::RStr;
use abi_stable::StableAbi;
use std::sync::OnceLock;

static HOST: OnceLock<(HostContextRef, String)> = OnceLock::new();

/// Called by the export glue at `init`, before any author code runs.
pub(crate) fn connect(host: HostContextRef, plugin: String) {
    let _ = HOST.set((host, plugin));
}

/// The host and this plugin's name, once `init` has run.
pub(crate) fn host() -> Option<&'static (HostContextRef, String)> {
    HOST.get()
}

/// A service a later host offers under `name`, if its layout matches `T`; `None` from hosts
/// that predate it, and before `init`.
pub fn host_extension<T: StableAbi>(name: &str) -> Option<&'static T> {
    let (host, _) = host()?;
    (host.extension())(RStr::from_str(name))
        .into_option()?
        .get()
}
