//! One client connection: reads command lines, runs them through the [`Session`], performs
//! the backend calls and transfers the session asks for, and writes the replies.
//!
//! All complete lines that arrived together are answered before anything is written, so a
//! pipelining client (RFC 2449 PIPELINING) gets its replies in one write.

use super::backend::{Backend, Lent, Mailbox, Reader};
use super::listing::list_with_sizes;
use super::shutdown::Shutdown;
use crate::protocol::body::BodyEncoder;
use crate::protocol::command::Command;
use crate::protocol::lines::{Line, LineBuffer, MAX_LINE};
use crate::protocol::reply;
use crate::session::{
    Action, Granted, Login, LoginTracker, Secret, Session, SessionConfig, Transfer,
};
use pop3_plugin_api::{Connection, MessageRef, PopError, ResponseCode};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::Instrument;

/// What every connection shares.
pub struct Shared {
    pub backend: Arc<Backend>,
    pub session: Arc<SessionConfig>,
    pub logins: Arc<LoginTracker>,
    pub idle_timeout: Duration,
}

/// Message bytes read from the backend per call.
const CHUNK: usize = 128 * 1024;
/// Encoded bytes gathered before a write during a transfer.
const WRITE_AT: usize = 128 * 1024;

enum Flow {
    Continue,
    Close,
}

struct Driver {
    stream: TcpStream,
    lines: LineBuffer,
    out: Vec<u8>,
    session: Session,
    mailbox: Option<Mailbox>,
    conn: Connection,
    shared: Arc<Shared>,
    shutdown: Shutdown,
}

/// Serves one connection until it ends, however it ends.
pub async fn serve(stream: TcpStream, conn: Connection, shared: Arc<Shared>, shutdown: Shutdown) {
    let span = tracing::info_span!("session", id = conn.id, peer = %conn.peer, user = tracing::field::Empty);
    async move {
        let backend = shared.backend.clone();
        let admitted = {
            let conn = conn.clone();
            backend.call("connect", move |b| b.connect(&conn)).await
        };
        let mut driver = Driver::new(stream, conn.clone(), shared, shutdown);
        let result = match admitted {
            Ok(()) => driver.run().await,
            Err(error) => {
                reply::err(&mut driver.out, &error);
                driver.flush().await
            }
        };
        if let Err(error) = result {
            tracing::debug!("connection ended: {error}");
        }
        driver.mailbox = None;
        let _ = backend
            .call("disconnect", move |b| {
                b.disconnect(&conn);
                Ok(())
            })
            .await;
        tracing::debug!("closed");
    }
    .instrument(span)
    .await
}

impl Driver {
    fn new(stream: TcpStream, conn: Connection, shared: Arc<Shared>, shutdown: Shutdown) -> Self {
        let unix_time = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let session = Session::new(
            shared.session.clone(),
            shared.logins.clone(),
            conn.id,
            unix_time,
        );
        Self {
            stream,
            lines: LineBuffer::new(MAX_LINE),
            out: Vec::new(),
            session,
            mailbox: None,
            conn,
            shared,
            shutdown,
        }
    }

    async fn run(&mut self) -> io::Result<()> {
        self.session.greeting(&mut self.out);
        self.flush().await?;
        let mut buf = vec![0u8; 4096];
        loop {
            while let Some(line) = self.lines.next_line() {
                let action = match line {
                    Line::TooLong => {
                        self.session.line_too_long(&mut self.out);
                        Action::Continue
                    }
                    Line::Complete(bytes) => match Command::parse(bytes) {
                        Ok(command) => self.session.handle(command, &mut self.out),
                        Err(error) => {
                            self.session.parse_error(error, &mut self.out);
                            Action::Continue
                        }
                    },
                };
                if let Flow::Close = self.act(action).await? {
                    return self.flush().await;
                }
            }
            self.flush().await?;
            let n = tokio::select! {
                read = tokio::time::timeout(self.shared.idle_timeout, self.stream.read(&mut buf)) => match read {
                    Ok(read) => read?,
                    Err(_) => {
                        tracing::info!("idle timeout");
                        reply::err_plain(&mut self.out, "Disconnected for inactivity.");
                        return self.flush().await;
                    }
                },
                _ = self.shutdown.close_sessions.cancelled() => {
                    reply::err_coded(&mut self.out, ResponseCode::SYS_TEMP, "Server shutting down, try again later.");
                    return self.flush().await;
                }
            };
            if n == 0 {
                return Ok(());
            }
            self.lines.extend(&buf[..n]);
        }
    }

    async fn act(&mut self, action: Action) -> io::Result<Flow> {
        match action {
            Action::Continue => Ok(Flow::Continue),
            Action::Close => Ok(Flow::Close),
            Action::Login(login) => {
                self.flush().await?;
                self.login(login).await;
                Ok(Flow::Continue)
            }
            Action::Transfer(transfer) => self.transfer(transfer).await,
            Action::Update(marked) => {
                self.update(marked).await;
                Ok(Flow::Close)
            }
        }
    }

