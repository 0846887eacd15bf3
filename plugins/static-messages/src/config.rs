//! The plugin configuration: users, their messages, CAPA settings and faults, read from the
//! `--plugin-config` JSON (see `config_help.txt`). Everything is checked and every file
//! measured here, at startup, so that a mistake stops the server with a message naming the
//! field instead of failing one session later.

use crate::corpus;
use crate::faults::{Fault, Faults};
use crate::generated::{Generated, MAX_GENERATED_BYTES};
use crate::json::{element, invalid, Object};
use crate::messages::{Message, Source};
use pop3_plugin_api::{Expire, PopError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;

/// The CAPA values a backend reports (RFC 2449 LOGIN-DELAY and EXPIRE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub login_delay: Option<u32>,
    pub expire: Option<Expire>,
}

impl Settings {
    /// Reads `login_delay` and `expire`, which the top level and each user share.
    fn parse(object: &Object<'_>) -> Result<Self, PopError> {
        let expire = object.raw("expire").map(|value| match value {
            Value::String(s) if s == "never" => Ok(Expire::Never),
            _ => u32::deserialize(value).map(Expire::Days).map_err(|_| {
                invalid(
                    &object.path("expire"),
                    "expected a number of days or \"never\"",
                )
            }),
        });
        Ok(Self {
            login_delay: object.get("login_delay")?,
            expire: expire.transpose()?,
        })
    }

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
    let empty = Value::Object(Default::default());
    let value = if value.is_null() { &empty } else { &value };
    let top = Object::new(
        value,
        String::new(),
        &["users", "login_delay", "expire", "faults"],
    )?;
    let settings = Settings::parse(&top)?;
    let accounts = match top.raw("users") {
        None => vec![builtin_account(settings)?],
        Some(users) => {
            let users = users
                .as_object()
                .ok_or_else(|| invalid("users", "expected an object"))?;
            let accounts = users
                .iter()
                .map(|(name, user)| account(name, user, settings));
            accounts.collect::<Result<_, _>>()?
        }
    };
    let names: Vec<&str> = accounts.iter().map(|a: &Account| a.name.as_str()).collect();
    let faults = top.array("faults")?.iter().enumerate();
    let faults = faults.map(|(i, fault)| Fault::parse(fault, element("faults", i), &names));
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

fn account(name: &str, value: &Value, defaults: Settings) -> Result<Account, PopError> {
    let keys = [
        "password",
        "apop_secret",
        "builtin",
        "messages",
        "login_delay",
        "expire",
        "exclusive",
    ];
    let user = Object::new(value, format!("users.{name}"), &keys)?;
    let password = user.get::<String>("password")?;
    let apop_secret = user.get::<String>("apop_secret")?;
    if password.is_none() && apop_secret.is_none() {
        return Err(invalid(
            &format!("users.{name}"),
            "needs a password or an apop_secret",
        ));
    }
    let mut specs = match user.get::<bool>("builtin")? {
        Some(true) => builtin_specs(&user.path("builtin")),
        _ => Vec::new(),
    };
    let messages_path = user.path("messages");
    for (i, spec) in user.array("messages")?.iter().enumerate() {
        specs.push(message(spec, element(&messages_path, i))?);
    }
    Ok(Account {
        name: name.to_string(),
        password,
        apop_secret,
        messages: maildrop(name, specs)?,
        settings: Settings::parse(&user)?.or(defaults),
        exclusive: user.get::<bool>("exclusive")?.unwrap_or(true),
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

fn message(value: &Value, path: String) -> Result<MessageSpec, PopError> {
    let spec = Object::new(
        value,
        path.clone(),
        &["id", "text", "file", "generated_bytes"],
    )?;
    let generated = match spec.get::<u64>("generated_bytes")? {
        Some(n) if n > MAX_GENERATED_BYTES => {
            let problem = format!("at most {MAX_GENERATED_BYTES}");
            return Err(invalid(&spec.path("generated_bytes"), problem));
        }
        n => n.map(|n| Source::Generated(Generated::new(n))),
    };
    let text = spec
        .get::<String>("text")?
        .map(|text| Source::Inline(text.into_bytes().into()));
    let file = spec.get("file")?.map(Source::File);
    let mut sources = [text, file, generated].into_iter().flatten();
    match (sources.next(), sources.next()) {
        (Some(source), None) => Ok(MessageSpec {
            id: spec.get("id")?,
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
