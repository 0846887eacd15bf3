//! Backend calls from async code: every call runs on tokio's blocking pool, behind a
//! concurrency limit and a deadline, so a slow, hung or panicking plugin costs one session and
//! never an async worker.
//!
//! Plugin objects (a mailbox, a message reader) move into the blocking job and back out with
//! its result. A call that misses its deadline keeps its object: the session has lost it and
//! ends with `[SYS/TEMP]`, and the object is dropped (releasing the plugin's lock) whenever
//! the stuck call returns.

use super::work;
use crate::session::Transfer;
use pop3_plugin_api::host::{self, BackendHandle, MailboxHandle, ReaderHandle};
use pop3_plugin_api::PopError;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

pub struct Backend {
    pub name: String,
    handle: Arc<BackendHandle>,
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Calls running at once from which the backend counts as busy: one per CPU.
    busy_at: usize,
    timeout: Duration,
    /// Calls past their deadline that have not returned: their threads are lost for now, but
    /// their slots went back to the others.
    stuck: Arc<AtomicUsize>,
}

impl Backend {
    pub fn new(name: String, handle: BackendHandle, concurrency: usize, timeout: Duration) -> Self {
        Self {
            name,
            handle: Arc::new(handle),
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            busy_at: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout,
            stuck: Arc::default(),
        }
    }

    /// The plugin itself, for blocking callers outside the server (`pop3host check`).
    pub fn handle(&self) -> &BackendHandle {
        &self.handle
    }

    /// Runs `job` with the backend on the blocking pool. `callback` names it in logs.
    pub async fn call<T: Send + 'static>(
        &self,
        callback: &'static str,
        job: impl FnOnce(&BackendHandle) -> Result<T, PopError> + Send + 'static,
    ) -> Result<T, PopError> {
        let handle = self.handle.clone();
        self.run(callback, move || job(&handle)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        callback: &'static str,
        job: impl FnOnce() -> Result<T, PopError> + Send + 'static,
    ) -> Result<T, PopError> {
        let result = self.run_unlogged(job).await;
        if let Err(error) = &result {
            self.log_failure(callback, error);
        }
        result
    }

    async fn run_unlogged<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, PopError> + Send + 'static,
    ) -> Result<T, PopError> {
        let started = self.start(job).await?;
        self.finish(started).await
    }

    /// Starts `job` on the blocking pool once a slot is free, without waiting for it.
    async fn start<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, PopError> + Send + 'static,
    ) -> Result<Running<Result<T, PopError>>, PopError> {
        let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                PopError::temporary("too many backend calls at once (backend_concurrency)")
            })?
            .map_err(|_| PopError::temporary("server is shutting down"))?;
        // Checked once a slot is free: a slot may have come back from a call that got stuck.
        let stuck = self.stuck.load(Ordering::Relaxed);
        if stuck >= self.concurrency {
            tracing::error!(
                plugin = self.name,
                stuck,
                "the plugin is hung: every backend call is refused while {stuck} calls are stuck"
            );
            return Err(PopError::temporary(format!(
                "{stuck} backend calls stuck past their deadline"
            )));
        }
        Ok(self.spawn(permit, job))
    }

    /// Runs `job` on the blocking pool with its slot; the plugin learns when the host stops
    /// waiting (`pop3_plugin_api::call_deadline`), so that it can give up then too.
    fn spawn<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Running<T> {
        let deadline = Instant::now() + self.timeout;
        let slot = Arc::new(Slot {
            permit: Mutex::new(Some(permit)),
            stuck: self.stuck.clone(),
            abandoned: AtomicBool::new(false),
        });
        let held = slot.clone();
        let job = tokio::task::spawn_blocking(move || {
            let done = host::with_deadline(deadline, job);
            held.returned();
            done
        });
        Running { job, slot }
    }

    /// Waits for a started job, at most the backend timeout. Past it the call is stuck: its
    /// slot goes back to the other calls, and it is counted until it returns.
    async fn finish<T>(&self, started: Running<Result<T, PopError>>) -> Result<T, PopError> {
        let Running { job, slot } = started;
        let waited = tokio::time::timeout(self.timeout, job).await;
        if waited.is_err() {
            slot.abandon(&self.name, self.concurrency);
        }
        match waited {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(PopError::temporary(format!(
                "backend call failed: {join_error}"
            ))),
            Err(_) => Err(PopError::temporary(format!(
                "no answer within {}s (backend_timeout)",
                self.timeout.as_secs()
            ))),
        }
    }

    fn log_failure(&self, callback: &str, error: &PopError) {
        use pop3_plugin_api::ResponseCode;
        let plugin = self.name.as_str();
        match error.code {
            ResponseCode::SYS_TEMP | ResponseCode::SYS_PERM => {
                tracing::warn!(plugin, callback, code = ?error.code.as_str(), "backend call failed: {}", error.message)
            }
            _ => {
                tracing::debug!(plugin, callback, code = ?error.code.as_str(), "backend refused: {}", error.message)
            }
        }
    }
}

