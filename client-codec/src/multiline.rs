//! Multi-line bodies (RFC 1939 §3): the server stuffs a `.` before each line that begins with
//! one and ends the body with a line that is `.` alone. A client drops the stuffing dot and
//! stops at that line; everything else, line ends included, is the body.
//!
//! The one rule, three ways, for three kinds of reader:
//! - [`unstuff_line`], for a reader that already splits lines (listings, CAPA);
//! - [`Unstuffer`], incremental, for a reader that streams a body of any size through a
//!   buffer (the proxy hands an upstream's message to the host chunk by chunk), and
//!   [`unstuff`], the same over a whole buffer;
//! - [`EndSearch`], which finds the end of a body in a growing buffer with one search per
//!   read, for a reader that keeps the body as sent (the benchmark compares it whole).
//!
//! A terminator line ends in CRLF, or in a bare LF from a sloppy server: an un-stuffed line
//! can never be a lone `.`, so either one ends the body. The [`Unstuffer`] notes the first
//! departure from the strict form ([`Fault`]) for a reader that must refuse it.

use memchr::memmem;
use std::fmt;

/// One line of a body, with or without its line end: `None` for the terminator, else the line
/// without its stuffing dot.
pub fn unstuff_line(line: &[u8]) -> Option<&[u8]> {
    if crate::content(line) == b"." {
        return None;
    }
    Some(line.strip_prefix(b".").unwrap_or(line))
}

/// A departure from the strict form of a body, which the [`Unstuffer`] reads through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A line (or the terminator) ends in LF without CR.
    BareLf,
    /// A line begins with a `.` that is not followed by another `.` (it was not stuffed).
    UnstuffedDot,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::BareLf => "a line ends in a bare LF",
            Fault::UnstuffedDot => "a line starts with an unstuffed dot",
        })
    }
}

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

/// Un-stuffs one body incrementally; a fresh value for each response. The state survives
/// between calls, so a body may arrive split anywhere (inside a CRLF, between a stuffing dot
/// and the rest of its line) and the caller may offer any output space.
#[derive(Debug, Default)]
pub struct Unstuffer {
    state: State,
    /// Whether the last byte passed inside a line was a CR (for a line end split after it).
    after_cr: bool,
    /// Input bytes taken so far.
    taken: u64,
    fault: Option<(Fault, u64)>,
}

impl Unstuffer {
    /// Whether the terminator has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The first departure from the strict form and the offset in the input at which it
    /// showed (the byte that made it one).
    pub fn fault(&self) -> Option<(Fault, u64)> {
        self.fault
    }

    /// Moves the body bytes of `input` into `out`, up to the terminator or until `out` is
    /// full, and returns how many bytes it took from `input` and how many it wrote. Input after the terminator is left alone: it is the next response.
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
                    if self.state == State::Dot {
                        self.note(Fault::BareLf, taken);
                    }
                    taken += 1;
                    self.state = State::Done;
                }
                State::Dot if byte == b'\r' => {
                    taken += 1;
                    self.state = State::DotCr;
                }
                State::DotCr => {
                    // `.` CR and no LF: the dot was stuffing (not the server's: a stuffed
                    // line has two) and the CR is data.
                    self.note(Fault::UnstuffedDot, taken);
                    out[made] = b'\r';
                    made += 1;
                    self.after_cr = true;
                    self.state = State::Line;
                }
                State::LineStart | State::Dot => {
                    if self.state == State::Dot && byte != b'.' {
                        self.note(Fault::UnstuffedDot, taken);
                    }
                    self.after_cr = false;
                    self.state = State::Line;
                }
                State::Line => {
                    let room = (input.len() - taken).min(out.len() - made);
                    let span = &input[taken..taken + room];
                    let len = memchr::memchr(b'\n', span).map_or(room, |lf| lf + 1);
                    out[made..made + len].copy_from_slice(&span[..len]);
                    if span[len - 1] == b'\n' {
                        let cr = if len > 1 {
                            span[len - 2] == b'\r'
                        } else {
                            self.after_cr
                        };
                        if !cr {
                            self.note(Fault::BareLf, taken + len - 1);
                        }
                        self.state = State::LineStart;
                    }
                    self.after_cr = span[len - 1] == b'\r';
                    taken += len;
                    made += len;
                }
                State::Done => break,
            }
        }
        self.taken += taken as u64;
        (taken, made)
    }

    fn note(&mut self, fault: Fault, at: usize) {
        if self.fault.is_none() {
            self.fault = Some((fault, self.taken + at as u64));
        }
    }
}

/// A whole body un-stuffed by [`unstuff`].
#[derive(Debug, PartialEq, Eq)]
pub struct Unstuffed {
    pub body: Vec<u8>,
    /// Input bytes up to and including the terminator (all of them when it had none).
    pub taken: usize,
    /// Whether the input had a terminator.
    pub ended: bool,
    pub fault: Option<(Fault, u64)>,
}

