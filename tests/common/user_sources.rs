//! What the tests of the maildir plugin's passdb and userdb drivers share: a site (a
//! directory with homes and maildirs that unprivileged uids can traverse), pop3host with a
//! chosen passdb and userdb, and the checks every driver must pass.

use super::{plugin, Client, Server, TempDir};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const AUTH_FAILED: &str = "-ERR [AUTH] Authentication failed.\r\n";

/// A directory of homes (`<root>/home/<user>`, maildirs at `~/Maildir`); removed when dropped
/// (a [`TempDir`]).
pub struct Site {
    pub root: TempDir,
}

impl Site {
    pub fn new(name: &str) -> Site {
        let root = TempDir::new(&format!("user-sources-{name}"));
        fs::create_dir_all(root.join("home")).unwrap();
        // Traversable by the mail users' uids, as /home is.
        for dir in [&*root, &root.join("home")] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Site { root }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn home(&self, user: &str) -> PathBuf {
        self.root.join("home").join(user)
    }

    /// Delivers one message to `user`'s `~/Maildir/cur` and gives the home to `uid:gid`.
    pub fn deliver(&self, user: &str, message: &str, uid: u32, gid: u32) {
        self.deliver_to(&self.home(user).join("Maildir"), message, uid, gid);
        chown(&self.home(user), uid, gid);
    }

    /// Delivers one message to `maildir`'s `cur` and gives the maildir to `uid:gid`.
    pub fn deliver_to(&self, maildir: &Path, message: &str, uid: u32, gid: u32) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        fs::write(maildir.join("cur/1700000001.M1P1.h:2,"), message).unwrap();
        chown(maildir, uid, gid);
    }

    /// The owner of the lock file pop3host made in `user`'s maildir: whose rights it used.
    pub fn lock_owner(&self, user: &str) -> (u32, u32) {
        lock_owner_at(&self.home(user).join("Maildir"))
    }

    /// pop3host with the maildir plugin, `~/Maildir` maildirs and these user sources.
    pub fn start(&self, passdb: Value, userdb: Value) -> Server {
        self.start_with(passdb, userdb, "~/Maildir")
    }

    /// pop3host with the maildir plugin, these user sources and this maildir template.
    pub fn start_with(&self, passdb: Value, userdb: Value, maildir: &str) -> Server {
        self.start_config(json!({"passdb": passdb, "userdb": userdb, "maildir": maildir}))
    }

    /// pop3host with the maildir plugin and the whole plugin `config`.
    pub fn start_config(&self, config: Value) -> Server {
        let plugin = plugin("maildir");
        Server::start(&[
            "--plugin",
            plugin.to_str().unwrap(),
            "--plugin-config",
            &config.to_string(),
        ])
    }
}

/// `chown -R uid:gid path`.
fn chown(path: &Path, uid: u32, gid: u32) {
    super::process::run(
        std::process::Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}")])
            .arg(path),
    );
}

/// The owner of the lock file pop3host made in `maildir`: whose rights it used.
pub fn lock_owner_at(maildir: &Path) -> (u32, u32) {
    let meta = fs::metadata(maildir.join("pop3host.lock")).unwrap();
    (meta.uid(), meta.gid())
}

/// A passwd-file userdb line for `user` with a home in `site` and `uid:gid` (no password:
/// the passdb is another driver).
pub fn userdb_line(site: &Site, user: &str, uid: u32, gid: u32) -> String {
    format!("{user}::{uid}:{gid}::{}\n", site.home(user).display())
}

/// `{"driver": "passwd-file", "path": ...}` for a file at `path` holding `lines`.
pub fn passwd_file_userdb(path: &Path, lines: &str) -> Value {
    fs::write(path, lines).unwrap();
    json!({"driver": "passwd-file", "path": path})
}

/// Retrieves message `n` and returns it as sent (still dot-stuffed), QUITting after.
pub fn retr_and_quit(c: &mut Client, n: usize) -> Vec<u8> {
    assert!(c.cmd(&format!("RETR {n}")).starts_with("+OK"));
    let body = c.body();
    assert!(c.cmd("QUIT").starts_with("+OK"));
    body
}
