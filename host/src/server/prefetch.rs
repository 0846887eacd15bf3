//! Prefetch (`pop3_plugin_api::Backend::PREFETCH`): once a RETR has its message read (at once,
//! when its first chunk held it whole; else after the terminator), the next message is opened
//! and its first chunk read on the blocking pool while this one is sent and the client takes
//! it. Clients download in order, so their next RETR usually finds its message read and
//! skips the hand-off to the pool and back, which is most of what a RETR of a message of
//! some hundred kilobytes costs besides copying; started before the sending, the read is
//! done by the time the client asks, and the session's task is not woken once more to learn
//! it.
//!
//! A blocking call that reads a message that fits in one chunk (a prefetch's, or a RETR's own
//! in `super::mailbox`) reads the message after it too, into a buffer [`Reserved`] for it
//! beforehand: one hand-off to the pool for two messages, and the RETR of the second is
//! served without a call. Each hand-off costs the server futex wake-ups and thread switches
//! (`strace -f -c` of `bench/retr_cpu.py` at 8 clients: 6 futex calls per RETR before, 2.8
//! after; `perf`: about a tenth of the server's CPU before).
//!
//! A prefetch holds the session's mailbox while it runs; every other use of the mailbox
//! waits for it first ([`Prefetch::finish`]). Its buffers count against one budget for the
//! whole server (the whole buffers, which [`super::buffers`] may hand over a few times longer
//! than the messages need), so that sessions idle after a RETR cannot pile up memory: when the
//! budget is spent, or no backend slot is idle, there is simply no prefetch.

use super::buffers;
use super::calls::{Call, PluginCalls};
use super::mailbox::MailboxTurn;
use super::read_ahead::{FilledChunk, OpenMessage, ReadAhead, CHUNK};
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
    call: Call<MailboxHandle, (Option<Fetched>, Option<Fetched>)>,
}

/// A message read ahead in a blocking call: its first chunk and its share of the budget.
pub type Fetched = (Transfer, FilledChunk, OwnedSemaphorePermit);

/// A message read ahead, ready for its RETR: its reader keeps the share of the budget until
/// it is sent or dropped.
pub type Waiting = (Transfer, ReadAhead, OwnedSemaphorePermit);

/// A message to read ahead: its buffer, taken with its share of the budget.
pub struct Reserved {
    transfer: Transfer,
    buffer: Unread,
    chunk: usize,
    budget: OwnedSemaphorePermit,
}

/// A buffer not read into yet: dropped, it goes back for reuse.
struct Unread(Vec<u8>);

impl Drop for Unread {
    fn drop(&mut self) {
        buffers::give_back(std::mem::take(&mut self.0));
    }
}

impl Reserved {
    /// A buffer for `transfer`'s message, if the budget has room. A reused buffer may be
    /// longer than the message needs: the budget counts what it holds.
    pub fn new(transfer: Transfer, budget: &Arc<Semaphore>) -> Option<Self> {
        let chunk = ReadAhead::buffer_len(&transfer);
        let buffer = buffers::take(chunk);
        let kib = u32::try_from(buffer.len().div_ceil(1024)).unwrap_or(u32::MAX);
        let Ok(budget) = budget.clone().try_acquire_many_owned(kib) else {
            buffers::give_back(buffer);
            return None;
        };
        Some(Self {
            transfer,
            buffer: Unread(buffer),
            chunk,
            budget,
        })
    }

    /// Reserved for the message after `transfer`'s, to read in the same call, when
    /// `transfer`'s message fits in one chunk (and so gives the mailbox's turn back).
    pub fn after(transfer: &Transfer, next: Transfer, budget: &Arc<Semaphore>) -> Option<Self> {
        let whole = transfer.top.is_none() && transfer.size < (CHUNK - 1) as u64;
        whole.then(|| Self::new(next, budget)).flatten()
    }

    /// Opens the message through `top` and reads its first chunk, with the mailbox's turn.
    fn read(mut self, mailbox: &mut MailboxHandle, turn: MailboxTurn) -> Option<Fetched> {
        let reader = work::prefetch(mailbox, &self.transfer)?;
        let buffer = std::mem::take(&mut self.buffer.0);
        let first = OpenMessage::new(reader, turn)
            .fill(buffer, self.chunk)
            .ok()?;
        Some((self.transfer, first, self.budget))
    }

    /// In the call that read `before`, the message before this one: reads this one too if
    /// `before` was read whole and gave the mailbox's turn back, which it takes again.
    pub fn read_after(
        self,
        before: &FilledChunk,
        mailbox: &mut MailboxHandle,
        turns: &Arc<Semaphore>,
    ) -> Option<Fetched> {
        let turn = before
            .0
            .is_none()
            .then(|| turns.clone().try_acquire_owned().ok())
            .flatten()?;
        self.read(mailbox, turn)
    }
}

/// A message read ahead, as the RETR that sends it reads it.
pub fn waiting(calls: &Arc<PluginCalls>, (transfer, first, budget): Fetched) -> Waiting {
    let chunk = ReadAhead::buffer_len(&transfer);
    let message = ReadAhead::from_first(calls.clone(), first, chunk);
    (transfer, message, budget)
}

impl Prefetch {
    /// Starts reading `next` (and `after` it, when `next` fits in one chunk) with the mailbox
    /// and its turn, if the budget and an idle slot allow; else gives the mailbox and `owed`
    /// back. The job first makes the `retrieve` calls `owed` for RETRs served from earlier
    /// prefetches. Errors are left for the client's own RETR to meet.
    pub fn start(
        calls: &PluginCalls,
        mailbox: MailboxHandle,
        turn: MailboxTurn,
        next: Transfer,
        after: Option<Transfer>,
        owed: Vec<Transfer>,
        budget: &Arc<Semaphore>,
    ) -> Result<Self, (MailboxHandle, Vec<Transfer>)> {
        let transfer = next.clone();
        let (Some(first), Some(slot)) = (Reserved::new(next, budget), calls.idle_slot()) else {
            return Err((mailbox, owed));
        };
        let second = after.and_then(|after| Reserved::after(&transfer, after, budget));
        let call = calls.spawn("prefetch", slot, mailbox, move |mailbox| {
            work::retrieve_owed(mailbox, &owed);
            let turns = turn.semaphore().clone();
            let first = first.read(mailbox, turn);
            let second = first
                .as_ref()
                .zip(second)
                .and_then(|((_, before, _), second)| second.read_after(before, mailbox, &turns));
            Ok((first, second))
        });
        Ok(Self { transfer, call })
    }

    /// Waits for the prefetch (at most the backend timeout) and gives the mailbox back,
    /// unless the prefetch got stuck with it. Returns what it read when it read the message
    /// `wanted` sends, with the message after it if the same call read that too; anything
    /// else is dropped unread.
    pub async fn finish(
        self,
        calls: &Arc<PluginCalls>,
        wanted: Option<&Transfer>,
    ) -> (Option<MailboxHandle>, Option<(ReadAhead, Option<Waiting>)>) {
        let (mailbox, read) = self.call.finish(calls).await;
        // Every message read becomes a reader at once: dropped, it gives its buffers back and
        // drops its plugin reader on the pool.
        let (first, second) = read.unwrap_or((None, None));
        let first = first.map(|fetched| waiting(calls, fetched));
        let second = second.map(|fetched| waiting(calls, fetched));
        let read = match first {
            Some((_, message, _budget)) if wanted == Some(&self.transfer) => {
                Some((message, second))
            }
            _ => None,
        };
        (mailbox, read)
    }
}
