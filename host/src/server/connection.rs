//! One client connection: the PROXY header and limits first, then TLS where the listener
//! wants it, then the session. Reads command lines, runs them through the [`Session`],
//! performs the backend calls and transfers the session asks for, and writes the replies.
//!
//! Replies to lines that arrived together are gathered and written at once, so a pipelining
//! client (RFC 2449 PIPELINING) gets them in one write; but the output of a session is bounded:
//! past [`WRITE_AT`] octets it is written out before the next command runs, and while a write
//! waits for the client, nothing more is read or executed. So a client that pipelines commands
//! and never reads holds at most [`WRITE_AT`] plus one listing line or two encoded
//! [`ENCODE_SLICE`]s (under 400 KiB), whatever the maildrop, and the kernel's socket buffers
//! do the rest. Listings are written in pieces ([`crate::session::Listing`]); TLS adds what
//! rustls buffers, bounded by its defaults (64 KiB of records to send, 16 KiB of received
//! plaintext); a SASL exchange holds one response line at most ([`MAX_LINE`]).

use super::backend::{Backend, Lent, Mailbox, ReadAhead};
use super::limits::{ClientAddress, Limits, UserSlot};
use super::prefetch::Prefetch;
use super::shutdown::Shutdown;
use super::stream::Stream;
use super::tls::Tls;
use super::work;
use crate::config::PlaintextAuth;
use crate::protocol::body::BodyEncoder;
use crate::protocol::lines::{Line, LineBuffer, LineDeadline, MAX_LINE};
use crate::protocol::proxy_header::{self, Parsed};
use crate::protocol::{reply, uidl};
use crate::service::Service;
use crate::session::{
    Action, Granted, Login, LoginOutcome, LoginTracker, Session, Transfer, Transport,
};
use ipnet::IpNet;
use pop3_plugin_api::host::OpenConnection;
use pop3_plugin_api::{
    Connection, ConnectionDetails, Maildrop, PopError, ResponseCode, SizeCounter,
};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// What every connection shares.
pub struct Shared {
    /// The plugin new connections get; replaced on a reload.
    pub service: RwLock<Arc<Service>>,
    pub logins: Arc<LoginTracker>,
    pub limits: Arc<Limits>,
    pub tls: Option<Arc<Tls>>,
    pub plaintext_auth: PlaintextAuth,
    pub proxy_protocol_from: Vec<IpNet>,
    pub idle_timeout: Duration,
    /// KiB that prefetched messages may hold, server-wide.
    pub prefetch_budget: Arc<Semaphore>,
}

