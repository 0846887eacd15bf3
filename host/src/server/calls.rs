//! Every call into the plugin from async code goes through here: it runs on tokio's blocking
//! pool, in one of `--backend-concurrency` slots, by a deadline (`--backend-timeout`), so a
//! slow, hung or panicking plugin costs one session and never an async worker.
//!
//! [`PluginCalls::spawn`] is the one place that starts a call on the pool, [`Call::finish`]
//! the one place that waits for it, and `Call::log_failure` the one place that logs a failure,
//! whatever failed: no free slot, the deadline, or the plugin's own error.
//!
//! A call may borrow a plugin object (a mailbox): the object moves into the blocking job and
//! back out with its result. A call that misses its deadline keeps its object: the session has
//! lost it and ends with `[SYS/TEMP]`, and the object is dropped (releasing the plugin's lock)
//! whenever the stuck call returns.

use crate::descriptors;
use crate::metrics::metrics;
use pop3_plugin_api::host::{self, BackendHandle};
use pop3_plugin_api::{PopError, ResponseCode};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// How plugin-api's export glue begins the error of a caught panic.
const PANIC_TEXT: &str = "plugin panicked in ";

/// An initialised plugin and the slots its calls run in.
pub struct PluginCalls {
    pub name: String,
    handle: Arc<BackendHandle>,
    slots: Arc<Semaphore>,
    concurrency: usize,
    /// Calls running at once from which the plugin counts as busy: one per CPU.
    busy_at: usize,
    pub timeout: Duration,
    /// Calls past their deadline that have not returned: their threads are lost for now, but
    /// their slots went back to the others.
    stuck: Arc<AtomicUsize>,
}

/// One of `--backend-concurrency` slots, before its call starts.
pub struct FreeSlot(OwnedSemaphorePermit);

impl PluginCalls {
    pub fn new(name: String, handle: BackendHandle, concurrency: usize, timeout: Duration) -> Self {
        Self {
            name,
            handle: Arc::new(handle),
            slots: Arc::new(Semaphore::new(concurrency)),
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

    /// Whether every call is refused, because as many calls as there are slots are stuck.
    pub fn is_hung(&self) -> bool {
        self.stuck.load(Ordering::Relaxed) >= self.concurrency
    }

    /// Runs `job` with the plugin's backend and waits for it.
    pub async fn run<T: Send + 'static>(
        &self,
        callback: &'static str,
        job: impl FnOnce(&BackendHandle) -> Result<T, PopError> + Send + 'static,
    ) -> Result<T, PopError> {
        let handle = self.handle.clone();
        let call = self.start(callback, (), move |_| job(&handle)).await;
        call.finish(self).await.1
    }

    /// Starts `job` on `object` once a slot is free (waiting at most the backend timeout),
    /// without waiting for the job.
    pub async fn start<O: Send + 'static, T: Send + 'static>(
        &self,
        callback: &'static str,
        object: O,
        job: impl FnOnce(&mut O) -> Result<T, PopError> + Send + 'static,
    ) -> Call<O, T> {
        match self.slot().await {
            Ok(slot) => self.spawn(callback, slot, object, job),
            Err(error) => Call::refused(callback, Some(object), error),
        }
    }

    /// A free slot, waiting at most the backend timeout for one.
    async fn slot(&self) -> Result<FreeSlot, PopError> {
        let permit = tokio::time::timeout(self.timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                PopError::temporary("too many backend calls at once (backend_concurrency)")
            })?
            .map_err(|_| PopError::temporary("server is shutting down"))?;
        // Checked once a slot is free: a slot may have come back from a call that got stuck.
        if self.is_hung() {
            let stuck = self.stuck.load(Ordering::Relaxed);
            tracing::error!(
                plugin = self.name,
                stuck,
                "the plugin is hung: every backend call is refused while {stuck} calls are stuck"
            );
            return Err(PopError::temporary(format!(
                "{stuck} backend calls stuck past their deadline"
            )));
        }
        Ok(FreeSlot(permit))
    }

    /// A slot for work the server may skip (speculation), if one is free now and fewer calls
    /// than CPUs are running: such work must never queue behind, or take time from, the
    /// clients' own calls.
    pub fn idle_slot(&self) -> Option<FreeSlot> {
        let running = self.concurrency - self.slots.available_permits();
        if running >= self.busy_at {
            return None;
        }
        self.slots.clone().try_acquire_owned().ok().map(FreeSlot)
    }

    /// Runs `job` on `object` on the blocking pool in `slot`; the plugin learns when the host
    /// stops waiting (`pop3_plugin_api::call_deadline`), so that it can give up then too.
    pub fn spawn<O: Send + 'static, T: Send + 'static>(
        &self,
        callback: &'static str,
        slot: FreeSlot,
        mut object: O,
        job: impl FnOnce(&mut O) -> Result<T, PopError> + Send + 'static,
    ) -> Call<O, T> {
        let deadline = Instant::now() + self.timeout;
        let slot = Arc::new(CallSlot {
            permit: Mutex::new(Some(slot.0)),
            stuck: self.stuck.clone(),
            abandoned: AtomicBool::new(false),
        });
        let held = slot.clone();
        let job = tokio::task::spawn_blocking(move || {
            let result = host::with_deadline(deadline, || job(&mut object));
            held.returned();
            (object, result)
        });
        Call {
            callback,
            state: CallState::Running {
                job,
                slot,
                started: Instant::now(),
            },
        }
    }
}

