//! Message bytes to POP3 multi-line bodies (RFC 1939 §3), incrementally.
//!
//! A backend hands over raw bytes in any line endings and any chunking. [`BodyEncoder`] turns
//! every line ending into CRLF (a bare LF gets a CR; a bare CR that is not followed by LF is
//! data), dot-stuffs lines that begin with `.`, ends an unterminated last line, and writes the
//! `.` terminator. For TOP it stops after the header, the blank line and `n` body lines.
//! [`pop3_plugin_api::SizeCounter`] (there for backends to use too) counts the same octets
//! without stuffing: the size that STAT and LIST report. The encoder counts them too, in the
//! same pass ([`BodyEncoder::size`]): RETR checks every octet against the listed size, and a
//! second scan of the message for its line ends cost as much as the encoding itself. The tests
//! here check all three together.

/// Encodes one message body; feed it chunks with [`BodyEncoder::encode`], then call
/// [`BodyEncoder::finish`].
pub struct BodyEncoder {
    at_line_start: bool,
    prev_cr: bool,
    /// Bytes of the current line so far (to tell the blank line that ends the header).
    line_len: usize,
    /// Octets of the message consumed so far as sent, without stuffing: every bare LF counted
    /// as CRLF.
    size: u64,
    top: Option<TopCut>,
}

struct TopCut {
    in_header: bool,
    body_lines_left: u32,
}

impl BodyEncoder {
    /// For RETR: the whole message.
    pub fn whole() -> Self {
        Self {
            at_line_start: true,
            prev_cr: false,
            line_len: 0,
            size: 0,
            top: None,
        }
    }

    /// For TOP: the header, the blank line, then at most `body_lines` lines.
    pub fn top(body_lines: u32) -> Self {
        Self {
            top: Some(TopCut {
                in_header: true,
                body_lines_left: body_lines,
            }),
            ..Self::whole()
        }
    }

    /// Whether TOP has all it needs: the caller may stop reading.
    pub fn is_done(&self) -> bool {
        self.at_line_start
            && self
                .top
                .as_ref()
                .is_some_and(|t| !t.in_header && t.body_lines_left == 0)
    }

