//! One session's maildrop: the lock, the snapshot taken at login, what the session retrieved,
//! and the size cache.

use crate::config::UidlMode;
use crate::deferred_open::DeferredMessage;
use crate::fs_identity::Identity;
use crate::lock::MaildropLock;
use crate::message::Message;
use crate::message_reader::MessageFile;
use crate::size_cache::SizeCache;
use crate::snapshot;
use crate::store::Store;
use crate::update::{self, Changes};
use pop3_plugin_api::crlf_size;
use pop3_plugin_api::{
    debug, warn, Mailbox, Maildrop, MessageInfo, MessageReader, MessageRef, PopError,
};
use std::collections::HashSet;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Per-backend settings that shape every mailbox.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub create: bool,
    pub uidl: UidlMode,
    pub flag_updates: bool,
    pub size_cache: bool,
    /// Serve maildirs whatever their owner (see [`Identity::check_store`]).
    pub virtual_users: bool,
}

#[derive(Debug)]
pub struct MaildirMailbox {
    /// The maildir's path: what the host keeps exclusive (two user names may share one).
    path: PathBuf,
    /// `None` for a maildir that does not exist: an empty mailbox. Shared with the readers
    /// that open their message when first read ([`DeferredMessage`]).
    store: Option<Arc<Store>>,
    /// Whose rights every file operation runs with; taken on around each call, since the host
    /// may make each on another thread.
    identity: Identity,
    options: Options,
    _lock: Option<MaildropLock>,
    /// The snapshot, taken by the first `list`.
    messages: Vec<Message>,
    listed: bool,
    retrieved: Vec<bool>,
    /// The message the last `top` or `retrieve` opened, if that open succeeded: a `retrieve`
    /// of it right after defers its open (see [`crate::deferred_open`]).
    just_opened: Option<usize>,
    /// Snapshot messages whose size is still unknown; the cache is saved when it reaches 0.
    unmeasured: usize,
    sizes: SizeCache,
}

/// Takes on `identity` for one call; failing to is the session's temporary error.
fn enter(identity: Identity) -> Result<crate::fs_identity::FsIdGuard, PopError> {
    identity
        .enter()
        .map_err(|e| PopError::temporary(format!("{identity:?}: {e}")))
}

impl MaildirMailbox {
    /// Opens the maildrop at `maildir` for one session, with `identity`'s rights, and locks
    /// it. A maildir that does not exist is created when configured, else served as an empty
    /// mailbox.
    pub fn open(maildir: PathBuf, options: Options, identity: Identity) -> Result<Self, PopError> {
        let _as_user = enter(identity)?;
        let store = Store::open(&maildir, options.create).map_err(|err| {
            warn!("cannot open the maildir {}: {err}", maildir.display());
            if err.kind() == ErrorKind::NotADirectory || crate::fs_at::is_refusal(&err) {
                PopError::permanent("the mailbox cannot be opened")
            } else {
                PopError::temporary(format!("{}: {err}", maildir.display()))
            }
        })?;
        let Some(store) = store else {
            debug!(
                "{}: no such maildir, serving an empty mailbox",
                maildir.display()
            );
            return Ok(Self::with_store(maildir, None, identity, options, None));
        };
        let checked = identity
            .check_store(&store.root, options.virtual_users)
            .map_err(|e| PopError::temporary(format!("cannot stat {}: {e}", maildir.display())))?;
        if let Err(why) = checked {
            warn!("refusing the maildir {}: {why}", maildir.display());
            return Err(PopError::permanent(
                "the mailbox cannot be served: its owner is not the mail user",
            ));
        }
        let lock = MaildropLock::acquire(&store)?;
        Ok(Self::with_store(
            maildir,
            Some(Arc::new(store)),
            identity,
            options,
            Some(lock),
        ))
    }

    fn with_store(
        path: PathBuf,
        store: Option<Arc<Store>>,
        identity: Identity,
        options: Options,
        lock: Option<MaildropLock>,
    ) -> Self {
        Self {
            path,
            store,
            identity,
            options,
            _lock: lock,
            messages: Vec::new(),
            listed: false,
            retrieved: Vec::new(),
            just_opened: None,
            unmeasured: 0,
            sizes: SizeCache::disabled(),
        }
    }

    /// Opens message `msg`, following a rename by another client.
    fn open_message(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        self.just_opened = None;
        let (store, message) = locate(&self.store, &mut self.messages, msg)?;
        let file = open_file(store, message, msg.index, self.identity)?;
        self.just_opened = Some(msg.index);
        Ok(Box::new(file))
    }

