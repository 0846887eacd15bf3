//! Prefetch (`pop3_plugin_api::Backend::PREFETCH`): after a RETR, the next message is opened
//! and its first chunk read on the blocking pool while the client is still taking the last
//! one. Clients download in order, so their next RETR usually finds its message read and
//! skips the hand-off to the pool and back, which is most of what a RETR of a message of
//! some hundred kilobytes costs besides copying.
//!
//! A prefetch holds the session's mailbox while it runs; every other use of the mailbox
//! waits for it first ([`Prefetch::finish`]). Its buffer counts against one budget for the
//! whole server, so that sessions idle after a RETR cannot pile up memory: when the budget
//! is spent, or no backend slot is free, there is simply no prefetch.

use super::backend::{fill, Backend, ChunkRead, Lending, Mailbox, ReadAhead, Reader};
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
    lending: Lending<MailboxHandle, Option<ChunkRead>>,
    _budget: OwnedSemaphorePermit,
}

impl Prefetch {
    /// Starts reading `next`, if the budget and a backend slot allow. The job first makes the
    /// `retrieve` call `owed` for a RETR served from the previous prefetch; `owed` is given
    /// back when nothing started.
    pub fn start(
        backend: &Backend,
        mailbox: &mut Mailbox,
        next: Transfer,
        owed: Option<Transfer>,
        budget: &Arc<Semaphore>,
    ) -> Result<Self, Option<Transfer>> {
        let chunk = ReadAhead::first_chunk(&next);
        let kib = u32::try_from(chunk.div_ceil(1024)).unwrap_or(u32::MAX);
        let Ok(budget) = budget.clone().try_acquire_many_owned(kib) else {
            return Err(owed);
        };
        let (request, paid) = (next.clone(), owed.clone());
        let lending = mailbox
            .try_lend(backend, move |m, turn| {
                work::retrieved(m, paid.as_ref());
                fill(
                    Reader::new(work::prefetch(m, &request)?, turn),
                    vec![0; chunk],
                )
                .ok()
            })
            .ok_or(owed)?;
        Ok(Self {
            transfer: next,
            lending,
            _budget: budget,
        })
    }

    /// Waits for the prefetch (at most the backend timeout) and gives the mailbox back to the
    /// session. Returns the message read when it is the one `wanted` sends; any other is
    /// dropped unread.
    pub async fn finish(
        self,
        backend: &Arc<Backend>,
        mailbox: &mut Mailbox,
        wanted: Option<&Transfer>,
    ) -> Option<ReadAhead> {
        let read = mailbox
            .take_back(backend, "prefetch", self.lending)
            .await
            .ok()??;
        let message = ReadAhead::from_first(backend.clone(), read);
        (wanted == Some(&self.transfer)).then_some(message)
    }
}