/// Un-stuffs `wire`, a body with its terminator or without it (as a reader gets it when the
/// server ends it early); a line `.` CR at the very end keeps its CR.
pub fn unstuff(wire: &[u8]) -> Unstuffed {
    let mut unstuffer = Unstuffer::default();
    // Un-stuffing never makes a body longer, so one call takes the whole input.
    let mut body = vec![0; wire.len()];
    let (taken, made) = unstuffer.feed(wire, &mut body);
    body.truncate(made);
    if unstuffer.state == State::DotCr {
        body.push(b'\r');
    }
    Unstuffed {
        body,
        taken,
        ended: unstuffer.is_done(),
        fault: unstuffer.fault,
    }
}

/// Where a body ends: the octets before its terminator line, and with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    pub body: usize,
    pub total: usize,
}

impl End {
    /// Whether the terminator ended in a bare LF.
    pub fn bare_lf(&self) -> bool {
        self.total - self.body == 2
    }
}

/// Finds the end of a body, still stuffed, in a buffer that grows as reads arrive: each call
/// searches only what it has not ruled out before, for a line-initial `.`, which is rare
/// outside the terminator. Nothing is copied or checked, so reading a large body costs one
/// search; un-stuff it afterwards with [`unstuff`] if its content matters.
#[derive(Debug, Default)]
pub struct EndSearch {
    /// The first offset that may still hold a line-initial `.` of the terminator.
    next: usize,
}

