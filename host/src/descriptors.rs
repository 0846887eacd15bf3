//! File descriptors, the resource a busy POP3 server runs out of first: each connection holds
//! its socket and, once logged in, what its plugin keeps open for the session (the maildir
//! plugin: its lock file). At startup the soft limit is raised to the hard one and compared
//! with what `--max-connections` needs; when descriptors run out anyway, the log says so with
//! the fix, at most once a minute, instead of a bare `[SYS/TEMP]`. Windows has no such limit
//! to raise (a process may hold millions of handles): there the limit is a no-op and a
//! shortage is only ever reported from an error's code.

use crate::os_error;
#[cfg(unix)]
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Descriptors the process holds besides its sessions: listeners, the log, the plugin's own
/// files and pools, the runtime's, the metrics endpoint's connections (at most 8).
const RESERVE: u64 = 64;

/// How often a shortage is logged at most.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// What `max_connections` sessions need, each holding its socket and `per_session` more.
pub fn needed(max_connections: usize, per_session: u32) -> u64 {
    max_connections as u64 * (1 + u64::from(per_session)) + RESERVE
}

/// Raises the soft limit on open files to the hard one, and warns when even that cannot hold
/// `needed`. Returns the limit in force.
#[cfg(unix)]
pub fn raise_limit(needed: u64) -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    if limit < needed {
        tracing::warn!(
            limit,
            needed,
            "the open-file limit cannot hold --max-connections sessions: raise it (LimitNOFILE= \
             in the systemd unit, ulimit -n) or lower --max-connections"
        );
    } else {
        tracing::info!(limit, needed, "open-file limit");
    }
    limit
}

/// Windows: no open-file limit to raise; the handles a process may hold are what `needed`
/// asks for.
#[cfg(windows)]
pub fn raise_limit(needed: u64) -> u64 {
    needed
}

/// Whether `error` (a plugin's, as text) or the process's state now says the process ran out
/// of file descriptors: the plugin's call may have closed what it opened by the time it
/// failed, so its message (an `io::Error` prints its code, `os_error` knows which codes mean
/// that) counts as much as a failed probe.
pub fn ran_out(error: &str) -> bool {
    os_error::mentions_out_of_descriptors(error) || exhausted()
}

/// Whether the process is out of file descriptors now: it cannot get one more.
#[cfg(unix)]
fn exhausted() -> bool {
    // The copy, an `OwnedFd`, is closed at once.
    match nix::unistd::dup(std::io::stderr()) {
        Ok(_copy) => false,
        Err(errno) => errno == nix::errno::Errno::EMFILE,
    }
}

/// Windows: no limit to probe.
#[cfg(windows)]
fn exhausted() -> bool {
    false
}

/// Logs that `what` (accepting, or a plugin callback) failed for want of descriptors, with the
/// fix; once a minute at most for each `what`.
pub fn report_shortage(what: &'static str) {
    static LAST: Mutex<Vec<(&str, Instant)>> = Mutex::new(Vec::new());
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    match last.iter_mut().find(|(reported, _)| *reported == what) {
        Some((_, at)) if at.elapsed() < REPORT_EVERY => return,
        Some((_, at)) => *at = Instant::now(),
        None => last.push((what, Instant::now())),
    }
    #[cfg(unix)]
    let limit = getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft);
    #[cfg(windows)]
    let limit = 0;
    tracing::error!(
        limit,
        "{what} failed: out of file descriptors; raise the open-file limit (LimitNOFILE= in the \
         systemd unit, ulimit -n) or lower --max-connections (logged once a minute at most)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_needs_its_socket_and_what_the_plugin_holds() {
        assert_eq!(needed(1000, 0), 1000 + RESERVE);
        assert_eq!(needed(10_000, 1), 20_000 + RESERVE);
    }
}
