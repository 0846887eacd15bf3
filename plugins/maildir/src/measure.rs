//! The size of a message as the host sends it: every bare LF counted as CRLF, and an
//! unterminated last line ended with CRLF (just LF when it already ends in CR). This mirrors
//! the host's own counter (host/src/protocol/body.rs), so that STAT and LIST agree with RETR.

use std::io::{self, Read};

pub fn crlf_size(mut reader: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    let mut last = None;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let chunk = &buf[..n];
        let mut prev = last;
        let mut bare_lfs = 0u64;
        for &byte in chunk {
            if byte == b'\n' && prev != Some(b'\r') {
                bare_lfs += 1;
            }
            prev = Some(byte);
        }
        size += n as u64 + bare_lfs;
        last = prev;
    }
    Ok(match last {
        None | Some(b'\n') => size,
        Some(b'\r') => size + 1,
        Some(_) => size + 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one byte at a time, to cross every chunk boundary.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn sizes_as_sent() {
        for (message, size) in [
            (&b""[..], 0),
            (b"a\n", 3),
            (b"a\r\n", 3),
            (b"a", 3),
            (b"a\r", 3),
            (b"a\rb\n", 5),
            (b"\n\n", 4),
            (b".\n..x\n", 8),
            (b"mixed\r\nlf\nend", 16),
        ] {
            assert_eq!(crlf_size(message).unwrap(), size, "{message:?}");
            assert_eq!(
                crlf_size(Trickle(message)).unwrap(),
                size,
                "{message:?} in 1-byte reads"
            );
        }
    }
}
