//! SASL for the AUTH command (RFC 5034): the PLAIN (RFC 4616) and LOGIN mechanisms, as a
//! small exchange that takes client responses and yields a challenge, credentials or an error.
//! Both carry a password in the clear, so the session offers them only where plaintext
//! authentication is allowed.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub const ALL: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send `+ challenge` (base64) and wait for the next response line.
    Challenge(&'static str),
    Credentials {
        user: String,
        password: String,
    },
    /// The client sent `*`.
    Cancelled,
    /// The response was not valid for the mechanism; the text says why.
    Invalid(&'static str),
}

/// An AUTH exchange in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    mechanism: Mechanism,
    /// LOGIN: the user name, once given.
    user: Option<String>,
}

/// "Username:" and "Password:" in base64, the prompts LOGIN clients expect.
const LOGIN_USER: &str = "VXNlcm5hbWU6";
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

impl Exchange {
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Starts `mechanism`, with the initial response if the AUTH command carried one.
    pub fn start(mechanism: Mechanism, initial_response: Option<&str>) -> (Self, Step) {
        let mut exchange = Self {
            mechanism,
            user: None,
        };
        let step = match initial_response {
            Some(response) => exchange.respond(response),
            None => Step::Challenge(match mechanism {
                Mechanism::Plain => "",
                Mechanism::Login => LOGIN_USER,
            }),
        };
        (exchange, step)
    }

    /// The client's response line to the last challenge.
    pub fn respond(&mut self, response: &str) -> Step {
        if response == "*" {
            return Step::Cancelled;
        }
        let Some(decoded) = decode(response) else {
            return Step::Invalid("Invalid base64 data.");
        };
        match (self.mechanism, self.user.take()) {
            (Mechanism::Plain, _) => plain(&decoded),
            (Mechanism::Login, None) => match String::from_utf8(decoded) {
                Ok(user) => {
                    self.user = Some(user);
                    Step::Challenge(LOGIN_PASSWORD)
                }
                Err(_) => Step::Invalid("The user name is not UTF-8."),
            },
            (Mechanism::Login, Some(user)) => match String::from_utf8(decoded) {
                Ok(password) => Step::Credentials { user, password },
                Err(_) => Step::Invalid("The password is not UTF-8."),
            },
        }
    }
}

/// Base64, where `=` alone is an empty response (RFC 5034 §4).
fn decode(response: &str) -> Option<Vec<u8>> {
    if response == "=" {
        return Some(Vec::new());
    }
    BASE64.decode(response).ok()
}

/// `authzid NUL authcid NUL password`; an authorization identity other than the user's own
/// would mean acting as someone else, which this server does not support.
fn plain(message: &[u8]) -> Step {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Step::Invalid("PLAIN needs authzid NUL user NUL password.");
    };
    let (Ok(authzid), Ok(user), Ok(password)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(user),
        std::str::from_utf8(password),
    ) else {
        return Step::Invalid("PLAIN credentials must be UTF-8.");
    };
    if user.is_empty() || !(authzid.is_empty() || authzid == user) {
        return Step::Invalid("PLAIN may only authorize as the authenticating user.");
    }
    Step::Credentials {
        user: user.to_string(),
        password: password.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        BASE64.encode(s)
    }

    fn credentials(user: &str, password: &str) -> Step {
        Step::Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        let (_, step) = Exchange::start(Mechanism::Plain, Some(&b64(b"\0alice\0pw")));
        assert_eq!(step, credentials("alice", "pw"));
        let (mut exchange, step) = Exchange::start(Mechanism::Plain, None);
        assert_eq!(step, Step::Challenge(""));
        assert_eq!(
            exchange.respond(&b64(b"alice\0alice\0p w")),
            credentials("alice", "p w")
        );
    }

    #[test]
    fn plain_refuses_another_authorization_identity() {
        let (_, step) = Exchange::start(Mechanism::Plain, Some(&b64(b"admin\0alice\0pw")));
        assert!(matches!(step, Step::Invalid(_)));
        let (_, step) = Exchange::start(Mechanism::Plain, Some(&b64(b"alice\0pw")));
        assert!(matches!(step, Step::Invalid(_)));
    }

    #[test]
    fn an_empty_initial_response_is_equals() {
        let (_, step) = Exchange::start(Mechanism::Plain, Some("="));
        assert!(
            matches!(step, Step::Invalid(_)),
            "an empty PLAIN message has no user"
        );
        let (mut exchange, step) = Exchange::start(Mechanism::Login, Some("="));
        assert_eq!(step, Step::Challenge(LOGIN_PASSWORD));
        assert_eq!(exchange.respond(&b64(b"pw")), credentials("", "pw"));
    }

    #[test]
    fn login_asks_for_user_then_password() {
        let (mut exchange, step) = Exchange::start(Mechanism::Login, None);
        assert_eq!(step, Step::Challenge("VXNlcm5hbWU6"));
        assert_eq!(
            exchange.respond(&b64(b"alice")),
            Step::Challenge("UGFzc3dvcmQ6")
        );
        assert_eq!(exchange.respond(&b64(b"pw")), credentials("alice", "pw"));
        let (_, step) = Exchange::start(Mechanism::Login, Some(&b64(b"bob")));
        assert_eq!(step, Step::Challenge(LOGIN_PASSWORD));
    }

    #[test]
    fn star_cancels_and_garbage_is_invalid() {
        let (mut exchange, _) = Exchange::start(Mechanism::Login, None);
        assert_eq!(exchange.respond("*"), Step::Cancelled);
        assert_eq!(
            exchange.respond("not base64!"),
            Step::Invalid("Invalid base64 data.")
        );
    }

    #[test]
    fn mechanism_names_are_case_insensitive() {
        assert_eq!(Mechanism::from_name("plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
    }
}