impl Shared {
    pub fn current_service(&self) -> Arc<Service> {
        self.service
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Output gathered before it is written, and the most a session holds before it stops
/// running commands until the client has read it.
const WRITE_AT: usize = 256 * 1024;
/// Message octets encoded at a time: the encoded form of a slice is at most twice as long
/// (every line end may gain a CR, every line a stuffed dot).
const ENCODE_SLICE: usize = 64 * 1024;
/// The CRLF the host adds to an unterminated last line, which [`SizeCounter::total`] counts
/// and a listed size may leave out (Dovecot's `W=` size, and so the maildir plugin's, does):
/// a stream counts as running past its size only beyond it.
const ADDED_LINE_END: u64 = 2;
/// How long a TLS handshake or a PROXY header may take at most (and no longer than the idle
/// timeout).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

enum Flow {
    Continue,
    Close,
}

/// Serves one accepted connection until it ends, however it ends.
pub async fn serve(
    mut tcp: TcpStream,
    mut conn: Connection,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) {
    let handshake_timeout = HANDSHAKE_TIMEOUT.min(shared.idle_timeout);
    let mut client = ClientAddress::known(conn.peer.ip());
    let mut from_header = false;
    let proxied = conn.peer.ip();
    if shared
        .proxy_protocol_from
        .iter()
        .any(|net| net.contains(&proxied))
    {
        match tokio::time::timeout(handshake_timeout, read_proxy_header(&mut tcp)).await {
            Ok(Ok(Some(named))) => {
                from_header = true;
                client = ClientAddress::known(named.ip());
                conn.peer = SocketAddr::new(named.ip().to_canonical(), named.port());
            }
            // The plugin is told the proxy's address until its API can say "unknown"; the log
            // marks such a session with `peer=unknown proxy=...`.
            Ok(Ok(None)) => {
                from_header = true;
                client = ClientAddress::Unknown;
            }
            Ok(Err(why)) => return tracing::warn!(proxy = %conn.peer, "closing: {why}"),
            Err(_) => return tracing::warn!(proxy = %conn.peer, "closing: no PROXY header in time"),
        }
    }
    // The client's address and port as the log names it; "unknown" without one.
    let peer = match client {
        ClientAddress::Known(_) => conn.peer.to_string(),
        ClientAddress::Unknown => client.to_string(),
    };
    let span = tracing::info_span!(
        "session",
        id = conn.id,
        peer = %peer,
        proxy = tracing::field::Empty,
        user = tracing::field::Empty
    );
    if client == ClientAddress::Unknown {
        span.record("proxy", tracing::field::display(conn.peer));
    }
    async move {
        let _slot = match shared.limits.admit_connection(client) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::info!("refused: {why}");
                let mut out = Vec::new();
                reply::err_coded(&mut out, ResponseCode::SYS_TEMP, why);
                let _ = tcp.write_all(&out).await;
                return;
            }
        };
        let stream = match (&shared.tls, conn.tls) {
            (Some(tls), true) => match handshake(tls, tcp, handshake_timeout).await {
                Ok(stream) => stream,
                Err(error) => return tracing::info!("TLS handshake failed: {error}"),
            },
            _ => Stream::Plain(tcp),
        };
        let mut details = ConnectionDetails::new(conn.local);
        details.proxied = from_header;
        details.client_known = client != ClientAddress::Unknown;
        stream.describe_tls(&mut details);
        let registered = OpenConnection::new(conn.id, details);
        let service = shared.current_service();
        let backend = service.backend.clone();
        let admitted = {
            let conn = conn.clone();
            backend.call("connect", move |b| b.connect(&conn)).await
        };
        let mut driver = Driver::new(
            stream,
            registered,
            conn.clone(),
            client,
            service,
            shared,
            shutdown,
        );
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
        driver.release_mailbox().await;
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

/// How long a session may be quiet before it gives back what it keeps for a next RETR.
const QUIET: Duration = Duration::from_secs(5);

/// What ends a wait for the client.
enum Input {
    Read(io::Result<usize>),
    /// No complete line within the idle timeout.
    Idle,
    Shutdown,
}

/// Reads a PROXY protocol header, exactly, and returns the client it names.
async fn read_proxy_header(tcp: &mut TcpStream) -> Result<Option<SocketAddr>, String> {
    let mut buf = Vec::with_capacity(128);
    loop {
        match proxy_header::parse(&buf) {
            Parsed::Header { client, .. } => return Ok(client),
            Parsed::Invalid(why) => return Err(why),
            Parsed::Incomplete => {
                let start = buf.len();
                buf.resize(start + proxy_header::readable(&buf), 0);
                match tcp.read(&mut buf[start..]).await {
                    Ok(0) => return Err("closed before the end of the PROXY header".into()),
                    Ok(n) => buf.truncate(start + n),
                    Err(e) => return Err(format!("reading the PROXY header: {e}")),
                }
            }
        }
    }
}

async fn handshake(tls: &Tls, tcp: TcpStream, timeout: Duration) -> io::Result<Stream> {
    match tokio::time::timeout(timeout, tls.acceptor().accept(tcp)).await {
        Ok(stream) => Ok(Stream::Tls(Box::new(stream?))),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "handshake took too long",
        )),
    }
}

struct Driver {
    stream: Stream,
    /// What plugins are told of this connection (`Connection::details`), while it is open.
    registered: OpenConnection,
    /// The plugin this session started with, kept to its end even across a reload.
    service: Arc<Service>,
    lines: LineBuffer,
    out: Vec<u8>,
    session: Session,
    mailbox: Option<Mailbox>,
    /// The next message being read before the client asks for it.
    prefetch: Option<Prefetch>,
    /// A RETR served from a prefetch, whose `retrieve` call the next backend call on the
    /// mailbox makes first.
    owed_retrieve: Option<Transfer>,
    user_slot: Option<UserSlot>,
    conn: Connection,
    /// Who the client is for limits, delays and the plaintext policy.
    client: ClientAddress,
    shared: Arc<Shared>,
    shutdown: Shutdown,
}

