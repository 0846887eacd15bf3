//! The command driver: reads command lines, runs them through the [`Session`], performs what
//! the session asks (a login, a listing, STLS, UPDATE; transfers are [`super::transfer`]'s)
//! and writes the replies.

use super::super::limits::{ClientAddress, MaildropSlot};
use super::super::mailbox::SessionMailbox;
use super::super::sessions::{ListedSession, SessionInfo};
use super::super::shutdown::Shutdown;
use super::super::stream::Stream;
use super::summary::{Ending, Summary};
use super::{preamble, Shared, WRITE_AT};
use crate::config::PlaintextAuth;
use crate::metrics::{metrics, CommandLabel, LoginLabels};
use crate::protocol::lines::{Line, LineBuffer, LineDeadline, MAX_LINE};
use crate::protocol::reply;
use crate::server::work;
use crate::service::Service;
use crate::session::{Action, Granted, Login, LoginOutcome, Session, Transport};
use pop3_plugin_api::host::OpenConnection;
use pop3_plugin_api::{Connection, Maildrop, PopError, ResponseCode};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a session may be quiet before it gives back what it keeps for a next RETR.
const QUIET: Duration = Duration::from_secs(5);

pub enum Flow {
    Continue,
    Close,
}

/// What ends a wait for the client.
enum Input {
    Read(io::Result<usize>),
    /// No complete line within the idle timeout.
    Idle,
    Shutdown,
    Kicked,
}

pub struct Driver {
    stream: Stream,
    /// What plugins are told of this connection (`Connection::details`), while it is open.
    registered: OpenConnection,
    /// The plugin this session started with, kept to its end even across a reload.
    pub(super) service: Arc<Service>,
    lines: LineBuffer,
    pub(super) out: Vec<u8>,
    pub(super) session: Session,
    /// The logged-in user's mailbox in the plugin.
    pub(super) mailbox: Option<SessionMailbox>,
    maildrop_slot: Option<MaildropSlot>,
    conn: Connection,
    /// Who the client is for limits, delays and the plaintext policy.
    client: ClientAddress,
    pub(super) shared: Arc<Shared>,
    shutdown: Shutdown,
    /// What the session did, for the line logged at its end.
    pub(super) summary: Summary,
    /// The session in `pop3host who`, and its kick.
    listed: ListedSession,
}

impl Driver {
    pub fn new(
        stream: Stream,
        registered: OpenConnection,
        conn: Connection,
        client: ClientAddress,
        service: Arc<Service>,
        shared: Arc<Shared>,
        shutdown: Shutdown,
    ) -> Self {
        let unix_time = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let plaintext_auth_without_tls = match shared.plaintext_auth {
            PlaintextAuth::Always => true,
            PlaintextAuth::Loopback => client.is_loopback(),
            PlaintextAuth::Never => false,
        };
        let transport = Transport {
            tls: conn.tls,
            plaintext_auth_without_tls,
        };
        let session = Session::new(
            service.session.clone(),
            shared.logins.clone(),
            conn.id,
            unix_time,
            transport,
        );
        let listed = shared.sessions.enter(SessionInfo {
            id: conn.id,
            user: None,
            peer: preamble::peer_name(&conn, client),
            since: 0,
            tls: conn.tls,
            plugin: service.plugin.name.clone(),
            plugin_sha256: service.plugin_sha256.clone(),
        });
        Self {
            stream,
            registered,
            service,
            lines: LineBuffer::new(MAX_LINE),
            out: Vec::new(),
            session,
            mailbox: None,
            maildrop_slot: None,
            conn,
            client,
            shared,
            shutdown,
            summary: Summary::default(),
            listed,
        }
    }

    /// The session, from the greeting to its end; how it ended.
    pub async fn run(&mut self) -> Ending {
        match self.commands().await {
            Ok(ending) => {
                self.close_write().await;
                ending
            }
            Err(error) => {
                tracing::debug!("connection ended: {error}");
                Ending::ConnectionError
            }
        }
    }