    async fn login(&mut self, login: Login) {
        let backend = self.shared.backend.clone();
        let granted = self.authenticate(&backend, &login).await;
        let logged_in = self
            .session
            .login_done(&login, granted, Instant::now(), &mut self.out);
        if logged_in {
            tracing::Span::current().record("user", login.user.as_str());
            tracing::info!("logged in");
        } else {
            self.mailbox = None;
            tracing::info!(user = login.user, "login refused");
        }
    }

    /// Authenticates, then lists the maildrop; keeps the mailbox on success.
    async fn authenticate(
        &mut self,
        backend: &Backend,
        login: &Login,
    ) -> Result<Granted, PopError> {
        let (conn, user, secret) = (self.conn.clone(), login.user.clone(), login.secret.clone());
        let callback = match secret {
            Secret::Password(_) => "authenticate",
            Secret::Apop { .. } => "apop",
        };
        let (mailbox, login_delay, expire) = backend
            .call(callback, move |b| {
                let mailbox = match &secret {
                    Secret::Password(password) => b.authenticate(&user, password, &conn)?,
                    Secret::Apop { digest, timestamp } => {
                        b.apop(&user, digest, timestamp, &conn)?
                    }
                };
                Ok((mailbox, b.login_delay(Some(&user)), b.expire(Some(&user))))
            })
            .await?;
        let mut mailbox = Lent::new(mailbox);
        let messages = mailbox.call(backend, "list", list_with_sizes).await?;
        self.mailbox = Some(mailbox);
        Ok(Granted {
            messages,
            login_delay,
            expire,
        })
    }

    /// RETR and TOP: opens the message, then streams it through the encoder.
    async fn transfer(&mut self, transfer: Transfer) -> io::Result<Flow> {
        let backend = self.shared.backend.clone();
        let Some(mailbox) = self.mailbox.as_mut() else {
            return Ok(Flow::Close);
        };
        let mut reader = match open(&backend, mailbox, &transfer).await {
            Ok(reader) => reader,
            Err(error) => {
                reply::err(&mut self.out, &error);
                return Ok(if mailbox.is_lost() {
                    Flow::Close
                } else {
                    Flow::Continue
                });
            }
        };
        transfer.ok_line(&mut self.out);
        let mut encoder = transfer
            .top
            .map_or_else(BodyEncoder::whole, BodyEncoder::top);
        let mut chunk = vec![0u8; CHUNK];
        while !encoder.is_done() {
            let read = reader
                .call(&backend, "retrieve", move |r| {
                    let n = r.read(&mut chunk)?;
                    Ok((chunk, n))
                })
                .await;
            let n = match read {
                Ok((returned, n)) => {
                    chunk = returned;
                    n
                }
                Err(_) => {
                    // The status line is out: a message cut short can only be signalled by
                    // closing, so the client does not take it for complete.
                    tracing::warn!(
                        message = transfer.id,
                        "message ended early; closing the connection"
                    );
                    return Ok(Flow::Close);
                }
            };
            if n == 0 {
                break;
            }
            encoder.encode(&chunk[..n], &mut self.out);
            if self.out.len() >= WRITE_AT {
                self.flush().await?;
            }
        }
        encoder.finish(&mut self.out);
        Ok(Flow::Continue)
    }

    /// UPDATE (RFC 1939 §6): the only place where mail is deleted.
    async fn update(&mut self, marked: Vec<(usize, String)>) {
        let backend = self.shared.backend.clone();
        let count = marked.len();
        let result = match self.mailbox.as_mut() {
            Some(mailbox) => {
                mailbox
                    .call(&backend, "delete", move |m| {
                        let msgs: Vec<MessageRef<'_>> = marked
                            .iter()
                            .map(|(index, id)| MessageRef { index: *index, id })
                            .collect();
                        m.delete(&msgs)
                    })
                    .await
            }
            None => Err(PopError::temporary("no maildrop")),
        };
        tracing::info!(deleted = count, ok = result.is_ok(), "logged out");
        self.session.update_done(count, result, &mut self.out);
        self.mailbox = None;
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = self.stream.write_all(&self.out);
        match tokio::time::timeout(self.shared.idle_timeout, write).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stopped reading",
                ))
            }
        }
        self.out.clear();
        Ok(())
    }
}

/// TOP through the backend's `top` when it has one, else RETR's reader.
async fn open(
    backend: &Backend,
    mailbox: &mut Mailbox,
    transfer: &Transfer,
) -> Result<Reader, PopError> {
    let (index, id, top) = (transfer.index, transfer.id.clone(), transfer.top);
    let reader = mailbox
        .call(
            backend,
            if top.is_some() { "top" } else { "retrieve" },
            move |m| {
                let msg = MessageRef { index, id: &id };
                match top.map(|lines| m.top(msg, lines)).transpose()?.flatten() {
                    Some(reader) => Ok(reader),
                    None => m.retrieve(msg),
                }
            },
        )
        .await?;
    Ok(Lent::new(reader))
}
