//! Backend calls from async code: every call runs on tokio's blocking pool, behind a
//! concurrency limit and a deadline, so a slow, hung or panicking plugin costs one session and
//! never an async worker.
//!
//! Plugin objects (a mailbox, a message reader) move into the blocking job and back out with
//! its result. A call that misses its deadline keeps its object: the session has lost it and
//! ends with `[SYS/TEMP]`, and the object is dropped (releasing the plugin's lock) whenever
//! the stuck call returns.

use pop3_plugin_api::host::{BackendHandle, MailboxHandle, ReaderHandle};
use pop3_plugin_api::PopError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Backend {
    pub name: String,
    handle: Arc<BackendHandle>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Backend {
    pub fn new(name: String, handle: BackendHandle, concurrency: usize, timeout: Duration) -> Self {
        Self {
            name,
            handle: Arc::new(handle),
            permits: Arc::new(Semaphore::new(concurrency)),
            timeout,
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
        let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                PopError::temporary("too many backend calls at once (backend_concurrency)")
            })?
            .map_err(|_| PopError::temporary("server is shutting down"))?;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        });
        match tokio::time::timeout(self.timeout, task).await {
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

/// A plugin object owned by one session, lent to one blocking call at a time.
pub struct Lent<T: Send + 'static> {
    value: Option<T>,
}

pub type Mailbox = Lent<MailboxHandle>;
pub type Reader = Lent<ReaderHandle>;

impl<T: Send + 'static> Lent<T> {
    pub fn new(value: T) -> Self {
        Self { value: Some(value) }
    }

    /// Runs `job` on the object in the blocking pool and takes the object back.
    pub async fn call<R: Send + 'static>(
        &mut self,
        backend: &Backend,
        callback: &'static str,
        job: impl FnOnce(&mut T) -> Result<R, PopError> + Send + 'static,
    ) -> Result<R, PopError> {
        let mut value = self
            .value
            .take()
            .ok_or_else(|| PopError::temporary("lost after an earlier backend failure"))?;
        let (value, result) = backend
            .run(callback, move || {
                let result = job(&mut value);
                Ok((value, result))
            })
            .await?;
        self.value = Some(value);
        if let Err(error) = &result {
            backend.log_failure(callback, error);
        }
        result
    }

    /// Whether an earlier call lost the object (the session cannot go on).
    pub fn is_lost(&self) -> bool {
        self.value.is_none()
    }
}

impl<T: Send + 'static> Lent<T> {
    /// Drops the object on the blocking pool and waits until it is gone: a mailbox releases
    /// the maildrop lock there, and a client's next login must find it released.
    pub async fn release(mut self, backend: &Backend) {
        if let Some(value) = self.value.take() {
            let _ = backend
                .run("drop", move || {
                    drop(value);
                    Ok(())
                })
                .await;
        }
    }
}

impl<T: Send + 'static> Drop for Lent<T> {
    /// Dropping a plugin object runs plugin code (a mailbox releases its lock), which may
    /// block: do it on the blocking pool.
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn_blocking(move || drop(value));
            }
        }
    }
}
