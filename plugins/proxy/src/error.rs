//! What can go wrong talking to an upstream, and the one place that turns it into the
//! client's reply. An upstream `-ERR` is an answer and passes on with its code; a dead,
//! slow or confused upstream is `[SYS/TEMP]` for the client, and only the log says which
//! upstream failed and how (the host shows a fixed text for `SYS/TEMP`).

use crate::response::Refusal;
use pop3_plugin_api::{warn, PopError, ResponseCode};
use std::fmt;
use std::io;

/// How much of an unexpected upstream line the log shows.
const EXCERPT: usize = 60;

#[derive(Debug)]
pub enum Failure {
    /// The upstream answered `-ERR`; the connection is still in step.
    Refused(Refusal),
    /// The connection failed: refused, reset, closed, timed out, or TLS.
    Io(io::Error),
    /// The upstream sent something that is not POP3, or not what the config expects.
    Garbage(String),
    /// An earlier failure closed the connection (and was logged then).
    Broken(String),
}

impl Failure {
    /// `got` where `expected` should have been, shortened and escaped for the log.
    pub fn garbage(expected: &str, got: &[u8]) -> Self {
        let text = String::from_utf8_lossy(&got[..got.len().min(EXCERPT)]);
        let more = if got.len() > EXCERPT { "..." } else { "" };
        Self::Garbage(format!("expected {expected}, got {:?}{more}", text))
    }

    /// Whether the connection can no longer be used: only a refusal leaves it in step.
    pub fn breaks_connection(&self) -> bool {
        !matches!(self, Self::Refused(_))
    }

    /// The client's error for a failure of `doing` on `upstream`. A plain `-ERR` gets
    /// `refused` (AUTH for a login, NONE for a message command). Failures the client
    /// cannot fix are logged here, naming the upstream.
    pub fn into_pop(self, upstream: &str, doing: &str, refused: ResponseCode) -> PopError {
        let context = format!("upstream {upstream}: {doing}");
        match self {
            Self::Refused(Refusal { code, text }) => {
                let code = if code == ResponseCode::NONE {
                    refused
                } else {
                    code
                };
                if matches!(code, ResponseCode::SYS_TEMP | ResponseCode::SYS_PERM) {
                    warn!("proxy: {context}: refused: {text:?}");
                }
                PopError::new(code, text)
            }
            Self::Broken(_) => PopError::temporary(format!("{context}: {self}")),
            failure => {
                warn!("proxy: {context}: {failure}");
                PopError::temporary(format!("{context}: {failure}"))
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(Refusal { code, text }) => match code.as_str() {
                Some(code) => write!(f, "-ERR [{code}] {text}"),
                None => write!(f, "-ERR {text}"),
            },
            Self::Io(err) if is_timeout(err) => write!(f, "timed out ({err})"),
            Self::Io(err) => err.fmt(f),
            Self::Garbage(what) => write!(f, "unexpected answer: {what}"),
            Self::Broken(why) => write!(f, "connection closed earlier: {why}"),
        }
    }
}

/// A socket timeout shows as `WouldBlock` on Unix, `TimedOut` elsewhere.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Self::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_code_and_plain_ones_get_the_fallback() {
        let refusal = |code, text: &str| {
            Failure::Refused(Refusal {
                code,
                text: text.into(),
            })
        };
        let error =
            refusal(ResponseCode::IN_USE, "locked").into_pop("u:110", "login", ResponseCode::AUTH);
        assert_eq!(error, PopError::in_use("locked"));
        let error =
            refusal(ResponseCode::NONE, "bad").into_pop("u:110", "login", ResponseCode::AUTH);
        assert_eq!(error, PopError::auth("bad"));
        let error =
            refusal(ResponseCode::NONE, "gone").into_pop("u:110", "RETR 1", ResponseCode::NONE);
        assert_eq!(error, PopError::plain("gone"));
    }

    #[test]
    fn connection_failures_are_temporary_and_say_why() {
        let timeout = io::Error::new(
            io::ErrorKind::WouldBlock,
            "Resource temporarily unavailable",
        );
        let error = Failure::Io(timeout).into_pop("u:110", "login", ResponseCode::AUTH);
        assert_eq!(error.code, ResponseCode::SYS_TEMP);
        assert!(
            error
                .message
                .starts_with("upstream u:110: login: timed out"),
            "{error}"
        );
        let error = Failure::garbage("a status line", &[b'x'; 100]).into_pop(
            "u:110",
            "login",
            ResponseCode::AUTH,
        );
        assert_eq!(error.code, ResponseCode::SYS_TEMP);
        assert!(error.message.ends_with("xxx\"..."), "{error}");
        let error = Failure::Broken("reset".into()).into_pop("u:110", "RETR 1", ResponseCode::NONE);
        assert_eq!(
            error,
            PopError::temporary("upstream u:110: RETR 1: connection closed earlier: reset")
        );
        assert!(!Failure::Refused(Refusal {
            code: ResponseCode::NONE,
            text: String::new()
        })
        .breaks_connection());
    }
}
