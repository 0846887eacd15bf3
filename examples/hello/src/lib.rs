//! hello-plugin: the smallest useful pop3host backend. Every user has the same three
//! messages; deletions and the maildrop lock live in memory for the life of the server.
//! Config (optional): `{"users": {"alice": "secret"}}`; without users, `hello`/`world`.

use pop3_plugin_api::{export_plugin, Backend, Connection, Mailbox, MessageInfo};
use pop3_plugin_api::{MessageReader, MessageRef, PluginInfo, PopError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// (id, text): the id is the UIDL (unique, stable, printable). Every line already ends in
/// CRLF, so the length of the text is the size that POP3 reports.
const MESSAGES: [(&str, &str); 3] = [
    ("hello-1", "Subject: Hello\r\n\r\nHello, world!\r\n"),
    ("hello-2", "Subject: Dots\r\n\r\n.a line with a dot\r\n"),
    ("hello-3", "Subject: Bye\r\n\r\nDelete me.\r\n"),
];

#[derive(Default)]
struct State {
    /// Users with a session of this backend value. The host already keeps one session per
    /// maildrop (RFC 1939) by `Mailbox::maildrop`, the user name by default, across reloads;
    /// this set is a second line only, and starts empty in the new value after a reload. A
    /// lock that must hold against other processes belongs in the store.
    locked: HashSet<String>,
    /// Every (user, message id) deleted so far.
    deleted: HashSet<(String, String)>,
}

pub struct Hello {
    users: HashMap<String, String>, // name -> password
    state: Arc<Mutex<State>>,
}

pub struct HelloBox {
    user: String,
    state: Arc<Mutex<State>>,
}

impl Backend for Hello {
    type Mailbox = HelloBox;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "hello".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Three fixed messages per user; deletions kept in memory.".into(),
            config_help: r#"{"users": {"NAME": "PASSWORD"}} (default: hello/world)"#.into(),
        }
    }

    fn init(config: &str) -> Result<Self, PopError> {
        let config: serde_json::Value =
            serde_json::from_str(config).map_err(|e| PopError::permanent(e.to_string()))?;
        let users = config["users"].as_object().into_iter().flatten();
        let users = users.filter_map(|(user, pass)| Some((user.clone(), pass.as_str()?.into())));
        let mut users: HashMap<String, String> = users.collect();
        if users.is_empty() {
            users.insert("hello".into(), "world".into());
        }
        let state = Arc::default();
        Ok(Hello { users, state })
    }

    fn authenticate(&self, user: &str, pass: &str, _: &Connection) -> Result<HelloBox, PopError> {
        if self.users.get(user).map(String::as_str) != Some(pass) {
            return Err(PopError::auth("wrong user or password"));
        }
        let state = Arc::clone(&self.state);
        if !state.lock().unwrap().locked.insert(user.to_string()) {
            return Err(PopError::in_use(format!("{user} is logged in elsewhere")));
        }
        let user = user.to_string();
        Ok(HelloBox { user, state })
    }
}

impl Mailbox for HelloBox {
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        let state = self.state.lock().unwrap();
        let deleted = |id: &str| state.deleted.contains(&(self.user.clone(), id.into()));
        let kept = MESSAGES.iter().filter(|(id, _)| !deleted(id));
        let info = |(id, text): &(&str, &str)| MessageInfo::new(*id, Some(text.len() as u64));
        Ok(kept.map(info).collect())
    }

    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let found = MESSAGES.iter().find(|(id, _)| *id == msg.id);
        let (_, text) = found.ok_or_else(|| PopError::plain("no such message"))?;
        Ok(Box::new(text.as_bytes()))
    }

    /// Called only when the client QUITs: the only place where mail goes away.
    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        let mut state = self.state.lock().unwrap();
        let ids = msgs.iter().map(|m| (self.user.clone(), m.id.to_string()));
        state.deleted.extend(ids);
        Ok(())
    }
}

impl Drop for HelloBox {
    /// The maildrop lock ends with the session, whether it QUIT or just went away.
    fn drop(&mut self) {
        self.state.lock().unwrap().locked.remove(&self.user);
    }
}

export_plugin!(Hello);
