//! Fault injection: make a named callback panic, fail with a chosen response code, or stall,
//! so that the host's handling of misbehaving backends can be tested end to end.

use crate::json::{invalid, one_of};
use pop3_plugin_api::{PopError, ResponseCode};
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The callbacks a fault can be attached to. `Read` is the message stream after retrieve
/// returned, `Drop` the end of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    Init,
    Connect,
    Disconnect,
    Authenticate,
    Apop,
    List,
    Size,
    Retrieve,
    Read,
    Top,
    Delete,
    Drop,
    LoginDelay,
    Expire,
}

/// Config names, in the order the help text lists them.
pub const CALLBACKS: [(&str, Callback); 14] = [
    ("init", Callback::Init),
    ("connect", Callback::Connect),
    ("disconnect", Callback::Disconnect),
    ("authenticate", Callback::Authenticate),
    ("apop", Callback::Apop),
    ("list", Callback::List),
    ("size", Callback::Size),
    ("retrieve", Callback::Retrieve),
    ("read", Callback::Read),
    ("top", Callback::Top),
    ("delete", Callback::Delete),
    ("drop", Callback::Drop),
    ("login_delay", Callback::LoginDelay),
    ("expire", Callback::Expire),
];

/// The `code` of an `error` fault, as RFC 2449/3206 spell them.
pub const CODES: [(&str, ResponseCode); 6] = [
    ("AUTH", ResponseCode::AUTH),
    ("IN-USE", ResponseCode::IN_USE),
    ("LOGIN-DELAY", ResponseCode::LOGIN_DELAY),
    ("SYS/TEMP", ResponseCode::SYS_TEMP),
    ("SYS/PERM", ResponseCode::SYS_PERM),
    ("NONE", ResponseCode::NONE),
];

impl Callback {
    pub fn name(self) -> &'static str {
        CALLBACKS
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("?", |(name, _)| name)
    }

    /// Whether the host can receive an error from this callback; the others only panic or
    /// stall.
    fn returns_errors(self) -> bool {
        !matches!(
            self,
            Self::Disconnect | Self::Drop | Self::LoginDelay | Self::Expire
        )
    }

    /// Whether the callback serves a known user, so that a fault can be limited to one.
    fn knows_user(self) -> bool {
        !matches!(self, Self::Init | Self::Connect | Self::Disconnect)
    }
}

impl<'de> Deserialize<'de> for Callback {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        one_of(deserializer, &CALLBACKS)
    }
}

/// The keys of one element of `faults`, as `config_help.txt` documents them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultKeys {
    callback: Callback,
    #[serde(deserialize_with = "action")]
    action: ActionName,
    #[serde(default, deserialize_with = "code")]
    code: Option<ResponseCode>,
    ms: Option<u64>,
    user: Option<String>,
}

#[derive(Clone, Copy)]
enum ActionName {
    Panic,
    Error,
    Delay,
}

fn action<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ActionName, D::Error> {
    let names = [
        ("panic", ActionName::Panic),
        ("error", ActionName::Error),
        ("delay", ActionName::Delay),
    ];
    one_of(deserializer, &names)
}

fn code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ResponseCode>, D::Error> {
    one_of(deserializer, &CODES).map(Some)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Panic,
    Error(ResponseCode),
    /// Sleep, then go on normally: for the host's deadlines.
    Delay(Duration),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub callback: Callback,
    pub action: Action,
    /// Only this user's calls; `None` for all.
    pub user: Option<String>,
}

impl Fault {
    /// The element of `faults` at `path`. Refuses faults that could never fire as written: an
    /// error where the callback has no error result, a user where it has none, or a `code` or
    /// `ms` that the action ignores.
    pub fn new(keys: FaultKeys, path: &str, users: &[&str]) -> Result<Self, PopError> {
        let callback = keys.callback;
        let action = Self::action(&keys, path)?;
        let problem = match keys.user.as_deref() {
            Some(_) if !callback.knows_user() => format!("{} serves no user", callback.name()),
            Some(user) if !users.contains(&user) => format!("no such user {user:?}"),
            _ => {
                return Ok(Self {
                    callback,
                    action,
                    user: keys.user,
                })
            }
        };
        Err(invalid(&format!("{path}.user"), problem))
    }

