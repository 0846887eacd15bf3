//! The passwd-file as a live user database: read at init (where errors stop the server) and
//! re-read whenever its modification time, size or inode changes, checked with one `stat` per
//! login. A re-read that fails keeps the users of the last good version and logs the error once
//! per change of the file, so that an administrator's typo never locks everyone out.

use crate::passwd::Users;
use pop3_plugin_api::{error, info};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// What identifies one version of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = fs::metadata(path)?;
        Ok(Self {
            modified: meta.modified()?,
            len: meta.len(),
            inode: meta.ino(),
        })
    }
}

#[derive(Debug)]
struct State {
    /// The version last looked at, good or bad; `None` after a failed stat.
    seen: Option<Stamp>,
    users: Arc<Users>,
}

#[derive(Debug)]
pub struct UserDb {
    path: PathBuf,
    need_home: bool,
    state: RwLock<State>,
}

fn load(path: &Path, need_home: bool) -> Result<(Stamp, Users), String> {
    let stamp = Stamp::of(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let users = Users::parse(&String::from_utf8_lossy(&bytes), path, need_home)?;
    Ok((stamp, users))
}

impl UserDb {
    /// Reads the file; an error here is fatal for `init`.
    pub fn open(path: &Path, need_home: bool) -> Result<Self, String> {
        let (stamp, users) = load(path, need_home)?;
        let state = State {
            seen: Some(stamp),
            users: Arc::new(users),
        };
        Ok(Self {
            path: path.to_path_buf(),
            need_home,
            state: RwLock::new(state),
        })
    }

    /// The current users, re-reading the file first if it changed.
    pub fn current(&self) -> Arc<Users> {
        let stamp = Stamp::of(&self.path).ok();
        {
            let state = self
                .state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if state.seen == stamp {
                return Arc::clone(&state.users);
            }
        }
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.seen != stamp {
            self.reload(&mut state, stamp);
        }
        Arc::clone(&state.users)
    }

    fn reload(&self, state: &mut State, stamp: Option<Stamp>) {
        let path = self.path.display();
        match stamp {
            None => error!(
                "{path}: cannot stat the passwd-file; keeping the {} users read before",
                state.users.len()
            ),
            Some(_) => match load(&self.path, self.need_home) {
                Ok((loaded, users)) => {
                    info!("{path}: re-read, {} users", users.len());
                    state.users = Arc::new(users);
                    state.seen = Some(loaded);
                    return;
                }
                Err(err) => error!(
                    "re-reading the passwd-file failed; keeping the {} users read before:\n{err}",
                    state.users.len()
                ),
            },
        }
        state.seen = stamp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_picked_up_and_bad_versions_keep_the_old_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        fs::write(&path, "ann:{PLAIN}one\n").unwrap();
        let db = UserDb::open(&path, false).unwrap();
        assert!(db.current().lookup("ann").unwrap().credential.verify("one"));

        fs::write(&path, "ann:{PLAIN}two\nbob:{PLAIN}three\n").unwrap();
        let users = db.current();
        assert!(users.lookup("ann").unwrap().credential.verify("two"));
        assert!(users.lookup("bob").is_some());

        fs::write(&path, "ann:{NOPE}x\n").unwrap();
        let users = db.current();
        assert!(
            users.lookup("ann").unwrap().credential.verify("two"),
            "kept the last good version"
        );

        fs::remove_file(&path).unwrap();
        assert_eq!(db.current().len(), 2);

        fs::write(&path, "carl:{PLAIN}four\n").unwrap();
        assert!(db.current().lookup("carl").is_some());
    }

    #[test]
    fn open_fails_on_a_missing_or_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        assert!(UserDb::open(&path, false).unwrap_err().contains("users"));
        fs::write(&path, "\nann:{NOPE}x\n").unwrap();
        assert!(UserDb::open(&path, false)
            .unwrap_err()
            .contains("users:2: user ann"));
    }
}
