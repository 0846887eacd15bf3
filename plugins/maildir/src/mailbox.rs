//! One session's maildrop: the lock, the snapshot taken at login, what the session retrieved,
//! and the size cache.

use crate::config::UidlMode;
use crate::lock::MaildropLock;
use crate::message::Message;
use crate::size_cache::SizeCache;
use crate::snapshot;
use crate::update::{self, Changes};
use pop3_plugin_api::crlf_size;
use pop3_plugin_api::{debug, warn, Mailbox, MessageInfo, MessageReader, MessageRef, PopError};
use std::collections::HashSet;
use std::fs::{self, DirBuilder, File};
use std::io::{self, BufReader, ErrorKind, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Per-backend settings that shape every mailbox.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub create: bool,
    pub uidl: UidlMode,
    pub flag_updates: bool,
    pub size_cache: bool,
}

/// Reads of message files go through this buffer size: large enough for few system calls,
/// small enough that memory stays flat whatever the message size.
const READ_BUFFER: usize = 64 * 1024;

#[derive(Debug)]
pub struct MaildirMailbox {
    maildir: PathBuf,
    options: Options,
    /// `None` for a maildir that does not exist: there is nothing to protect.
    _lock: Option<MaildropLock>,
    /// The snapshot, taken by the first `list`.
    messages: Vec<Message>,
    listed: bool,
    retrieved: Vec<bool>,
    /// Snapshot messages whose size is still unknown; the cache is saved when it reaches 0.
    unmeasured: usize,
    sizes: SizeCache,
}

/// Creates `maildir` with `cur/`, `new/` and `tmp/`, private to the mail user.
fn create_maildir(maildir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true).mode(0o700);
    for sub in ["cur", "new", "tmp"] {
        builder.create(maildir.join(sub))?;
    }
    Ok(())
}

impl MaildirMailbox {
    /// Opens the maildrop at `maildir` for one session and locks it. A maildir that does not
    /// exist is created when configured, else served as an empty mailbox.
    pub fn open(maildir: PathBuf, options: Options) -> Result<Self, PopError> {
        let exists = match fs::metadata(&maildir) {
            Ok(meta) if meta.is_dir() => true,
            Ok(_) => {
                return Err(PopError::permanent(format!(
                    "{} is not a directory",
                    maildir.display()
                )))
            }
            Err(err) if err.kind() == ErrorKind::NotFound => false,
            Err(err) => return Err(PopError::temporary(format!("{}: {err}", maildir.display()))),
        };
        if options.create {
            create_maildir(&maildir).map_err(|e| {
                PopError::temporary(format!("cannot create maildir {}: {e}", maildir.display()))
            })?;
        } else if !exists {
            debug!(
                "{}: no such maildir, serving an empty mailbox",
                maildir.display()
            );
        }
        let lock = if exists || options.create {
            Some(MaildropLock::acquire(&maildir)?)
        } else {
            None
        };
        let sizes = if options.size_cache && lock.is_some() {
            SizeCache::load(&maildir)
        } else {
            SizeCache::disabled()
        };
        Ok(Self {
            maildir,
            options,
            _lock: lock,
            messages: Vec::new(),
            listed: false,
            retrieved: Vec::new(),
            unmeasured: 0,
            sizes,
        })
    }

    fn message(&mut self, msg: MessageRef<'_>) -> Result<&mut Message, PopError> {
        self.messages
            .get_mut(msg.index)
            .ok_or_else(|| PopError::plain(format!("no message {}", msg.index + 1)))
    }

    /// Opens message `msg`, following a rename by another client.
    fn open_message(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let maildir = self.maildir.clone();
        let message = self.message(msg)?;
        match message.with_file(&maildir, open_regular) {
            Ok(file) => Ok(Box::new(BufReader::with_capacity(READ_BUFFER, file))),
            Err(err) => Err(message_error(&maildir, message, msg, err)),
        }
    }

    /// Saves the size cache, if it changed; a failure only costs a later re-measurement.
    fn save_sizes(&mut self) {
        if let Err(err) = self.sizes.save_if_changed() {
            warn!(
                "{}: cannot save the size cache: {err}",
                self.maildir.display()
            );
        }
    }
}

/// Opens a message file. Anything else at its path (a directory, a device) is an error now,
/// while RETR can still answer -ERR: `open` succeeds on a directory and only `read` fails,
/// after the host has sent +OK, so that it must close the connection.
///
/// The reader ends at the length the file has now: a delivered message never changes, and
/// the host then learns of the end without one more read call.
fn open_regular(path: &Path) -> io::Result<io::Take<File>> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        Ok(file.take(meta.len()))
    } else {
        Err(io::Error::other("not a regular file"))
    }
}

