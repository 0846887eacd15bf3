//! The CAPA response (RFC 2449 §5): only what is true on this connection in this state.

use super::sasl::Mechanism;
use pop3_plugin_api::Expire;
use std::fmt::Write as _;

/// What a connection can offer right now.
pub struct Capabilities {
    /// After login USER, SASL, STLS and UTF8 vanish and the policies are the user's own.
    pub logged_in: bool,
    /// USER/PASS and the SASL mechanisms work here (TLS, or the plaintext policy allows it).
    pub plaintext_auth: bool,
    /// STLS can be started: TLS is configured and not active yet.
    pub stls: bool,
    pub login_delay: Option<u32>,
    pub expire: Option<Expire>,
}

pub const IMPLEMENTATION: &str = "pop3host";

impl Capabilities {
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut text = String::from(concat!(
            "+OK Capability list follows\r\n",
            "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n",
        ));
        if !self.logged_in {
            text.push_str("UTF8 USER\r\n");
            if self.stls {
                text.push_str("STLS\r\n");
            }
            if self.plaintext_auth {
                text.push_str("USER\r\nSASL");
                for mechanism in Mechanism::ALL {
                    let _ = write!(text, " {}", mechanism.name());
                }
                text.push_str("\r\n");
            }
        }
        if let Some(seconds) = self.login_delay {
            let _ = write!(text, "LOGIN-DELAY {seconds}\r\n");
        }
        match self.expire {
            Some(Expire::Never) => text.push_str("EXPIRE NEVER\r\n"),
            Some(Expire::Days(days)) => {
                let _ = write!(text, "EXPIRE {days}\r\n");
            }
            None => {}
        }
        let _ = write!(text, "IMPLEMENTATION {IMPLEMENTATION}\r\n.\r\n");
        out.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capa(caps: Capabilities) -> String {
        let mut out = Vec::new();
        caps.write(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn before_login() -> Capabilities {
        Capabilities {
            logged_in: false,
            plaintext_auth: true,
            stls: true,
            login_delay: None,
            expire: None,
        }
    }

    #[test]
    fn before_login_lists_auth_and_only_set_policies() {
        assert_eq!(
            capa(before_login()),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n\
             PIPELINING\r\nUTF8 USER\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n\
             IMPLEMENTATION pop3host\r\n.\r\n"
        );
    }

    #[test]
    fn without_plaintext_auth_user_and_sasl_vanish() {
        let text = capa(Capabilities {
            plaintext_auth: false,
            stls: false,
            ..before_login()
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            !lines.contains(&"USER") && !text.contains("SASL") && !text.contains("STLS"),
            "{text}"
        );
    }

    #[test]
    fn after_login_shows_only_the_users_policies() {
        let text = capa(Capabilities {
            logged_in: true,
            login_delay: Some(900),
            expire: Some(Expire::Never),
            ..before_login()
        });
        assert!(
            !text.contains("USER") && !text.contains("STLS") && !text.contains("SASL"),
            "{text}"
        );
        assert!(text.contains("\r\nLOGIN-DELAY 900\r\nEXPIRE NEVER\r\n"));
        let days = capa(Capabilities {
            logged_in: true,
            expire: Some(Expire::Days(30)),
            ..before_login()
        });
        assert!(days.contains("\r\nEXPIRE 30\r\n"));
    }
}
