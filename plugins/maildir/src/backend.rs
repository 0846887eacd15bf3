//! The backend: who may log in (the passdb), where their mail is and as whom (the userdb and
//! the template).

use crate::config::{Config, FirstValidIds, HELP};
use crate::drivers::{PassDb, Sources, UserDb};
use crate::fs_identity::{self, Identity};
use crate::mailbox::{MaildirMailbox, Options};
use crate::passwd::user_name_problem;
use crate::template::Template;
use password_schemes::{unusable_login, AuthCache};
use pop3_plugin_api::{info, Backend, Connection, PluginInfo, PopError};
use std::sync::Arc;

/// Refuses what no user may log in with (see [`unusable_login`]) once for every passdb, as
/// `[AUTH]` like a wrong password.
fn refuse_unusable(login: &str, password: Option<&str>) -> Result<(), PopError> {
    unusable_login(login, password).map_or(Ok(()), |why| Err(PopError::auth(why)))
}

pub struct MaildirBackend {
    passdb: Arc<dyn PassDb>,
    userdb: Arc<dyn UserDb>,
    template: Template,
    options: Options,
    first_valid: FirstValidIds,
}

impl MaildirBackend {
    /// Opens the mailbox of `user`, whom the passdb accepted.
    fn open(&self, user: &str) -> Result<MaildirMailbox, PopError> {
        let fields = self.userdb.lookup(user)?;
        if let Some(why) = user_name_problem(&fields.name) {
            return Err(PopError::auth(format!(
                "user name {:?} cannot be served: {why}",
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
        let identity = Identity::for_user(fields.ids, fs_identity::can_switch(), self.first_valid)
            .map_err(|why| {
                PopError::permanent(format!("user {:?} cannot be served: {why}", fields.name))
            })?;
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
            first_valid: config.first_valid,
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
