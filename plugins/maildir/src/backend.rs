//! The backend: who may log in (the passdb), where their mail is and as whom (the userdb and
//! the template).

use crate::config::{Config, HELP};
use crate::drivers::{PassDb, Sources, UserDb};
use crate::fs_identity::{self, Identity};
use crate::mailbox::{MaildirMailbox, Options};
use crate::passwd::is_safe_user_name;
use crate::template::Template;
use password_schemes::AuthCache;
use pop3_plugin_api::{info, Backend, Connection, PluginInfo, PopError};
use std::sync::Arc;

/// Refuses, before any passdb is asked, what no user may log in with: an empty password (an
/// LDAP bind takes it as an unauthenticated bind, which succeeds, and a source may store an
/// empty one), a password with a NUL (PAM's and checkpassword's C strings end there), and an
/// empty login or one with control characters (no source stores such a name, and an LDAP
/// server refuses it as a bad DN, which would be [SYS/TEMP]). One check for every driver, and
/// `[AUTH]` like a wrong password: it depends on nothing stored, so it reveals no user.
fn refuse_unusable(login: &str, password: Option<&str>) -> Result<(), PopError> {
    if login.is_empty() || login.contains(char::is_control) {
        return Err(PopError::auth(
            "the login is empty or contains control characters",
        ));
    }
    match password {
        Some("") => Err(PopError::auth("an empty password never logs in")),
        Some(password) if password.contains('\0') => {
            Err(PopError::auth("a password with a NUL never logs in"))
        }
        _ => Ok(()),
    }
}

pub struct MaildirBackend {
    passdb: Arc<dyn PassDb>,
    userdb: Arc<dyn UserDb>,
    template: Template,
    options: Options,
}

impl MaildirBackend {
    /// Opens the mailbox of `user`, whom the passdb accepted.
    fn open(&self, user: &str) -> Result<MaildirMailbox, PopError> {
        let fields = self.userdb.lookup(user)?;
        if !is_safe_user_name(&fields.name) {
            return Err(PopError::auth(format!(
                "user name {:?} cannot be served: it contains '/', '..' or control characters",
                fields.name
            )));
        }
        let maildir = match fields.maildir {
            Some(maildir) if maildir.is_absolute() => maildir,
            Some(maildir) => {
                return Err(PopError::permanent(format!(
                    "user {:?}: the userdb's maildir {} is not absolute",
                    fields.name,
                    maildir.display()
                )))
            }
            None => self
                .template
                .expand(&fields.name, &fields.home)
                .map_err(PopError::permanent)?,
        };
        // Asked at each login (one capget): `--user` drops the rights after init.
        let identity = Identity::for_user(fields.ids, fs_identity::can_switch());
        MaildirMailbox::open(maildir, self.options, identity)
    }
}

impl Backend for MaildirBackend {
    type Mailbox = MaildirMailbox;

    /// `top` opens the whole file and marks nothing; the Seen flag comes from `retrieve`.
    const PREFETCH: bool = true;
    /// The lock file, and handles on the maildir, its cur/ and its new/.
    const DESCRIPTORS_PER_SESSION: u32 = 4;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "maildir".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Maildir++ INBOXes of users from Dovecot-style passdb and userdb \
                          sources; serves the UIDLs Dovecot or Courier served, so clients \
                          download nothing twice."
                .into(),
            config_help: HELP.into(),
        }
    }

    fn init(config: &str) -> Result<Self, PopError> {
        let config = Config::parse(config)?;
        let template = Template::parse(&config.maildir).map_err(PopError::permanent)?;
        let cache = AuthCache::new(config.auth_cache.as_ref()).map_err(|err| {
            PopError::permanent(format!("maildir config key \"auth_cache\": {err}"))
        })?;
        let cache_summary = cache.describe();
        let Sources { passdb, userdb } =
            Sources::open(&config.passdb, &config.userdb, template.uses_home(), cache)?;
        info!(
            "passdb: {}; userdb: {}; maildirs at {}; {cache_summary}",
            passdb.describe(),
            userdb.describe(),
            config.maildir
        );
        let options = Options {
            create: config.create,
            uidl: config.uidl,
            flag_updates: !config.no_flag_updates,
            size_cache: config.size_cache,
            virtual_users: config.virtual_users,
        };
        Ok(Self {
            passdb,
            userdb,
            template,
            options,
        })
    }

    fn authenticate(
        &self,
        user: &str,
        password: &str,
        conn: &Connection,
    ) -> Result<MaildirMailbox, PopError> {
        refuse_unusable(user, Some(password))?;
        let user = self.passdb.verify(user, password, conn)?;
        self.open(&user)
    }

    fn supports_apop(&self) -> bool {
        self.passdb.supports_apop()
    }

    fn apop(
        &self,
        user: &str,
        digest: &str,
        timestamp: &str,
        _conn: &Connection,
    ) -> Result<MaildirMailbox, PopError> {
        refuse_unusable(user, None)?;
        let user = self.passdb.apop(user, digest, timestamp)?;
        self.open(&user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_logins_and_passwords_are_auth_errors() {
        for (login, password) in [
            ("ann", Some("")),
            ("ann", Some("pass\0word")),
            ("", Some("password")),
            ("", None),
            ("ann\r", Some("password")),
            ("a\u{7f}nn", None),
        ] {
            let err = refuse_unusable(login, password).unwrap_err();
            assert_eq!(err, PopError::auth(err.message.clone()), "{login:?}");
        }
        assert!(refuse_unusable("ann", Some("password")).is_ok());
        assert!(refuse_unusable("ann@example.org", None).is_ok());
    }
}
