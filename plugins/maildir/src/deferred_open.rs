//! The reader `retrieve` returns for the message the mailbox's previous opening call opened
//! already: it opens the file only when it is first read.
//!
//! The host serves a RETR from its prefetch (a `top` of the next message) and then still makes
//! the `retrieve` call it owes, dropping the reader unread, so that the Seen flag is recorded
//! (see `pop3_plugin_api::Backend::PREFETCH`). Opening the file for that call again would cost
//! an `openat`, an `fstat`, a `close` and the two switches of the file-system identity around
//! them, about a dozen system calls per message for bytes nobody reads. A reader that opens on
//! its first read costs none of them when it is dropped unread, and still reads the message
//! when it is read (a client's `TOP n` followed by `RETR n`).
//!
//! The open is the same one `top` and an eager `retrieve` make, with the same guarantees: it
//! runs as the mail user's identity, through the directory handles opened at login with no
//! symlink followed ([`crate::fs_at`]), follows a rename by another client, and bounds the
//! message to its length at open ([`MessageFile`]). The mailbox's turn is held by whoever holds
//! the reader (the host's promise), so the open happens while no other call runs on the
//! mailbox, as it would inside `retrieve`. An error of the open comes back from the first read
//! as the `PopError` an eager `retrieve` would have returned; the host reads the first chunk in
//! the same blocking call as the open, before its status line, so the client gets the same
//! `-ERR`.
//!
//! Only the message opened by the previous call is deferred: it was readable a moment ago, so
//! `retrieve` records it as retrieved as it would have after opening it. Should it vanish or
//! turn unreadable in between, the read fails as an eager open would have, and the Seen rename
//! at QUIT finds no file (and does nothing) or renames the entry the mail user put in its place
//! within their own maildir (never following it).

use crate::fs_identity::Identity;
use crate::mailbox::open_file;
use crate::message::Message;
use crate::message_reader::MessageFile;
use crate::store::Store;
use std::io::{self, Read};
use std::sync::Arc;

pub struct DeferredMessage {
    store: Arc<Store>,
    message: Message,
    index: usize,
    identity: Identity,
    /// `None` until the first read.
    file: Option<MessageFile>,
}

impl DeferredMessage {
    /// The reader of `message` (number `index + 1` of the session), opened as `identity` when
    /// first read.
    pub fn new(store: Arc<Store>, message: Message, index: usize, identity: Identity) -> Self {
        Self {
            store,
            message,
            index,
            identity,
            file: None,
        }
    }
}

impl Read for DeferredMessage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let opened = open_file(&self.store, &mut self.message, self.index, self.identity)
                    .map_err(io::Error::other)?;
                self.file.insert(opened)
            }
        };
        file.read(buf)
    }
}
