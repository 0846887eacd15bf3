//! A site for the maildir plugin: a passwd-file and a directory of maildirs
//! (`<root>/mail/<user>`) in a temporary directory, and pop3host started on it.

use super::{plugin, Server, TempDir, DEADLINE};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A passwd-file and a directory of maildirs; removed when dropped.
pub struct MaildirSite {
    pub root: PathBuf,
    _dir: TempDir,
}

impl MaildirSite {
    /// A site whose passwd-file holds `passwd`. Its directories are traversable by
    /// unprivileged uids, as /home is, for the tests that switch uid.
    pub fn new(name: &str, passwd: &[u8]) -> MaildirSite {
        let dir = TempDir::new(name);
        let root = dir.join("site");
        fs::create_dir_all(root.join("mail")).unwrap();
        for path in [dir.to_path_buf(), root.clone(), root.join("mail")] {
            fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(root.join("users"), passwd).unwrap();
        MaildirSite { root, _dir: dir }
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root.join("mail").join(user)
    }

    /// Creates `user`'s `cur/`, `new/` and `tmp/`.
    pub fn make(&self, user: &str) -> PathBuf {
        let maildir = self.maildir(user);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        maildir
    }

    /// Writes a message file at `path` (e.g. `new/1700000000.M1P1.host`) in `user`'s maildir,
    /// creating `cur/`, `new/` and `tmp/` first.
    pub fn deliver(&self, user: &str, path: &str, content: &[u8]) -> PathBuf {
        let file = self.make(user).join(path);
        fs::write(&file, content).unwrap();
        file
    }

    /// The plugin config: this site's files plus the keys of `extra`.
    pub fn config(&self, extra: Value) -> String {
        let mut config = json!({
            "passwd_file": self.root.join("users"),
            "maildir": format!("{}/mail/%u", self.root.display()),
        });
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        config.to_string()
    }

    /// pop3host with the maildir plugin on this site.
    pub fn start(&self, extra: Value) -> Server {
        self.start_with(extra, &[])
    }

    /// [`MaildirSite::start`] with more pop3host arguments.
    pub fn start_with(&self, extra: Value, args: &[&str]) -> Server {
        let plugin = plugin("maildir");
        let config = self.config(extra);
        let mut all = vec![
            "--plugin",
            plugin.to_str().unwrap(),
            "--plugin-config",
            &config,
        ];
        all.extend_from_slice(args);
        Server::start(&all)
    }

    /// The names in `user`'s `sub` directory, sorted.
    pub fn files(&self, user: &str, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.maildir(user).join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Waits until no session holds `user`'s maildrop lock (the plugin's `flock` on
    /// `pop3host.lock`). pop3host releases it before it answers QUIT, but a connection that
    /// ends without QUIT is only noticed a moment later.
    pub fn wait_unlocked(&self, user: &str) {
        let path = self.maildir(user).join("pop3host.lock");
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return file.unlock().unwrap(),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(err)) => panic!("{}: {err}", path.display()),
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{} stayed locked",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Replaces the message file at `path` by something nobody can open, root included.
    pub fn make_unreadable(&self, user: &str, path: &str) {
        let file = self.maildir(user).join(path);
        fs::remove_file(&file).unwrap();
        symlink(file.file_name().unwrap(), &file).unwrap();
        assert!(fs::File::open(&file).is_err(), "{} opens", file.display());
    }
}
