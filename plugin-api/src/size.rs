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
    /// The size of a whole message held in memory.
    pub fn size_of(message: &[u8]) -> u64 {
        let mut counter = Self::default();
        counter.add(message);
        counter.total()
    }

    /// Counts the next chunk of the message. Line ends are found with `memchr` (the host
    /// counts every octet it sends, so this runs at the speed of a vector scan, not of a
    /// byte loop).
    pub fn add(&mut self, chunk: &[u8]) {
        let Some(&last) = chunk.last() else { return };
        let mut bare_lfs = 0;
        for i in memchr::memchr_iter(b'\n', chunk) {
            let cr_before = match i.checked_sub(1) {
                Some(before) => chunk[before] == b'\r',
                None => self.prev_cr,
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
            (b"a\nb", 6),
            (b"a\r", 3),
            (b"a\rb\n", 5),
        ] {
            assert_eq!(crlf_size(message).unwrap(), size, "{message:?}");
            assert_eq!(SizeCounter::size_of(message), size, "{message:?}");
        }
    }

    /// The host's line-end rules spelled out on whole messages: every bare LF becomes CRLF,
    /// an unterminated last line gets a line end (only the LF after a final CR).
    fn crlf_normalise(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + 2);
        for (i, &b) in message.iter().enumerate() {
            if b == b'\n' && (i == 0 || message[i - 1] != b'\r') {
                out.push(b'\r');
            }
            out.push(b);
        }
        match out.last() {
            None | Some(b'\n') => {}
            Some(b'\r') => out.push(b'\n'),
            Some(_) => out.extend_from_slice(b"\r\n"),
        }
        out
    }

    /// Every string of up to 7 symbols over `a`, CR and LF, whole and split in two chunks at
    /// every point (a CR ending one chunk and an LF starting the next is one line end).
    #[test]
    fn counts_what_the_reference_sends_on_all_short_strings() {
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        let mut start = 0;
        for _ in 0..7 {
            let end = strings.len();
            for i in start..end {
                for &b in b"a\r\n" {
                    let mut longer = strings[i].clone();
                    longer.push(b);
                    strings.push(longer);
                }
            }
            start = end;
        }
        for s in &strings {
            let expected = crlf_normalise(s).len() as u64;
            assert_eq!(SizeCounter::size_of(s), expected, "{s:?}");
            for split in 0..=s.len() {
                let mut counter = SizeCounter::default();
                counter.add(&s[..split]);
                counter.add(&s[split..]);
                assert_eq!(counter.total(), expected, "{s:?} split at {split}");
            }
        }
    }
}
