//! `--admin-socket PATH`: a Unix socket that only its owner may use (mode 0600, created so
//! before anyone can connect), answering `who` and `kick USER` (see `crate::admin`).

use super::sessions::OpenSessions;
use crate::admin::{Request, MAX_REQUEST, TIMEOUT};
use nix::sys::stat::{umask, Mode};
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Binds `path` (at startup, while the server may still be root). A socket left by an earlier
/// run is replaced; any other file there is an error.
pub fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
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

pub async fn serve(listener: UnixListener, sessions: Arc<OpenSessions>) {
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
