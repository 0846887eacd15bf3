//! The async edge: listeners, connections, TLS, limits, backend calls on the blocking pool,
//! signals, reloads and shutdown.

mod admin;
mod buffers;
mod calls;
mod connection;
mod limits;
mod listener;
mod mailbox;
mod metrics_endpoint;
mod prefetch;
mod read_ahead;
mod sessions;
mod shutdown;
mod signals;
mod stream;
mod tls;
pub mod work;

pub use calls::PluginCalls;
pub use sessions::SessionInfo;
pub use signals::{Request, State, Supervisor};
pub use tls::Tls;

use crate::config::{Config, Settings};
use crate::metrics::{metrics, Outcome};
use crate::service::Service;
use crate::session::LoginTracker;
use connection::Shared;
use limits::LimitCounters;
use listener::Bound;
use sessions::OpenSessions;
use shutdown::Shutdown;
use signals::Requests;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// How long sessions get to close after they were told to, before the process exits anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Every socket the server listens on, bound at startup (while it may still be root).
pub struct Listeners {
    pop3: Vec<Bound>,
    metrics: Option<std::net::TcpListener>,
    admin: Option<admin::Listener>,
}

/// The POP3 sockets systemd passed, else the configured addresses; the metrics and admin
/// sockets when configured.
pub fn listeners(config: &Config) -> Result<Listeners, String> {
    let mut pop3 = listener::inherited()?;
    if pop3.is_empty() {
        pop3 = listener::bind_all(&config.listen, false, config.listen_is_default)?;
        pop3.extend(listener::bind_all(&config.tls_listen, true, false)?);
    }
    let metrics = match config.metrics_listen {
        Some(addr) => listener::bind_all(&[addr], false, false)?
            .pop()
            .map(|bound| bound.listener),
        None => None,
    };
    #[cfg(unix)]
    let admin = config
        .admin_socket
        .as_deref()
        .map(admin::bind)
        .transpose()?;
    #[cfg(windows)]
    let admin = None;
    Ok(Listeners {
        pop3,
        metrics,
        admin,
    })
}

/// Serves on `bound` until SIGTERM or SIGINT (Windows: Ctrl-C, console close, system
/// shutdown; a service: the supervisor's stop), then shuts down gracefully. SIGHUP (Windows:
/// Ctrl-Break; a service: the supervisor's reload) reloads the TLS certificate and, when
/// `settings` now name another plugin or plugin configuration, swaps the plugin for new
/// sessions.
pub async fn serve(
    config: &Config,
    settings: Settings,
    listeners: Listeners,
    service: Service,
    tls: Option<Tls>,
    supervisor: Option<Supervisor>,
) -> Result<(), String> {
    let (supervisor_requests, report) = match supervisor {
        Some(Supervisor { requests, report }) => (Some(requests), Some(report)),
        None => (None, None),
    };
    let tell = |state| {
        if let Some(report) = &report {
            report(state);
        }
    };
    let mut requests = Requests::install(supervisor_requests)?;
    let plugin = service.plugin.name.clone();
    metrics().serving(service.metric_labels());
    let shared = Arc::new(Shared {
        service: RwLock::new(Arc::new(service)),
        logins: Arc::new(LoginTracker::default()),
        limits: LimitCounters::new(config.limits.clone()),
        tls: tls.map(Arc::new),
        plaintext_auth: config.plaintext_auth,
        proxy_protocol_from: config.proxy_protocol_from.clone(),
        idle_timeout: config.idle_timeout,
        session_summary: config.session_summary,
        sessions: Arc::new(OpenSessions::default()),
        prefetch_budget: Arc::new(tokio::sync::Semaphore::new(prefetch::BUDGET_KIB)),
    });
    let shutdown = Shutdown::default();
    let sessions = TaskTracker::new();
    let accepting = TaskTracker::new();
    for Bound { listener, tls } in listeners.pop3 {
        let listener =
            TcpListener::from_std(listener).map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%addr, tls, plugin, "listening");
        let accept = listener::accept_loop(
            listener,
            tls,
            shared.clone(),
            shutdown.clone(),
            sessions.clone(),
        );
        accepting.spawn(accept);
    }
    accepting.close();
    if let Some(listener) = listeners.admin {
        admin::spawn(listener, shared.sessions.clone())?;
    }
    if let Some(listener) = listeners.metrics {
        let listener =
            TcpListener::from_std(listener).map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%addr, "metrics and health on http://{addr}/metrics, /health");
        tokio::spawn(metrics_endpoint::serve(
            listener,
            shared.clone(),
            shutdown.clone(),
        ));
    }
    tell(State::Serving);
    while let Request::Reload = requests.next().await {
        reload(&shared, &settings).await;
    }
    // Then `run` gives running calls one backend timeout.
    tell(State::Stopping {
        within: config.shutdown_grace + CLOSE_WAIT + config.backend_timeout,
    });
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

/// SIGHUP: the certificate as it is on disk now, and the plugin the configuration names now.
/// Anything that fails keeps what was serving. Other settings need a restart.
async fn reload(shared: &Arc<Shared>, settings: &Settings) {
    if let Some(tls) = &shared.tls {
        match tls.reload() {
            Ok(()) => tracing::info!("reloaded the TLS certificate"),
            Err(why) => tracing::error!("kept the old TLS certificate: {why}"),
        }
    }
    let (settings, current, tls_available) = (
        settings.clone(),
        shared.current_service(),
        shared.tls.is_some(),
    );
    // Loading and initialising a plugin blocks; accepting goes on meanwhile.
    let loaded = tokio::task::spawn_blocking(move || {
        let config = Config::from_settings(settings)?;
        if current.is_same(&config) {
            return Ok(None);
        }
        Service::start(&config, tls_available).map(Some)
    })
    .await
    .unwrap_or_else(|e| Err(format!("reload failed: {e}")));
    let result = match loaded {
        Ok(Some(service)) => {
            tracing::info!(
                plugin = service.plugin.name,
                "new sessions use the reloaded plugin"
            );
            metrics().serving(service.metric_labels());
            *shared.service.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(service);
            "reloaded"
        }
        Ok(None) => {
            tracing::info!("plugin and its configuration unchanged");
            "unchanged"
        }
        Err(why) => {
            tracing::error!("kept the old plugin: {why}");
            "failed"
        }
    };
    metrics().reloads.get_or_create(&Outcome { result }).inc();
}