    /// Counts one more measured message; the cache is saved when none is left to measure.
    fn measured(&mut self) {
        self.unmeasured -= 1;
        if self.unmeasured == 0 {
            self.save_sizes();
        }
    }

    /// Saves the size cache, if it changed; a failure only costs a later re-measurement.
    /// Runs with the identity the caller took on.
    fn save_sizes(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        if let Err(err) = self.sizes.save_if_changed(&store.root) {
            warn!(
                "{}: cannot save the size cache: {err}",
                store.path.display()
            );
        }
    }
}

/// The store and message `msg` (a listed message always has a store); a function of the two
/// fields, so that the others stay free to borrow.
fn locate<'a>(
    store: &'a Option<Arc<Store>>,
    messages: &'a mut [Message],
    msg: MessageRef<'_>,
) -> Result<(&'a Arc<Store>, &'a mut Message), PopError> {
    let no_message = || PopError::plain(format!("no message {}", msg.index + 1));
    let message = messages.get_mut(msg.index).ok_or_else(no_message)?;
    let store = store.as_ref().ok_or_else(no_message)?;
    Ok((store, message))
}

/// Opens `message` (number `index + 1`) as `identity`, following a rename by another client:
/// the one open behind `top`, `retrieve` and a [`DeferredMessage`].
pub fn open_file(
    store: &Store,
    message: &mut Message,
    index: usize,
    identity: Identity,
) -> Result<MessageFile, PopError> {
    let _as_user = enter(identity)?;
    match message.with_file(store, |dir, name| dir.open_file(name)) {
        Ok((file, len)) => Ok(MessageFile::new(file, len)),
        Err(err) => Err(message_error(&store.path, message, index, err)),
    }
}

/// The error for a message that could not be read: a plain `-ERR` for one that vanished (the
/// session goes on), otherwise logged with its path and mapped by kind.
fn message_error(maildir: &Path, message: &Message, index: usize, err: io::Error) -> PopError {
    if err.kind() == ErrorKind::NotFound {
        return PopError::plain(format!(
            "message {} was removed by another client",
            index + 1
        ));
    }
    warn!(
        "cannot read {}: {err}",
        message.location.path(maildir).display()
    );
    if crate::fs_at::is_refusal(&err) {
        // The mail user's doing, and no reason to end the session.
        return PopError::plain(format!("message {} cannot be read", index + 1));
    }
    PopError::from(err)
}