    async fn commands(&mut self) -> io::Result<Ending> {
        self.session.greeting(&mut self.out);
        self.flush().await?;
        let mut deadline = LineDeadline::new(self.shared.idle_timeout, Instant::now());
        let mut buf = vec![0u8; 4096];
        loop {
            let mut answered = false;
            while let Some(line) = self.lines.next_line() {
                let action = match line {
                    Line::TooLong => {
                        self.session.line_too_long(&mut self.out);
                        Action::Continue
                    }
                    Line::Complete(bytes) => self.session.line(bytes, &mut self.out),
                };
                if let Some(command) = self.session.take_command() {
                    let label = CommandLabel { command };
                    metrics().commands.get_or_create(&label).inc();
                }
                if let Flow::Close = self.act(action).await? {
                    self.flush().await?;
                    return Ok(if self.session.quit_received() {
                        Ending::Quit
                    } else {
                        Ending::Closed
                    });
                }
                if self.out.len() >= WRITE_AT {
                    self.flush().await?;
                }
                answered = true;
            }
            self.flush().await?;
            if answered {
                deadline.answered(Instant::now());
            }
            let n = match self.wait_for_input(&mut buf, deadline.at()).await {
                Input::Read(read) => read?,
                Input::Idle => {
                    let partial = self.lines.holds_partial_line();
                    tracing::info!(partial, "idle timeout");
                    reply::err_plain(&mut self.out, "Disconnected for inactivity.");
                    self.flush().await?;
                    return Ok(Ending::IdleTimeout);
                }
                Input::Shutdown => {
                    reply::err_coded(
                        &mut self.out,
                        ResponseCode::SYS_TEMP,
                        "Server shutting down, try again later.",
                    );
                    self.flush().await?;
                    return Ok(Ending::Shutdown);
                }
                Input::Kicked => {
                    reply::err_plain(&mut self.out, "Disconnected by the administrator.");
                    self.flush().await?;
                    return Ok(Ending::Kicked);
                }
            };
            if n == 0 {
                return Ok(Ending::ClientLeft);
            }
            deadline.received(Instant::now(), !self.lines.holds_partial_line());
            self.lines.extend(&buf[..n]);
        }
    }

    /// The plugin's `connect` refused the connection: its reply, and the end.
    pub async fn refuse(&mut self, error: &PopError) -> Ending {
        reply::err(&mut self.out, error);
        let _ = self.flush().await;
        Ending::Refused
    }

    /// The session's summary line, once it has ended and released its mailbox.
    pub fn log_summary(&self, ended: Ending, duration: Duration) {
        let marks_standing = self.session.marked_count();
        self.summary
            .log(ended, self.conn.tls, duration, marks_standing);
    }

    /// Waits for the client's next bytes until `deadline`. A session quiet for a moment first
    /// gives back what it keeps for a next RETR: its output buffer, which a RETR grows, and a
    /// prefetched message. A client downloading in order sends its next command well within
    /// the moment.
    async fn wait_for_input(&mut self, buf: &mut [u8], deadline: Instant) -> Input {
        let quiet = (Instant::now() + QUIET).min(deadline);
        if let Some(input) = self.read_until(quiet, buf).await {
            return input;
        }
        self.out = Vec::new(); // empty: everything was flushed
        if let Some(mailbox) = self.mailbox.as_mut().filter(|m| m.has_prefetch()) {
            mailbox.finish_prefetch(None).await;
            tracing::debug!("quiet: prefetch dropped");
        }
        self.read_until(deadline, buf).await.unwrap_or(Input::Idle)
    }

    /// The client's next bytes or the shutdown, or `None` at `deadline`. (`read` is cancel
    /// safe: a timeout loses no data.)
    async fn read_until(&mut self, deadline: Instant, buf: &mut [u8]) -> Option<Input> {
        let read = tokio::time::timeout_at(deadline.into(), self.stream.read(buf));
        tokio::select! {
            read = read => read.ok().map(Input::Read),
            _ = self.shutdown.close_sessions.cancelled() => Some(Input::Shutdown),
            _ = self.listed.kicked.cancelled() => Some(Input::Kicked),
        }
    }

    /// Does what the session asked for.
    async fn act(&mut self, action: Action) -> io::Result<Flow> {
        match action {
            Action::Continue => Ok(Flow::Continue),
            Action::Close => Ok(Flow::Close),
            Action::Login(login) => {
                self.flush().await?;
                self.login(login).await
            }
            Action::Transfer(transfer) => self.transfer(transfer).await,
            Action::Listing(mut listing) => {
                while self
                    .session
                    .write_listing(&mut listing, &mut self.out, WRITE_AT)
                {
                    self.flush().await?;
                }
                Ok(Flow::Continue)
            }
            Action::Update(marked) => {
                self.update(marked).await;
                Ok(Flow::Close)
            }
            Action::StartTls => self.start_tls().await,
        }
    }

    /// STLS (RFC 2595 §4): whatever the client sent after the command is thrown away, so
    /// plaintext injected before the handshake is never executed.
    async fn start_tls(&mut self) -> io::Result<Flow> {
        self.flush().await?;
        self.lines = LineBuffer::new(MAX_LINE);
        let (Some(tls), Stream::Plain(tcp)) = (
            &self.shared.tls,
            std::mem::replace(&mut self.stream, Stream::Upgrading),
        ) else {
            return Ok(Flow::Close);
        };
        match preamble::handshake(tls, tcp, self.shared.handshake_timeout(), "stls").await {
            Ok(stream) => {
                self.stream = stream;
                self.conn.tls = true;
                self.registered
                    .update(|details| self.stream.describe_tls(details));
                self.session.tls_started();
                self.listed.update(|listed| listed.tls = true);
                tracing::debug!("TLS started");
                Ok(Flow::Continue)
            }
            Err(error) => {
                tracing::info!("TLS handshake failed: {error}");
                Ok(Flow::Close)
            }
        }
    }

