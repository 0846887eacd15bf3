//! One session's maildrop, as the host sees it through [`Mailbox`]. Every callback first runs
//! the faults configured for it, then serves the shared [`Maildrop`](crate::maildrop::Maildrop).

use crate::faults::{Callback, Faults};
use crate::maildrop::Lock;
use crate::messages::Message;
use crate::one_call::{InCall, OneCall};
use crate::tripwire::Tripwire;
use pop3_plugin_api::{Mailbox, Maildrop, MessageInfo, MessageReader, MessageRef, PopError};
use std::sync::Arc;

pub struct StaticMailbox {
    /// Released when the mailbox is dropped, after [`Drop`] ran (even if it panicked).
    lock: Lock,
    faults: Arc<Faults>,
    turn: OneCall,
}

impl StaticMailbox {
    pub(crate) fn new(lock: Lock, faults: Arc<Faults>) -> Self {
        Self {
            lock,
            faults,
            turn: OneCall::default(),
        }
    }

    fn user(&self) -> Option<&str> {
        Some(&self.lock.account.name)
    }

    /// Starts `callback`: checks that no other call on this mailbox runs, then fires its
    /// faults.
    fn enter(&self, callback: Callback) -> Result<InCall, PopError> {
        let call = self.turn.enter(callback.name())?;
        self.faults.fire(callback, self.user())?;
        Ok(call)
    }

    /// Looked up by id: the host's index counts only the messages listed at login.
    fn message(&self, msg: MessageRef<'_>) -> Result<&Message, PopError> {
        let found = self.lock.remaining().into_iter().find(|m| m.id == msg.id);
        found.ok_or_else(|| PopError::plain(format!("no such message: {}", msg.id)))
    }
}

impl Mailbox for StaticMailbox {
    fn maildrop(&self) -> Option<Maildrop> {
        let account = &self.lock.account;
        let name = account.name.clone();
        Some(if account.exclusive {
            Maildrop::Exclusive(name)
        } else {
            Maildrop::Shared(name)
        })
    }

    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        let _call = self.enter(Callback::List)?;
        // With a `size` fault, sizes are left out so that the host calls `size` and meets it.
        let sizes = !self.faults.has(Callback::Size, self.user());
        let info = |m: &&Message| MessageInfo::new(&m.id, sizes.then_some(m.size));
        Ok(self.lock.remaining().iter().map(info).collect())
    }

    fn size(&mut self, msg: MessageRef<'_>) -> Result<Option<u64>, PopError> {
        let _call = self.enter(Callback::Size)?;
        Ok(Some(self.message(msg)?.size))
    }

    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let _call = self.enter(Callback::Retrieve)?;
        let reader = self.message(msg)?.source.open()?;
        if !self.faults.has(Callback::Read, self.user()) {
            return Ok(self.turn.reader(reader));
        }
        let user = self.lock.account.name.clone();
        let faults = Arc::clone(&self.faults);
        Ok(self
            .turn
            .reader(Box::new(Tripwire::new(reader, faults, user))))
    }

    /// Always `None`: every message is cheap to read from the start, so the host's cut of
    /// `retrieve` costs nothing worth a second code path.
    fn top(
        &mut self,
        _msg: MessageRef<'_>,
        _lines: u32,
    ) -> Result<Option<MessageReader>, PopError> {
        let _call = self.enter(Callback::Top)?;
        Ok(None)
    }

    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        let _call = self.enter(Callback::Delete)?;
        let ids: Vec<&str> = msgs.iter().map(|m| m.id).collect();
        self.lock.delete(&ids)
    }
}

impl Drop for StaticMailbox {
    /// Runs the `drop` faults while the session still holds the lock, as a slow or crashing
    /// close would.
    fn drop(&mut self) {
        let _call = self.turn.enter("drop");
        self.faults.fire_infallible(Callback::Drop, self.user());
    }
}
