//! # static-messages: fixed test mailboxes for pop3host
//!
//! The seed's "simpletest" backend. Without a config it serves one user, `test`, whose
//! maildrop holds a corpus of messages chosen to exercise the POP3 wire format (dot lines,
//! bare LF, no final newline, 8-bit and NUL bytes, a long line, a 4 MiB stream). With a config
//! it serves any users and messages, and injects faults (panics, errors, delays) into any
//! callback, so that the host's handling of misbehaving backends can be tested end to end.
//! The keys are documented in `config_help.txt`, which is also what `--describe` prints.
//!
//! Messages are returned raw; the host turns line ends into CRLF and dot-stuffs. The sizes
//! in `list` are exact: `pop3_plugin_api::SizeCounter` applies the host's line-end rules.
//!
//! Module map: `config` (the JSON, through `json`, which names the field at fault),
//! `corpus` and `generated` (the built-in messages), `messages` (a message and where its
//! bytes come from), `maildrop` (a user's messages, lock and deletions), `mailbox` (the
//! session), `faults` and `tripwire` (fault injection), `one_call` (the host's promise of
//! one call at a time, checked).

mod config;
mod corpus;
mod faults;
mod generated;
mod json;
mod mailbox;
mod maildrop;
mod messages;
mod one_call;
#[cfg(test)]
mod tests;
mod tripwire;

pub use mailbox::StaticMailbox;

use config::Settings;
use faults::{Callback, Faults};
use maildrop::Maildrop;
use pop3_plugin_api::{
    apop_matches, export_plugin, info, Backend, Connection, Expire, PluginInfo, PopError,
};
use std::collections::HashMap;
use std::sync::Arc;

pub struct StaticMessages {
    maildrops: HashMap<String, Arc<Maildrop>>,
    /// For `user == None` and for names that are not users.
    settings: Settings,
    faults: Arc<Faults>,
}

impl StaticMessages {
    /// The settings of `user`, or the top-level ones.
    fn settings(&self, user: Option<&str>) -> Settings {
        let maildrop = user.and_then(|user| self.maildrops.get(user));
        maildrop.map_or(self.settings, |maildrop| maildrop.account.settings)
    }

    /// Opens the maildrop whose credentials matched, if any.
    fn login(&self, maildrop: Option<&Arc<Maildrop>>) -> Result<StaticMailbox, PopError> {
        // One text for a wrong user and a wrong password: no hint which names exist.
        let maildrop = maildrop.ok_or_else(|| PopError::auth("authentication failed"))?;
        let lock = maildrop.try_lock().ok_or_else(|| {
            PopError::in_use(format!(
                "{} is logged in in another session",
                maildrop.account.name
            ))
        })?;
        Ok(StaticMailbox::new(lock, Arc::clone(&self.faults)))
    }
}

impl Backend for StaticMessages {
    type Mailbox = StaticMailbox;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "static-messages".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Fixed test mailboxes: built-in wire-format test messages or messages \
                          from the config, with fault injection for testing the host."
                .into(),
            config_help: include_str!("config_help.txt").into(),
        }
    }

    fn init(config: &str) -> Result<Self, PopError> {
        let config = config::parse(config)?;
        config.faults.fire(Callback::Init, None)?;
        let maildrops: HashMap<_, _> = config
            .accounts
            .into_iter()
            .map(|account| (account.name.clone(), Arc::new(Maildrop::new(account))))
            .collect();
        info!("static-messages: {} users", maildrops.len());
        Ok(Self {
            maildrops,
            settings: config.settings,
            faults: Arc::new(config.faults),
        })
    }

    fn connect(&self, _conn: &Connection) -> Result<(), PopError> {
        self.faults.fire(Callback::Connect, None)
    }

    fn disconnect(&self, _conn: &Connection) {
        self.faults.fire_infallible(Callback::Disconnect, None)
    }

    fn authenticate(
        &self,
        user: &str,
        password: &str,
        _conn: &Connection,
    ) -> Result<StaticMailbox, PopError> {
        self.faults.fire(Callback::Authenticate, Some(user))?;
        let maildrop = self.maildrops.get(user);
        self.login(maildrop.filter(|m| m.account.password.as_deref() == Some(password)))
    }

    fn supports_apop(&self) -> bool {
        self.maildrops
            .values()
            .any(|m| m.account.apop_secret.is_some())
    }

    fn apop(
        &self,
        user: &str,
        digest: &str,
        timestamp: &str,
        _conn: &Connection,
    ) -> Result<StaticMailbox, PopError> {
        self.faults.fire(Callback::Apop, Some(user))?;
        let matches =
            |m: &&Arc<Maildrop>| apop_matches(digest, timestamp, m.account.apop_secret.as_deref());
        self.login(self.maildrops.get(user).filter(matches))
    }

    fn login_delay(&self, user: Option<&str>) -> Option<u32> {
        self.faults.fire_infallible(Callback::LoginDelay, user);
        self.settings(user).login_delay
    }

    fn expire(&self, user: Option<&str>) -> Option<Expire> {
        self.faults.fire_infallible(Callback::Expire, user);
        self.settings(user).expire
    }
}

export_plugin!(StaticMessages);
