//! A large message made on the fly: a header, then numbered lines of printable text, all of
//! one length, so that the size is arithmetic and the bytes never sit whole in memory. Each
//! line's text is shifted by its number, so a host that drops, repeats or reorders a chunk
//! produces visibly wrong output.

use crate::corpus::header;
use std::io::{self, Cursor, Read, Write};
use std::sync::Arc;

/// Octets per body line: a 10-digit number, a space, 64 printable characters, CRLF.
pub const LINE_LEN: u64 = 77;
const DIGITS: usize = 10;
const TEXT: std::ops::Range<usize> = DIGITS + 1..LINE_LEN as usize - 2;

/// The largest `generated_bytes` accepted: its line numbers still fit in [`DIGITS`] digits.
pub const MAX_GENERATED_BYTES: u64 = 1 << 39;

pub struct Generated {
    header: Arc<[u8]>,
    lines: u64,
}

impl Generated {
    /// A message of at least `approx_bytes` octets and less than one line more.
    pub fn new(approx_bytes: u64) -> Self {
        let subject = format!("{approx_bytes} generated octets");
        let head = header(&format!("generated-{approx_bytes}"), &subject, "\r\n") + "\r\n";
        let lines = approx_bytes
            .saturating_sub(head.len() as u64)
            .div_ceil(LINE_LEN);
        Self {
            header: head.into_bytes().into(),
            lines,
        }
    }

    /// Already CRLF throughout, so the raw length is the size as sent.
    pub fn size(&self) -> u64 {
        self.header.len() as u64 + self.lines * LINE_LEN
    }

    pub fn open(&self) -> impl Read + Send {
        let lines = Lines {
            next: 1,
            last: self.lines,
            line: [0; LINE_LEN as usize],
            pos: LINE_LEN as usize,
        };
        Cursor::new(Arc::clone(&self.header)).chain(lines)
    }
}

/// The body: renders one line at a time into a small buffer.
struct Lines {
    next: u64,
    last: u64,
    line: [u8; LINE_LEN as usize],
    /// How much of `line` has been read; `LINE_LEN` when the next line is due.
    pos: usize,
}

impl Lines {
    fn render(&mut self, number: u64) {
        write!(&mut self.line[..], "{number:0width$} ", width = DIGITS).expect("fits");
        for (i, b) in self.line[TEXT].iter_mut().enumerate() {
            // Cycle through 0x21..=0x7E, starting at a place set by the line number.
            *b = 0x21 + ((number + i as u64) % 94) as u8;
        }
        self.line[TEXT.end..].copy_from_slice(b"\r\n");
    }
}

impl Read for Lines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            if self.pos == self.line.len() {
                if self.next > self.last {
                    break;
                }
                self.render(self.next);
                self.next += 1;
                self.pos = 0;
            }
            let n = (self.line.len() - self.pos).min(out.len() - written);
            out[written..written + n].copy_from_slice(&self.line[self.pos..self.pos + n]);
            self.pos += n;
            written += n;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pop3_plugin_api::SizeCounter;

    fn read_in_chunks(mut reader: impl Read, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn size_is_arithmetic_and_exact() {
        for approx in [0, 1, 300, 10_000, 123_457] {
            let generated = Generated::new(approx);
            let bytes = read_in_chunks(generated.open(), 4096);
            assert_eq!(bytes.len() as u64, generated.size(), "{approx}");
            assert_eq!(SizeCounter::size_of(&bytes), generated.size(), "{approx}");
            let floor = approx.max(generated.header.len() as u64);
            assert!(generated.size() >= approx && generated.size() < floor + LINE_LEN);
        }
    }

    #[test]
    fn chunking_does_not_change_the_bytes() {
        let generated = Generated::new(5_000);
        let whole = read_in_chunks(generated.open(), 1 << 16);
        for chunk in [1, 7, 76, 77, 78, 1000] {
            assert_eq!(
                read_in_chunks(generated.open(), chunk),
                whole,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn lines_are_numbered_printable_text() {
        let generated = Generated::new(1_000);
        let bytes = read_in_chunks(generated.open(), 512);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Message-ID: <generated-1000@"));
        let lines: Vec<&str> = body.split_terminator("\r\n").collect();
        assert_eq!(lines.len() as u64, generated.lines);
        assert!(lines[0].starts_with("0000000001 \"#$%"));
        assert!(lines[1].starts_with("0000000002 #$%&"));
        assert!(lines
            .iter()
            .all(|l| l.len() as u64 == LINE_LEN - 2 && l.as_bytes()[DIGITS] == b' '));
        assert!(lines
            .iter()
            .all(|l| l.bytes().all(|b| (0x20..=0x7e).contains(&b))));
    }

    #[test]
    fn the_largest_message_keeps_its_line_numbers_in_width() {
        assert!(MAX_GENERATED_BYTES / LINE_LEN + 1 < 10u64.pow(DIGITS as u32));
    }
}
