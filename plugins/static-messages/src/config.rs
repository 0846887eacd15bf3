//! The plugin configuration: users, their messages, CAPA settings and faults, read from the
//! `--plugin-config` JSON (see `config_help.txt`). Everything is checked and every file
//! measured here, at startup, so that a mistake stops the server with a message naming the
//! field instead of failing one session later.

use crate::corpus;
use crate::faults::{Fault, FaultKeys, Faults};
use crate::generated::{Generated, MAX_GENERATED_BYTES};
use crate::json::{from_value, invalid};
use crate::messages::{Message, Source};
use pop3_plugin_api::{Expire, PopError};
use serde::de::{Deserializer, Error};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// The top-level keys, as `config_help.txt` documents them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopKeys {
    users: Option<BTreeMap<String, UserKeys>>,
    login_delay: Option<u32>,
    #[serde(default, deserialize_with = "expire")]
    expire: Option<Expire>,
    #[serde(default)]
    faults: Vec<FaultKeys>,
}

/// The keys of one user.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserKeys {
    password: Option<String>,
    apop_secret: Option<String>,
    #[serde(default)]
    builtin: bool,
    #[serde(default)]
    messages: Vec<MessageKeys>,
    login_delay: Option<u32>,
    #[serde(default, deserialize_with = "expire")]
    expire: Option<Expire>,
    #[serde(default = "exclusive_by_default")]
    exclusive: bool,
}

fn exclusive_by_default() -> bool {
    true
}

/// The keys of one message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageKeys {
    id: Option<String>,
    text: Option<String>,
    file: Option<PathBuf>,
    generated_bytes: Option<u64>,
}

/// `expire`: a number of days or `"never"`.
fn expire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Expire>, D::Error> {
    let expected = "a number of days or \"never\"";
    match Value::deserialize(deserializer)? {
        Value::String(s) if s == "never" => Ok(Some(Expire::Never)),
        value => u32::deserialize(value)
            .map(|days| Some(Expire::Days(days)))
            .map_err(|_| D::Error::custom(format!("expected {expected}"))),
    }
}

/// The CAPA values a backend reports (RFC 2449 LOGIN-DELAY and EXPIRE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub login_delay: Option<u32>,
    pub expire: Option<Expire>,
}

impl Settings {
    /// These settings, with `defaults` where they have none.
    fn or(self, defaults: Self) -> Self {
        Self {
            login_delay: self.login_delay.or(defaults.login_delay),
            expire: self.expire.or(defaults.expire),
        }
    }
}

/// One user: credentials, maildrop contents, settings with the top-level defaults applied.
pub struct Account {
    pub name: String,
    pub password: Option<String>,
    pub apop_secret: Option<String>,
    pub messages: Vec<Message>,
    pub settings: Settings,
    /// One session at a time ([IN-USE] for a second), as RFC 1939 §4 locks a maildrop.
    pub exclusive: bool,
}

pub struct Config {
    pub accounts: Vec<Account>,
    /// For `user == None` and for names that are not users.
    pub settings: Settings,
    pub faults: Faults,
}

/// Parses the config text; `null` (no config) is the same as `{}`: the built-in user `test`.
pub fn parse(text: &str) -> Result<Config, PopError> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| invalid("", format!("not JSON: {err}")))?;
    let value = match value {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => value,
        _ => return Err(invalid("", "expected an object")),
    };
    let top: TopKeys = from_value(value)?;
    let settings = Settings {
        login_delay: top.login_delay,
        expire: top.expire,
    };
    let accounts = match top.users {
        None => vec![builtin_account(settings)?],
        Some(users) => {
            let accounts = users
                .into_iter()
                .map(|(name, user)| account(name, user, settings));
            accounts.collect::<Result<_, _>>()?
        }
    };
    let names: Vec<&str> = accounts.iter().map(|a: &Account| a.name.as_str()).collect();
    let faults = top.faults.into_iter().enumerate();
    let faults = faults.map(|(i, fault)| Fault::new(fault, &format!("faults[{i}]"), &names));
    Ok(Config {
        faults: Faults::new(faults.collect::<Result<_, _>>()?),
        accounts,
        settings,
    })
}