impl Drop for Backend {
    /// The last session of this plugin generation ended after a reload, or the server stops:
    /// the plugin hears it (`Backend::shutdown`) on the blocking pool, where closing its pools
    /// may block, and the value is dropped there after the last call that still holds it.
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let shutdown = move || handle.shutdown();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(shutdown)),
            Err(_) => shutdown(),
        }
    }
}

/// A call running on the blocking pool, with its concurrency slot.
pub struct Running<T> {
    job: JoinHandle<T>,
    slot: Arc<Slot>,
}

/// One call's share of `--backend-concurrency`: held until the call returns, or until its
/// deadline, whichever comes first, so that calls stuck in the plugin cannot starve the
/// greeting and every other user.
struct Slot {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    stuck: Arc<AtomicUsize>,
    abandoned: AtomicBool,
}

impl Slot {
    fn permit(&self) -> std::sync::MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        self.permit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The host stopped waiting: the slot goes back, and the call counts as stuck until it
    /// returns (unless it just did).
    fn abandon(&self, plugin: &str, limit: usize) {
        let mut permit = self.permit();
        if permit.take().is_some() {
            self.abandoned.store(true, Ordering::Relaxed);
            let stuck = self.stuck.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                plugin,
                stuck,
                "a backend call is stuck past its deadline; its slot is given back (at {limit} \
                 stuck calls every call is refused)"
            );
        }
    }

    /// The call returned.
    fn returned(&self) {
        let mut permit = self.permit();
        permit.take();
        if self.abandoned.load(Ordering::Relaxed) {
            let stuck = self.stuck.fetch_sub(1, Ordering::Relaxed) - 1;
            tracing::warn!(stuck, "a stuck backend call returned");
        }
    }
}

/// A session's turn on its mailbox. The plugin API promises one call at a time per mailbox,
/// its readers included, and a reader can outlive the command that opened it (a TOP that has
/// its lines, a prefetch nobody wanted, a read past its deadline): the reader carries the turn
/// until it is dropped, and the mailbox's next call waits for it.
pub type Turn = OwnedSemaphorePermit;

/// A plugin object owned by one session, lent to one blocking call at a time.
pub struct Lent<T: Send + 'static> {
    value: Option<T>,
    turn: Arc<Semaphore>,
}

pub type Mailbox = Lent<MailboxHandle>;

