//! The built-in test messages: each one a small RFC 5322 message that exercises one part of
//! the POP3 wire format (RFC 1939 §3: line ends, dot-stuffing, 8-bit data, long lines), plus a
//! large generated one for streaming. The bytes are fixed, so a client test can compare them.

use crate::generated::Generated;
use crate::messages::Source;
use std::sync::Arc;

/// Octets of the long body line, line end not included.
pub const LONG_LINE: usize = 3000;
/// Approximate size of the generated message: large enough that the host must stream it.
pub const GENERATED_BYTES: u64 = 4 << 20;

/// The header fields every built-in message has, each line ended by `eol`; the blank line that
/// ends the header is the caller's, so that it can add fields.
pub fn header(tag: &str, subject: &str, eol: &str) -> String {
    format!(
        "From: static-messages <postmaster@static-messages.invalid>{eol}\
         To: test <test@static-messages.invalid>{eol}\
         Subject: {subject}{eol}\
         Date: Mon, 01 Jan 2024 00:00:00 +0000{eol}\
         Message-ID: <{tag}@static-messages.invalid>{eol}"
    )
}

fn inline(tag: &str, subject: &str, eol: &str, extra_fields: &str, body: &[u8]) -> Source {
    let head = header(tag, subject, eol);
    let bytes = [
        head.as_bytes(),
        extra_fields.as_bytes(),
        eol.as_bytes(),
        body,
    ]
    .concat();
    Source::Inline(Arc::from(bytes))
}

/// The built-in messages in maildrop order.
pub fn builtin() -> Vec<Source> {
    let long_line: Vec<u8> = b"0123456789"
        .iter()
        .copied()
        .cycle()
        .take(LONG_LINE)
        .collect();
    vec![
        inline(
            "plain",
            "A plain short message",
            "\r\n",
            "",
            b"Hello from static-messages.\r\nEvery line of this message ends in CRLF.\r\n",
        ),
        inline(
            "dots",
            "Lines with dots",
            "\r\n",
            "",
            b"The next line is a single dot.\r\n.\r\n..x\r\n.hidden\r\nthis line ends in a dot .\r\nend\r\n",
        ),
        inline(
            "line-ends",
            "Bare LF, mixed line ends, no final newline",
            "\n",
            "",
            b"This header and line end in a bare LF.\nThis line ends in CRLF.\r\nBare LF again.\n\nThe last line has no line end.",
        ),
        inline(
            "eight-bit",
            "8-bit bytes and a NUL",
            "\r\n",
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=unknown-8bit\r\n\
             Content-Transfer-Encoding: 8bit\r\n",
            b"UTF-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xac\r\nLatin-1: caf\xe9 na\xefve\r\nNUL: [\x00]\r\n",
        ),
        inline(
            "long-line",
            "A body line of 3000 octets",
            "\r\n",
            "",
            &[&b"The next line has 3000 octets before its CRLF.\r\n"[..], &long_line, b"\r\nend\r\n"]
                .concat(),
        ),
        Source::Generated(Generated::new(GENERATED_BYTES)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn bytes(index: usize) -> Vec<u8> {
        let mut out = Vec::new();
        builtin()[index]
            .open()
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// The lines of `message` without their line ends, whichever they are.
    fn lines(message: &[u8]) -> Vec<&[u8]> {
        message
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect()
    }

    #[test]
    fn every_message_has_the_rfc5322_fields() {
        for index in 0..builtin().len() {
            let message = bytes(index);
            let lines = lines(&message);
            let header: Vec<&[u8]> = lines.into_iter().take_while(|l| !l.is_empty()).collect();
            for field in ["From: ", "To: ", "Subject: ", "Date: ", "Message-ID: <"] {
                let present = header.iter().any(|l| l.starts_with(field.as_bytes()));
                assert!(present, "message {index} lacks {field}");
            }
        }
    }

    #[test]
    fn dots_message_has_each_dot_case() {
        let message = bytes(1);
        let lines = lines(&message);
        for case in [&b"."[..], b"..x", b".hidden", b"this line ends in a dot ."] {
            assert!(lines.contains(&case), "{:?}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn line_ends_message_mixes_and_has_no_final_newline() {
        let message = bytes(2);
        assert!(message.windows(2).any(|w| w[0] != b'\r' && w[1] == b'\n'));
        assert!(message.windows(2).any(|w| w == b"\r\n"));
        assert_ne!(message.last(), Some(&b'\n'));
    }

    #[test]
    fn eight_bit_message_has_utf8_latin1_and_nul() {
        let message = bytes(3);
        assert!(message.windows(2).any(|w| w == "é".as_bytes()));
        assert!(message.windows(4).any(|w| w == b"caf\xe9"));
        assert!(message.contains(&0));
    }

    #[test]
    fn long_line_message_has_a_3000_octet_line() {
        let message = bytes(4);
        assert!(lines(&message).iter().any(|l| l.len() == LONG_LINE));
    }
}
