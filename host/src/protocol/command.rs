//! Parses one command line (RFC 1939, 2449) into a [`Command`]. Keywords are
//! case-insensitive; arguments are separated by spaces. Pure: no state, no I/O.

use std::fmt;

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Apop {
        user: String,
        digest: String,
    },
    Capa,
    Quit,
    Stat,
    List(Option<MessageNumber>),
    Retr(MessageNumber),
    Dele(MessageNumber),
    Noop,
    Rset,
    Top {
        msg: MessageNumber,
        lines: u32,
    },
    Uidl(Option<MessageNumber>),
    /// RFC 5034: `AUTH` alone lists the mechanisms (old Outlook).
    Auth {
        mechanism: Option<String>,
        initial_response: Option<String>,
    },
    /// RFC 2595.
    Stls,
    /// RFC 6856.
    Utf8,
    /// A PROXY protocol v1 header where none is expected.
    Proxy,
}

/// A message number as the client wrote it: 1-based, not yet checked against the maildrop.
/// Numbers beyond `u32` are kept as `u32::MAX`, which no maildrop reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageNumber(pub u32);

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    /// The keyword, when it is safe to echo (see [`echoable`]).
    Unknown(Option<String>),
    /// The keyword is known but its arguments are not right; holds the expected syntax.
    Syntax(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty command"),
            Self::Unknown(Some(keyword)) => write!(f, "Unknown command: {keyword}"),
            Self::Unknown(None) => f.write_str("Unknown command."),
            Self::Syntax(usage) => write!(f, "Syntax: {usage}"),
        }
    }
}

impl Command {
    pub fn parse(line: &[u8]) -> Result<Self, ParseError> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches([' ', '\t']);
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut args = rest.split(' ').filter(|a| !a.is_empty());
        let keyword = keyword.to_ascii_uppercase();
        let command = match keyword.as_str() {
            // USER and PASS take the rest of the line: passwords may contain spaces.
            "USER" => Self::User(whole(rest, "USER name")?),
            "PASS" => Self::Pass(whole(rest, "PASS password")?),
            "APOP" => Self::Apop {
                user: word(&mut args, APOP)?,
                digest: word(&mut args, APOP)?,
            },
            "CAPA" => Self::Capa,
            "QUIT" => Self::Quit,
            "STAT" => Self::Stat,
            "LIST" => Self::List(optional_number(&mut args, "LIST [msg]")?),
            "RETR" => Self::Retr(number(&mut args, "RETR msg")?),
            "DELE" => Self::Dele(number(&mut args, "DELE msg")?),
            "NOOP" => Self::Noop,
            "RSET" => Self::Rset,
            "TOP" => Self::Top {
                msg: number(&mut args, TOP)?,
                lines: count(&mut args, TOP)?,
            },
            "UIDL" => Self::Uidl(optional_number(&mut args, "UIDL [msg]")?),
            "AUTH" => Self::Auth {
                mechanism: args.next().map(str::to_ascii_uppercase),
                initial_response: args.next().map(str::to_string),
            },
            "STLS" => Self::Stls,
            "UTF8" => Self::Utf8,
            "PROXY" => return Ok(Self::Proxy),
            "" => return Err(ParseError::Empty),
            _ => return Err(ParseError::Unknown(echoable(&keyword))),
        };
        let takes_whole_line = matches!(command, Self::User(_) | Self::Pass(_));
        if !takes_whole_line && args.next().is_some() {
            return Err(ParseError::Syntax(usage_of(&command)));
        }
        Ok(command)
    }
}

const APOP: &str = "APOP name digest";
const TOP: &str = "TOP msg lines";

impl Command {
    /// The command's keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        let usage = usage_of(self);
        usage.split(' ').next().unwrap_or(usage)
    }
}

fn usage_of(command: &Command) -> &'static str {
    match command {
        Command::Apop { .. } => APOP,
        Command::Capa => "CAPA",
        Command::Quit => "QUIT",
        Command::Stat => "STAT",
        Command::List(_) => "LIST [msg]",
        Command::Retr(_) => "RETR msg",
        Command::Dele(_) => "DELE msg",
        Command::Noop => "NOOP",
        Command::Rset => "RSET",
        Command::Top { .. } => TOP,
        Command::Uidl(_) => "UIDL [msg]",
        Command::Auth { .. } => "AUTH [mechanism [initial-response]]",
        Command::Stls => "STLS",
        Command::Utf8 => "UTF8",
        Command::Proxy => "PROXY",
        Command::User(_) => "USER name",
        Command::Pass(_) => "PASS password",
    }
}

fn whole(rest: &str, usage: &'static str) -> Result<String, ParseError> {
    match rest.trim_start_matches(' ') {
        "" => Err(ParseError::Syntax(usage)),
        value => Ok(value.to_string()),
    }
}