impl Drop for PluginCalls {
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

/// A plugin call on an object `O` with the result `T`: running on the blocking pool, or
/// refused before it started.
pub struct Call<O: Send + 'static, T: Send + 'static> {
    /// The plugin callback it makes, for the log.
    callback: &'static str,
    state: CallState<O, T>,
}

enum CallState<O, T> {
    Running {
        job: JoinHandle<(O, Result<T, PopError>)>,
        slot: Arc<CallSlot>,
        started: Instant,
    },
    Refused(Option<O>, PopError),
    Finished,
}

impl<O: Send + 'static, T: Send + 'static> Call<O, T> {
    /// A call that cannot start; `object` goes back to the caller with the error.
    pub fn refused(callback: &'static str, object: Option<O>, error: PopError) -> Self {
        Self {
            callback,
            state: CallState::Refused(object, error),
        }
    }

    /// The call, if it started; a call refused before it started ends here with its error.
    pub fn started(mut self, calls: &PluginCalls) -> Result<Self, PopError> {
        match std::mem::replace(&mut self.state, CallState::Finished) {
            CallState::Refused(object, error) => {
                drop_on_pool(object);
                self.log_failure(calls, &error);
                metrics().backend_call(self.callback, "refused", None);
                Err(error)
            }
            running => {
                self.state = running;
                Ok(self)
            }
        }
    }

    /// Waits for the call, at most the backend timeout. Past the deadline the call is stuck:
    /// its slot goes back to the other calls, it is counted until it returns, and it keeps
    /// its object. Otherwise the object comes back, whatever the result.
    pub async fn finish(mut self, calls: &PluginCalls) -> (Option<O>, Result<T, PopError>) {
        let (ended, outcome, took) = match std::mem::replace(&mut self.state, CallState::Finished) {
            CallState::Running { job, slot, started } => {
                let (ended, outcome) = match tokio::time::timeout(calls.timeout, job).await {
                    Ok(Ok((object, result))) => {
                        let outcome = match &result {
                            Ok(_) => "ok",
                            Err(error) if error.message.starts_with(PANIC_TEXT) => "panic",
                            Err(_) => "error",
                        };
                        ((Some(object), result), outcome)
                    }
                    Ok(Err(join_error)) => {
                        let why = format!("backend call failed: {join_error}");
                        ((None, Err(PopError::temporary(why))), "panic")
                    }
                    Err(_) => {
                        slot.abandon(&calls.name, calls.concurrency);
                        let why = format!(
                            "no answer within {}s (backend_timeout)",
                            calls.timeout.as_secs()
                        );
                        ((None, Err(PopError::temporary(why))), "timeout")
                    }
                };
                (ended, outcome, Some(started.elapsed()))
            }
            CallState::Refused(object, error) => ((object, Err(error)), "refused", None),
            CallState::Finished => unreachable!("a call is finished once"),
        };
        metrics().backend_call(self.callback, outcome, took);
        if let Err(error) = &ended.1 {
            self.log_failure(calls, error);
        }
        ended
    }

    /// The one place that logs a plugin call's failure, whatever failed: no slot, the
    /// deadline, or the plugin's own error.
    fn log_failure(&self, calls: &PluginCalls, error: &PopError) {
        let (plugin, callback, code) = (calls.name.as_str(), self.callback, error.code.as_str());
        let text = &error.message;
        match error.code {
            ResponseCode::SYS_TEMP | ResponseCode::SYS_PERM => {
                tracing::warn!(plugin, callback, ?code, "backend call failed: {text}");
                if descriptors::ran_out(text) {
                    descriptors::report_shortage(callback);
                }
            }
            _ => tracing::debug!(plugin, callback, ?code, "backend refused: {text}"),
        }
    }
}

impl<O: Send + 'static, T: Send + 'static> Drop for Call<O, T> {
    /// Never waited for (the session ended first, or no longer wants the result): the result
    /// (a reader, say) and then the object are dropped on the pool once the job is done; the
    /// object of a refused call at once.
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, CallState::Finished) {
            CallState::Running { job, .. } => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    drop(runtime.spawn(async move {
                        if let Ok((object, result)) = job.await {
                            drop_on_pool((result, object));
                        }
                    }));
                }
            }
            CallState::Refused(object, _) => drop_on_pool(object),
            CallState::Finished => {}
        }
    }
}

/// One call's share of `--backend-concurrency`: held until the call returns, or until its
/// deadline, whichever comes first, so that calls stuck in the plugin cannot starve the
/// greeting and every other user.
struct CallSlot {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    stuck: Arc<AtomicUsize>,
    abandoned: AtomicBool,
}

impl CallSlot {
    fn permit(&self) -> MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        self.permit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The host stopped waiting: the slot goes back, and the call counts as stuck until it
    /// returns (unless it just did).
    fn abandon(&self, plugin: &str, limit: usize) {
        let mut permit = self.permit();
        if permit.take().is_some() {
            self.abandoned.store(true, Ordering::Relaxed);
            let stuck = self.stuck.fetch_add(1, Ordering::Relaxed) + 1;
            metrics().backend_calls_stuck.inc();
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
            metrics().backend_calls_stuck.dec();
            tracing::warn!(stuck, "a stuck backend call returned");
        }
    }
}

/// Dropping a plugin object runs plugin code (a mailbox releases its lock, a proxy's reader
/// closes a socket), which may block: do it on the blocking pool.
pub fn drop_on_pool<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(value))),
        Err(_) => drop(value),
    }
}
