//! The `system` driver: the passdb asks PAM (a service of the operator's choosing, whose
//! file in /etc/pam.d says which modules check the password), the userdb the system's user
//! database (getpwnam, through NSS: /etc/passwd, LDAP, ...) for uid, gid and home.
//!
//! A PAM call cannot be interrupted, so each runs on a thread of its own while the login
//! waits at most `timeout_seconds` for its answer (see `deadline`); a call still running after that keeps its
//! place among the `max_running`, so a hung PAM stack makes logins fail fast ([SYS/TEMP])
//! rather than pile up threads. The conversation answers PAM's prompts with the login and
//! the password and logs only PAM's own messages, never what it answered.
//!
//! Timing: a PAM module may answer an unknown user without hashing, so every refusal, an
//! unknown user or a wrong password, waits to the same target ([`Pace`]): the slowest
//! recent check of a known user, at least [`super::pace::FLOOR`], at most `timeout_seconds`.

use super::deadline::{self, Unanswered};
use super::pace::Pace;
use super::slots::Slots;
use super::{PassDb, UserDb, UserFields};
use nix::unistd::User;
use pam::{Client, Conversation, PamReturnCode};
use pop3_plugin_api::{debug, Connection, PopError};
use serde::Deserialize;
use std::ffi::{CStr, CString};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `{"driver": "system", "pam_service": "pop3host", "timeout_seconds": 5, "max_running": 4}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassDbSettings {
    #[serde(default = "default_service")]
    pub pam_service: String,
    #[serde(default = "default_timeout")]
    #[serde(deserialize_with = "super::timeout::capped")]
    pub timeout_seconds: u32,
    #[serde(default = "default_max_running")]
    pub max_running: u32,
}

/// `{"driver": "system"}`: nothing to set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDbSettings {}

fn default_service() -> String {
    "pop3host".to_string()
}

fn default_timeout() -> u32 {
    5
}

fn default_max_running() -> u32 {
    4
}

/// What one PAM check found.
enum Answer {
    Accepted,
    Refused(PamReturnCode),
    UnknownUser,
    Unavailable(PamReturnCode),
}

pub struct Pam {
    service: String,
    timeout: Duration,
    slots: Arc<Slots>,
    pace: Arc<Pace>,
}

impl Pam {
    pub fn new(settings: &PassDbSettings) -> Result<Self, PopError> {
        if settings.pam_service.is_empty()
            || settings.pam_service.contains(['/', '\0'])
            || settings.timeout_seconds == 0
            || settings.max_running == 0
        {
            return Err(PopError::permanent(
                "maildir config key \"passdb\": \"pam_service\" must be a file name in \
                 /etc/pam.d, \"timeout_seconds\" and \"max_running\" at least 1",
            ));
        }
        let timeout = Duration::from_secs(settings.timeout_seconds.into());
        Ok(Self {
            service: settings.pam_service.clone(),
            timeout,
            slots: Arc::new(Slots::new(settings.max_running)),
            pace: Arc::new(Pace::new(timeout)),
        })
    }
}

/// Answers PAM's prompts: the login to the visible one, the password to the hidden one.
struct Answers {
    login: String,
    password: String,
}

impl Conversation for Answers {
    fn prompt_echo(&mut self, _msg: &CStr) -> Result<CString, ()> {
        CString::new(self.login.as_str()).map_err(|_| ())
    }
    fn prompt_blind(&mut self, _msg: &CStr) -> Result<CString, ()> {
        CString::new(self.password.as_str()).map_err(|_| ())
    }
    fn info(&mut self, msg: &CStr) {
        debug!("PAM: {}", msg.to_string_lossy());
    }
    fn error(&mut self, msg: &CStr) {
        debug!("PAM error: {}", msg.to_string_lossy());
    }
}

/// One PAM transaction: authenticate, then the account check (expired, locked).
fn check(service: &str, login: String, password: String) -> Answer {
    let result = Client::with_conversation(service, Answers { login, password })
        .and_then(|mut client| client.authenticate());
    match result.map_err(|err| err.0) {
        Ok(()) => Answer::Accepted,
        Err(PamReturnCode::User_Unknown) => Answer::UnknownUser,
        Err(
            code @ (PamReturnCode::Auth_Err
            | PamReturnCode::Perm_Denied
            | PamReturnCode::Cred_Insufficient
            | PamReturnCode::MaxTries
            | PamReturnCode::Acct_Expired
            | PamReturnCode::New_Authtok_Reqd),
        ) => Answer::Refused(code),
        Err(code) => Answer::Unavailable(code),
    }
}

impl PassDb for Pam {
    fn verify(&self, login: &str, password: &str, _conn: &Connection) -> Result<String, PopError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let Some(slot) = self.slots.take(deadline, "PAM checks") else {
            return Err(PopError::temporary(format!(
                "login {login:?}: no free PAM check within {}s",
                self.timeout.as_secs()
            )));
        };
        let (service, user, secret) = (
            self.service.clone(),
            login.to_string(),
            password.to_string(),
        );
        let answer = deadline::within("pam", deadline, move || {
            let _slot = slot;
            check(&service, user, secret)
        });
        match answer {
            Ok(Answer::Accepted) => {
                self.pace.known(started);
                Ok(login.to_string())
            }
            Ok(Answer::Refused(code)) => {
                self.pace.known(started);
                self.pace.refuse(started);
                Err(PopError::auth(format!(
                    "PAM service {} refused {login:?}: {code:?}",
                    self.service
                )))
            }
            Ok(Answer::UnknownUser) => {
                self.pace.refuse(started);
                Err(PopError::auth(format!("unknown user {login:?} (PAM)")))
            }
            Ok(Answer::Unavailable(code)) => Err(PopError::temporary(format!(
                "login {login:?}: PAM service {}: {code:?}",
                self.service
            ))),
            Err(Unanswered::Late) => Err(PopError::temporary(format!(
                "login {login:?}: PAM service {} ran past {}s",
                self.service,
                self.timeout.as_secs()
            ))),
            Err(other) => Err(PopError::temporary(format!(
                "login {login:?}: the PAM check: {other}"
            ))),
        }
    }

    fn describe(&self) -> String {
        format!(
            "PAM service {} (timeout {}s, at most {} at once)",
            self.service,
            self.timeout.as_secs(),
            self.slots.total()
        )
    }
}

/// The system's user database.
pub struct Passwd;

impl UserDb for Passwd {
    fn lookup(&self, user: &str) -> Result<UserFields, PopError> {
        match User::from_name(user) {
            Ok(Some(found)) => Ok(UserFields {
                name: found.name,
                home: found.dir.to_string_lossy().into_owned(),
                ids: Some((found.uid.as_raw(), found.gid.as_raw())),
                maildir: None,
            }),
            Ok(None) => Err(PopError::auth(format!(
                "user {user:?} is not in the system's user database"
            ))),
            Err(err) => Err(PopError::temporary(format!(
                "looking up user {user:?} in the system's user database: {err}"
            ))),
        }
    }

    fn describe(&self) -> String {
        "the system's user database".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_userdb_reads_root_and_knows_no_stranger() {
        let root = Passwd.lookup("root").unwrap();
        assert_eq!((root.name.as_str(), root.ids), ("root", Some((0, 0))));
        assert!(root.home.starts_with('/'));
        let err = Passwd.lookup("no-such-user-pop3host").unwrap_err();
        assert_eq!(err.code, PopError::auth("").code);
    }

    #[test]
    fn a_service_name_cannot_leave_pam_d() {
        let settings = |service: &str| PassDbSettings {
            pam_service: service.into(),
            timeout_seconds: 5,
            max_running: 4,
        };
        assert!(Pam::new(&settings("pop3host")).is_ok());
        for bad in ["", "../shadow", "a/b"] {
            assert!(Pam::new(&settings(bad)).is_err(), "{bad}");
        }
    }
}
