//! The size of a message as the host sends it, which is what [`crate::MessageInfo::size`] and
//! [`crate::Mailbox::size`] must say (RFC 1939 §5): every bare LF counted as CRLF, an
//! unterminated last line ended (with CRLF, or just LF after a final CR), before dot-stuffing.
//! The host measures with the same counter, so a backend that uses it agrees with RETR.

use std::io::{self, Read};

/// Counts a message's octets as sent, fed in chunks of any size.
#[derive(Default)]
pub struct SizeCounter {
    size: u64,
    prev_cr: bool,
    open_line: bool,
}

impl SizeCounter {
    pub fn add(&mut self, chunk: &[u8]) {
        let Some(&last) = chunk.last() else { return };
        let mut bare_lfs = 0;
        for (i, _) in chunk.iter().enumerate().filter(|&(_, &b)| b == b'\n') {
            let cr_before = if i == 0 {
                self.prev_cr
            } else {
                chunk[i - 1] == b'\r'
            };
            bare_lfs += u64::from(!cr_before);
        }
        self.size += chunk.len() as u64 + bare_lfs;
        self.prev_cr = last == b'\r';
        self.open_line = last != b'\n';
    }

    /// The size, with the line end the host adds to an unterminated last line.
    pub fn total(&self) -> u64 {
        match (self.open_line, self.prev_cr) {
            (false, _) => self.size,
            (true, true) => self.size + 1,
            (true, false) => self.size + 2,
        }
    }
}

/// The size of a whole message read from `reader`, in constant memory.
pub fn crlf_size(mut reader: impl Read) -> io::Result<u64> {
    let mut counter = SizeCounter::default();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(counter.total()),
            Ok(n) => counter.add(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        for (message, size) in [
            (&b""[..], 0),
            (b"a", 3),
            (b"a\r\n", 3),
            (b"a\n", 3),
            (b"\n\n", 4),
            (b"a\r", 3),
            (b"a\rb\n", 5),
        ] {
            assert_eq!(crlf_size(message).unwrap(), size, "{message:?}");
        }
    }
}
