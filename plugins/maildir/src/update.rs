//! The UPDATE state (RFC 1939 §6): remove the messages marked deleted, then record what the
//! session did as maildir flags, as Dovecot and Courier do: retrieved messages get Seen, and
//! messages still in `new/` move to `cur/` (the client has now seen that they exist).
//!
//! Every change is one `unlink` or one `rename`, so a crash at any point leaves each message
//! whole in its old or its new place, never half-written.

use crate::filename;
use crate::listing::{Location, Subdir};
use crate::message::Message;
use pop3_plugin_api::warn;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

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
pub fn apply(maildir: &Path, messages: &mut [Message], changes: &Changes<'_>) -> usize {
    let mut failed = 0;
    for (index, message) in messages.iter_mut().enumerate() {
        if changes.deleted[index] {
            match message.with_file(maildir, |path| fs::remove_file(path)) {
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
            let renamed = message.with_file(maildir, |from| {
                let target =
                    Location::new(Subdir::Cur, filename::cur_name(&message_name(from), seen));
                let to = target.path(maildir);
                if from != to {
                    fs::rename(from, &to)?;
                }
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

/// The file name of a message path (always UTF-8: the listing skips other names).
fn message_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