impl EndSearch {
    /// The end in `wire` (the body from its first octet, as much as has arrived: the same
    /// buffer, grown, at each call), or `None` until it has arrived.
    pub fn find(&mut self, wire: &[u8]) -> Option<End> {
        loop {
            let dot = if self.next == 0 {
                match wire.first() {
                    None => return None,
                    Some(b'.') => 0,
                    Some(_) => {
                        self.next = 1;
                        continue;
                    }
                }
            } else {
                // A line-initial `.` at `next` or later has an LF just before it.
                match memmem::find(&wire[self.next - 1..], b"\n.") {
                    Some(at) => self.next + at,
                    None => {
                        self.next = wire.len().max(1);
                        return None;
                    }
                }
            };
            match &wire[dot + 1..] {
                [b'\r', b'\n', ..] => {
                    return Some(End {
                        body: dot,
                        total: dot + 3,
                    })
                }
                [b'\n', ..] => {
                    return Some(End {
                        body: dot,
                        total: dot + 2,
                    })
                }
                // Not known yet: look at this dot again when more has arrived.
                [] | [b'\r'] => {
                    self.next = dot;
                    return None;
                }
                _ => self.next = dot + 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of `wire` the simple way, line by line with [`unstuff_line`]: the body and the
    /// octets up to its terminator.
    fn reference(wire: &[u8]) -> (Vec<u8>, usize) {
        let mut body = Vec::new();
        let mut at = 0;
        for line in wire.split_inclusive(|&b| b == b'\n') {
            at += line.len();
            match unstuff_line(line) {
                Some(text) if line.ends_with(b"\n") => body.extend_from_slice(text),
                Some(_) => panic!("no terminator in {wire:?}"),
                None => return (body, at),
            }
        }
        panic!("no terminator in {wire:?}");
    }

    /// The first fault in `wire` the simple way, line by line.
    fn reference_fault(wire: &[u8]) -> Option<Fault> {
        for line in wire.split_inclusive(|&b| b == b'\n') {
            let (text, crlf) = match line.strip_suffix(b"\r\n") {
                Some(text) => (text, true),
                None => (line.strip_suffix(b"\n").expect("a whole line"), false),
            };
            if text.starts_with(b".") && text != b"." && !text.starts_with(b"..") {
                return Some(Fault::UnstuffedDot);
            }
            if !crlf {
                return Some(Fault::BareLf);
            }
            if text == b"." {
                return None;
            }
        }
        None
    }

    /// Feeds `wire` in input chunks of `chunk` bytes with `room` bytes of output per call.
    fn unstuff_in(wire: &[u8], chunk: usize, room: usize) -> (Vec<u8>, usize, Option<Fault>) {
        let mut unstuffer = Unstuffer::default();
        let (mut body, mut at) = (Vec::new(), 0);
        let mut out = vec![0; room];
        while !unstuffer.is_done() {
            assert!(at < wire.len(), "ran past the end of {wire:?}");
            let end = (at + chunk).min(wire.len());
            let (taken, made) = unstuffer.feed(&wire[at..end], &mut out);
            assert!(taken > 0 || made > 0 || unstuffer.is_done(), "no progress");
            assert!(made <= taken + 1, "wrote more than it took");
            body.extend_from_slice(&out[..made]);
            at += taken;
        }
        (body, at, unstuffer.fault().map(|(fault, _)| fault))
    }

    /// Grows a buffer by `chunk` octets at a time until [`EndSearch`] finds the end.
    fn end_in(wire: &[u8], chunk: usize) -> End {
        let mut search = EndSearch::default();
        let mut len = 0;
        loop {
            if let Some(end) = search.find(&wire[..len]) {
                return end;
            }
            assert!(len < wire.len(), "no end found in {wire:?}");
            len = (len + chunk).min(wire.len());
        }
    }

    /// Checks every reader against the line-by-line reference, at every split.
    fn check(wire: &[u8], rooms: &[usize]) {
        let (body, taken) = reference(wire);
        let fault = reference_fault(wire);
        let shown = String::from_utf8_lossy(wire);
        for chunk in 1..=wire.len() {
            for &room in rooms {
                assert_eq!(
                    unstuff_in(wire, chunk, room),
                    (body.clone(), taken, fault),
                    "{shown:?} in chunks of {chunk}, room {room}"
                );
            }
            let end = end_in(wire, chunk);
            assert_eq!(end.total, taken, "{shown:?} in chunks of {chunk}");
            assert_eq!(
                unstuff(&wire[..end.body]).body,
                body,
                "{shown:?} in chunks of {chunk}"
            );
        }
        let whole = unstuff(wire);
        assert_eq!((whole.body, whole.taken, whole.ended), (body, taken, true));
    }

    const CASES: &[&[u8]] = &[
        b".\r\n",
        b".\n",
        b"Subject: x\r\n\r\nbody\r\n.\r\n",
        b"..\r\n...x\r\n..hidden\r\nend .\r\n.\r\n",
        b"a.\r\n. \r\n.x\r\n.\rx\r\n.\r\n",
        b"bare\nlf\n..\n.\n",
        b"cr\ronly\r\n\r\n\r\n.\r\n",
        b"nul \0 and \xe9\r\n.\r\nNEXT RESPONSE\r\n",
        b"\n.\r\n",
    ];

    #[test]
    fn every_split_gives_the_reference_body_and_stops_at_the_terminator() {
        for wire in CASES {
            let rooms: Vec<usize> = (1..=wire.len()).collect();
            check(wire, &rooms);
        }
    }

    /// What a server sends for `body`: its lines stuffed, a CRLF after an unended last line,
    /// the terminator.
    fn stuff(body: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        for line in body.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                wire.push(b'.');
            }
            wire.extend_from_slice(line);
        }
        if !wire.is_empty() && !wire.ends_with(b"\n") {
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        wire
    }

    /// Every string of up to 6 octets over `.`, CR, LF and `x`, stuffed as a server would and
    /// also as it is (when it holds a terminator of its own), read at every split.
    #[test]
    fn all_short_strings_over_dot_cr_lf_x_match_the_reference() {
        let alphabet = [b'.', b'\r', b'\n', b'x'];
        for len in 0..=6u32 {
            for mut n in 0..4usize.pow(len) {
                let mut text = Vec::new();
                for _ in 0..len {
                    text.push(alphabet[n % 4]);
                    n /= 4;
                }
                check(&stuff(&text), &[1, 2, 3]);
                let raw = [&text[..], b"\r\n.\r\n"].concat();
                check(&raw, &[1, 2]);
            }
        }
    }

    #[test]
    fn faults_say_where_they_showed() {
        let mut unstuffer = Unstuffer::default();
        let mut out = [0; 64];
        unstuffer.feed(b"ok\r\n", &mut out);
        unstuffer.feed(b"x\ny\n.\r\n", &mut out);
        assert_eq!(unstuffer.fault(), Some((Fault::BareLf, 5)));
        assert_eq!(
            unstuff(b"a\r\n.b\r\n.\r\n").fault,
            Some((Fault::UnstuffedDot, 4))
        );
        assert_eq!(unstuff(b"a\r\n..b\r\n.\r\n").fault, None);
    }

    #[test]
    fn a_body_without_its_terminator_is_all_taken() {
        let cut = unstuff(b"..a\r\nb\r\n.\r");
        assert_eq!(cut.body, b".a\r\nb\r\n\r");
        assert_eq!((cut.taken, cut.ended), (10, false));
        assert_eq!(unstuff(b"").body, b"");
        assert_eq!(unstuff(b"x\r\n.").body, b"x\r\n");
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
        let end = EndSearch::default().find(&wire);
        assert_eq!(
            end,
            Some(End {
                body: body.len(),
                total: wire.len()
            })
        );
    }

    #[test]
    fn unstuff_line_takes_lines_with_or_without_their_end() {
        assert_eq!(unstuff_line(b"."), None);
        assert_eq!(unstuff_line(b".\r\n"), None);
        assert_eq!(unstuff_line(b".\n"), None);
        assert_eq!(unstuff_line(b".."), Some(&b"."[..]));
        assert_eq!(unstuff_line(b"..x\r\n"), Some(&b".x\r\n"[..]));
        assert_eq!(unstuff_line(b"x"), Some(&b"x"[..]));
        assert_eq!(unstuff_line(b""), Some(&b""[..]));
    }
}