    async fn login(&mut self, login: Login) -> io::Result<Flow> {
        let granted = self.authenticate(&login).await;
        let granted = granted.and_then(|(granted, maildrop)| {
            self.maildrop_slot = Some(self.shared.limits.admit_maildrop(&maildrop)?);
            Ok(granted)
        });
        let refused_by_plugin = granted.as_ref().err().map(login_failure);
        let outcome = self
            .session
            .login_done(&login, granted, Instant::now(), &mut self.out);
        let result = match (&outcome, refused_by_plugin) {
            (LoginOutcome::LoggedIn, _) => "ok",
            (LoginOutcome::Refused { .. }, Some(why)) => why,
            // The plugin granted it; the session refused it for LOGIN-DELAY.
            (LoginOutcome::Refused { .. }, None) => "login_delay",
        };
        let labels = LoginLabels {
            mechanism: login.mechanism,
            result,
        };
        metrics().logins.get_or_create(&labels).inc();
        match outcome {
            LoginOutcome::LoggedIn => {
                tracing::Span::current().record("user", login.user.as_str());
                self.listed
                    .update(|listed| listed.user = Some(login.user.clone()));
                tracing::info!("logged in");
                Ok(Flow::Continue)
            }
            LoginOutcome::Refused {
                bad_credentials,
                close,
            } => {
                self.release_mailbox().await;
                tracing::info!(user = login.user, bad_credentials, "login refused");
                if bad_credentials {
                    let delay = self.shared.limits.failed_login(self.client, Instant::now());
                    tokio::time::sleep(delay).await;
                }
                Ok(if close { Flow::Close } else { Flow::Continue })
            }
        }
    }

    /// Authenticates, then lists the maildrop; keeps the mailbox on success and tells which
    /// maildrop it is.
    async fn authenticate(&mut self, login: &Login) -> Result<(Granted, Maildrop), PopError> {
        let plugin = self.service.plugin.clone();
        let (conn, request) = (self.conn.clone(), login.clone());
        let (mailbox, granted, maildrop) = plugin
            .run("login", move |b| work::login(b, &request, &conn))
            .await?;
        self.mailbox = Some(SessionMailbox::new(plugin, mailbox));
        Ok((granted, maildrop))
    }

    /// UPDATE (RFC 1939 §6): the only place where mail is deleted.
    async fn update(&mut self, marked: Vec<(usize, String)>) {
        let count = marked.len();
        let result = match self.mailbox.take() {
            Some(mailbox) => mailbox.update(marked).await,
            None => Err(PopError::temporary("no maildrop")),
        };
        // The maildrop is free before the client hears so (RFC 1939 §6).
        self.maildrop_slot = None;
        self.summary.updated(count, result.is_ok());
        if result.is_ok() {
            metrics().messages_deleted.inc_by(count as u64);
        }
        tracing::info!(deleted = count, ok = result.is_ok(), "logged out");
        self.session.update_done(count, result, &mut self.out);
    }

    /// Releases the mailbox, and with it the plugin's lock, before going on.
    pub async fn release_mailbox(&mut self) {
        if let Some(mailbox) = self.mailbox.take() {
            mailbox.release().await;
        }
        self.maildrop_slot = None;
    }

    /// Ends a TLS session as TLS asks: with a close_notify alert (RFC 8446 §6.1), without
    /// which a client cannot tell the end from a cut connection, and some clients then drop
    /// the session instead of resuming it next time. Bounded like a write.
    async fn close_write(&mut self) {
        if let Stream::Tls(tls) = &mut self.stream {
            let _ = tokio::time::timeout(self.shared.idle_timeout, tls.shutdown()).await;
        }
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.out).await?;
            // A TLS stream buffers records until flushed.
            self.stream.flush().await
        };
        match tokio::time::timeout(self.shared.idle_timeout, write).await {
            Ok(result) => {
                result?;
                metrics().octets_sent.inc_by(self.out.len() as u64);
            }
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

/// A refused login, for the metrics: the response code says why.
fn login_failure(error: &PopError) -> &'static str {
    match error.code {
        ResponseCode::AUTH => "bad_credentials",
        ResponseCode::IN_USE => "in_use",
        ResponseCode::LOGIN_DELAY => "login_delay",
        ResponseCode::SYS_TEMP => "temporary_failure",
        _ => "refused",
    }
}
