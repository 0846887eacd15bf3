//! The `passwd-file` driver, passdb and userdb: Dovecot's passwd-file (see [`crate::passwd`]),
//! read at init (where any bad line stops the server)
//! and re-read whenever its modification time, size or inode (Unix) changes, checked with one `stat`
//! per login.
//!
//! A re-read serves what the file holds now and nothing it no longer holds: the valid lines
//! take effect, the user of a bad line is refused (logged with file and line, once per change
//! of the file), so an administrator's typo locks out one user rather than everyone, and a
//! changed or removed password never lives on. A file that cannot be read serves nobody until
//! it can. Through the authentication cache, a success is remembered with the user's password
//! field, so a re-read that changes it is the end of what was remembered.

use super::{PassDb, UserDb, UserFields};
use crate::passwd::{is_safe_user_name, User, Users};
use password_schemes::AuthCache;
use pop3_plugin_api::{apop_matches, error, info, Connection, PopError};
use serde::Deserialize;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// `{"driver": "passwd-file", "path": ...}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub path: PathBuf,
}

/// What identifies one version of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    /// The inode on Unix. Windows' std has no stable file id (and NTFS carries a replaced
    /// file's creation time over to its successor), so the time and size tell there alone.
    file: FileId,
}

#[cfg(unix)]
type FileId = u64;
#[cfg(not(unix))]
type FileId = ();

#[cfg(unix)]
fn file_id(meta: &fs::Metadata) -> FileId {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn file_id(_: &fs::Metadata) -> FileId {}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = fs::metadata(path)?;
        Ok(Self {
            modified: meta.modified()?,
            len: meta.len(),
            file: file_id(&meta),
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
pub struct PasswdFile {
    path: PathBuf,
    /// `passwd-file PATH`: whose successes the authentication cache remembers.
    source: String,
    need_home: bool,
    state: RwLock<State>,
    cache: Arc<AuthCache>,
}

/// Reads the file; an error when it cannot be read at all.
fn load(path: &Path, need_home: bool) -> Result<(Stamp, Users), String> {
    let stamp = Stamp::of(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let users = Users::parse(&String::from_utf8_lossy(&bytes), path, need_home);
    Ok((stamp, users))
}

impl PasswdFile {
    /// Reads the file; an error here, a bad line included, is fatal for `init`.
    /// `need_home`: every user needs an absolute home (the maildir template uses `%h`).
    pub fn open(path: &Path, need_home: bool) -> Result<Self, PopError> {
        let (stamp, users) = load(path, need_home).map_err(PopError::permanent)?;
        if let Some(problems) = users.problems() {
            return Err(PopError::permanent(problems));
        }
        let state = State {
            seen: Some(stamp),
            users: Arc::new(users),
        };
        Ok(Self {
            path: path.to_path_buf(),
            source: format!("passwd-file {}", path.display()),
            need_home,
            state: RwLock::new(state),
            cache: Arc::new(AuthCache::off()),
        })
    }

    /// Verifies passwords through `cache` (off by default).
    pub fn remembering(self, cache: Arc<AuthCache>) -> Self {
        Self { cache, ..self }
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

    /// Looks up `login` and runs `check` on its user's credential or, for an unknown or
    /// unsafe name, on the dummy of the costliest scheme (see [`Users::credential_for`]).
    fn verify_with(
        &self,
        login: &str,
        check: impl FnOnce(&Users, Option<&User>) -> bool,
    ) -> Result<String, PopError> {
        let users = self.current();
        let user = if is_safe_user_name(login) {
            users.lookup(login)
        } else {
            None
        };
        let passed = check(&users, user);
        match user {
            Some(user) if passed => Ok(user.name.clone()),
            Some(_) => Err(PopError::auth(format!("wrong password for {login:?}"))),
            None => Err(PopError::auth(format!("unknown user {login:?}"))),
        }
    }

    fn reload(&self, state: &mut State, stamp: Option<Stamp>) {
        let path = self.path.display();
        match load(&self.path, self.need_home) {
            Ok((loaded, users)) => {
                match users.problems() {
                    None => info!("{path}: re-read, {} users", users.len()),
                    Some(problems) => error!(
                        "{path}: re-read, {} users; the users of these lines are refused:\n{problems}",
                        users.len()
                    ),
                }
                state.users = Arc::new(users);
                state.seen = Some(loaded);
            }
            Err(err) => {
                error!("cannot re-read the passwd-file, no user can log in until it can: {err}");
                state.users = Arc::new(Users::parse("", &self.path, self.need_home));
                state.seen = stamp;
            }
        }
    }
}

impl PassDb for PasswdFile {
    fn verify(&self, login: &str, password: &str, _conn: &Connection) -> Result<String, PopError> {
        self.verify_with(login, |users, user| match user {
            Some(user) => self
                .cache
                .verify(&self.source, &user.name, &user.credential, password)
                .is_right(),
            // The dummy's verification is never remembered: an unknown user always pays it.
            None => users.credential_for(None).verify(password),
        })
    }

    fn supports_apop(&self) -> bool {
        self.current().any_plaintext()
    }

    fn apop(&self, login: &str, digest: &str, timestamp: &str) -> Result<String, PopError> {
        self.verify_with(login, |_, user| {
            // Users without a stored plain password never match, at the same cost.
            apop_matches(
                digest,
                timestamp,
                user.and_then(|u| u.credential.plaintext()),
            )
        })
    }

    fn describe(&self) -> String {
        format!(
            "{} users from {}",
            self.current().len(),
            self.path.display()
        )
    }
}

impl UserDb for PasswdFile {
    fn lookup(&self, user: &str) -> Result<UserFields, PopError> {
        let users = self.current();
        let user = users
            .lookup(user)
            .ok_or_else(|| PopError::auth(format!("user {user:?} is not in the userdb")))?;
        Ok(UserFields {
            name: user.name.clone(),
            home: user.home.clone(),
            ids: user.ids,
            maildir: None,
        })
    }

    fn describe(&self) -> String {
        format!("homes and ids from {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_picked_up_and_a_bad_line_refuses_only_its_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        fs::write(&path, "ann:{PLAIN}one\n").unwrap();
        let db = PasswdFile::open(&path, false).unwrap();
        assert!(db.current().lookup("ann").unwrap().credential.verify("one"));

        fs::write(&path, "ann:{PLAIN}two\nbob:{PLAIN}three\n").unwrap();
        let users = db.current();
        assert!(users.lookup("ann").unwrap().credential.verify("two"));
        assert!(users.lookup("bob").is_some());

        fs::write(&path, "ann:{NOPE}x\nbob:{PLAIN}five\n").unwrap();
        let users = db.current();
        assert!(users.lookup("ann").is_none(), "no old password lives on");
        assert!(users.lookup("bob").unwrap().credential.verify("five"));

        fs::remove_file(&path).unwrap();
        assert_eq!(db.current().len(), 0, "a missing file serves nobody");

        fs::write(&path, "carl:{PLAIN}four\n").unwrap();
        assert!(db.current().lookup("carl").is_some());
    }

    #[test]
    fn open_fails_on_a_missing_or_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        assert!(PasswdFile::open(&path, false)
            .unwrap_err()
            .message
            .contains("users"));
        fs::write(&path, "\nann:{NOPE}x\n").unwrap();
        assert!(PasswdFile::open(&path, false)
            .unwrap_err()
            .message
            .contains("users:2: user ann"));
    }
}
