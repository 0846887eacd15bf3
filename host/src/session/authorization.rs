//! The AUTHORIZATION state (RFC 1939 §4): USER/PASS, APOP, SASL (RFC 5034), STLS (RFC 2595),
//! UTF8, and the backend's answer to a login.

use super::message_table::MessageTable;
use super::{Action, Granted, Login, LoginOutcome, Secret, Session, State};
use crate::protocol::command::Command;
use crate::protocol::reply;
use crate::protocol::sasl::{self, Exchange, Mechanism};
use pop3_plugin_api::{PopError, ResponseCode};
use std::time::{Duration, Instant};

const PLAINTEXT_REFUSED: &str = "Plaintext authentication is not allowed without TLS; use STLS.";

impl Session {
    /// A command before login.
    pub(super) fn authorization(&mut self, command: Command, out: &mut Vec<u8>) -> Action {
        let plaintext_auth = self.plaintext_auth();
        let State::Authorization { user } = &mut self.state else {
            return Action::Close;
        };
        match command {
            Command::Quit => {
                reply::ok(out, "Logging out.");
                self.state = State::Closed;
                Action::Close
            }
            Command::User(_)
            | Command::Auth {
                mechanism: Some(_), ..
            } if !plaintext_auth => {
                reply::err_coded(out, ResponseCode::AUTH, PLAINTEXT_REFUSED);
                Action::Continue
            }
            Command::User(name) => {
                *user = Some(name);
                reply::ok(out, "Send PASS.");
                Action::Continue
            }
            Command::Pass(password) => match user.take() {
                Some(user) => Action::Login(Login {
                    user,
                    secret: Secret::Password(password),
                    mechanism: "USER",
                }),
                None => {
                    reply::err_plain(out, "No user name given, send USER first.");
                    Action::Continue
                }
            },
            Command::Apop { user: name, digest } => {
                *user = None;
                match &self.apop_timestamp {
                    Some(timestamp) => Action::Login(Login {
                        user: name,
                        secret: Secret::Apop {
                            digest,
                            timestamp: timestamp.clone(),
                        },
                        mechanism: "APOP",
                    }),
                    None => {
                        reply::err_plain(out, "APOP is not available.");
                        Action::Continue
                    }
                }
            }
            Command::Auth {
                mechanism: None, ..
            } => {
                let mut list = String::from("+OK Mechanisms follow\r\n");
                for mechanism in Mechanism::ALL.iter().filter(|_| plaintext_auth) {
                    list.push_str(mechanism.name());
                    list.push_str("\r\n");
                }
                list.push_str(".\r\n");
                out.extend_from_slice(list.as_bytes());
                Action::Continue
            }
            Command::Auth {
                mechanism: Some(name),
                initial_response,
            } => match Mechanism::from_name(&name) {
                Some(mechanism) => {
                    let (exchange, step) = Exchange::start(mechanism, initial_response.as_deref());
                    self.state = State::Sasl(exchange);
                    self.sasl_step(step, out)
                }
                None => {
                    reply::err_plain(out, "Unsupported authentication mechanism.");
                    Action::Continue
                }
            },
            Command::Stls => {
                if self.transport.tls {
                    reply::err_plain(out, "TLS is already active.");
                    Action::Continue
                } else if !self.config.tls_available {
                    reply::err_plain(out, "STLS is not available.");
                    Action::Continue
                } else {
                    *user = None;
                    reply::ok(out, "Begin TLS negotiation.");
                    Action::StartTls
                }
            }
            Command::Utf8 => {
                reply::ok(out, "UTF8 enabled.");
                Action::Continue
            }
            _ => {
                reply::err_plain(out, "Not allowed before login.");
                Action::Continue
            }
        }
    }

    /// Moves an AUTH exchange on by one step.
    pub(super) fn sasl_step(&mut self, step: sasl::Step, out: &mut Vec<u8>) -> Action {
        let next = match step {
            sasl::Step::Challenge(challenge) => {
                out.extend_from_slice(format!("+ {challenge}\r\n").as_bytes());
                return Action::Continue;
            }
            sasl::Step::Credentials { user, password } => Action::Login(Login {
                user,
                secret: Secret::Password(password),
                mechanism: match &self.state {
                    State::Sasl(exchange) => exchange.mechanism().name(),
                    _ => "AUTH",
                },
            }),
            sasl::Step::Cancelled => {
                reply::err_plain(out, "Authentication cancelled.");
                Action::Continue
            }
            sasl::Step::Invalid(why) => {
                reply::err_plain(out, why);
                Action::Continue
            }
        };
        self.state = State::Authorization { user: None };
        next
    }

    /// The backend's answer to [`Action::Login`]. When it is not [`LoginOutcome::LoggedIn`],
    /// the driver releases the mailbox it may hold.
    pub fn login_done(
        &mut self,
        login: &Login,
        result: Result<Granted, PopError>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> LoginOutcome {
        let granted = match result {
            Ok(granted) => granted,
            Err(error) => {
                reply::err(out, &error);
                let bad_credentials = error.code == ResponseCode::AUTH;
                self.failures += usize::from(bad_credentials);
                let close = self.failures >= self.config.max_auth_failures;
                if close {
                    self.state = State::Closed;
                }
                return LoginOutcome::Refused {
                    bad_credentials,
                    close,
                };
            }
        };
        if let Some(delay) = granted.login_delay {
            if let Err(wait) =
                self.logins
                    .admit(&login.user, Duration::from_secs(delay.into()), now)
            {
                let text = format!(
                    "Logged in too recently, try again in {} seconds.",
                    wait.as_secs().max(1)
                );
                reply::err(out, &PopError::login_delay(text));
                return LoginOutcome::Refused {
                    bad_credentials: false,
                    close: false,
                };
            }
        }
        let messages = MessageTable::new(granted.messages);
        let (count, octets) = messages.stat();
        reply::ok(
            out,
            &format!("Logged in, {count} messages ({octets} octets)."),
        );
        self.state = State::Transaction {
            messages,
            login_delay: granted.login_delay,
            expire: granted.expire,
        };
        LoginOutcome::LoggedIn
    }
}

/// The random part of an APOP timestamp (RFC 1939 §7): unique per greeting, and telling
/// nothing about the server (a process id would help guess other names it makes). At most
/// `u32::MAX`, which `service::check_greeting_fits` assumes.
pub(super) fn apop_nonce() -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No entropy source at all: the process's random hash keys still hide the pid.
        use std::hash::BuildHasher;
        return std::collections::hash_map::RandomState::new().hash_one(()) as u32;
    }
    u32::from_ne_bytes(bytes)
}