impl Mailbox for MaildirMailbox {
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        if !self.listed {
            let _as_user = enter(self.identity)?;
            if let Some(store) = &self.store {
                let snapshot = snapshot::take(store, self.options.uidl, self.options.size_cache)
                    .map_err(|e| {
                        PopError::temporary(format!("cannot list {}: {e}", store.path.display()))
                    })?;
                self.messages = snapshot.messages;
                self.sizes = snapshot.sizes;
                self.retrieved = vec![false; self.messages.len()];
                self.unmeasured = self.messages.iter().filter(|m| m.size.is_none()).count();
                // Entries of messages gone since are dropped; when every entry was used, none is.
                if snapshot.cache_hits < self.sizes.len() {
                    let current: HashSet<&str> = self.messages.iter().map(Message::base).collect();
                    self.sizes.retain(|base| current.contains(base));
                }
                debug!(
                    "{}: {} messages, {} to measure",
                    store.path.display(),
                    self.messages.len(),
                    self.unmeasured
                );
            }
            self.listed = true;
            if self.unmeasured == 0 {
                self.save_sizes();
            }
        }
        Ok(self
            .messages
            .iter()
            .map(|m| MessageInfo::new(m.uidl(), m.size))
            .collect())
    }

    fn size(&mut self, msg: MessageRef<'_>) -> Result<Option<u64>, PopError> {
        let _as_user = enter(self.identity)?;
        let (store, message) = locate(&self.store, &mut self.messages, msg)?;
        if let Some(size) = message.size {
            return Ok(Some(size));
        }
        // The host fails the whole login when a size is missing, so a message that cannot be
        // read (gone since the listing, or refused: not a regular file) is listed with size 0
        // and not cached: the others are served, and RETR of this one answers -ERR.
        let measured = message.with_file(store, |dir, name| {
            let (file, len) = dir.open_file(name)?;
            crlf_size(MessageFile::new(file, len))
        });
        let size = match measured {
            Ok(size) => {
                let base = message.base().to_string();
                self.sizes.insert(&base, size);
                size
            }
            Err(err) => {
                let error = message_error(&store.path, message, msg.index, err);
                debug!("{error}: listed with size 0");
                0
            }
        };
        self.messages[msg.index].size = Some(size);
        self.measured();
        Ok(Some(size))
    }

    /// Opens the message, or, when the previous call opened it (the host's `retrieve` owed
    /// for a RETR served from a prefetch), defers the open to the first read: see
    /// [`crate::deferred_open`].
    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let reader = if self.just_opened.take() == Some(msg.index) {
            let (store, message) = locate(&self.store, &mut self.messages, msg)?;
            Box::new(DeferredMessage::new(
                store.clone(),
                message.clone(),
                msg.index,
                self.identity,
            ))
        } else {
            self.open_message(msg)?
        };
        self.retrieved[msg.index] = true;
        Ok(reader)
    }

    /// The whole message, which the host cuts; unlike `retrieve` it does not count as reading
    /// the message, so TOP leaves the Seen flag alone (as in Dovecot).
    fn top(&mut self, msg: MessageRef<'_>, _lines: u32) -> Result<Option<MessageReader>, PopError> {
        self.open_message(msg).map(Some)
    }

    fn maildrop(&self) -> Option<Maildrop> {
        Some(Maildrop::Exclusive(self.path.display().to_string()))
    }

    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        let mut deleted = vec![false; self.messages.len()];
        for msg in msgs {
            *deleted
                .get_mut(msg.index)
                .ok_or_else(|| PopError::plain(format!("no message {}", msg.index + 1)))? = true;
        }
        let Some(store) = &self.store else {
            return Ok(()); // no maildir, no messages
        };
        let _as_user = enter(self.identity)?;
        let changes = Changes {
            deleted: &deleted,
            retrieved: &self.retrieved,
            flag_updates: self.options.flag_updates,
        };
        let failed = update::apply(store, &mut self.messages, &changes);
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
        match self.identity.enter() {
            Ok(_as_user) => self.save_sizes(),
            Err(err) => warn!("size cache not saved: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;

    fn maildir_of(messages: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        for (name, content) in messages {
            fs::write(dir.path().join("cur").join(name), content).unwrap();
        }
        dir
    }

    fn open(dir: &tempfile::TempDir) -> (MaildirMailbox, Vec<String>) {
        let options = Options {
            create: false,
            uidl: UidlMode::Filename,
            flag_updates: true,
            size_cache: false,
            virtual_users: false,
        };
        let mut mailbox =
            MaildirMailbox::open(dir.path().to_path_buf(), options, Identity::Own).unwrap();
        let ids = mailbox.list().unwrap().into_iter().map(|m| m.id).collect();
        (mailbox, ids)
    }

    fn index_of(ids: &[String], id: &str) -> usize {
        ids.iter().position(|i| i == id).unwrap()
    }

    /// The `retrieve` the host owes after a prefetch (a `top` of the same message) opens
    /// nothing: the file removed in between does not make it fail, only a read of it does, with
    /// the error an immediate open gives.
    #[test]
    fn a_retrieve_right_after_an_open_of_its_message_opens_it_only_when_read() {
        let dir = maildir_of(&[("1.a.h!2,", "one\n"), ("2.b.h!2,", "two\n")]);
        let (mut mailbox, ids) = open(&dir);
        let one = index_of(&ids, "1.a.h");
        let msg = MessageRef {
            index: one,
            id: &ids[one],
        };
        drop(mailbox.top(msg, u32::MAX).unwrap());
        fs::remove_file(dir.path().join("cur/1.a.h!2,")).unwrap();
        let mut reader = mailbox.retrieve(msg).expect("deferred: nothing opened yet");
        let error = PopError::from(reader.read(&mut [0; 16]).unwrap_err());
        assert_eq!(
            error.message,
            format!("message {} was removed by another client", one + 1)
        );
        // Not right after an open of it: opened at once, and so refused at once.
        assert!(mailbox.retrieve(msg).is_err());
    }

    #[test]
    fn a_deferred_retrieve_reads_the_whole_message() {
        let dir = maildir_of(&[("1.a.h!2,", "one\n"), ("2.b.h!2,", "two\nlines\n")]);
        let (mut mailbox, ids) = open(&dir);
        let two = index_of(&ids, "2.b.h");
        let msg = MessageRef {
            index: two,
            id: &ids[two],
        };
        drop(mailbox.top(msg, 0).unwrap());
        let mut text = String::new();
        mailbox
            .retrieve(msg)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "two\nlines\n");
        assert!(mailbox.retrieved[two] && !mailbox.retrieved[1 - two]);
    }
}
