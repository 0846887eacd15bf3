//! # pop3_client_codec: what a POP3 client reads, decoded
//!
//! The name says what it is: the *client* side of POP3 (reading what a server sends, not
//! serving it) as a *codec* (bytes in, values out, no sockets). Four parts of the workspace
//! read POP3 as a client: the proxy plugin (from its upstream), the benchmark client,
//! `pop3host check` (from the host's own session) and the end-to-end tests. They read
//! through this crate, so a status line, a dot-stuffed body, a listing line and a valid UIDL
//! mean the same thing to all of them.
//!
//! - [`status`]: `+OK`/`-ERR` lines and their response codes (RFC 1939 §3, RFC 2449 §8).
//! - [`multiline`]: the end of a multi-line body and its un-stuffing, line by line, as a
//!   whole, or incrementally for a caller that streams (RFC 1939 §3).
//! - [`listing`]: `n value` lines of LIST and UIDL, and the `n size` of STAT and `LIST n`
//!   (RFC 1939 §5, §7).
//! - [`uidl`]: which ids are valid UIDLs (RFC 1939 §7).
//!
//! Each part is lenient where RFC 1939 asks a client to be (bare LF line ends, extra
//! whitespace) and says so where it departs from the strict form, so that a strict reader
//! (the benchmark, the tests) and a tolerant one (the proxy) share one decoder and differ
//! only in what they refuse. Written by hand: the crates that speak POP3 are whole clients
//! with their own sockets and I/O model, and none reads a body incrementally into a caller's
//! buffer with bounds the caller sets.

pub mod listing;
pub mod multiline;
pub mod status;
pub mod uidl;

/// A line without its line end: CRLF, or a bare LF from a sloppy peer.
pub fn content(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_drops_crlf_or_lf_only() {
        assert_eq!(super::content(b"+OK\r\n"), b"+OK");
        assert_eq!(super::content(b"+OK\n"), b"+OK");
        assert_eq!(super::content(b"+OK"), b"+OK");
        assert_eq!(super::content(b"+OK\r"), b"+OK");
        assert_eq!(super::content(b"x\r\r\n"), b"x\r");
    }
}
