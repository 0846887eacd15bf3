//! `--admin-socket PATH`: a Unix socket that only its owner may use (mode 0600, created so
//! before anyone can connect), answering `who` and `kick USER` (see `crate::admin`). Unix
//! only: on Windows the configuration refuses the option (`crate::config`).

use super::sessions::OpenSessions;
#[cfg(unix)]
use crate::admin::{Request, MAX_REQUEST, TIMEOUT};
#[cfg(unix)]
use nix::sys::stat::{umask, Mode};
#[cfg(unix)]
use std::fs;
#[cfg(unix)]
use std::os::unix::fs::FileTypeExt;
#[cfg(unix)]
use std::path::Path;
use std::sync::Arc;
#[cfg(unix)]
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};

/// The bound admin socket, from startup until the runtime serves it.
#[cfg(unix)]
pub type Listener = std::os::unix::net::UnixListener;
/// Windows: there is never an admin socket.
#[cfg(windows)]
pub enum Listener {}

/// Binds `path` (at startup, while the server may still be root). A socket left by an earlier
/// run is replaced; any other file there is an error.
#[cfg(unix)]
pub fn bind(path: &Path) -> Result<Listener, String> {
    let name = path.display();
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            fs::remove_file(path).map_err(|e| format!("--admin-socket {name}: {e}"))?
        }
        Ok(_) => return Err(format!("--admin-socket {name}: exists and is not a socket")),
        Err(_) => {}
    }
    // Startup is single-threaded: the mask covers the bind alone.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    umask(previous);
    let listener = bound.map_err(|e| format!("--admin-socket {name}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("--admin-socket {name}: {e}"))?;
    Ok(listener)
}

/// Serves the admin socket from the running runtime.
#[cfg(unix)]
pub fn spawn(listener: Listener, sessions: Arc<OpenSessions>) -> Result<(), String> {
    let listener = UnixListener::from_std(listener)
        .map_err(|e| format!("cannot listen on the admin socket: {e}"))?;
    tokio::spawn(serve(listener, sessions));
    Ok(())
}

#[cfg(windows)]
pub fn spawn(listener: Listener, _sessions: Arc<OpenSessions>) -> Result<(), String> {
    match listener {}
}

#[cfg(unix)]
async fn serve(listener: UnixListener, sessions: Arc<OpenSessions>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => drop(tokio::spawn(answer(stream, sessions.clone()))),
            Err(error) => {
                tracing::warn!("admin socket: accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(unix)]
async fn answer(stream: UnixStream, sessions: Arc<OpenSessions>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut bounded = BufReader::new(read.take(MAX_REQUEST as u64));
    let reply = match tokio::time::timeout(TIMEOUT, bounded.read_line(&mut line)).await {
        Ok(Ok(_)) => match Request::parse(&line) {
            Ok(Request::Who) => serde_json::json!(sessions.list()),
            Ok(Request::Kick(user)) => {
                let kicked = sessions.kick(&user);
                tracing::info!(user, kicked, "kicked through the admin socket");
                serde_json::json!({ "kicked": kicked })
            }
            Err(error) => serde_json::json!({ "error": error }),
        },
        Ok(Err(error)) => serde_json::json!({ "error": error.to_string() }),
        Err(_) => return,
    };
    let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
}