impl<T: Send + 'static> Lent<T> {
    pub fn new(value: T) -> Self {
        Self {
            value: Some(value),
            turn: Arc::new(Semaphore::new(1)),
        }
    }

    /// Waits, at most the backend timeout, for any reader of the object to be dropped.
    /// (The future holds no borrow of the object, which need not be `Sync`.)
    fn turn(&self, backend: &Backend) -> impl Future<Output = Result<Turn, PopError>> + 'static {
        let waiting = tokio::time::timeout(backend.timeout, self.turn.clone().acquire_owned());
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

    /// Runs `job` on the object in the blocking pool, once it has the turn, and takes the
    /// object back. The job may keep the turn, in the reader it opens.
    pub async fn call<R: Send + 'static>(
        &mut self,
        backend: &Backend,
        callback: &'static str,
        job: impl FnOnce(&mut T, Turn) -> Result<R, PopError> + Send + 'static,
    ) -> Result<R, PopError> {
        let turn = self.turn(backend).await?;
        let mut value = self.value.take().ok_or_else(lost)?;
        let (value, result) = backend
            .run(callback, move || {
                let result = job(&mut value, turn);
                Ok((value, result))
            })
            .await?;
        self.value = Some(value);
        if let Err(error) = &result {
            backend.log_failure(callback, error);
        }
        result
    }

    /// Starts `job` on the object without waiting for it, if no reader holds the turn and
    /// fewer backend calls than CPUs are running now: work the server may skip (speculation)
    /// must never queue behind, or take time from, the clients' own calls. The object is away
    /// until [`Lent::take_back`].
    pub fn try_lend<R: Send + 'static>(
        &mut self,
        backend: &Backend,
        job: impl FnOnce(&mut T, Turn) -> R + Send + 'static,
    ) -> Option<Lending<T, R>> {
        let running = backend.concurrency - backend.permits.available_permits();
        if running >= backend.busy_at {
            return None;
        }
        let turn = self.turn.clone().try_acquire_owned().ok()?;
        let permit = backend.permits.clone().try_acquire_owned().ok()?;
        let mut value = self.value.take()?;
        Some(Lending(Some(backend.spawn(permit, move || {
            let result = job(&mut value, turn);
            Ok((value, result))
        }))))
    }

    /// Waits for a job from [`Lent::try_lend`], at most the backend timeout, and takes the
    /// object back; after the deadline the object is lost.
    pub async fn take_back<R: Send + 'static>(
        &mut self,
        backend: &Backend,
        callback: &'static str,
        mut lending: Lending<T, R>,
    ) -> Result<R, PopError> {
        let job = lending.0.take().expect("a lending is taken back once");
        let (value, result) = backend
            .finish(job)
            .await
            .inspect_err(|e| backend.log_failure(callback, e))?;
        self.value = Some(value);
        Ok(result)
    }

    /// Whether an earlier call lost the object (the session cannot go on), or it is lent.
    pub fn is_lost(&self) -> bool {
        self.value.is_none()
    }
}

/// A job on a lent object, started by [`Lent::try_lend`] and not yet waited for.
pub struct Lending<T: Send + 'static, R: Send + 'static>(Option<Running<Result<(T, R), PopError>>>);

impl<T: Send + 'static, R: Send + 'static> Drop for Lending<T, R> {
    /// Never waited for (the session ended first): its result (a reader, say) and then its
    /// object are dropped on the pool once the job is done.
    fn drop(&mut self) {
        let (Some(job), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        drop(runtime.spawn(async move {
            if let Ok(Ok((value, result))) = job.job.await {
                drop_on_pool((result, value));
            }
        }));
    }
}

impl<T: Send + 'static> Lent<T> {
    /// Runs `job` with the object on the blocking pool for the last time, and waits: the
    /// object is gone when this returns (a mailbox has released the maildrop lock, which a
    /// client's next login must find released).
    pub async fn call_last<R: Send + 'static>(
        mut self,
        backend: &Backend,
        callback: &'static str,
        job: impl FnOnce(T) -> Result<R, PopError> + Send + 'static,
    ) -> Result<R, PopError> {
        let turn = self.turn(backend).await?;
        let value = self.value.take().ok_or_else(lost)?;
        backend
            .run(callback, move || {
                let result = job(value);
                drop(turn);
                result
            })
            .await
    }

    /// Drops the object on the blocking pool and waits until it is gone.
    pub async fn release(self, backend: &Backend) {
        if !self.is_lost() {
            let _ = self
                .call_last(backend, "drop", |value| {
                    drop(value);
                    Ok(())
                })
                .await;
        }
    }
}

impl<T: Send + 'static> Drop for Lent<T> {
    /// Dropped on the pool after its readers, whenever the last of them is gone.
    fn drop(&mut self) {
        let Some(value) = self.value.take() else {
            return;
        };
        let turn = self.turn.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move {
                let turn = turn.acquire_owned().await;
                drop_on_pool((value, turn));
            })),
            Err(_) => drop(value),
        }
    }
}

fn lost() -> PopError {
    PopError::temporary("lost after an earlier backend failure")
}

/// Dropping a plugin object runs plugin code (a mailbox releases its lock, a proxy's reader
/// closes a socket), which may block: do it on the blocking pool.
fn drop_on_pool<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(value))),
        Err(_) => drop(value),
    }
}

/// A message read from the backend one chunk ahead: while the driver encodes and writes one
/// chunk, the next is read on the blocking pool, so disk (or upstream) and socket overlap.
/// Two buffers of at most [`CHUNK`] octets per transfer, whatever the message size.
pub struct ReadAhead {
    backend: Arc<Backend>,
    next: Next,
    /// The chunk last returned; its buffer takes the read after the next one. Empty before
    /// the first chunk.
    current: Vec<u8>,
}

