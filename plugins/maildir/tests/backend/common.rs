//! A temporary site (a passwd-file and maildirs) and the few calls every test makes.

use maildir::MaildirBackend;
use pop3_plugin_api::{Backend, Connection, Mailbox, MessageInfo, MessageRef, PopError};
use serde_json::json;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The test data directory (fixtures).
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A passwd-file and a directory of maildirs (`<root>/mail/<user>`), removed on drop.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    /// A site whose users are the fixture passwd-file's.
    pub fn new() -> Self {
        Self::with_users(&fs::read_to_string(data("users")).unwrap())
    }

    pub fn with_users(passwd: &str) -> Self {
        let site = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::write(site.passwd(), passwd).unwrap();
        fs::create_dir(site.dir.path().join("mail")).unwrap();
        site
    }

    pub fn passwd(&self) -> PathBuf {
        self.dir.path().join("users")
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user)
    }

    /// The config JSON: this site's files plus `extra` keys.
    pub fn config(&self, extra: serde_json::Value) -> String {
        let mut config = json!({
            "passwd_file": self.passwd(),
            "maildir": format!("{}/mail/%u", self.dir.path().display()),
        });
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        config.to_string()
    }

    pub fn backend(&self) -> MaildirBackend {
        self.backend_with(json!({}))
    }

    pub fn backend_with(&self, extra: serde_json::Value) -> MaildirBackend {
        MaildirBackend::init(&self.config(extra)).unwrap()
    }

    /// Creates `user`'s maildir (cur, new, tmp) if needed and writes one message file at
    /// `path` (e.g. `new/1700000000.M1.host`).
    pub fn deliver(&self, user: &str, path: &str, content: &[u8]) -> PathBuf {
        let maildir = self.maildir(user);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let file = self.path(user, path);
        fs::write(&file, content).unwrap();
        file
    }

    /// `path` in `user`'s maildir, as stored on this platform (see [`on_disk`]).
    pub fn path(&self, user: &str, path: &str) -> PathBuf {
        self.maildir(user).join(on_disk(path))
    }

    /// The file names in `user`'s `sub` directory, sorted.
    pub fn files(&self, user: &str, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.maildir(user).join(sub))
            .unwrap()
            .map(|e| as_written(&e.unwrap().file_name().into_string().unwrap()))
            .collect();
        names.sort();
        names
    }
}

/// The tests write maildir names as on Unix (`1.a.h:2,S`). On Windows, whose NTFS cannot hold
/// `:` in a name, they are stored with `!`, the separator pop3host writes there, so every
/// test runs on both; [`as_written`] maps a listed name back.
pub fn on_disk(name: &str) -> String {
    if cfg!(windows) {
        name.replace(':', "!")
    } else {
        name.to_string()
    }
}

/// A name as the tests write it (see [`on_disk`]).
fn as_written(name: &str) -> String {
    if cfg!(windows) {
        name.replace('!', ":")
    } else {
        name.to_string()
    }
}

pub fn conn() -> Connection {
    Connection {
        id: 1,
        peer: "127.0.0.1:50000".parse().unwrap(),
        local: "127.0.0.1:110".parse().unwrap(),
        tls: false,
    }
}

pub fn login(
    backend: &MaildirBackend,
    user: &str,
) -> Result<<MaildirBackend as Backend>::Mailbox, PopError> {
    backend.authenticate(user, "password", &conn())
}

/// A reference to message `index` (0-based) of a listing.
pub fn at(list: &[MessageInfo], index: usize) -> MessageRef<'_> {
    MessageRef {
        index,
        id: &list[index].id,
    }
}

pub fn ids(list: &[MessageInfo]) -> Vec<&str> {
    list.iter().map(|m| m.id.as_str()).collect()
}

pub fn retrieve_all(
    mailbox: &mut impl Mailbox,
    list: &[MessageInfo],
    index: usize,
) -> Result<Vec<u8>, PopError> {
    let mut bytes = Vec::new();
    mailbox
        .retrieve(at(list, index))?
        .read_to_end(&mut bytes)
        .unwrap();
    Ok(bytes)
}
