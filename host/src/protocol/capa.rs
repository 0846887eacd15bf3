//! The CAPA response (RFC 2449 §5): only what is true on this connection in this state.

use pop3_plugin_api::Expire;
use std::fmt::Write as _;

/// What a connection can offer right now.
pub struct Capabilities {
    /// After login USER (and later SASL) vanish and the policies are the user's own.
    pub logged_in: bool,
    pub login_delay: Option<u32>,
    pub expire: Option<Expire>,
}

pub const IMPLEMENTATION: &str = "pop3host";

impl Capabilities {
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut text = String::from("+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        if !self.logged_in {
            text.push_str("USER\r\n");
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

    #[test]
    fn before_login_lists_user_and_only_set_policies() {
        let text = capa(Capabilities {
            logged_in: false,
            login_delay: None,
            expire: None,
        });
        assert_eq!(
            text,
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nIMPLEMENTATION pop3host\r\n.\r\n"
        );
    }

    #[test]
    fn after_login_drops_user_and_shows_policies() {
        let text = capa(Capabilities {
            logged_in: true,
            login_delay: Some(900),
            expire: Some(Expire::Never),
        });
        assert!(!text.contains("USER"));
        assert!(text.contains("\r\nLOGIN-DELAY 900\r\nEXPIRE NEVER\r\n"));
        let days = capa(Capabilities {
            logged_in: true,
            login_delay: None,
            expire: Some(Expire::Days(30)),
        });
        assert!(days.contains("\r\nEXPIRE 30\r\n"));
    }
}