    /// The size of what was consumed so far as [`pop3_plugin_api::SizeCounter`] counts it:
    /// unstuffed, every bare LF counted as CRLF, with the line end [`BodyEncoder::finish`]
    /// would add to an unterminated last line. A TOP that is done counts only what it used.
    pub fn size(&self) -> u64 {
        let line_end = match (self.at_line_start, self.prev_cr) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        };
        self.size + line_end
    }

    /// Appends the encoded form of `chunk` to `out`.
    pub fn encode(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 32 + 4);
        if self.top.is_none() {
            return self.encode_whole(chunk, out);
        }
        while !chunk.is_empty() && !self.is_done() {
            if self.at_line_start {
                if chunk[0] == b'.' {
                    out.push(b'.');
                }
                self.at_line_start = false;
            }
            match memchr::memchr(b'\n', chunk) {
                Some(lf) => {
                    let line = &chunk[..lf];
                    out.extend_from_slice(line);
                    let cr_before = line.last().map_or(self.prev_cr, |&b| b == b'\r');
                    if !cr_before {
                        out.push(b'\r');
                    }
                    out.push(b'\n');
                    self.size += line.len() as u64 + 1 + u64::from(!cr_before);
                    let line_len = self.line_len + line.len();
                    self.end_line(line_len == 0 || (line_len == 1 && cr_before));
                    chunk = &chunk[lf + 1..];
                }
                None => {
                    out.extend_from_slice(chunk);
                    self.size += chunk.len() as u64;
                    self.line_len += chunk.len();
                    self.prev_cr = chunk.last() == Some(&b'\r');
                    chunk = &[];
                }
            }
        }
    }

    /// [`BodyEncoder::encode`] for RETR, which needs no line count: one pass of `memchr`
    /// over the chunk and one copy per line, with none of TOP's bookkeeping per line (RETR
    /// runs every octet of every message through here; `line_len` stays unused).
    fn encode_whole(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut start = 0;
        for lf in memchr::memchr_iter(b'\n', chunk) {
            let line = &chunk[start..lf];
            if self.at_line_start && line.first() == Some(&b'.') {
                out.push(b'.');
            }
            let cr_before = line.last().map_or(self.prev_cr, |&b| b == b'\r');
            // The line with its LF in one copy; a bare LF becomes CR, and LF follows.
            out.extend_from_slice(&chunk[start..=lf]);
            if !cr_before {
                if let Some(end) = out.last_mut() {
                    *end = b'\r';
                }
                out.push(b'\n');
            }
            self.size += line.len() as u64 + 1 + u64::from(!cr_before);
            self.at_line_start = true;
            self.prev_cr = false;
            start = lf + 1;
        }
        let rest = &chunk[start..];
        if let Some(&last) = rest.last() {
            if self.at_line_start && rest[0] == b'.' {
                out.push(b'.');
            }
            out.extend_from_slice(rest);
            self.size += rest.len() as u64;
            self.at_line_start = false;
            self.prev_cr = last == b'\r';
        }
    }

    fn end_line(&mut self, blank: bool) {
        self.at_line_start = true;
        self.prev_cr = false;
        self.line_len = 0;
        if let Some(top) = &mut self.top {
            if top.in_header {
                top.in_header = !blank;
            } else {
                top.body_lines_left = top.body_lines_left.saturating_sub(1);
            }
        }
    }

    /// Ends an unterminated last line and writes the terminator.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(if self.prev_cr { b"\n" } else { b"\r\n" });
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reference;
    use crate::protocol::splits::{all_strings, every_split};
    use pop3_plugin_api::SizeCounter;

    fn encode_pieces(pieces: &[&[u8]], top: Option<u32>) -> Vec<u8> {
        let mut encoder = top.map_or_else(BodyEncoder::whole, BodyEncoder::top);
        let mut out = Vec::new();
        for piece in pieces {
            encoder.encode(piece, &mut out);
        }
        encoder.finish(&mut out);
        out
    }

    fn encode_in_chunks(message: &[u8], top: Option<u32>, chunk: usize) -> Vec<u8> {
        encode_pieces(&message.chunks(chunk).collect::<Vec<_>>(), top)
    }

    fn size_of_pieces(pieces: &[&[u8]]) -> u64 {
        let mut counter = SizeCounter::default();
        for piece in pieces {
            counter.add(piece);
        }
        counter.total()
    }

    /// What the encoder counted of `pieces`, after each piece: the counter's total so far.
    fn encoder_sizes(pieces: &[&[u8]]) -> Vec<u64> {
        let mut encoder = BodyEncoder::whole();
        let mut out = Vec::new();
        pieces
            .iter()
            .map(|piece| {
                encoder.encode(piece, &mut out);
                encoder.size()
            })
            .collect()
    }

    /// The symbols that matter to the encoder: data, a dot, CR, LF.
    const SYMBOLS: &[u8] = b"a.\r\n";

    #[test]
    fn matches_the_naive_reference_on_all_short_strings_and_splits() {
        for message in all_strings(SYMBOLS, 7) {
            let expected = reference::encode(&message, None, true);
            for pieces in every_split(&message, usize::MAX) {
                assert_eq!(encode_pieces(&pieces, None), expected, "{pieces:?}");
            }
        }
    }

    #[test]
    fn size_is_the_unstuffed_length_on_all_short_strings_and_splits_counted_both_ways() {
        for message in all_strings(SYMBOLS, 7) {
            let expected = (reference::encode(&message, None, false).len() - b".\r\n".len()) as u64;
            for pieces in every_split(&message, usize::MAX) {
                assert_eq!(size_of_pieces(&pieces), expected, "{pieces:?}");
                let so_far: Vec<u64> = (1..=pieces.len())
                    .map(|n| size_of_pieces(&pieces[..n]))
                    .collect();
                assert_eq!(encoder_sizes(&pieces), so_far, "{pieces:?}");
            }
        }
    }

    #[test]
    fn top_matches_the_reference_on_all_short_strings_and_splits() {
        for message in all_strings(SYMBOLS, 6) {
            for lines in 0..3 {
                let expected = reference::encode(&message, Some(lines), true);
                for pieces in every_split(&message, usize::MAX) {
                    assert_eq!(
                        encode_pieces(&pieces, Some(lines)),
                        expected,
                        "{pieces:?} {lines}"
                    );
                }
            }
        }
    }

    #[test]
    fn top_matches_the_reference_cut_anywhere_twice() {
        let message = b"Subject: x\r\nFrom: y\n\r\nline 1\n.line 2\r\nline 3\nlast";
        for lines in [0, 1, 2, 3, 4, 99_999_999] {
            let expected = reference::encode(message, Some(lines), true);
            for pieces in every_split(message, 2) {
                assert_eq!(
                    encode_pieces(&pieces, Some(lines)),
                    expected,
                    "{pieces:?} {lines}"
                );
            }
        }
        assert_eq!(
            encode_in_chunks(message, Some(0), 100),
            b"Subject: x\r\nFrom: y\r\n\r\n.\r\n"
        );
    }

    #[test]
    fn top_stops_early() {
        let mut encoder = BodyEncoder::top(1);
        let mut out = Vec::new();
        encoder.encode(b"H: v\n\nbody 1\nbody 2\n", &mut out);
        assert!(encoder.is_done());
        assert_eq!(out, b"H: v\r\n\r\nbody 1\r\n");
    }

    #[test]
    fn wire_format_cases() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b".\n", b"..\r\n.\r\n"),
            (b"..x\r\n", b"...x\r\n.\r\n"),
            (b"no final newline", b"no final newline\r\n.\r\n"),
            (b"a\nb\r\nc", b"a\r\nb\r\nc\r\n.\r\n"),
            (b"8bit \xe9\x00 nul\n", b"8bit \xe9\x00 nul\r\n.\r\n"),
            (b"", b".\r\n"),
        ];
        for (message, wire) in cases {
            assert_eq!(encode_in_chunks(message, None, 3), wire, "{message:?}");
        }
        let long = vec![b'x'; 3000];
        assert_eq!(encode_in_chunks(&long, None, 1000).len(), 3000 + 2 + 3);
    }
}