enum Next {
    /// Read already: the first chunk comes with opening the message.
    Ready(ChunkRead),
    Reading(Running<Result<ChunkRead, PopError>>),
    End,
}

/// A message reader with its mailbox's turn, which it gives back when dropped (after the
/// plugin's reader: fields drop in order).
pub struct Reader {
    handle: ReaderHandle,
    _turn: Turn,
}

impl Reader {
    pub fn new(handle: ReaderHandle, turn: Turn) -> Self {
        Self {
            handle,
            _turn: turn,
        }
    }
}

/// A finished read: the reader back (`None` at the end of the message), its buffer and how
/// much it filled.
pub type ChunkRead = (Option<Reader>, Vec<u8>, usize);

/// Fills `buf` from `reader` as far as the message goes: reading on to the end in the same
/// blocking call saves the hand-off that would only learn that the message has ended.
pub fn fill(mut reader: Reader, mut buf: Vec<u8>) -> Result<ChunkRead, PopError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.handle.read(&mut buf[filled..])? {
            0 => {
                drop(reader);
                return Ok((None, buf, filled));
            }
            n => filled += n,
        }
    }
    Ok((Some(reader), buf, filled))
}

/// Message octets read per backend call: large, because each call is a hand-off to the
/// blocking pool and back, whose thread switches cost more than the copying.
const CHUNK: usize = 512 * 1024;
const MIN_CHUNK: usize = 4096;

impl ReadAhead {
    /// Opens the message of a RETR or TOP and reads its first chunk in the same blocking call
    /// (one hand-off per message fewer). `owed` is a RETR served from a prefetch whose
    /// `retrieve` call is still due: it comes first.
    pub async fn open(
        backend: Arc<Backend>,
        mailbox: &mut Mailbox,
        transfer: &Transfer,
        owed: Option<Transfer>,
    ) -> Result<Self, PopError> {
        let callback = if transfer.top.is_some() {
            "top"
        } else {
            "retrieve"
        };
        let (request, chunk) = (transfer.clone(), Self::first_chunk(transfer));
        let first = mailbox
            .call(&backend, callback, move |m, turn| {
                work::retrieved(m, owed.as_ref());
                fill(Reader::new(work::open(m, &request)?, turn), vec![0; chunk])
            })
            .await?;
        Ok(Self::from_first(backend, first))
    }

    /// The size of the first chunk of `transfer`'s message, and of the buffers after it: no
    /// larger than the message needs.
    pub fn first_chunk(transfer: &Transfer) -> usize {
        usize::try_from(transfer.size).map_or(CHUNK, |size| size.clamp(MIN_CHUNK, CHUNK - 1) + 1)
    }

    /// A message whose first chunk is read already.
    pub fn from_first(backend: Arc<Backend>, first: ChunkRead) -> Self {
        Self {
            backend,
            next: Next::Ready(first),
            current: Vec::new(),
        }
    }

    /// The next chunk (empty at the end of the message); the read of the one after starts
    /// before this returns.
    pub async fn next(&mut self) -> Result<&[u8], PopError> {
        let (reader, mut buf, n) = match std::mem::replace(&mut self.next, Next::End) {
            Next::End => return Ok(&[]),
            Next::Ready(read) => read,
            Next::Reading(reading) => self
                .backend
                .finish(reading)
                .await
                .inspect_err(|e| self.backend.log_failure("retrieve", e))?,
        };
        std::mem::swap(&mut self.current, &mut buf);
        if let Some(reader) = reader {
            // The second buffer only for a message longer than one chunk.
            if buf.is_empty() {
                buf = vec![0; self.current.len()];
            }
            let reading = self.backend.start(move || fill(reader, buf)).await;
            self.next =
                Next::Reading(reading.inspect_err(|e| self.backend.log_failure("retrieve", e))?);
        }
        Ok(&self.current[..n])
    }
}

impl Drop for ReadAhead {
    /// A transfer that stops early (TOP has its lines, the client left) still owns its reader,
    /// maybe in a read in flight: it is dropped on the pool, and gives the mailbox its turn
    /// back then.
    fn drop(&mut self) {
        match std::mem::replace(&mut self.next, Next::End) {
            Next::Ready((Some(reader), _, _)) => drop_on_pool(reader),
            Next::Reading(reading) => drop(tokio::spawn(async move {
                if let Ok(Ok((Some(reader), _, _))) = reading.job.await {
                    drop_on_pool(reader);
                }
            })),
            _ => {}
        }
    }
}
