//! Listening sockets and the accept loop.

use super::connection::{self, Shared};
use super::shutdown::Shutdown;
use crate::descriptors;
use crate::os_error;
use pop3_plugin_api::Connection;
use socket2::{Domain, Socket, Type};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// A bound socket, before the runtime starts (ports are bound while the server may still
/// be root).
pub struct Bound {
    pub listener: std::net::TcpListener,
    /// Implicit TLS: the handshake comes before the greeting.
    pub tls: bool,
}

/// Sockets handed over by systemd (socket activation, `LISTEN_FDS`), so that a restart
/// refuses no connection: the sockets stay open while the server is replaced. A socket whose
/// `FileDescriptorName=` contains `pop3s` or `tls` speaks implicit TLS.
pub fn inherited() -> Result<Vec<Bound>, String> {
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|names| names.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    let mut fds = listenfd::ListenFd::from_env();
    let mut bound = Vec::new();
    for i in 0..fds.len() {
        let listener = fds
            .take_tcp_listener(i)
            .map_err(|e| format!("socket activation: descriptor {}: {e}", i + 3))?
            .ok_or_else(|| {
                format!(
                    "socket activation: descriptor {} is not a TCP listener",
                    i + 3
                )
            })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("socket activation: {e}"))?;
        let name = names.get(i).map_or("", String::as_str);
        bound.push(Bound {
            listener,
            tls: name.contains("pop3s") || name.contains("tls"),
        });
    }
    Ok(bound)
}

/// Binds every address. With the default addresses, a family the machine lacks (no IPv6)
/// is skipped; an address the operator asked for must bind.
pub fn bind_all(
    addrs: &[SocketAddr],
    tls: bool,
    skip_missing_family: bool,
) -> Result<Vec<Bound>, String> {
    let mut bound = Vec::new();
    for &addr in addrs {
        match bind(addr) {
            Ok(listener) => bound.push(Bound { listener, tls }),
            Err(error) if skip_missing_family && os_error::is_missing_family(&error) => {
                tracing::warn!(%addr, "skipped: address family not supported");
            }
            Err(error) => return Err(bind_error(addr, &error)),
        }
    }
    Ok(bound)
}

fn bind_error(addr: SocketAddr, error: &std::io::Error) -> String {
    let hint = match error.kind() {
        std::io::ErrorKind::PermissionDenied => {
            format!(
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE; try --listen {}:1110)",
                addr.ip()
            )
        }
        std::io::ErrorKind::AddrInUse => {
            " (another server listens there; stop it or pick another port)".into()
        }
        _ => String::new(),
    };
    format!("cannot listen on {addr}: {error}{hint}")
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        // IPv4 has its own listener: keep [::] from also claiming 0.0.0.0's port.
        socket.set_only_v6(true)?;
    }
    // Unix: rebind at once after a restart, past connections in TIME_WAIT. On Windows the
    // same option lets another process bind the port while this one listens; without it, a
    // restart rebinds anyway. (SO_EXCLUSIVEADDRUSE, which would keep out even processes of
    // the same account, has no safe API: see README, "The listening port".)
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Accepts until shutdown, one task per connection.
pub async fn accept_loop(
    listener: TcpListener,
    tls: bool,
    shared: Arc<Shared>,
    shutdown: Shutdown,
    tasks: TaskTracker,
) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.stop_accepting.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                if os_error::is_out_of_descriptors(&error) {
                    tracing::debug!("accept failed, retrying: {error}");
                    descriptors::report_shortage("accepting a connection");
                } else {
                    tracing::warn!("accept failed: {error}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            // A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`: they are IPv4.
            peer: SocketAddr::new(peer.ip().to_canonical(), peer.port()),
            local,
            tls,
        };
        tasks.spawn(connection::serve(
            stream,
            conn,
            shared.clone(),
            shutdown.clone(),
        ));
    }
}
