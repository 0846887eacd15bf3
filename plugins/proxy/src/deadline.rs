//! When a call from the host must end. The proxy bounds each call as a whole (a login, the
//! listing, one read of a message, the UPDATE), not each read: an upstream that drips a byte
//! at a time passes any per-read timeout, and would keep the host's thread, its concurrency
//! slot and two sockets long after the client has gone. Every socket read and write gets the
//! time left until this deadline as its timeout (see `transport::Timed`).

use std::time::{Duration, Instant};

/// The deadline of a call that starts now: the earlier of the host's (when it stops waiting)
/// and the proxy's own `timeout` (the `io_timeout` key).
pub fn for_call(timeout: Duration) -> Instant {
    let own = Instant::now() + timeout;
    pop3_plugin_api::call_deadline().map_or(own, |host| host.min(own))
}