/// The error for a message that could not be read: a plain `-ERR` for one that vanished (the
/// session goes on), otherwise logged with its path and mapped by kind.
fn message_error(
    maildir: &Path,
    message: &Message,
    msg: MessageRef<'_>,
    err: io::Error,
) -> PopError {
    if err.kind() == ErrorKind::NotFound {
        return PopError::plain(format!(
            "message {} was removed by another client",
            msg.index + 1
        ));
    }
    warn!(
        "cannot read {}: {err}",
        message.location.path(maildir).display()
    );
    PopError::from(err)
}

impl Mailbox for MaildirMailbox {
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        if !self.listed {
            let snapshot =
                snapshot::take(&self.maildir, self.options.uidl, &self.sizes).map_err(|e| {
                    PopError::temporary(format!("cannot list {}: {e}", self.maildir.display()))
                })?;
            self.messages = snapshot.messages;
            self.listed = true;
            self.retrieved = vec![false; self.messages.len()];
            self.unmeasured = self.messages.iter().filter(|m| m.size.is_none()).count();
            // Entries of messages gone since are dropped; when every entry was used, none is.
            if snapshot.cache_hits < self.sizes.len() {
                let current: HashSet<&str> = self.messages.iter().map(Message::base).collect();
                self.sizes.retain(|base| current.contains(base));
            }
            if self.unmeasured == 0 {
                self.save_sizes();
            }
            debug!(
                "{}: {} messages, {} to measure",
                self.maildir.display(),
                self.messages.len(),
                self.unmeasured
            );
        }
        Ok(self
            .messages
            .iter()
            .map(|m| MessageInfo::new(m.uidl(), m.size))
            .collect())
    }

    fn size(&mut self, msg: MessageRef<'_>) -> Result<Option<u64>, PopError> {
        let maildir = self.maildir.clone();
        let message = self.message(msg)?;
        if let Some(size) = message.size {
            return Ok(Some(size));
        }
        // The host fails the whole login when a size is missing, so a message that cannot be
        // read (gone since the listing, or not openable) is listed with size 0 and not cached:
        // the others are served, and RETR of this one answers -ERR as it would anyway.
        let measured = message.with_file(&maildir, |path| File::open(path).and_then(crlf_size));
        let size = match measured {
            Ok(size) => size,
            Err(err) => {
                let error = message_error(&maildir, message, msg, err);
                debug!("{error}: listed with size 0");
                message.size = Some(0);
                self.unmeasured -= 1;
                if self.unmeasured == 0 {
                    self.save_sizes();
                }
                return Ok(Some(0));
            }
        };
        message.size = Some(size);
        let base = message.base().to_string();
        self.sizes.insert(&base, size);
        self.unmeasured -= 1;
        if self.unmeasured == 0 {
            self.save_sizes();
        }
        Ok(Some(size))
    }

    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let reader = self.open_message(msg)?;
        self.retrieved[msg.index] = true;
        Ok(reader)
    }

    /// The whole message, which the host cuts; unlike `retrieve` it does not count as reading
    /// the message, so TOP leaves the Seen flag alone (as in Dovecot).
    fn top(&mut self, msg: MessageRef<'_>, _lines: u32) -> Result<Option<MessageReader>, PopError> {
        self.open_message(msg).map(Some)
    }

    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        let mut deleted = vec![false; self.messages.len()];
        for msg in msgs {
            *deleted
                .get_mut(msg.index)
                .ok_or_else(|| PopError::plain(format!("no message {}", msg.index + 1)))? = true;
        }
        let changes = Changes {
            deleted: &deleted,
            retrieved: &self.retrieved,
            flag_updates: self.options.flag_updates,
        };
        let failed = update::apply(&self.maildir, &mut self.messages, &changes);
        let removed: HashSet<&str> = self
            .messages
            .iter()
            .zip(&deleted)
            .filter(|(_, &d)| d)
            .map(|(m, _)| m.base())
            .collect();
        if !removed.is_empty() {
            self.sizes.retain(|base| !removed.contains(base));
        }
        self.save_sizes();
        match failed {
            0 => Ok(()),
            n => Err(PopError::temporary(format!(
                "{n} of {} messages could not be removed",
                msgs.len()
            ))),
        }
    }
}

impl Drop for MaildirMailbox {
    /// Keeps the sizes measured so far when the session ends early (before the lock goes).
    fn drop(&mut self) {
        self.save_sizes();
    }
}
