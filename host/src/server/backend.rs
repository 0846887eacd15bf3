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
use tokio::task::JoinHandle;

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
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            drop_on_pool(value);
        }
    }
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
/// Two buffers of [`CHUNK`] octets per transfer, whatever the message size.
pub struct ReadAhead {
    backend: Arc<Backend>,
    reading: Option<JoinHandle<Result<ChunkRead, PopError>>>,
    /// The chunk last returned, and the buffer the next read goes into.
    current: Vec<u8>,
    len: usize,
}

/// A finished read: the reader back, its buffer and how much it filled.
type ChunkRead = (ReaderHandle, Vec<u8>, usize);

/// Message octets read per backend call.
const CHUNK: usize = 256 * 1024;

impl ReadAhead {
    /// Starts reading the first chunk.
    pub fn start(backend: Arc<Backend>, reader: ReaderHandle) -> Self {
        let mut stream = Self {
            backend,
            reading: None,
            current: vec![0; CHUNK],
            len: 0,
        };
        stream.read(reader, vec![0; CHUNK]);
        stream
    }

    fn read(&mut self, mut reader: ReaderHandle, mut buf: Vec<u8>) {
        let backend = self.backend.clone();
        self.reading = Some(tokio::spawn(async move {
            backend
                .run("retrieve", move || {
                    let n = reader.read(&mut buf)?;
                    Ok((reader, buf, n))
                })
                .await
        }));
    }

    /// The next chunk (empty at the end of the message); the read of the one after starts
    /// before this returns.
    pub async fn next(&mut self) -> Result<&[u8], PopError> {
        let Some(reading) = self.reading.take() else {
            return Ok(&[]);
        };
        let (reader, buf, n) = reading
            .await
            .map_err(|e| PopError::temporary(format!("reading the message failed: {e}")))??;
        let spare = std::mem::replace(&mut self.current, buf);
        self.len = n;
        if n == 0 {
            drop_on_pool(reader);
        } else {
            self.read(reader, spare);
        }
        Ok(&self.current[..self.len])
    }
}

impl Drop for ReadAhead {
    /// A transfer that stops early (TOP has its lines, the client left) still owns the read
    /// in flight: its reader is dropped on the pool when it returns.
    fn drop(&mut self) {
        if let Some(reading) = self.reading.take() {
            tokio::spawn(async move {
                if let Ok(Ok((reader, _, _))) = reading.await {
                    drop_on_pool(reader);
                }
            });
        }
    }
}
