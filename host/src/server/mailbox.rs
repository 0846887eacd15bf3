//! A logged-in session's mailbox in the plugin, and every call the session makes on it: open
//! a message (RETR, TOP), prefetch the next one, delete at QUIT, release. The driver asks; this
//! module decides what each call carries along:
//!
//! - the mailbox's turn: the plugin API promises one call at a time per mailbox, its readers
//!   included, and a reader can outlive the command that opened it (a TOP that has its lines,
//!   a prefetch nobody wanted, a read past its deadline). The reader carries the turn until it
//!   is dropped, and the mailbox's next call waits for it;
//! - a prefetch in flight, which holds the mailbox: every other call waits for it first; and
//!   the message after, which a prefetch may read in the same call, kept for the next RETR;
//! - the owed retrieves: a RETR served from a prefetch still owes the plugin its `retrieve`
//!   call (so that what the plugin records stays exact); the next call on the mailbox makes
//!   them first, in the same blocking job.

use super::buffers;
use super::calls::{drop_on_pool, Call, PluginCalls};
use super::prefetch::{self, Prefetch, Reserved, Waiting};
use super::read_ahead::{OpenMessage, ReadAhead};
use super::work;
use crate::session::Transfer;
use pop3_plugin_api::host::MailboxHandle;
use pop3_plugin_api::PopError;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A session's turn on its mailbox: whoever holds it may call into the mailbox or its reader.
pub type MailboxTurn = OwnedSemaphorePermit;

pub struct SessionMailbox {
    calls: Arc<PluginCalls>,
    /// `None` while a call has it (a prefetch), or for good once a call got stuck with it.
    handle: Option<MailboxHandle>,
    turn: Arc<Semaphore>,
    prefetch: Option<Prefetch>,
    /// The message after the one a finished prefetch was for, read by the same call, with its
    /// share of the prefetch budget. No prefetch starts while it waits.
    after: Option<Waiting>,
    /// RETRs served from a prefetch, whose `retrieve` calls the next call makes first.
    owed_retrieves: Vec<Transfer>,
}

impl SessionMailbox {
    pub fn new(calls: Arc<PluginCalls>, handle: MailboxHandle) -> Self {
        Self {
            calls,
            handle: Some(handle),
            turn: Arc::new(Semaphore::new(1)),
            prefetch: None,
            after: None,
            owed_retrieves: Vec::new(),
        }
    }

    /// Whether a call got stuck with the mailbox: the session cannot go on.
    pub fn is_lost(&self) -> bool {
        self.handle.is_none()
    }

    /// RETR and TOP: the message from the prefetch when it read this one, else opened now,
    /// with its first chunk read in the same blocking call (one hand-off per message fewer).
    /// `after`, the message a client downloading in order asks for next (given only where the
    /// plugin allows prefetch), is read in that call too when this one fits in one chunk and
    /// the prefetch budget has room: its RETR then needs no call.
    pub async fn open(
        &mut self,
        transfer: &Transfer,
        after: Option<Transfer>,
        budget: &Arc<Semaphore>,
    ) -> Result<ReadAhead, PopError> {
        if let Some(message) = self.finish_prefetch(Some(transfer)).await {
            tracing::debug!(message = transfer.id, "served from a prefetch");
            self.owed_retrieves.push(transfer.clone());
            return Ok(message);
        }
        let callback = if transfer.top.is_some() {
            "top"
        } else {
            "retrieve"
        };
        let (request, chunk) = (transfer.clone(), ReadAhead::buffer_len(transfer));
        let after = after.and_then(|after| Reserved::after(transfer, after, budget));
        let open = move |mailbox: &mut MailboxHandle, turn: MailboxTurn| {
            let turns = turn.semaphore().clone();
            let reader = work::open(mailbox, &request)?;
            let first = OpenMessage::new(reader, turn).fill(buffers::take(chunk), chunk)?;
            let after = after.and_then(|after| after.read_after(&first, mailbox, &turns));
            Ok((first, after))
        };
        let (first, after) = self.call(callback, open).await?;
        self.after = after.map(|fetched| prefetch::waiting(&self.calls, fetched));
        Ok(ReadAhead::from_first(self.calls.clone(), first, chunk))
    }

    /// For a RETR whose message is read: starts reading `next`, the message a client
    /// downloading in order asks for next (and `after` it, see [`Prefetch::start`]), if the
    /// budget and an idle slot allow, no reader holds the turn and no prefetch is running or
    /// waits to be sent.
    pub fn start_prefetch(
        &mut self,
        next: Transfer,
        after: Option<Transfer>,
        budget: &Arc<Semaphore>,
    ) {
        if self.has_prefetch() {
            return;
        }
        let Ok(turn) = self.turn.clone().try_acquire_owned() else {
            return;
        };
        let Some(handle) = self.handle.take() else {
            return;
        };
        let owed = std::mem::take(&mut self.owed_retrieves);
        match Prefetch::start(&self.calls, handle, turn, next, after, owed, budget) {
            Ok(prefetch) => self.prefetch = Some(prefetch),
            Err((handle, owed)) => {
                self.handle = Some(handle);
                self.owed_retrieves = owed;
            }
        }
    }

