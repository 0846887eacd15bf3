//! Reading a multi-line response body (RFC 1939 §3), incrementally and without sockets: the
//! stuffing dot of each line that begins with `.` is dropped and the `.` CRLF terminator ends
//! the body. Everything else, line ends included, passes through unchanged, so the upstream's
//! CRLFs (already counted in its LIST sizes) reach the host as they were; the host re-stuffs.
//!
//! The state survives between calls, so a body may arrive split anywhere (inside a CRLF,
//! between a stuffing dot and the rest of its line) and the caller may offer any output space.

/// Where in the body the next byte falls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// At the start of a line: a `.` here is stuffing or the terminator.
    #[default]
    LineStart,
    /// After a line-initial `.`.
    Dot,
    /// After a line-initial `.` CR: an LF makes it the terminator.
    DotCr,
    /// Inside a line: bytes pass through up to and including the LF.
    Line,
    /// The terminator was read; nothing after it belongs to the body.
    Done,
}

/// Un-stuffs one body; a fresh value for each response.
#[derive(Debug, Default)]
pub struct Unstuffer {
    state: State,
}

impl Unstuffer {
    /// Whether the terminator has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Moves the message bytes of `input` into `out`, up to the terminator or until `out` is
    /// full, and returns how many bytes it took from `input` and how many it wrote. Input
    /// after the terminator is left alone: it is the next response.
    pub fn feed(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let (mut taken, mut made) = (0, 0);
        while taken < input.len() && made < out.len() {
            let byte = input[taken];
            match self.state {
                State::LineStart if byte == b'.' => {
                    taken += 1;
                    self.state = State::Dot;
                }
                State::Dot | State::DotCr if byte == b'\n' => {
                    // `.` CRLF, or a bare-LF `.` line from a sloppy upstream: an unstuffed
                    // line can never be a lone `.`, so either one ends the body.
                    taken += 1;
                    self.state = State::Done;
                }
                State::Dot if byte == b'\r' => {
                    taken += 1;
                    self.state = State::DotCr;
                }
                State::DotCr => {
                    // `.` CR and no LF: the dot was stuffing and the CR is data.
                    out[made] = b'\r';
                    made += 1;
                    self.state = State::Line;
                }
                State::LineStart | State::Dot => self.state = State::Line,
                State::Line => {
                    let room = (input.len() - taken).min(out.len() - made);
                    let span = &input[taken..taken + room];
                    let len = memchr::memchr(b'\n', span).map_or(room, |lf| lf + 1);
                    out[made..made + len].copy_from_slice(&span[..len]);
                    taken += len;
                    made += len;
                    if span[len - 1] == b'\n' {
                        self.state = State::LineStart;
                    }
                }
                State::Done => break,
            }
        }
        (taken, made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of `wire` (a stuffed body with its terminator) the simple way: line by line.
    fn reference(wire: &[u8]) -> (Vec<u8>, usize) {
        let mut body = Vec::new();
        let mut at = 0;
        for line in wire.split_inclusive(|&b| b == b'\n') {
            at += line.len();
            if line == b".\r\n" || line == b".\n" {
                return (body, at);
            }
            body.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        panic!("no terminator in {wire:?}");
    }

    /// Feeds `wire` in input chunks of `chunk` bytes with `room` bytes of output per call.
    fn unstuff(wire: &[u8], chunk: usize, room: usize) -> (Vec<u8>, usize) {
        let mut unstuffer = Unstuffer::default();
        let (mut body, mut at) = (Vec::new(), 0);
        let mut out = vec![0; room];
        while !unstuffer.is_done() {
            assert!(at < wire.len(), "ran past the end of {wire:?}");
            let end = (at + chunk).min(wire.len());
            let (taken, made) = unstuffer.feed(&wire[at..end], &mut out);
            assert!(taken > 0 || made > 0 || unstuffer.is_done(), "no progress");
            body.extend_from_slice(&out[..made]);
            at += taken;
        }
        (body, at)
    }

    const CASES: &[&[u8]] = &[
        b".\r\n",
        b"Subject: x\r\n\r\nbody\r\n.\r\n",
        b"..\r\n...x\r\n..hidden\r\nend .\r\n.\r\n",
        b"a.\r\n. \r\n.x\r\n.\rx\r\n.\r\n",
        b"bare\nlf\n..\n.\n",
        b"cr\ronly\r\n\r\n\r\n.\r\n",
        b"nul \0 and \xe9\r\n.\r\nNEXT RESPONSE\r\n",
    ];

    #[test]
    fn every_split_gives_the_reference_body_and_stops_at_the_terminator() {
        for wire in CASES {
            let expected = reference(wire);
            for chunk in 1..=wire.len() {
                for room in 1..=wire.len() {
                    assert_eq!(
                        unstuff(wire, chunk, room),
                        expected,
                        "{:?} in chunks of {chunk}, room {room}",
                        String::from_utf8_lossy(wire)
                    );
                }
            }
        }
    }

    #[test]
    fn all_short_strings_over_dot_cr_lf_x_match_the_reference() {
        let alphabet = [b'.', b'\r', b'\n', b'x'];
        for len in 0..=6u32 {
            for mut n in 0..4usize.pow(len) {
                let mut body = Vec::new();
                for _ in 0..len {
                    body.push(alphabet[n % 4]);
                    n /= 4;
                }
                let wire = stuff(&body);
                let expected = reference(&wire);
                for chunk in [1, 2, 3, wire.len()] {
                    assert_eq!(unstuff(&wire, chunk, 2), expected, "{body:?}");
                }
            }
        }
    }

    /// What an upstream sends for `body`: CRLF lines, stuffed, terminated.
    fn stuff(body: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        for line in body.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                wire.push(b'.');
            }
            wire.extend_from_slice(line);
        }
        if !wire.is_empty() && !wire.ends_with(b"\r\n") {
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        wire
    }

    #[test]
    fn a_large_body_passes_in_large_spans() {
        let line = b"0123456789abcdef\r\n";
        let body = line.repeat(10_000);
        let wire = [&body[..], b".\r\n"].concat();
        let mut unstuffer = Unstuffer::default();
        let mut out = vec![0; body.len()];
        assert_eq!(unstuffer.feed(&wire, &mut out), (body.len(), body.len()));
        assert_eq!(out, body);
        assert_eq!(unstuffer.feed(&wire[body.len()..], &mut out), (3, 0));
        assert!(unstuffer.is_done());
    }
}
