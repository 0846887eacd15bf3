//! The maildrop lock (RFC 1939 §8: one session per maildrop): an exclusive lock on
//! `<maildir>/pop3host.lock` (std's file lock: `flock` on Unix, `LockFileEx` on Windows), held
//! from login until the mailbox is dropped.
//!
//! The lock belongs to the open file, so it also keeps apart two sessions of one process, and
//! the system drops it when the process dies: no stale lock files to clean up. The file itself
//! is never removed (removing it would let a new session lock a fresh inode while an old one
//! still holds the former). Dovecot's own locks (`dovecot-uidlist.lock`, the optional
//! `dovecot-pop3-session.lock`) are dotlocks we do not take: we never write Dovecot's files.
//!
//! The file is opened relative to the maildir handle without following a symlink and must be a
//! regular file: a link or FIFO planted under this name is refused (the login fails), since
//! opening it would create, block on or lock a file outside the maildir.

use crate::store::Store;
use pop3_plugin_api::{debug, PopError};
use std::fs::{File, TryLockError};

pub const FILE_NAME: &str = "pop3host.lock";

/// Held while the session lasts; dropping it closes the file and so releases the lock.
#[derive(Debug)]
pub struct MaildropLock {
    _file: File,
}

impl MaildropLock {
    pub fn acquire(store: &Store) -> Result<Self, PopError> {
        let path = store.path.join(FILE_NAME);
        let file = store.root.open_or_create(FILE_NAME).map_err(|e| {
            PopError::temporary(format!("cannot open lock file {}: {e}", path.display()))
        })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => {
                debug!("{}: locked by another session", store.path.display());
                // The client sees this text: no path in it.
                Err(PopError::in_use(
                    "the maildrop is locked by another session",
                ))
            }
            Err(TryLockError::Error(e)) => Err(PopError::temporary(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pop3_plugin_api::ResponseCode;

    #[test]
    fn one_holder_at_a_time_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap().unwrap();
        let first = MaildropLock::acquire(&store).unwrap();
        let err = MaildropLock::acquire(&store).unwrap_err();
        assert_eq!(err.code, ResponseCode::IN_USE);
        drop(first);
        MaildropLock::acquire(&store).unwrap();
    }
}
