//! Dovecot's two user sources, each a driver chosen in the configuration: a passdb answers
//! "may this user log in with this password?", a userdb "where is their mail, and as which
//! uid and gid is it read?". A driver is one module here, implementing one trait or both.
//!
//! Every passdb follows one rule: an unknown user and a wrong password get the same
//! [`PopError::auth`] after the same time (the passwd-file verifies a dummy of its costliest
//! scheme; PAM, ldap and sql hold every refusal to one target, see [`pace`]), so that logins
//! reveal no user names; a source that is down or too slow is [`PopError::temporary`],
//! never `[AUTH]`, so that a client does not take an outage for a wrong password.
//!
//! Every passdb verifies through the authentication cache when it is on (`auth_cache`, see
//! [`password_schemes::AuthCache`]): the passwd-file, the sql row and the ldap hash attribute with the
//! stored credential, the others (PAM, checkpassword, LDAP binds) through
//! [`remembered::Remembered`].

#[cfg(unix)]
pub mod checkpassword;
mod deadline;
pub mod ldap;
mod pace;
pub mod passwd_file;
mod remembered;
mod slots;
pub mod sql;
#[cfg(unix)]
pub mod system;
mod timeout;

use crate::config::{PassDbConfig, UserDbConfig};
use password_schemes::AuthCache;
use pop3_plugin_api::{Connection, PopError};
use std::path::PathBuf;
use std::sync::Arc;

/// Who may log in.
pub trait PassDb: Send + Sync {
    /// Checks `password` for `login`. Returns the user name the userdb knows the user by
    /// (the passwd-file's spelling when the login differs in case).
    fn verify(&self, login: &str, password: &str, conn: &Connection) -> Result<String, PopError>;

    /// Whether [`PassDb::apop`] can succeed for some user: the source stores plain passwords.
    fn supports_apop(&self) -> bool {
        false
    }

    /// APOP: `digest` of `timestamp` and the user's stored plain password. Returns as
    /// [`PassDb::verify`].
    fn apop(&self, _login: &str, _digest: &str, _timestamp: &str) -> Result<String, PopError> {
        Err(PopError::auth("APOP needs a passdb with plain passwords"))
    }

    /// A one-line summary for the log at init.
    fn describe(&self) -> String;
}

/// What a userdb knows of a user: where the mail is, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    /// The user's name as the userdb spells it (`%u` in the maildir template).
    pub name: String,
    /// The home directory (`%h` in the maildir template); empty when the source has none.
    pub home: String,
    /// The uid and gid whose file rights the session runs with, when the source gives them.
    pub ids: Option<(u32, u32)>,
    /// The user's own maildir, when the source gives one (Dovecot's userdb `mail` field): it
    /// replaces the `maildir` template for this user, and must be absolute.
    pub maildir: Option<PathBuf>,
}

/// Where a user's mail is.
pub trait UserDb: Send + Sync {
    /// The fields of `user`, a name the passdb accepted: [`PopError::auth`] when the userdb
    /// does not know them.
    fn lookup(&self, user: &str) -> Result<UserFields, PopError>;

    /// A one-line summary for the log at init.
    fn describe(&self) -> String;
}

/// The configured passdb and userdb.
pub struct Sources {
    pub passdb: Arc<dyn PassDb>,
    pub userdb: Arc<dyn UserDb>,
}

impl Sources {
    /// Opens and checks the configured sources (an error here stops the server at startup).
    /// `need_home`: the maildir template uses `%h`, so every user needs an absolute home.
    /// `cache`: the authentication cache every passdb verifies through.
    pub fn open(
        passdb: &PassDbConfig,
        userdb: &UserDbConfig,
        need_home: bool,
        cache: AuthCache,
    ) -> Result<Self, PopError> {
        let cache = Arc::new(cache);
        // One passwd-file as both sources is read once, and checked as the userdb needs.
        let (userdb, userdb_file): (Arc<dyn UserDb>, _) = match userdb {
            UserDbConfig::PasswdFile(settings) => {
                let file = Arc::new(
                    passwd_file::PasswdFile::open(&settings.path, need_home)?
                        .remembering(cache.clone()),
                );
                (file.clone(), Some((settings.path.as_path(), file)))
            }
            #[cfg(unix)]
            UserDbConfig::System(_) => (Arc::new(system::Passwd), None),
            UserDbConfig::Ldap(settings) => (Arc::new(ldap::LdapUserDb::open(settings)?), None),
            UserDbConfig::Sql(settings) => (Arc::new(sql::SqlUserDb::open(settings)?), None),
        };
        let passdb: Arc<dyn PassDb> = match (passdb, &userdb_file) {
            (PassDbConfig::PasswdFile(settings), Some((path, file))) if settings.path == *path => {
                file.clone()
            }
            (PassDbConfig::PasswdFile(settings), _) => {
                Arc::new(passwd_file::PasswdFile::open(&settings.path, false)?.remembering(cache))
            }
            #[cfg(unix)]
            (PassDbConfig::Checkpassword(settings), _) => Arc::new(remembered::Remembered::new(
                Arc::new(checkpassword::Checkpassword::new(settings)?),
                format!("checkpassword {}", settings.program.display()),
                cache,
            )),
            #[cfg(unix)]
            (PassDbConfig::System(settings), _) => Arc::new(remembered::Remembered::new(
                Arc::new(system::Pam::new(settings)?),
                format!("PAM service {}", settings.pam_service),
                cache,
            )),
            (PassDbConfig::Ldap(settings), _) => {
                ldap::LdapPassDb::open(settings)?.remembering(cache)
            }
            (PassDbConfig::Sql(settings), _) => {
                Arc::new(sql::SqlPassDb::open(settings)?.remembering(cache))
            }
        };
        Ok(Self { passdb, userdb })
    }
}
