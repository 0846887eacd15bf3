//! Status lines on the wire: `+OK text` and `-ERR [CODE] text` (RFC 1939 §3, RFC 2449 §8).
//!
//! [`err`] is the one place that decides what a client sees for a backend error: the code
//! from the backend, and a fixed text where the backend's message could leak internals or
//! tell a wrong user from a wrong password. By the plugin contract the texts of other codes
//! reach the client, except one that carries a filesystem path or an OS error (an I/O error
//! turned into a `PopError` on its way, say): that goes to the log, the client gets the
//! fixed text.

use pop3_plugin_api::{PopError, ResponseCode};
use std::fmt::Write as _;

/// A status line, CRLF included, is at most 512 octets (RFC 2449 §4).
pub const MAX_STATUS_LINE: usize = 512;

/// Appends `+OK text`.
pub fn ok(out: &mut Vec<u8>, text: &str) {
    status(out, "+OK", None, text);
}

/// Appends `-ERR text` with no response code, for protocol errors the host itself finds.
pub fn err_plain(out: &mut Vec<u8>, text: &str) {
    status(out, "-ERR", None, text);
}

/// Appends `-ERR [CODE] text` for a condition the host itself reports (shutdown, limits).
pub fn err_coded(out: &mut Vec<u8>, code: ResponseCode, text: &str) {
    status(out, "-ERR", code.as_str(), text);
}

/// Appends the reply to a failed backend call.
pub fn err(out: &mut Vec<u8>, error: &PopError) {
    let withheld = looks_internal(&error.message);
    if withheld {
        let (code, text) = (error.code.as_str(), &error.message);
        tracing::info!(?code, error = %text, "backend error text withheld from the client");
    }
    let text = match error.code {
        ResponseCode::AUTH => "Authentication failed.",
        ResponseCode::SYS_TEMP => "Temporary server failure, try again later.",
        _ if withheld || error.message.trim().is_empty() => match error.code {
            ResponseCode::IN_USE => "Mailbox is locked by another session.",
            ResponseCode::LOGIN_DELAY => "Logged in too recently, try again later.",
            _ => "Request failed.",
        },
        _ => &error.message,
    };
    err_coded(out, error.code, text);
}

/// Whether a backend's text names a filesystem path (a word starting with `/` or `~/`) or an
/// OS error: internals a client must not see.
fn looks_internal(text: &str) -> bool {
    text.contains("os error")
        || text
            .split(|c: char| c.is_whitespace() || "\"'`:=(),[]<>".contains(c))
            .any(|word| word.len() > 1 && (word.starts_with('/') || word.starts_with("~/")))
}

/// Appends a status line, truncating the text to fit 512 octets and replacing control
/// characters (a backend's message must not inject a second line).
fn status(out: &mut Vec<u8>, status: &str, code: Option<&str>, text: &str) {
    let mut line = String::with_capacity(status.len() + text.len() + 16);
    line.push_str(status);
    if let Some(code) = code {
        let _ = write!(line, " [{code}]");
    }
    if !text.is_empty() {
        line.push(' ');
        for c in text.chars() {
            if line.len() + c.len_utf8() > MAX_STATUS_LINE - 2 {
                break;
            }
            line.push(if c.is_control() { ' ' } else { c });
        }
    }
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(error: PopError) -> String {
        let mut out = Vec::new();
        err(&mut out, &error);
        String::from_utf8(out).unwrap()
    }

    /// Each backend error and the exact line the client gets for it.
    #[test]
    fn backend_errors_get_their_code_and_only_safe_text() {
        let cases = [
            // The code, and the backend's own text.
            (
                PopError::in_use("locked by pid 7"),
                "[IN-USE] locked by pid 7",
            ),
            (
                PopError::permanent("account disabled"),
                "[SYS/PERM] account disabled",
            ),
            (PopError::plain("message is gone"), "message is gone"),
            (
                PopError::plain("use TOP/RETR, 1/2 done"),
                "use TOP/RETR, 1/2 done",
            ),
            // An unknown code is sent without brackets.
            (PopError::new(ResponseCode(99), "future"), "future"),
            // A fixed text where the backend gave none.
            (
                PopError::login_delay(""),
                "[LOGIN-DELAY] Logged in too recently, try again later.",
            ),
            // AUTH and SYS/TEMP never show the backend's text.
            (
                PopError::auth("no such user bob"),
                "[AUTH] Authentication failed.",
            ),
            (
                PopError::temporary("plugin panicked in list: index out of bounds"),
                "[SYS/TEMP] Temporary server failure, try again later.",
            ),
            // Paths and OS errors stay in the log.
            (
                PopError::plain("message is gone: cannot open /home/bob/Maildir/cur/1.M1:2,S"),
                "Request failed.",
            ),
            (
                PopError::plain("Permission denied (os error 13)"),
                "Request failed.",
            ),
            (PopError::plain("bad file '~/Maildir/x'"), "Request failed."),
            (PopError::plain("path=/etc/shadow"), "Request failed."),
            (
                PopError::permanent("see /var/mail"),
                "[SYS/PERM] Request failed.",
            ),
        ];
        for (error, text) in cases {
            let message = error.message.clone();
            assert_eq!(reply(error), format!("-ERR {text}\r\n"), "{message}");
        }
    }

    #[test]
    fn lines_stay_single_and_short() {
        let line = reply(PopError::plain(format!("a\r\nb {}", "é".repeat(600))));
        assert!(line.len() <= MAX_STATUS_LINE, "{}", line.len());
        assert!(line.starts_with("-ERR a  b "));
        assert_eq!(line.matches("\r\n").count(), 1);
        assert!(line.ends_with("\r\n"));
    }
}
