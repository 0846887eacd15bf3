//! The async edge: listeners, connections, backend calls on the blocking pool, shutdown.

mod backend;
mod connection;
mod listener;
mod listing;
mod shutdown;

pub use backend::Backend;

use crate::config::Config;
use crate::session::{LoginTracker, SessionConfig};
use connection::Shared;
use shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::task::TaskTracker;

/// How long sessions get to close after they were told to, before the process exits anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Serves until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn serve(
    config: &Config,
    backend: Backend,
    session: SessionConfig,
) -> Result<(), String> {
    let listeners = listener::bind_all(&config.listen, config.listen_is_default)?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    let shared = Arc::new(Shared {
        backend: Arc::new(backend),
        session: Arc::new(session),
        logins: Arc::new(LoginTracker::default()),
        idle_timeout: config.idle_timeout,
    });
    let shutdown = Shutdown::default();
    let sessions = TaskTracker::new();
    let accepting = TaskTracker::new();
    for listener in listeners {
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%addr, plugin = shared.backend.name, "listening");
        accepting.spawn(listener::accept_loop(
            listener,
            shared.clone(),
            shutdown.clone(),
            sessions.clone(),
        ));
    }
    accepting.close();
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!(
        grace_seconds = config.shutdown_grace.as_secs(),
        "shutting down: no new connections"
    );
    shutdown.stop_accepting.cancel();
    accepting.wait().await;
    sessions.close();
    if tokio::time::timeout(config.shutdown_grace, sessions.wait())
        .await
        .is_err()
    {
        tracing::info!(
            sessions = sessions.len(),
            "grace period over: closing the remaining sessions"
        );
        shutdown.close_sessions.cancel();
        let _ = tokio::time::timeout(CLOSE_WAIT, sessions.wait()).await;
    }
    tracing::info!("stopped");
    Ok(())
}
