//! Graceful shutdown in two steps: stop accepting and let sessions finish; after the grace
//! period, tell the remaining sessions to close (`-ERR [SYS/TEMP]`, no UPDATE).

use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
pub struct Shutdown {
    /// Listeners stop accepting.
    pub stop_accepting: CancellationToken,
    /// Sessions still open close at their next wait for the client.
    pub close_sessions: CancellationToken,
}
