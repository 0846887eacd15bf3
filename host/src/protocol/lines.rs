//! Splits the client's byte stream into command lines, incrementally and with a bound.
//!
//! Bytes arrive in arbitrary pieces; a line is complete at LF (a CR before it is dropped, so
//! bare-LF clients work, as with Dovecot). A line longer than the bound is reported once as
//! [`Line::TooLong`] and its remaining bytes are skipped up to its LF, so a hostile client
//! cannot make the buffer grow and the session can go on. [`LineDeadline`] bounds the time a
//! line may take, as the buffer bounds its length.

use std::time::{Duration, Instant};

/// The longest command line accepted, CRLF included. RFC 1939 allows 255 octets; SASL
/// responses (RFC 5034) may be longer, so allow some room.
pub const MAX_LINE: usize = 4096;

#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A command line without its line ending.
    Complete(&'a [u8]),
    /// A line over the bound; its bytes were discarded.
    TooLong,
}

pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`; consumed bytes are compacted away lazily.
    start: usize,
    max: usize,
    /// Inside an overlong line: drop bytes up to the next LF.
    skipping: bool,
}

impl LineBuffer {
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::with_capacity(512),
            start: 0,
            max,
            skipping: false,
        }
    }

    /// Appends bytes read from the client. Call [`LineBuffer::next_line`] until it returns
    /// `None` before the next `extend`, or memory is not bounded.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, or `None` when more bytes are needed.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        loop {
            let pending = &self.buf[self.start..];
            match memchr::memchr(b'\n', pending) {
                Some(lf) => {
                    let line_start = self.start;
                    self.start += lf + 1;
                    if std::mem::take(&mut self.skipping) {
                        continue;
                    }
                    if lf + 1 > self.max {
                        return Some(Line::TooLong);
                    }
                    let line = &self.buf[line_start..line_start + lf];
                    return Some(Line::Complete(line.strip_suffix(b"\r").unwrap_or(line)));
                }
                None if pending.len() >= self.max => {
                    self.buf.clear();
                    self.start = 0;
                    let first_report = !self.skipping;
                    self.skipping = true;
                    return first_report.then_some(Line::TooLong);
                }
                None => return None,
            }
        }
    }

    /// Whether the first bytes of a line wait for its line end. The rest of an overlong line,
    /// being skipped, is not kept and does not count. The driver tells a slow client from an
    /// idle one by it, and where a line starts for [`LineDeadline`].
    pub fn holds_partial_line(&self) -> bool {
        self.start < self.buf.len()
    }
}

/// When the line being received must be complete: the idle timeout counts from the later of
/// the last reply written and the first byte of the line. Bytes that complete no line do not
/// move it, so a client trickling a byte every few seconds is cut off like an idle one.
pub struct LineDeadline {
    timeout: Duration,
    since: Instant,
}

impl LineDeadline {
    pub fn new(timeout: Duration, now: Instant) -> Self {
        Self {
            timeout,
            since: now,
        }
    }

    /// A reply was written: the client's next line starts now at the earliest.
    pub fn answered(&mut self, now: Instant) {
        self.since = now;
    }

    /// Bytes arrived; `starts_line` when nothing of a line was pending before them.
    pub fn received(&mut self, now: Instant, starts_line: bool) {
        if starts_line {
            self.since = now;
        }
    }

    pub fn at(&self) -> Instant {
        self.since + self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::splits::{all_strings, every_split, lines_of};

    #[test]
    fn only_a_reply_or_a_new_line_moves_the_deadline() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut deadline = LineDeadline::new(Duration::from_secs(10), t0);
        assert_eq!(deadline.at(), at(10));
        deadline.received(at(4), true);
        assert_eq!(deadline.at(), at(14), "the first byte of a line");
        for s in 5..14 {
            deadline.received(at(s), false);
        }
        assert_eq!(deadline.at(), at(14), "trickled bytes");
        deadline.answered(at(13));
        assert_eq!(deadline.at(), at(23));
    }

    /// What `input` gives in one piece, after checking that every split of it gives the same.
    fn lines_in_every_split(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        let whole = lines_of(&[input], max);
        for pieces in every_split(input, usize::MAX) {
            assert_eq!(lines_of(&pieces, max), whole, "{pieces:?}");
        }
        whole
    }

    #[test]
    fn every_split_gives_the_same_lines() {
        assert_eq!(
            lines_in_every_split(b"USER a\r\nPASS b\n", MAX_LINE),
            [Some(b"USER a".to_vec()), Some(b"PASS b".to_vec())]
        );
        assert_eq!(
            lines_in_every_split(b"STAT\r\n\r\nNOOP", MAX_LINE),
            [Some(b"STAT".to_vec()), Some(vec![])]
        );
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_skipped() {
        assert_eq!(
            lines_in_every_split(b"A\r\nxxxxxx\r\nB\n", 4),
            [Some(b"A".to_vec()), None, Some(b"B".to_vec())]
        );
    }

    /// Every line of up to 8 octets over `a`, CR and LF, the bound 3 (so lines too long
    /// among them), arrives in the same lines however it is split.
    #[test]
    fn all_short_inputs_give_the_same_lines_in_every_split() {
        for input in all_strings(b"a\r\n", 8) {
            lines_in_every_split(&input, 3);
        }
    }

    #[test]
    fn a_line_exactly_at_the_bound_is_accepted() {
        let line = [b"a".repeat(30), b"\r\n".to_vec()].concat();
        assert_eq!(
            lines_of(&line.chunks(7).collect::<Vec<_>>(), 32),
            vec![Some(b"a".repeat(30))]
        );
        let longer = [b"a".repeat(31), b"\r\n".to_vec()].concat();
        assert_eq!(
            lines_of(&longer.chunks(7).collect::<Vec<_>>(), 32),
            vec![None]
        );
    }

    #[test]
    fn memory_stays_bounded_without_a_line_end() {
        let mut buffer = LineBuffer::new(64);
        for _ in 0..10_000 {
            buffer.extend(&[b'x'; 100]);
            while buffer.next_line().is_some() {}
        }
        assert!(
            buffer.buf.capacity() < 1024,
            "capacity {}",
            buffer.buf.capacity()
        );
    }
}
