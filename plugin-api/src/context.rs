//! The host a plugin was loaded by, kept from `init` on: where its log lines go, and where
//! it asks for services a later host may offer.

use crate::ffi::{FfiConnectionDetails, HostCalls, HostContextRef};
use crate::ConnectionDetails;
use abi_stable::std_types::RStr;
use abi_stable::StableAbi;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static HOST: OnceLock<(HostContextRef, String)> = OnceLock::new();

/// The host's 1.2 services, looked up once (a layout check per call would cost more than
/// the call).
static HOST_CALLS: OnceLock<Option<&'static HostCalls>> = OnceLock::new();

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
pub fn host_extension<T: StableAbi + Sync>(name: &str) -> Option<&'static T> {
    let (host, _) = host()?;
    (host.extension())(RStr::from_str(name))
        .into_option()?
        .get()
}

fn host_calls() -> Option<&'static HostCalls> {
    host()?;
    *HOST_CALLS.get_or_init(|| host_extension::<HostCalls>(HostCalls::NAME))
}

/// When the host stops waiting for the callback running on this thread (plugin-api 1.2):
/// past it the session has ended with `-ERR [SYS/TEMP]` and nobody needs the result. A
/// plugin that waits on a socket or a database bounds each wait by the time left, so that a
/// stuck store costs one call and not a thread forever. `None` outside a callback, from
/// hosts older than 1.2, and in unit tests.
pub fn call_deadline() -> Option<Instant> {
    let left = (host_calls()?.call_deadline)().into_option()?;
    Some(Instant::now() + Duration::from_millis(left))
}

pub(crate) fn connection_details(id: u64) -> Option<ConnectionDetails> {
    let details: FfiConnectionDetails = (host_calls()?.connection)(id).into_option()?;
    Some(ConnectionDetails::from(details))
}
