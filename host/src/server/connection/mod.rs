//! One client connection, in three parts:
//!
//! - here, [`serve`]: the preamble (the PROXY header where the peer must send one, admission
//!   against the limits, the TLS handshake where the listener wants one; see [`preamble`]),
//!   then the plugin's `connect`, the session, and `disconnect`;
//! - [`driver`]: reads command lines, runs them through the [`crate::session::Session`],
//!   performs what the session asks (logins, listings, STLS, UPDATE) and writes the replies;
//! - [`transfer`]: RETR and TOP, a message streamed from the plugin through the encoder, and
//!   the prefetch of the next one.
//!
//! Replies to lines that arrived together are gathered and written at once, so a pipelining
//! client (RFC 2449 PIPELINING) gets them in one write; but the output of a session is bounded:
//! past [`WRITE_AT`] octets it is written out before the next command runs, and while a write
//! waits for the client, nothing more is read or executed. So a client that pipelines commands
//! and never reads holds at most [`WRITE_AT`] plus one listing line or two encoded
//! [`transfer::ENCODE_SLICE`]s (under 400 KiB), whatever the maildrop, and the kernel's
//! socket buffers do the rest. The message buffers of a finished transfer wait for the next
//! one in a pool of a few per CPU for the whole server (`server::buffers`), not in the
//! session. Listings are written in pieces ([`crate::session::Listing`]);
//! TLS adds what rustls buffers, bounded by its defaults (64 KiB of records to send, 16 KiB
//! of received plaintext); a SASL exchange holds one response line at most
//! ([`crate::protocol::lines::MAX_LINE`]).

mod driver;
mod preamble;
mod summary;
mod transfer;

use super::limits::{ClientAddress, LimitCounters};
use super::shutdown::Shutdown;
use super::stream::Stream;
use super::tls::Tls;
use crate::config::PlaintextAuth;
use crate::metrics::{metrics, ConnectionOpen, Ended, Reason};
use crate::protocol::reply;
use crate::service::Service;
use crate::session::LoginTracker;
use driver::Driver;
use ipnet::IpNet;
use pop3_plugin_api::host::OpenConnection;
use pop3_plugin_api::{Connection, ConnectionDetails, ResponseCode};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// What every connection shares.
pub struct Shared {
    /// The plugin new connections get; replaced on a reload.
    pub service: RwLock<Arc<Service>>,
    pub logins: Arc<LoginTracker>,
    pub limits: Arc<LimitCounters>,
    pub tls: Option<Arc<Tls>>,
    pub plaintext_auth: PlaintextAuth,
    pub proxy_protocol_from: Vec<IpNet>,
    pub idle_timeout: Duration,
    /// Whether each session logs its summary when it ends.
    pub session_summary: bool,
    /// For `pop3host who` and `kick`.
    pub sessions: Arc<super::sessions::OpenSessions>,
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

    /// How long a TLS handshake or a PROXY header may take.
    fn handshake_timeout(&self) -> Duration {
        preamble::HANDSHAKE_TIMEOUT.min(self.idle_timeout)
    }
}

/// Output gathered before it is written, and the most a session holds before it stops
/// running commands until the client has read it.
const WRITE_AT: usize = 256 * 1024;

/// Serves one accepted connection until it ends, however it ends.
pub async fn serve(
    mut tcp: TcpStream,
    mut conn: Connection,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) {
    let started = Instant::now();
    let _open = ConnectionOpen::accepted();
    let Some(preamble::Client {
        address: client,
        proxied,
    }) = preamble::client(&mut tcp, &mut conn, &shared).await
    else {
        return;
    };
    let span = preamble::session_span(&conn, client);
    async move {
        // Admission is logged here, under this module's name, which operators' filters and
        // the tests match.
        let _slot = match shared.limits.admit_connection(client) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::info!("refused: {}", why.reply());
                let reason = Reason {
                    reason: why.setting(),
                };
                metrics().connections_refused.get_or_create(&reason).inc();
                let mut out = Vec::new();
                reply::err_coded(&mut out, ResponseCode::SYS_TEMP, why.reply());
                let _ = tcp.write_all(&out).await;
                return;
            }
        };
        let stream = match (&shared.tls, conn.tls) {
            (Some(tls), true) => {
                match preamble::handshake(tls, tcp, shared.handshake_timeout(), "implicit").await {
                    Ok(stream) => stream,
                    Err(error) => return tracing::info!("TLS handshake failed: {error}"),
                }
            }
            _ => Stream::Plain(tcp),
        };
        let mut details = ConnectionDetails::new(conn.local);
        details.proxied = proxied;
        details.client_known = client != ClientAddress::Unknown;
        stream.describe_tls(&mut details);
        let registered = OpenConnection::new(conn.id, details);
        let service = shared.current_service();
        let plugin = service.plugin.clone();
        let admitted = {
            let conn = conn.clone();
            plugin.run("connect", move |b| b.connect(&conn)).await
        };
        let summary = shared.session_summary;
        let mut driver = Driver::new(
            stream,
            registered,
            conn.clone(),
            client,
            service,
            shared,
            shutdown,
        );
        let ended = match admitted {
            Ok(()) => driver.run().await,
            Err(error) => driver.refuse(&error).await,
        };
        driver.release_mailbox().await;
        let ended_label = Ended {
            ended: ended.as_str(),
        };
        metrics().sessions_ended.get_or_create(&ended_label).inc();
        if summary {
            driver.log_summary(ended, started.elapsed());
        }
        let _ = plugin
            .run("disconnect", move |b| {
                b.disconnect(&conn);
                Ok(())
            })
            .await;
        tracing::debug!("closed");
    }
    .instrument(span)
    .await
}
