//! Status lines (RFC 1939 §3): `+OK` or `-ERR`, alone or followed by a space and text, and
//! the response code that may open the text (RFC 2449 §8, RFC 3206: `-ERR [IN-USE] ...`).

/// A status line: which indicator, and the text after it (without the space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'a> {
    Ok(&'a str),
    Err(&'a str),
}

impl<'a> Status<'a> {
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Ok(_))
    }

    /// The text after the indicator.
    pub fn text(&self) -> &'a str {
        match self {
            Status::Ok(text) | Status::Err(text) => text,
        }
    }
}

/// Parses a status line without its line end (see [`crate::content`]); `None` when it is
/// not one (`+OKAY`, `+ ok`, a leading space, an HTTP error page...).
pub fn parse_status(line: &str) -> Option<Status<'_>> {
    if let Some(text) = after_indicator(line, "+OK") {
        return Some(Status::Ok(text));
    }
    after_indicator(line, "-ERR").map(Status::Err)
}

/// The text after a status indicator, which must stand alone or be followed by a space.
fn after_indicator<'a>(line: &'a str, indicator: &str) -> Option<&'a str> {
    match line.strip_prefix(indicator)? {
        "" => Some(""),
        rest => rest.strip_prefix(' '),
    }
}

/// The response code in brackets at the start of a status text and the text after it
/// (leading spaces dropped); `None` when the text has no code.
pub fn split_code(text: &str) -> Option<(&str, &str)> {
    let (code, rest) = text.strip_prefix('[')?.split_once(']')?;
    Some((code, rest.trim_start()))
}

/// Whether `code` is `known` or a level below it: codes are hierarchical and a client treats
/// an unknown level below a known one as the known one (RFC 2449 §8), so `SYS/TEMP/QUOTA` is
/// `SYS/TEMP`. Case does not matter.
pub fn code_is(code: &str, known: &str) -> bool {
    let head = code.get(..known.len());
    head.is_some_and(|head| head.eq_ignore_ascii_case(known))
        && matches!(code.as_bytes().get(known.len()), None | Some(b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_and_err_lines_give_their_text() {
        assert_eq!(parse_status("+OK"), Some(Status::Ok("")));
        assert_eq!(parse_status("+OK 2 320"), Some(Status::Ok("2 320")));
        assert_eq!(parse_status("+OK  two"), Some(Status::Ok(" two")));
        assert_eq!(parse_status("-ERR"), Some(Status::Err("")));
        assert_eq!(
            parse_status("-ERR [IN-USE] x"),
            Some(Status::Err("[IN-USE] x"))
        );
        assert_eq!(
            parse_status("-ERR [IN-USE] x").unwrap().text(),
            "[IN-USE] x"
        );
        assert!(parse_status("+OK").unwrap().is_ok());
        assert!(!parse_status("-ERR").unwrap().is_ok());
    }

    #[test]
    fn anything_else_is_not_a_status_line() {
        for line in [
            "",
            "+OKAY",
            "-ERROR x",
            "+ ",
            "+ go on",
            "ok",
            "HTTP/1.1 400 Bad Request",
            " +OK",
        ] {
            assert_eq!(parse_status(line), None, "{line:?}");
        }
    }

    #[test]
    fn codes_split_from_their_text() {
        assert_eq!(split_code("[AUTH] failed."), Some(("AUTH", "failed.")));
        assert_eq!(split_code("[IN-USE]"), Some(("IN-USE", "")));
        assert_eq!(
            split_code("[SYS/TEMP]   later"),
            Some(("SYS/TEMP", "later"))
        );
        assert_eq!(split_code("no code"), None);
        assert_eq!(split_code("[unclosed"), None);
        assert_eq!(split_code(" [AUTH] x"), None);
    }

    #[test]
    fn codes_match_their_level_and_the_levels_below() {
        assert!(code_is("AUTH", "AUTH"));
        assert!(code_is("sys/perm", "SYS/PERM"));
        assert!(code_is("SYS/TEMP/QUOTA", "SYS/TEMP"));
        assert!(!code_is("SYS", "SYS/TEMP"));
        assert!(!code_is("AUTHX", "AUTH"));
        assert!(!code_is("", "AUTH"));
    }
}
