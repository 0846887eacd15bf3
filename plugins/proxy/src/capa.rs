//! What the upstream can do, from its CAPA answer (RFC 2449 §5). An RFC 1939 server that
//! does not know CAPA gets the baseline: USER/PASS, one command at a time.

/// The capabilities the proxy acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// USER/PASS works. Without it the proxy logs in with SASL PLAIN if offered.
    pub user: bool,
    /// `SASL` lists `PLAIN` (RFC 5034, RFC 4616).
    pub sasl_plain: bool,
    /// Commands may be sent in one write (RFC 2449 §6.6).
    pub pipelining: bool,
}

impl Capabilities {
    /// An upstream without CAPA.
    pub const BASELINE: Self = Self {
        user: true,
        sasl_plain: false,
        pipelining: false,
    };

    /// Reads the lines of a CAPA answer; tags are case-insensitive.
    pub fn parse(lines: &[String]) -> Self {
        let mut capa = Self {
            user: false,
            ..Self::BASELINE
        };
        for line in lines {
            let mut words = line.split_ascii_whitespace();
            let tag = words.next().unwrap_or_default().to_ascii_uppercase();
            match tag.as_str() {
                "USER" => capa.user = true,
                "PIPELINING" => capa.pipelining = true,
                "SASL" => capa.sasl_plain = words.any(|m| m.eq_ignore_ascii_case("PLAIN")),
                _ => {}
            }
        }
        capa
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Capabilities {
        Capabilities::parse(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn dovecot_before_login() {
        let capa = parse(&[
            "CAPA",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "PIPELINING",
            "AUTH-RESP-CODE",
            "STLS",
            "USER",
            "SASL PLAIN LOGIN",
        ]);
        assert_eq!(
            capa,
            Capabilities {
                user: true,
                sasl_plain: true,
                pipelining: true
            }
        );
    }

    #[test]
    fn sasl_only_and_lowercase() {
        let capa = parse(&["top", "sasl login plain"]);
        assert!(!capa.user && capa.sasl_plain && !capa.pipelining);
        assert!(!parse(&["SASL CRAM-MD5 PLAINX"]).sasl_plain);
        assert!(!parse(&[]).user);
    }
}
