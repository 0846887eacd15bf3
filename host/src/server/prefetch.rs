//! Prefetch (`pop3_plugin_api::Backend::PREFETCH`): once a RETR has its message read (at once,
//! when its first chunk held it whole; else after the terminator), the next message is opened
//! and its first chunk read on the blocking pool while this one is sent and the client takes
//! it. Clients download in order, so their next RETR usually finds its message read and
//! skips the hand-off to the pool and back, which is most of what a RETR of a message of
//! some hundred kilobytes costs besides copying; started before the sending, the read is
//! done by the time the client asks, and the session's task is not woken once more to learn
//! it.
//!
//! A prefetch holds the session's mailbox while it runs; every other use of the mailbox
//! waits for it first ([`Prefetch::finish`]). Its buffer counts against one budget for the
//! whole server (the whole buffer, which [`super::buffers`] may hand over a few times longer
//! than the message needs), so that sessions idle after a RETR cannot pile up memory: when the budget
//! is spent, or no backend slot is idle, there is simply no prefetch.

use super::buffers;
use super::calls::{Call, PluginCalls};
use super::mailbox::MailboxTurn;
use super::read_ahead::{FilledChunk, OpenMessage, ReadAhead};
use super::work;
use crate::session::Transfer;
use pop3_plugin_api::host::MailboxHandle;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Prefetch buffers held at once, server-wide, in KiB.
pub const BUDGET_KIB: usize = 64 * 1024;

pub struct Prefetch {
    /// The RETR it reads for.
    transfer: Transfer,
    call: Call<MailboxHandle, Option<FilledChunk>>,
    _budget: OwnedSemaphorePermit,
}

impl Prefetch {
    /// Starts reading `next` with the mailbox and its turn, if the budget and an idle slot
    /// allow; else gives the mailbox and `owed` back. The job first makes the `retrieve` call
    /// `owed` for a RETR served from the previous prefetch. Errors are left for the client's
    /// own RETR to meet.
    pub fn start(
        calls: &PluginCalls,
        mailbox: MailboxHandle,
        turn: MailboxTurn,
        next: Transfer,
        owed: Option<Transfer>,
        budget: &Arc<Semaphore>,
    ) -> Result<Self, (MailboxHandle, Option<Transfer>)> {
        let chunk = ReadAhead::buffer_len(&next);
        // A reused buffer may be longer than this message needs: the budget counts what it
        // holds.
        let buffer = buffers::take(chunk);
        let kib = u32::try_from(buffer.len().div_ceil(1024)).unwrap_or(u32::MAX);
        let Ok(budget) = budget.clone().try_acquire_many_owned(kib) else {
            buffers::give_back(buffer);
            return Err((mailbox, owed));
        };
        let Some(slot) = calls.idle_slot() else {
            buffers::give_back(buffer);
            return Err((mailbox, owed));
        };
        let request = next.clone();
        let call = calls.spawn("prefetch", slot, mailbox, move |mailbox| {
            work::retrieve_owed(mailbox, owed.as_ref());
            let Some(reader) = work::prefetch(mailbox, &request) else {
                buffers::give_back(buffer);
                return Ok(None);
            };
            Ok(OpenMessage::new(reader, turn).fill(buffer, chunk).ok())
        });
        Ok(Self {
            transfer: next,
            call,
            _budget: budget,
        })
    }

    /// Waits for the prefetch (at most the backend timeout) and gives the mailbox back,
    /// unless the prefetch got stuck with it. Returns the message read when it is the one
    /// `wanted` sends; any other is dropped unread.
    pub async fn finish(
        self,
        calls: &Arc<PluginCalls>,
        wanted: Option<&Transfer>,
    ) -> (Option<MailboxHandle>, Option<ReadAhead>) {
        let (mailbox, read) = self.call.finish(calls).await;
        let message = read.ok().flatten().map(|first| {
            ReadAhead::from_first(calls.clone(), first, ReadAhead::buffer_len(&self.transfer))
        });
        let wanted = wanted == Some(&self.transfer);
        (mailbox, message.filter(|_| wanted))
    }
}
