//! What a 1.2 host offers its plugins ([`HostCalls`]): the deadline of the call running on a
//! thread, and the details of open connections. Host side; the plugin side is in `context`.

use crate::ffi::{Extension, FfiConnectionDetails, HostCalls};
use crate::ConnectionDetails;
use abi_stable::std_types::{ROption, RStr};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// The host's `extension`: its 1.2 services by name.
pub(crate) extern "C" fn extension(name: RStr<'_>) -> ROption<Extension> {
    static CALLS: HostCalls = HostCalls {
        call_deadline,
        connection,
    };
    match name.as_str() {
        HostCalls::NAME => ROption::RSome(Extension::new(&CALLS)),
        _ => ROption::RNone,
    }
}

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `call` (one call into a plugin, on the current thread) with `deadline`, which the
/// plugin reads through [`crate::call_deadline`].
pub fn with_deadline<R>(deadline: Instant, call: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.set(self.0);
        }
    }
    let _restore = Restore(DEADLINE.replace(Some(deadline)));
    call()
}

extern "C" fn call_deadline() -> ROption<u64> {
    DEADLINE
        .get()
        .map(|deadline| {
            let left = deadline.saturating_duration_since(Instant::now());
            u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
        })
        .into()
}

static CONNECTIONS: Mutex<Option<HashMap<u64, ConnectionDetails>>> = Mutex::new(None);

fn connections() -> MutexGuard<'static, Option<HashMap<u64, ConnectionDetails>>> {
    CONNECTIONS.lock().unwrap_or_else(|p| p.into_inner())
}

extern "C" fn connection(id: u64) -> ROption<FfiConnectionDetails> {
    connections()
        .as_ref()
        .and_then(|open| open.get(&id))
        .map(FfiConnectionDetails::from)
        .into()
}

/// An open connection's details, offered to plugins until this is dropped.
pub struct OpenConnection(u64);

impl OpenConnection {
    pub fn new(id: u64, details: ConnectionDetails) -> Self {
        connections()
            .get_or_insert_with(HashMap::new)
            .insert(id, details);
        Self(id)
    }

    /// Changes what plugins are told from now on (TLS started).
    pub fn update(&self, change: impl FnOnce(&mut ConnectionDetails)) {
        if let Some(details) = connections()
            .as_mut()
            .and_then(|open| open.get_mut(&self.0))
        {
            change(details);
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(open) = connections().as_mut() {
            open.remove(&self.0);
        }
    }
}
