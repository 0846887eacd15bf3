//! One session's connection to its upstream, shared by the mailbox and the message readers
//! it hands out. The connection has one conversation at a time: a command and its answer,
//! or a message body being read. A body that its reader left unfinished (TOP, where the host
//! stops at the last line it needs, or a client that went away) is read to its end before
//! the next command, so the answers stay in step; that drain is bounded like any read, by
//! the body's listed size and the call's deadline. A failure that may have left the answers
//! out of step (a deadline or a bound passed mid-answer included) closes the connection, and
//! every later call gets `[SYS/TEMP]`: reconnecting cannot help, since the upstream session
//! and its deletion marks are gone.
//!
//! Every call from the host starts here ([`Link::run`], [`Link::read_body`]), so this is
//! where each call's deadline is set.

use crate::body::Body;
use crate::deadline;
use crate::error::Failure;
use crate::upstream::Upstream;
use pop3_plugin_api::{PopError, ResponseCode};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub type SharedLink = Arc<Mutex<Link>>;

pub struct Link {
    /// The upstream's address, for logs and errors.
    label: String,
    /// The connection, or why it was closed.
    upstream: Result<Upstream, String>,
    /// The body being read, if any.
    body: Option<Pending>,
    /// The number of the last body begun.
    bodies: u64,
    /// How long one call may take (`io_timeout`).
    call_timeout: Duration,
}

/// A message body that a reader is consuming.
struct Pending {
    /// Tells the reader of this body from readers of earlier ones.
    ticket: u64,
    /// The command, for logs.
    command: String,
    body: Body,
}

/// Locks the link. A panic while it was held may have left the conversation out of step, so
/// the connection is closed then.
pub fn lock(link: &Mutex<Link>) -> MutexGuard<'_, Link> {
    link.lock().unwrap_or_else(|poisoned| {
        link.clear_poison();
        let mut link = poisoned.into_inner();
        link.close("a panic interrupted the conversation");
        link
    })
}

impl Link {
    pub fn new(label: String, upstream: Upstream, call_timeout: Duration) -> Self {
        Self {
            label,
            upstream: Ok(upstream),
            body: None,
            bodies: 0,
            call_timeout,
        }
    }

    /// Runs one call's exchange (`doing`, for logs) on the connection, after finishing any
    /// body left unread, all within the call's deadline. A plain `-ERR` becomes an error
    /// with code `refused`. A failure other than a refusal closes the connection.
    pub fn run<T>(
        &mut self,
        doing: &str,
        refused: ResponseCode,
        exchange: impl FnOnce(&mut Upstream) -> Result<T, Failure>,
    ) -> Result<T, PopError> {
        let result = self.ready().and_then(exchange);
        if let Err(failure) = &result {
            if failure.breaks_connection() {
                self.close(&failure.to_string());
            }
        }
        result.map_err(|failure| failure.into_pop(&self.label, doing, refused))
    }

    /// The connection, with this call's deadline set and the previous body (if any) read to
    /// its end.
    fn ready(&mut self) -> Result<&mut Upstream, Failure> {
        let upstream = self
            .upstream
            .as_mut()
            .map_err(|why| Failure::Broken(why.clone()))?;
        upstream.set_deadline(deadline::for_call(self.call_timeout));
        if let Some(mut pending) = self.body.take() {
            upstream.finish_body(&mut pending.body, |_| ())?;
        }
        Ok(upstream)
    }

    /// Marks the start of the body that `command` (already answered `+OK`) sends for a
    /// message listed with `size` octets, and returns the ticket for its reader.
    pub fn begin_body(&mut self, command: String, size: u64) -> u64 {
        self.bodies += 1;
        self.body = Some(Pending {
            ticket: self.bodies,
            command,
            body: Body::of_listed(size),
        });
        self.bodies
    }

    /// Reads the next bytes of the body of `ticket` (one call, with its own deadline); also
    /// says whether it ended.
    pub fn read_body(&mut self, ticket: u64, out: &mut [u8]) -> io::Result<(usize, bool)> {
        let upstream = self
            .upstream
            .as_mut()
            .map_err(|why| io::Error::other(why.clone()))?;
        upstream.set_deadline(deadline::for_call(self.call_timeout));
        let Some(pending) = self.body.as_mut().filter(|body| body.ticket == ticket) else {
            return Err(io::Error::other(
                "message reader used after its session moved on",
            ));
        };
        match upstream.read_body(&mut pending.body, out) {
            Ok(n) if pending.body.is_done() => {
                self.body = None;
                Ok((n, true))
            }
            Ok(n) => Ok((n, false)),
            Err(failure) => {
                let command = pending.command.clone();
                self.close(&failure.to_string());
                let error = failure.into_pop(&self.label, &command, ResponseCode::NONE);
                Err(io::Error::other(error.message))
            }
        }
    }

    /// Closes the connection without QUIT, so that the upstream deletes nothing
    /// (RFC 1939 §6: no UPDATE without QUIT). `why` is what later calls are told.
    pub fn close(&mut self, why: &str) {
        if let Ok(upstream) = &self.upstream {
            upstream.shutdown();
            self.upstream = Err(why.to_string());
        }
        self.body = None;
    }
}
