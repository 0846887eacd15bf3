//! Listing lines (RFC 1939 §5, §7): `n size` in a LIST answer, `n id` in a UIDL answer. The
//! text of a STAT answer (`count octets`) and of `LIST n` / `UIDL n` has the same form.
//!
//! RFC 1939 asks for exactly one space between the two and lets a server add more after the
//! value; a tolerant client splits on any run of whitespace and ignores the rest. The parse
//! here is the tolerant one and says whether the line had the exact form, so that a strict
//! reader refuses what a tolerant one passes over.

/// One listing line: a message number and its value (a size or an id), as raw bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed<'a> {
    pub number: usize,
    pub value: &'a [u8],
    /// The line is exactly `number SP value`: no other whitespace, nothing after the value.
    pub exact: bool,
}

impl Listed<'_> {
    /// The value as a size in octets (LIST, STAT).
    pub fn size(&self) -> Option<u64> {
        parse(self.value)
    }
}

/// Parses a listing line without its line end (see [`crate::content`]): its first word is
/// a message number and it has a second word; `None` otherwise.
pub fn parse_listed(line: &[u8]) -> Option<Listed<'_>> {
    let mut words = line
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty());
    let (number, value) = (words.next()?, words.next()?);
    // Two words and one byte in all besides them: the byte between them, a space.
    let exact = line.len() == number.len() + 1 + value.len() && line[number.len()] == b' ';
    Some(Listed {
        number: parse(number)?,
        value,
        exact,
    })
}

fn parse<T: std::str::FromStr>(word: &[u8]) -> Option<T> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(number: usize, value: &[u8], exact: bool) -> Option<Listed<'_>> {
        Some(Listed {
            number,
            value,
            exact,
        })
    }

    #[test]
    fn exact_lines() {
        assert_eq!(parse_listed(b"1 120"), listed(1, b"120", true));
        assert_eq!(parse_listed(b"7 a-1.x"), listed(7, b"a-1.x", true));
        assert_eq!(parse_listed(b"2 320").unwrap().size(), Some(320));
        assert_eq!(parse_listed(b"1 \xff\xfe"), listed(1, b"\xff\xfe", true));
    }

    #[test]
    fn tolerated_lines_are_not_exact() {
        assert_eq!(parse_listed(b"3 7 extra"), listed(3, b"7", false));
        assert_eq!(parse_listed(b"1  10"), listed(1, b"10", false));
        assert_eq!(parse_listed(b"1\t10"), listed(1, b"10", false));
        assert_eq!(parse_listed(b" 1 10"), listed(1, b"10", false));
        assert_eq!(parse_listed(b"1 10 "), listed(1, b"10", false));
    }

    #[test]
    fn malformed_lines() {
        for bad in [&b""[..], b"1", b"one 5", b"-1 5", b" ", b"\xff 5"] {
            assert_eq!(parse_listed(bad), None, "{bad:?}");
        }
        assert_eq!(parse_listed(b"1 -5").unwrap().size(), None);
        assert_eq!(parse_listed(b"1 x").unwrap().size(), None);
    }
}
