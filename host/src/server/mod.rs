//! The async edge: listeners, connections, TLS, limits, backend calls on the blocking pool,
//! signals and shutdown.

mod backend;
mod connection;
mod limits;
mod listener;
mod listing;
mod shutdown;
mod stream;
mod tls;

pub use backend::Backend;
pub use listener::{bind_all, Bound};
pub use tls::Tls;

use crate::config::Config;
use crate::session::{LoginTracker, SessionConfig};
use connection::Shared;
use limits::Limits;
use shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::task::TaskTracker;

/// How long sessions get to close after they were told to, before the process exits anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Serves on `bound` until SIGTERM or SIGINT, then shuts down gracefully. SIGHUP reloads
/// the TLS certificate.
pub async fn serve(
    config: &Config,
    bound: Vec<Bound>,
    backend: Backend,
    session: SessionConfig,
    tls: Option<Tls>,
) -> Result<(), String> {
    let signal_error = |name: &str, e: std::io::Error| format!("cannot handle {name}: {e}");
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| signal_error("SIGTERM", e))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| signal_error("SIGINT", e))?;
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| signal_error("SIGHUP", e))?;
    let shared = Arc::new(Shared {
        backend: Arc::new(backend),
        session: Arc::new(session),
        logins: Arc::new(LoginTracker::default()),
        limits: Limits::new(config.limits.clone()),
        tls: tls.map(Arc::new),
        plaintext_auth: config.plaintext_auth,
        proxy_protocol_from: config.proxy_protocol_from.clone(),
        idle_timeout: config.idle_timeout,
    });
    let shutdown = Shutdown::default();
    let sessions = TaskTracker::new();
    let accepting = TaskTracker::new();
    for Bound { listener, tls } in bound {
        let listener =
            TcpListener::from_std(listener).map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%addr, tls, plugin = shared.backend.name, "listening");
        accepting.spawn(listener::accept_loop(
            listener,
            tls,
            shared.clone(),
            shutdown.clone(),
            sessions.clone(),
        ));
    }
    accepting.close();
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => reload(&shared),
        }
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

/// SIGHUP: new TLS handshakes use the certificate as it is on disk now.
fn reload(shared: &Shared) {
    if let Some(tls) = &shared.tls {
        match tls.reload() {
            Ok(()) => tracing::info!("reloaded the TLS certificate"),
            Err(why) => tracing::error!("kept the old TLS certificate: {why}"),
        }
    }
}