impl Driver {
    fn new(
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
        let cleartext_auth = match shared.plaintext_auth {
            PlaintextAuth::Always => true,
            PlaintextAuth::Loopback => client.is_loopback(),
            PlaintextAuth::Never => false,
        };
        let transport = Transport {
            tls: conn.tls,
            cleartext_auth,
        };
        let session = Session::new(
            service.session.clone(),
            shared.logins.clone(),
            conn.id,
            unix_time,
            transport,
        );
        Self {
            stream,
            registered,
            service,
            lines: LineBuffer::new(MAX_LINE),
            out: Vec::new(),
            session,
            mailbox: None,
            prefetch: None,
            owed_retrieve: None,
            user_slot: None,
            conn,
            client,
            shared,
            shutdown,
        }
    }

    async fn run(&mut self) -> io::Result<()> {
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
                if let Flow::Close = self.act(action).await? {
                    return self.flush().await;
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
                    return self.flush().await;
                }
                Input::Shutdown => {
                    reply::err_coded(
                        &mut self.out,
                        ResponseCode::SYS_TEMP,
                        "Server shutting down, try again later.",
                    );
                    return self.flush().await;
                }
            };
            if n == 0 {
                return Ok(());
            }
            deadline.received(Instant::now(), !self.lines.holds_partial_line());
            self.lines.extend(&buf[..n]);
        }
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
        if self.prefetch.is_some() {
            self.finish_prefetch(None).await;
            tracing::debug!("quiet: prefetch dropped");
        }
        self.read_until(deadline, buf).await.unwrap_or(Input::Idle)
    }

    /// The client's next bytes or the shutdown, or `None` at `deadline`. (`read` is cancel
    /// safe: a timeout loses no data.)
    async fn read_until(&mut self, deadline: Instant, buf: &mut [u8]) -> Option<Input> {
        let deadline = tokio::time::Instant::from_std(deadline);
        tokio::select! {
            read = tokio::time::timeout_at(deadline, self.stream.read(buf)) => read.ok().map(Input::Read),
            _ = self.shutdown.close_sessions.cancelled() => Some(Input::Shutdown),
        }
    }

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
        match handshake(tls, tcp, HANDSHAKE_TIMEOUT.min(self.shared.idle_timeout)).await {
            Ok(stream) => {
                self.stream = stream;
                self.conn.tls = true;
                self.registered
                    .update(|details| self.stream.describe_tls(details));
                self.session.tls_started();
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
        let backend = self.service.backend.clone();
        let granted = self.authenticate(&backend, &login).await;
        let granted = granted.and_then(|(granted, maildrop)| {
            self.user_slot = Some(self.shared.limits.admit_maildrop(&maildrop)?);
            Ok(granted)
        });
        match self
            .session
            .login_done(&login, granted, Instant::now(), &mut self.out)
        {
            LoginOutcome::LoggedIn => {
                tracing::Span::current().record("user", login.user.as_str());
                tracing::info!("logged in");
                Ok(Flow::Continue)
            }
            LoginOutcome::Refused {
                bad_credentials,
                close,
            } => {
                self.release_mailbox().await;
                self.user_slot = None;
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
    async fn authenticate(
        &mut self,
        backend: &Backend,
        login: &Login,
    ) -> Result<(Granted, Maildrop), PopError> {
        let (conn, request) = (self.conn.clone(), login.clone());
        let (mailbox, granted, maildrop) = backend
            .call("login", move |b| work::login(b, &request, &conn))
            .await?;
        self.mailbox = Some(Lent::new(mailbox));
        Ok((granted, maildrop))
    }

    /// RETR and TOP: opens the message, then streams it through the encoder.
    async fn transfer(&mut self, transfer: Transfer) -> io::Result<Flow> {
        let backend = self.service.backend.clone();
        let prefetched = self.finish_prefetch(Some(&transfer)).await;
        let Some(mailbox) = self.mailbox.as_mut() else {
            return Ok(Flow::Close);
        };
        let opened = match prefetched {
            Some(message) => {
                tracing::debug!(message = transfer.id, "served from a prefetch");
                self.owed_retrieve = Some(transfer.clone());
                Ok(message)
            }
            None => {
                let owed = self.owed_retrieve.take();
                ReadAhead::open(backend.clone(), mailbox, &transfer, owed).await
            }
        };
        let mut message = match opened {
            Ok(message) => message,
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
        // The octets read so far as the size counts them; the listed size is what the plugin
        // promised and the `+OK` line announced.
        let mut read = SizeCounter::default();
        while !encoder.is_done() {
            let chunk = match message.next().await {
                Ok([]) if read.total() < transfer.size => {
                    self.size_lie(&transfer, &read, "ended short of");
                    return Ok(Flow::Close);
                }
                Ok([]) => break,
                Ok(chunk) => chunk,
                Err(_) => {
                    // The status line is out: a message cut short can only be signalled by
                    // closing, so the client does not take it for complete.
                    tracing::warn!(
                        number = transfer.index + 1,
                        "message ended early; closing the connection"
                    );
                    return Ok(Flow::Close);
                }
            };
            read.add(chunk);
            let past = read.total() > transfer.size + ADDED_LINE_END;
            // A RETR stops before the octets beyond the size; a TOP may have its lines before
            // them, and only a TOP that needs them has met a stream too long.
            if past && transfer.top.is_none() {
                self.size_lie(&transfer, &read, "ran past");
                return Ok(Flow::Close);
            }
            for slice in chunk.chunks(ENCODE_SLICE) {
                encoder.encode(slice, &mut self.out);
                if self.out.len() >= WRITE_AT {
                    self.flush().await?;
                }
            }
            if past && !encoder.is_done() {
                self.size_lie(&transfer, &read, "ran past");
                return Ok(Flow::Close);
            }
        }
        encoder.finish(&mut self.out);
        if transfer.top.is_none() {
            self.start_prefetch(&backend, &transfer);
        }
        Ok(Flow::Continue)
    }

    /// A message stream that does not match its listed size: the `+OK` line told the client
    /// that size, so the message cannot end with `.` as if it were complete. A short one is
    /// cut; one that runs past the size is stopped before the octets beyond it, which bounds
    /// a stream that never ends. Either way the connection closes and the client, seeing no
    /// terminator, keeps nothing and may try again.
    fn size_lie(&self, transfer: &Transfer, read: &SizeCounter, what: &str) {
        tracing::warn!(
            plugin = self.service.backend.name,
            number = transfer.index + 1,
            uidl = %uidl::from_id(&transfer.id),
            listed = transfer.size,
            read = read.total(),
            "the message stream {what} its listed size; closing the connection"
        );
    }

    /// After a RETR: starts reading the message a client downloading in order asks for next.
    fn start_prefetch(&mut self, backend: &Backend, retrieved: &Transfer) {
        let (Some(mailbox), true) = (self.mailbox.as_mut(), self.service.prefetch) else {
            return;
        };
        let Some(next) = self.session.next_retrieve(retrieved.index) else {
            return;
        };
        let owed = self.owed_retrieve.take();
        match Prefetch::start(backend, mailbox, next, owed, &self.shared.prefetch_budget) {
            Ok(prefetch) => self.prefetch = Some(prefetch),
            Err(owed) => self.owed_retrieve = owed,
        }
    }

    /// Waits for a running prefetch, which holds the mailbox; returns its message if it is
    /// the one `wanted` sends.
    async fn finish_prefetch(&mut self, wanted: Option<&Transfer>) -> Option<ReadAhead> {
        let (prefetch, mailbox) = (self.prefetch.take()?, self.mailbox.as_mut()?);
        prefetch
            .finish(&self.service.backend, mailbox, wanted)
            .await
    }

    /// UPDATE (RFC 1939 §6): the only place where mail is deleted.
    async fn update(&mut self, marked: Vec<(usize, String)>) {
        let backend = self.service.backend.clone();
        let count = marked.len();
        self.finish_prefetch(None).await;
        let owed = self.owed_retrieve.take();
        let result = match self.mailbox.take() {
            Some(mailbox) => {
                mailbox
                    .call_last(&backend, "delete", move |mut m| {
                        work::retrieved(&mut m, owed.as_ref());
                        work::update(m, &marked)
                    })
                    .await
            }
            None => Err(PopError::temporary("no maildrop")),
        };
        // The maildrop is free before the client hears so (RFC 1939 §6).
        self.user_slot = None;
        tracing::info!(deleted = count, ok = result.is_ok(), "logged out");
        self.session.update_done(count, result, &mut self.out);
    }

    /// Releases the mailbox, and with it the plugin's lock, before going on.
    async fn release_mailbox(&mut self) {
        self.finish_prefetch(None).await;
        if let Some(mailbox) = self.mailbox.take() {
            mailbox.release(&self.service.backend).await;
        }
        self.user_slot = None;
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.out).await?;
            // A TLS stream buffers records until flushed.
            self.stream.flush().await
        };
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