/// The user of a config without `users`: `test`, password and APOP secret `test`.
fn builtin_account(settings: Settings) -> Result<Account, PopError> {
    Ok(Account {
        name: "test".into(),
        password: Some("test".into()),
        apop_secret: Some("test".into()),
        messages: maildrop("test", builtin_specs("users.test"))?,
        settings,
        exclusive: true,
    })
}

fn account(name: String, user: UserKeys, defaults: Settings) -> Result<Account, PopError> {
    let path = format!("users.{name}");
    if user.password.is_none() && user.apop_secret.is_none() {
        return Err(invalid(&path, "needs a password or an apop_secret"));
    }
    // An empty one would log in with an empty AUTH PLAIN password, or an APOP digest of the
    // timestamp alone.
    for (key, value) in [
        ("password", &user.password),
        ("apop_secret", &user.apop_secret),
    ] {
        if value.as_deref() == Some("") {
            return Err(invalid(&format!("{path}.{key}"), "must not be empty"));
        }
    }
    let mut specs = match user.builtin {
        true => builtin_specs(&format!("{path}.builtin")),
        false => Vec::new(),
    };
    for (i, keys) in user.messages.into_iter().enumerate() {
        specs.push(message(keys, format!("{path}.messages[{i}]"))?);
    }
    let settings = Settings {
        login_delay: user.login_delay,
        expire: user.expire,
    };
    Ok(Account {
        messages: maildrop(&name, specs)?,
        name,
        password: user.password,
        apop_secret: user.apop_secret,
        settings: settings.or(defaults),
        exclusive: user.exclusive,
    })
}

/// A message from the config, not yet measured.
struct MessageSpec {
    /// Where it came from, for errors.
    path: String,
    id: Option<String>,
    source: Source,
}

fn builtin_specs(path: &str) -> Vec<MessageSpec> {
    let spec = |source| MessageSpec {
        path: path.to_string(),
        id: None,
        source,
    };
    corpus::builtin().into_iter().map(spec).collect()
}

fn message(keys: MessageKeys, path: String) -> Result<MessageSpec, PopError> {
    let generated = match keys.generated_bytes {
        Some(n) if n > MAX_GENERATED_BYTES => {
            let problem = format!("at most {MAX_GENERATED_BYTES}");
            return Err(invalid(&format!("{path}.generated_bytes"), problem));
        }
        n => n.map(|n| Source::Generated(Generated::new(n))),
    };
    let text = keys
        .text
        .map(|text| Source::Inline(text.into_bytes().into()));
    let file = keys.file.map(Source::File);
    let mut sources = [text, file, generated].into_iter().flatten();
    match (sources.next(), sources.next()) {
        (Some(source), None) => Ok(MessageSpec {
            id: keys.id,
            source,
            path,
        }),
        _ => Err(invalid(
            &path,
            "needs exactly one of text, file, generated_bytes",
        )),
    }
}

/// Measures the messages of `user`, with ids defaulting to `<user>-<n>` (n counting from 1).
/// Ids must be unique; they need not be valid UIDL syntax, so that a test can exercise the
/// host's hashing of odd ids.
fn maildrop(user: &str, specs: Vec<MessageSpec>) -> Result<Vec<Message>, PopError> {
    let mut ids = HashSet::new();
    let measure = |(i, spec): (usize, MessageSpec)| {
        let id = spec.id.unwrap_or_else(|| format!("{user}-{}", i + 1));
        if !ids.insert(id.clone()) {
            return Err(invalid(&spec.path, format!("duplicate id {id:?}")));
        }
        Message::new(id, spec.source).map_err(|err| invalid(&spec.path, err))
    };
    specs.into_iter().enumerate().map(measure).collect()
}
