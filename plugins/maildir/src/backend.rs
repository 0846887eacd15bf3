//! The backend: who may log in (the passwd-file) and where their mail is (the template).

use crate::config::{Config, HELP};
use crate::fs_identity::{self, Identity};
use crate::mailbox::{MaildirMailbox, Options};
use crate::passwd::{is_safe_user_name, User, Users};
use crate::template::Template;
use crate::userdb::UserDb;
use pop3_plugin_api::{apop_matches, info, Backend, Connection, PluginInfo, PopError};

pub struct MaildirBackend {
    users: UserDb,
    template: Template,
    options: Options,
}

impl MaildirBackend {
    /// Looks up `login` and runs `check` on its user, or, for an unknown or unsafe name, on
    /// `None` (the check must then cost what it costs for a real user: see
    /// [`Users::credential_for`]).
    /// Opens the mailbox when the user exists and the check passed.
    fn login(
        &self,
        login: &str,
        check: impl FnOnce(&Users, Option<&User>) -> bool,
    ) -> Result<MaildirMailbox, PopError> {
        let users = self.users.current();
        let user = if is_safe_user_name(login) {
            users.lookup(login)
        } else {
            None
        };
        let passed = check(&users, user);
        let user = match user {
            Some(user) if passed => user,
            Some(_) => return Err(PopError::auth(format!("wrong password for {login:?}"))),
            None => return Err(PopError::auth(format!("unknown user {login:?}"))),
        };
        let maildir = self
            .template
            .expand(&user.name, &user.home)
            .map_err(PopError::permanent)?;
        // Asked at each login (one capget): `--user` drops the rights after init.
        let identity = Identity::for_user(user.ids, fs_identity::can_switch());
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
            description:
                "Maildir++ INBOXes of users listed in a Dovecot passwd-file; serves the UIDLs \
                          Dovecot or Courier served, so clients download nothing twice."
                    .into(),
            config_help: HELP.into(),
        }
    }

    fn init(config: &str) -> Result<Self, PopError> {
        let config = Config::parse(config)?;
        let template = Template::parse(&config.maildir).map_err(PopError::permanent)?;
        let users =
            UserDb::open(&config.passwd_file, template.uses_home()).map_err(PopError::permanent)?;
        info!(
            "{} users from {}, maildirs at {}",
            users.current().len(),
            config.passwd_file.display(),
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
            users,
            template,
            options,
        })
    }

    fn authenticate(
        &self,
        user: &str,
        password: &str,
        _conn: &Connection,
    ) -> Result<MaildirMailbox, PopError> {
        self.login(user, |users, found| {
            users.credential_for(found).verify(password)
        })
    }

    fn supports_apop(&self) -> bool {
        self.users.current().any_plaintext()
    }

    fn apop(
        &self,
        user: &str,
        digest: &str,
        timestamp: &str,
        _conn: &Connection,
    ) -> Result<MaildirMailbox, PopError> {
        self.login(user, |_, found| {
            // Users without a stored plain password never match, at the same cost.
            apop_matches(
                digest,
                timestamp,
                found.and_then(|u| u.credential.plaintext()),
            )
        })
    }
}
