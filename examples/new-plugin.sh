#!/usr/bin/env bash
# Creates a pop3host plugin crate that builds and serves a first message.
#
#   examples/new-plugin.sh NAME [DIR]
#
#   NAME  the crate name: a letter, then letters, digits, '-' or '_'. The library pop3host
#         loads is DIR/target/debug/libNAME.so (with '-' as '_').
#   DIR   where to create the crate [default: ./NAME]; it must not exist yet.
#
# The pop3_plugin_api dependency comes from $POP3_PLUGIN_API:
#   a path (contains '/')      pop3_plugin_api = { path = "..." }, e.g. a pop3host checkout's
#                              plugin-api directory
#   a version requirement      pop3_plugin_api = "1", from a registry
#   unset                      the plugin-api directory of the checkout this script is in
#
# The crate stands alone (its own [profile.*] with panic = "unwind"). To put it inside an
# existing workspace instead, add DIR to that workspace's members and move the [profile.*]
# sections to the workspace root: cargo ignores profiles in members.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
name=$1
dir=${2:-$name}
if ! [[ $name =~ ^[A-Za-z][A-Za-z0-9_-]*$ ]]; then
    echo "new-plugin.sh: $name: a crate name is a letter, then letters, digits, - or _" >&2
    exit 2
fi
if [ -e "$dir" ]; then
    echo "new-plugin.sh: $dir already exists" >&2
    exit 1