    /// The action with its `code` or `ms`, checked against what the callback can do.
    fn action(keys: &FaultKeys, path: &str) -> Result<Action, PopError> {
        let key = |key| format!("{path}.{key}");
        let misplaced = |name, action| invalid(&key(name), format!("only for action {action:?}"));
        let action = match keys.action {
            ActionName::Panic => Action::Panic,
            ActionName::Error => Action::Error(keys.code.unwrap_or(ResponseCode::SYS_TEMP)),
            ActionName::Delay => {
                let ms = keys
                    .ms
                    .ok_or_else(|| invalid(&key("ms"), "missing (\"delay\" needs it)"))?;
                Action::Delay(Duration::from_millis(ms))
            }
        };
        if keys.code.is_some() && !matches!(action, Action::Error(_)) {
            return Err(misplaced("code", "error"));
        }
        if keys.ms.is_some() && !matches!(action, Action::Delay(_)) {
            return Err(misplaced("ms", "delay"));
        }
        if let Action::Error(_) = action {
            let name = keys.callback.name();
            if !keys.callback.returns_errors() {
                let problem = format!("{name} cannot return an error; use panic or delay");
                return Err(invalid(&key("action"), problem));
            }
        }
        Ok(action)
    }
}

#[derive(Debug, Default)]
pub struct Faults(Vec<Fault>);

impl Faults {
    pub fn new(faults: Vec<Fault>) -> Self {
        Self(faults)
    }

    fn matching<'a>(
        &'a self,
        callback: Callback,
        user: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Fault> {
        self.0.iter().filter(move |f| {
            f.callback == callback && f.user.as_deref().is_none_or(|u| Some(u) == user)
        })
    }

    /// Whether a fault applies to `callback` for `user`.
    pub fn has(&self, callback: Callback, user: Option<&str>) -> bool {
        self.matching(callback, user).next().is_some()
    }

    /// Runs the faults for `callback` in config order: delays sleep, the first panic or error
    /// ends the call.
    pub fn fire(&self, callback: Callback, user: Option<&str>) -> Result<(), PopError> {
        for fault in self.matching(callback, user) {
            let name = callback.name();
            pop3_plugin_api::info!("injecting fault {:?} in {name}", fault.action);
            match fault.action {
                Action::Panic => panic!("static-messages: injected panic in {name}"),
                Action::Error(code) => {
                    return Err(PopError::new(
                        code,
                        format!("static-messages: injected error in {name}"),
                    ))
                }
                Action::Delay(duration) => std::thread::sleep(duration),
            }
        }
        Ok(())
    }

