//! The UPDATE state (RFC 1939 §6): remove the messages marked deleted, then record what the
//! session did as maildir flags, as Dovecot and Courier do: retrieved messages get Seen, and
//! messages still in `new/` move to `cur/` (the client has now seen that they exist).
//!
//! Every change is one `unlink` or one `rename`, so a crash at any point leaves each message
//! whole in its old or its new place, never half-written. Both act on the directory handles
//! opened at login (see [`crate::fs_at`]): a `cur/` swapped for a symlink since cannot
//! redirect them, and a symlink is renamed or removed itself, never what it points at.

use crate::filename;
use crate::listing::{Location, Subdir};
use crate::message::Message;
use crate::store::Store;
use pop3_plugin_api::warn;
use std::io::ErrorKind;

/// What the session asks of each message, by index in the snapshot.
pub struct Changes<'a> {
    pub deleted: &'a [bool],
    pub retrieved: &'a [bool],
    /// Whether to rename at all (off with `no_flag_updates`).
    pub flag_updates: bool,
}

/// Applies `changes`; returns how many marked messages could not be removed. A message that is
/// already gone counts as removed. Flag updates that fail are logged and otherwise ignored:
/// the mail is intact, only a flag is missing.
pub fn apply(store: &Store, messages: &mut [Message], changes: &Changes<'_>) -> usize {
    let maildir = &store.path;
    let mut failed = 0;
    for (index, message) in messages.iter_mut().enumerate() {
        if changes.deleted[index] {
            match message.with_file(store, |dir, name| dir.unlink(name)) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => {
                    warn!(
                        "cannot remove {}: {err}",
                        message.location.path(maildir).display()
                    );
                    failed += 1;
                }
            }
        } else if changes.flag_updates {
            let seen = changes.retrieved[index];
            let unchanged = message.location.subdir == Subdir::Cur
                && filename::keeps_name(message.location.name(), seen);
            if unchanged {
                continue; // most of a large maildir: no path to build, nothing to rename
            }
            // Renaming a file onto itself (moved by another client to its new name) does nothing.
            let renamed = message.with_file(store, |dir, from| {
                let target = Location::new(Subdir::Cur, filename::cur_name(from, seen));
                dir.rename(from, store.dir(Subdir::Cur)?, target.name())?;
                Ok(target)
            });
            match renamed {
                Ok(target) => message.location = target,
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => warn!(
                    "cannot update the flags of {}: {err}",
                    message.location.path(maildir).display()
                ),
            }
        }
    }
    failed
}