fi
lib=${name//-/_}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
api=${POP3_PLUGIN_API:-$here/../plugin-api}
if [[ $api == */* ]]; then
    if [ ! -f "$api/Cargo.toml" ]; then
        echo "new-plugin.sh: $api: no Cargo.toml (set POP3_PLUGIN_API to plugin-api's directory or a version)" >&2
        exit 1
    fi
    api=$(cd "$api" && pwd)
    dependency="pop3_plugin_api = { path = \"$api\" }"
else
    dependency="pop3_plugin_api = \"$api\""
fi

# abi_stable as in pop3host's own lock file, else the version plugin-api asks for.
abi_stable=$(sed -n '/^name = "abi_stable"$/{n;s/^version = "\(.*\)"$/\1/p;q}' "$here/../Cargo.lock" 2>/dev/null)
abi_stable=${abi_stable:-0.11.3}

mkdir -p "$dir/src"

cat >"$dir/Cargo.toml" <<EOF
[package]
name = "$name"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
name = "$lib"
# A C-compatible shared library: what pop3host --plugin loads.
crate-type = ["cdylib"]

[dependencies]
$dependency
serde_json = "1"
# The ABI library, pinned to the version pop3host is built with (its types carry it).
abi_stable = "=$abi_stable"

# The export glue catches a panic in your code and answers that session -ERR [SYS/TEMP]; it
# can only do so if panics unwind. "unwind" is cargo's default: these lines keep it so. Inside
# a workspace, cargo reads profiles only from the workspace root: move them there.
[profile.dev]
panic = "unwind"

[profile.release]
panic = "unwind"
EOF

cat >"$dir/.gitignore" <<'EOF'
/target
EOF

cat >"$dir/src/lib.rs" <<EOF
//! $name: a pop3host backend plugin.
//!
//! Build with \`cargo build\`, run with
//! \`pop3host --plugin target/debug/lib$lib.so --listen 127.0.0.1:1110\`, fetch with
//! \`curl pop3://127.0.0.1:1110/1 -u demo:demo\`. What each callback must do (when it is called,
//! sizes, UIDLs, locking, error codes) is in the pop3_plugin_api docs: \`cargo doc --open\`.

use pop3_plugin_api::{export_plugin, Backend, Connection, Mailbox, MessageInfo};
use pop3_plugin_api::{MessageReader, MessageRef, PluginInfo, PopError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// TODO: messages come from your store. The id is the UIDL: unique, stable, never reused.
/// This text ends every line in CRLF, so its length is the size POP3 reports.
const MESSAGES: [(&str, &str); 1] = [(
    "welcome-1",
    "Subject: Welcome\r\n\r\nThe first message of $name.\r\n",
)];

#[derive(Default)]
struct State {
    /// Users with a session of this backend value. The host already keeps one session per
    /// maildrop (by \`Mailbox::maildrop\`, the user name by default), across reloads; this set
    /// is only a second line, and empty in the new value after a reload. A lock that must
    /// hold against other processes belongs in the store (a flock, a database lock).
    locked: HashSet<String>,
    /// (user, message id) of every message deleted.
    deleted: HashSet<(String, String)>,
}

/// The backend: one value for the whole server, shared by every session.
pub struct MyBackend {
    user: String,
    password: String,
    state: Arc<Mutex<State>>,
}

/// One session's maildrop; it holds its entry in \`locked\` until it is dropped.
pub struct MyMailbox {
    user: String,
    state: Arc<Mutex<State>>,
}

impl Backend for MyBackend {
    type Mailbox = MyMailbox;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "$name".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "TODO: what mailboxes this backend serves.".into(),
            config_help: r#"{"user": "NAME", "password": "PASSWORD"} (default: demo/demo)"#.into(),
        }
    }

    /// \`config\` is the --plugin-config JSON text, \`null\` without one. An error here stops
    /// the server at startup with its message.
    fn init(config: &str) -> Result<Self, PopError> {
        let config: serde_json::Value = serde_json::from_str(config)
            .map_err(|e| PopError::permanent(format!("config is not JSON: {e}")))?;
        let get = |key: &str| config[key].as_str().unwrap_or("demo").to_string();
        Ok(Self {
            user: get("user"),
            password: get("password"),
            state: Arc::default(),
        })
    }

    fn authenticate(&self, user: &str, pass: &str, _: &Connection) -> Result<MyMailbox, PopError> {
        // TODO: check your user store. A wrong user and a wrong password get the same error.
        if (user, pass) != (self.user.as_str(), self.password.as_str()) {
            return Err(PopError::auth("wrong user or password"));
        }
        let state = Arc::clone(&self.state);
        if !state.lock().unwrap().locked.insert(user.to_string()) {
            return Err(PopError::in_use(format!("{user} is logged in elsewhere")));
        }
        let user = user.to_string();
        Ok(MyMailbox { user, state })
    }
}

impl Mailbox for MyMailbox {
    /// Once, at login: the messages in the order the client numbers them, with their sizes.
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        let state = self.state.lock().unwrap();
        let deleted = |id: &str| state.deleted.contains(&(self.user.clone(), id.into()));
        let kept = MESSAGES.iter().filter(|(id, _)| !deleted(id));
        let info = |(id, text): &(&str, &str)| MessageInfo::new(*id, Some(text.len() as u64));
        Ok(kept.map(info).collect())
    }

    /// RETR (and TOP): the bytes, in any line endings; the host converts and dot-stuffs.
    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let found = MESSAGES.iter().find(|(id, _)| *id == msg.id);
        let (_, text) = found.ok_or_else(|| PopError::plain("no such message"))?;
        Ok(Box::new(text.as_bytes()))
    }

    /// Only when the client QUITs: the one place where mail is removed.
    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        // TODO: remove them from your store, all or none.
        let mut state = self.state.lock().unwrap();
        let ids = msgs.iter().map(|m| (self.user.clone(), m.id.to_string()));
        state.deleted.extend(ids);
        Ok(())
    }
}

impl Drop for MyMailbox {
    /// However the session ended (QUIT, a dropped connection, a timeout), the lock goes.
    fn drop(&mut self) {
        self.state.lock().unwrap().locked.remove(&self.user);
    }
}

export_plugin!(MyBackend);
EOF

echo "Created $dir (crate $name, library lib$lib.so, $dependency)."
echo "Next: cd $dir && cargo build && pop3host --plugin target/debug/lib$lib.so --listen 127.0.0.1:1110"