    /// Waits for a running prefetch and takes the mailbox back; returns the message read if
    /// it is the one `wanted` sends (any other is dropped unread), from the prefetch or kept
    /// from the last one.
    pub async fn finish_prefetch(&mut self, wanted: Option<&Transfer>) -> Option<ReadAhead> {
        if let Some((transfer, message, _budget)) = self.after.take() {
            let served = wanted == Some(&transfer);
            if served {
                tracing::debug!(message = transfer.id, "read with the message before it");
            }
            return served.then_some(message);
        }
        let (handle, prefetched) = self.prefetch.take()?.finish(&self.calls, wanted).await;
        self.handle = handle;
        let (message, after) = prefetched?;
        self.after = after;
        Some(message)
    }

    /// Whether a prefetch is running or read.
    pub fn has_prefetch(&self) -> bool {
        self.prefetch.is_some() || self.after.is_some()
    }

    /// UPDATE: deletes `marked` (as the session lists them), then drops the mailbox, which
    /// releases the plugin's lock; both in one call, so that the lock is free before the
    /// client hears the reply (RFC 1939 §6).
    pub async fn update(mut self, marked: Vec<(usize, String)>) -> Result<(), PopError> {
        self.finish_prefetch(None).await;
        let owed = std::mem::take(&mut self.owed_retrieves);
        self.call_consuming("delete", move |mut mailbox| {
            work::retrieve_owed(&mut mailbox, &owed);
            work::update(mailbox, &marked)
        })
        .await
    }

    /// A session's end without UPDATE: makes any owed retrieve, then drops the mailbox on the
    /// blocking pool and waits until it is gone (it has released the plugin's lock, which a
    /// client's next login must find released).
    pub async fn release(mut self) {
        self.finish_prefetch(None).await;
        if !self.is_lost() {
            let owed = std::mem::take(&mut self.owed_retrieves);
            let _ = self
                .call_consuming("drop", move |mut mailbox| {
                    work::retrieve_owed(&mut mailbox, &owed);
                    drop(mailbox);
                    Ok(())
                })
                .await;
        }
    }

    /// Runs `job` on the mailbox once it has the turn, after the owed retrieve, and takes the
    /// mailbox back. The job may keep the turn, in the reader it opens.
    async fn call<R: Send + 'static>(
        &mut self,
        callback: &'static str,
        job: impl FnOnce(&mut MailboxHandle, MailboxTurn) -> Result<R, PopError> + Send + 'static,
    ) -> Result<R, PopError> {
        let call = match (self.wait_for_turn().await, self.handle.take()) {
            (Ok(turn), Some(handle)) => {
                let owed = std::mem::take(&mut self.owed_retrieves);
                let job = move |mailbox: &mut MailboxHandle| {
                    work::retrieve_owed(mailbox, &owed);
                    job(mailbox, turn)
                };
                self.calls.start(callback, handle, job).await
            }
            (Err(error), handle) => Call::refused(callback, handle, error),
            (Ok(_), None) => Call::refused(callback, None, lost()),
        };
        let (handle, result) = call.finish(&self.calls).await;
        self.handle = handle;
        result
    }

    /// Runs `job` with the mailbox for the last time, once it has the turn, and waits: the
    /// mailbox is gone when this returns.
    async fn call_consuming<R: Send + 'static>(
        &mut self,
        callback: &'static str,
        job: impl FnOnce(MailboxHandle) -> Result<R, PopError> + Send + 'static,
    ) -> Result<R, PopError> {
        let call = match (self.wait_for_turn().await, self.handle.take()) {
            (Ok(turn), Some(handle)) => {
                let job = move |_: &mut ()| {
                    let result = job(handle);
                    drop(turn);
                    result
                };
                self.calls.start(callback, (), job).await
            }
            (Err(error), handle) => {
                self.handle = handle;
                Call::refused(callback, None, error)
            }
            (Ok(_), None) => Call::refused(callback, None, lost()),
        };
        call.finish(&self.calls).await.1
    }

    /// Waits, at most the backend timeout, for any reader of the mailbox to be dropped.
    /// (The future holds no borrow of the mailbox, which need not be `Sync`.)
    fn wait_for_turn(&self) -> impl Future<Output = Result<MailboxTurn, PopError>> + 'static {
        let waiting = tokio::time::timeout(self.calls.timeout, self.turn.clone().acquire_owned());
        async move {
            match waiting.await {
                Ok(Ok(turn)) => Ok(turn),
                Ok(Err(_)) => Err(lost()),
                Err(_) => Err(PopError::temporary(
                    "a read of this mailbox is still running past its deadline",
                )),
            }
        }
    }
}

impl Drop for SessionMailbox {
    /// Dropped on the pool after its readers, whenever the last of them is gone. (A prefetch
    /// in flight drops the mailbox it holds itself.)
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        let turn = self.turn.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move {
                let turn = turn.acquire_owned().await;
                drop_on_pool((handle, turn));
            })),
            Err(_) => drop(handle),
        }
    }
}

fn lost() -> PopError {
    PopError::temporary("lost after an earlier backend failure")
}
