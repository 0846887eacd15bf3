//! The admin socket's requests, and `pop3host who` and `pop3host kick`, its clients. One
//! request per connection, a line: `who`, answered with the open sessions as a JSON array,
//! or `kick USER`, answered with `{"kicked": N}`; an error is `{"error": "..."}`. The server
//! side is `server::admin`. Unix only: on Windows the commands say so.

use crate::server::SessionInfo;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The longest request line the server reads.
pub const MAX_REQUEST: usize = 1024;
/// How long either side waits for the other.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Who,
    Kick(String),
}

impl Request {
    pub fn parse(line: &str) -> Result<Self, String> {
        match line.trim_end().split_once(' ') {
            None if line.trim_end() == "who" => Ok(Request::Who),
            Some(("kick", user)) if !user.is_empty() => Ok(Request::Kick(user.to_string())),
            _ => Err(format!(
                "unknown request {:?}: who, or kick USER",
                line.trim_end()
            )),
        }
    }

    #[cfg(any(unix, test))]
    fn line(&self) -> String {
        match self {
            Request::Who => "who\n".into(),
            Request::Kick(user) => format!("kick {user}\n"),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    /// The server's --admin-socket.
    #[arg(long, value_name = "PATH")]
    pub admin_socket: PathBuf,
}

/// `pop3host who`: the open sessions, one a line.
pub fn who(args: &AdminArgs) -> Result<bool, String> {
    let reply = ask(args, &Request::Who)?;
    let sessions: Vec<SessionInfo> =
        serde_json::from_value(reply).map_err(|e| format!("unexpected answer: {e}"))?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    println!("ID\tUSER\tPEER\tSECONDS\tTLS\tPLUGIN");
    for s in sessions {
        let user = s.user.as_deref().unwrap_or("-");
        let sha = s.plugin_sha256.get(..12).unwrap_or(&s.plugin_sha256);
        let (id, peer, tls, plugin) = (s.id, s.peer, s.tls, s.plugin);
        let seconds = now.saturating_sub(s.since);
        println!("{id}\t{user}\t{peer}\t{seconds}\t{tls}\t{plugin} {sha}");
    }
    Ok(true)
}

/// `pop3host kick USER`: ends that user's sessions without UPDATE.
pub fn kick(args: &AdminArgs, user: &str) -> Result<bool, String> {
    let reply = ask(args, &Request::Kick(user.to_string()))?;
    let kicked = reply["kicked"]
        .as_u64()
        .ok_or_else(|| format!("unexpected answer: {reply}"))?;
    println!("kicked {kicked} sessions of {user}");
    Ok(kicked > 0)
}

#[cfg(unix)]
fn ask(args: &AdminArgs, request: &Request) -> Result<serde_json::Value, String> {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    let path = args.admin_socket.display();
    let failed = |e: std::io::Error| format!("admin socket {path}: {e}");
    let mut stream = UnixStream::connect(&args.admin_socket).map_err(failed)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(failed)?;
    stream
        .write_all(request.line().as_bytes())
        .map_err(failed)?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(failed)?;
    let reply: serde_json::Value =
        serde_json::from_str(&answer).map_err(|e| format!("admin socket {path}: {e}"))?;
    match reply["error"].as_str() {
        Some(error) => Err(format!("admin socket {path}: {error}")),
        None => Ok(reply),
    }
}

/// Windows: there is no admin socket to ask.
#[cfg(windows)]
fn ask(_args: &AdminArgs, _request: &Request) -> Result<serde_json::Value, String> {
    Err(
        "pop3host who and pop3host kick need the admin socket, a Unix socket: not available \
         on Windows"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_print_alike() {
        for request in [Request::Who, Request::Kick("alice".into())] {
            assert_eq!(Request::parse(&request.line()), Ok(request));
        }
        for bad in ["", "kick", "kick ", "who me", "list"] {
            assert!(Request::parse(bad).is_err(), "{bad:?}");
        }
    }
}
