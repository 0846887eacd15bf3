//! Status lines from the upstream (RFC 1939 §3) and the response codes in them (RFC 2449 §8,
//! RFC 3206). The proxy hands an upstream's code to its own client unchanged, so that
//! `[IN-USE]` or `[LOGIN-DELAY]` means the same through the proxy as without it.

use crate::error::Failure;
use pop3_client_codec::status::{self, code_is, split_code, Status};
use pop3_plugin_api::ResponseCode;

/// An upstream `-ERR`: its code ([`ResponseCode::NONE`] when it had none, or one this API
/// does not know) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ResponseCode,
    pub text: String,
}

/// The codes an upstream may send that mean something to the client.
const KNOWN: [ResponseCode; 5] = [
    ResponseCode::AUTH,
    ResponseCode::IN_USE,
    ResponseCode::LOGIN_DELAY,
    ResponseCode::SYS_TEMP,
    ResponseCode::SYS_PERM,
];

/// Parses a status line without its line end: the text after `+OK`, a
/// [`Failure::Refused`] for `-ERR`, and [`Failure::Garbage`] for anything else.
pub fn parse_status(line: &str) -> Result<String, Failure> {
    match status::parse_status(line) {
        Some(Status::Ok(text)) => Ok(text.to_string()),
        Some(Status::Err(text)) => Err(Failure::Refused(refusal(text))),
        None => Err(Failure::garbage("a status line", line.as_bytes())),
    }
}

fn refusal(text: &str) -> Refusal {
    match split_code(text) {
        Some((code, rest)) => Refusal {
            code: code_of(code),
            text: rest.to_string(),
        },
        None => Refusal {
            code: ResponseCode::NONE,
            text: text.to_string(),
        },
    }
}

/// The known code `code` is, or is a level below ([`code_is`]).
fn code_of(code: &str) -> ResponseCode {
    let is = |known: &ResponseCode| code_is(code, known.as_str().unwrap_or_default());
    KNOWN.into_iter().find(is).unwrap_or(ResponseCode::NONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(line: &str) -> Refusal {
        match parse_status(line) {
            Err(Failure::Refused(refusal)) => refusal,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn ok_lines_give_their_text() {
        assert_eq!(parse_status("+OK").unwrap(), "");
        assert_eq!(parse_status("+OK 2 320").unwrap(), "2 320");
        assert_eq!(parse_status("+OK  two spaces").unwrap(), " two spaces");
    }

    #[test]
    fn err_lines_give_their_code_and_text() {
        let plain = refused("-ERR no such message");
        assert_eq!(plain.code, ResponseCode::NONE);
        assert_eq!(plain.text, "no such message");
        assert_eq!(refused("-ERR").text, "");
        for (line, code, text) in [
            (
                "-ERR [AUTH] Authentication failed.",
                ResponseCode::AUTH,
                "Authentication failed.",
            ),
            ("-ERR [IN-USE] locked", ResponseCode::IN_USE, "locked"),
            ("-ERR [LOGIN-DELAY] wait", ResponseCode::LOGIN_DELAY, "wait"),
            ("-ERR [SYS/TEMP] later", ResponseCode::SYS_TEMP, "later"),
            ("-ERR [sys/perm] call", ResponseCode::SYS_PERM, "call"),
            ("-ERR [SYS/TEMP/QUOTA] full", ResponseCode::SYS_TEMP, "full"),
            ("-ERR [SYS] vague", ResponseCode::NONE, "vague"),
            ("-ERR [AUTHX] not auth", ResponseCode::NONE, "not auth"),
            ("-ERR [UTF8] later", ResponseCode::NONE, "later"),
            ("-ERR [IN-USE]", ResponseCode::IN_USE, ""),
        ] {
            assert_eq!(
                refused(line),
                Refusal {
                    code,
                    text: text.into()
                },
                "{line}"
            );
        }
        assert_eq!(refused("-ERR [unclosed").code, ResponseCode::NONE);
    }

    #[test]
    fn anything_else_is_garbage() {
        for line in [
            "",
            "+OKAY",
            "-ERROR x",
            "+ ",
            "ok",
            "HTTP/1.1 400 Bad Request",
            " +OK",
        ] {
            assert!(
                matches!(parse_status(line), Err(Failure::Garbage(_))),
                "{line:?}"
            );
        }
    }
}