fn word<'a>(
    args: &mut impl Iterator<Item = &'a str>,
    usage: &'static str,
) -> Result<String, ParseError> {
    args.next()
        .map(str::to_string)
        .ok_or(ParseError::Syntax(usage))
}

/// A decimal number of at most 10 digits' worth, saturated to `u32::MAX`.
fn decimal(arg: &str) -> Option<u32> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(arg.parse::<u32>().unwrap_or(u32::MAX))
}

fn number<'a>(
    args: &mut impl Iterator<Item = &'a str>,
    usage: &'static str,
) -> Result<MessageNumber, ParseError> {
    count(args, usage).map(MessageNumber)
}

fn optional_number<'a>(
    args: &mut impl Iterator<Item = &'a str>,
    usage: &'static str,
) -> Result<Option<MessageNumber>, ParseError> {
    match args.next() {
        None => Ok(None),
        Some(arg) => decimal(arg)
            .map(|n| Some(MessageNumber(n)))
            .ok_or(ParseError::Syntax(usage)),
    }
}

fn count<'a>(
    args: &mut impl Iterator<Item = &'a str>,
    usage: &'static str,
) -> Result<u32, ParseError> {
    args.next()
        .and_then(decimal)
        .ok_or(ParseError::Syntax(usage))
}

/// A keyword safe to echo: printable ASCII of a POP3 keyword's length (RFC 2449 §3: 3 or
/// 4 characters). Anything longer is no command but some other text, such as a base64 SASL
/// credential sent at the wrong moment, and is not sent back.
fn echoable(keyword: &str) -> Option<String> {
    let printable: String = keyword.chars().filter(|c| c.is_ascii_graphic()).collect();
    (!printable.is_empty() && keyword.chars().count() <= 4).then_some(printable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, ParseError> {
        Command::parse(line.as_bytes())
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(parse("list 2"), Ok(Command::List(Some(MessageNumber(2)))));
        assert_eq!(parse("Stat"), Ok(Command::Stat));
        assert_eq!(
            parse("tOp 1 0"),
            Ok(Command::Top {
                msg: MessageNumber(1),
                lines: 0
            })
        );
    }

    #[test]
    fn pass_keeps_spaces_in_the_password() {
        assert_eq!(
            parse("PASS  two words "),
            Ok(Command::Pass("two words".into()))
        );
        assert_eq!(parse("USER alice"), Ok(Command::User("alice".into())));
        assert_eq!(parse("PASS"), Err(ParseError::Syntax("PASS password")));
    }

    #[test]
    fn bad_numbers_are_syntax_errors() {
        for line in [
            "RETR", "RETR x", "RETR -1", "RETR 1x", "DELE 1 2", "TOP 1", "LIST a", "STAT 1",
        ] {
            assert!(matches!(parse(line), Err(ParseError::Syntax(_))), "{line}");
        }
    }

    #[test]
    fn huge_numbers_saturate() {
        assert_eq!(
            parse("RETR 99999999999999999999"),
            Ok(Command::Retr(MessageNumber(u32::MAX)))
        );
        assert_eq!(
            parse("TOP 1 99999999"),
            Ok(Command::Top {
                msg: MessageNumber(1),
                lines: 99_999_999
            })
        );
    }

    #[test]
    fn unknown_keywords_are_echoed_safely() {
        assert_eq!(
            parse("XTND foo"),
            Err(ParseError::Unknown(Some("XTND".into())))
        );
        assert_eq!(
            parse("x\u{7}z"),
            Err(ParseError::Unknown(Some("XZ".into())))
        );
        assert_eq!(parse("XYZZY abc"), Err(ParseError::Unknown(None)));
        assert_eq!(
            parse("dGVzdAB0ZXN0AHNlY3JldA=="),
            Err(ParseError::Unknown(None)),
            "a SASL credential is not sent back"
        );
        assert_eq!(parse(""), Err(ParseError::Empty));
        assert_eq!(Command::parse(b"\xff\xfe"), Err(ParseError::Unknown(None)));
    }

    #[test]
    fn auth_takes_an_optional_mechanism_and_initial_response() {
        assert_eq!(
            parse("AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial_response: None
            })
        );
        assert_eq!(
            parse("auth plain AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some("AGEAYg==".into())
            })
        );
        assert!(parse("AUTH PLAIN a b").is_err());
        assert_eq!(parse("STLS"), Ok(Command::Stls));
        assert_eq!(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), Ok(Command::Proxy));
    }

    #[test]
    fn apop_takes_user_and_digest() {
        assert_eq!(
            parse("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Ok(Command::Apop {
                user: "mrose".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into()
            })
        );
        assert!(parse("APOP mrose").is_err());
    }
}