    /// [`Faults::fire`] for callbacks without an error result: [`Fault::parse`] refuses
    /// `error` faults for them, so an error here would be a bug there.
    pub fn fire_infallible(&self, callback: Callback, user: Option<&str>) {
        if let Err(err) = self.fire(callback, user) {
            unreachable!("an error fault was accepted for {}: {err}", callback.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::Instant;

    fn faults(callback: Callback, action: Action, user: Option<&str>) -> Faults {
        Faults::new(vec![Fault {
            callback,
            action,
            user: user.map(String::from),
        }])
    }

    /// The fault of a config whose only user is `bob`.
    fn parse(fault: Value) -> Result<Fault, String> {
        let config = json!({"users": {"bob": {"password": "p"}}, "faults": [fault]});
        let mut config = crate::config::parse(&config.to_string()).map_err(|err| err.message)?;
        Ok(config.faults.0.remove(0))
    }

    #[test]
    fn names_round_trip() {
        for (name, callback) in CALLBACKS {
            assert_eq!(callback.name(), name);
        }
    }

    #[test]
    fn parses_each_action() {
        let fault = parse(json!({"callback": "retrieve", "action": "panic"})).unwrap();
        assert_eq!(
            (fault.callback, fault.action),
            (Callback::Retrieve, Action::Panic)
        );
        let fault = parse(json!({"callback": "list", "action": "delay", "ms": 5})).unwrap();
        assert_eq!(fault.action, Action::Delay(Duration::from_millis(5)));
        let fault = parse(json!({"callback": "apop", "action": "error", "user": "bob"})).unwrap();
        assert_eq!(fault.action, Action::Error(ResponseCode::SYS_TEMP));
        assert_eq!(fault.user.as_deref(), Some("bob"));
        for (name, code) in CODES {
            let fault = parse(json!({"callback": "top", "action": "error", "code": name})).unwrap();
            assert_eq!(fault.action, Action::Error(code));
        }
    }

    #[test]
    fn refuses_faults_that_cannot_fire_as_written() {
        let cases = [
            (
                json!({"action": "panic"}),
                "faults[0]: missing field `callback`",
            ),
            (
                json!({"callback": "lst", "action": "panic"}),
                "faults[0].callback: unknown value",
            ),
            (
                json!({"callback": "list"}),
                "faults[0]: missing field `action`",
            ),
            (
                json!({"callback": "list", "action": "boom"}),
                "faults[0].action: unknown value",
            ),
            (
                json!({"callback": "list", "action": "delay"}),
                "faults[0].ms: missing",
            ),
            (
                json!({"callback": "list", "action": "panic", "ms": 1}),
                "faults[0].ms: only for",
            ),
            (
                json!({"callback": "list", "action": "panic", "code": "AUTH"}),
                "faults[0].code: only",
            ),
            (
                json!({"callback": "list", "action": "error", "code": "X"}),
                "faults[0].code: unknown",
            ),
            (
                json!({"callback": "drop", "action": "error"}),
                "faults[0].action: drop cannot",
            ),
            (
                json!({"callback": "connect", "action": "panic", "user": "bob"}),
                "faults[0].user: connect",
            ),
            (
                json!({"callback": "list", "action": "panic", "user": "eve"}),
                "faults[0].user: no such",
            ),
            (
                json!({"callback": "list", "action": "panic", "when": 1}),
                "faults[0].when: unknown field `when`",
            ),
        ];
        for (value, expected) in cases {
            let err = parse(value.clone()).unwrap_err();
            let expected = format!("static-messages config: {expected}");
            assert!(err.starts_with(&expected), "{value}: {err}");
        }
    }

    #[test]
    fn error_fault_returns_its_code() {
        let faults = faults(Callback::List, Action::Error(ResponseCode::IN_USE), None);
        assert_eq!(
            faults.fire(Callback::List, Some("u")).unwrap_err().code,
            ResponseCode::IN_USE
        );
        assert!(faults.fire(Callback::Top, Some("u")).is_ok());
    }

    #[test]
    fn panic_fault_panics() {
        let faults = faults(Callback::Top, Action::Panic, None);
        assert!(catch_unwind(AssertUnwindSafe(|| faults.fire(Callback::Top, None))).is_err());
    }

    #[test]
    fn delay_fault_sleeps_then_succeeds() {
        let faults = faults(
            Callback::Size,
            Action::Delay(Duration::from_millis(20)),
            None,
        );
        let start = Instant::now();
        assert!(faults.fire(Callback::Size, None).is_ok());
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn user_fault_spares_other_users() {
        let faults = faults(
            Callback::List,
            Action::Error(ResponseCode::AUTH),
            Some("bob"),
        );
        assert!(faults.fire(Callback::List, Some("alice")).is_ok());
        assert!(faults.fire(Callback::List, None).is_ok());
        assert!(faults.fire(Callback::List, Some("bob")).is_err());
    }
}
