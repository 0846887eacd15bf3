//! What comes before the session: the client's address from a PROXY header where the peer
//! must send one, the log span that names the client, and the TLS handshake.

use super::super::limits::ClientAddress;
use super::super::stream::Stream;
use super::super::tls::Tls;
use super::Shared;
use crate::metrics::{metrics, Handshake, HandshakeKind, Reason};
use crate::protocol::proxy_header::{self, Parsed};
use pop3_plugin_api::Connection;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a TLS handshake or a PROXY header may take at most (and no longer than the idle
/// timeout).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Who is connecting.
#[derive(Clone, Copy)]
pub struct Client {
    /// Who the client is for limits, delays and the plaintext policy.
    pub address: ClientAddress,
    /// The address came from a PROXY header.
    pub proxied: bool,
}

/// The client: the peer, or, when the peer is one that must send a PROXY header, the client
/// the header names (then also in `conn.peer`). `None` when the header is missing or invalid:
/// the connection is closed, logged.
pub async fn client(tcp: &mut TcpStream, conn: &mut Connection, shared: &Shared) -> Option<Client> {
    let peer = conn.peer.ip();
    let mut client = Client {
        address: ClientAddress::known(peer),
        proxied: false,
    };
    if !shared
        .proxy_protocol_from
        .iter()
        .any(|net| net.contains(&peer))
    {
        return Some(client);
    }
    client.proxied = true;
    match tokio::time::timeout(shared.handshake_timeout(), read_proxy_header(tcp)).await {
        Ok(Ok(Some(named))) => {
            client.address = ClientAddress::known(named.ip());
            conn.peer = SocketAddr::new(named.ip().to_canonical(), named.port());
        }
        // The plugin is told the proxy's address until its API can say "unknown"; the log
        // marks such a session with `peer=unknown proxy=...`.
        Ok(Ok(None)) => client.address = ClientAddress::Unknown,
        Ok(Err(why)) => {
            tracing::warn!(proxy = %conn.peer, "closing: {why}");
            return refused_for_proxy_header();
        }
        Err(_) => {
            tracing::warn!(proxy = %conn.peer, "closing: no PROXY header in time");
            return refused_for_proxy_header();
        }
    }
    Some(client)
}

fn refused_for_proxy_header() -> Option<Client> {
    let reason = Reason {
        reason: "proxy_header",
    };
    metrics().connections_refused.get_or_create(&reason).inc();
    None
}

/// The client's address and port as logs and `pop3host who` show them.
pub fn peer_name(conn: &Connection, client: ClientAddress) -> String {
    match client {
        ClientAddress::Known(_) => conn.peer.to_string(),
        ClientAddress::Unknown => client.to_string(),
    }
}

/// The span every log line of the session carries: its id, the client's address and port
/// ("unknown" without one, then with the proxy's), and the user once logged in.
pub fn session_span(conn: &Connection, client: ClientAddress) -> tracing::Span {
    let peer = peer_name(conn, client);
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
    span
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

/// The TLS handshake, at the start (implicit TLS) or after STLS.
/// `kind`: `implicit` on a TLS port, `stls` after STLS (for the metrics).
pub async fn handshake(
    tls: &Tls,
    tcp: TcpStream,
    timeout: Duration,
    kind: &'static str,
) -> io::Result<Stream> {
    let result = match tokio::time::timeout(timeout, tls.acceptor().accept(tcp)).await {
        Ok(stream) => stream.map(|stream| Stream::Tls(Box::new(stream))),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "handshake took too long",
        )),
    };
    let result_label = if result.is_ok() { "ok" } else { "failed" };
    metrics()
        .tls_handshakes
        .get_or_create(&Handshake {
            kind,
            result: result_label,
        })
        .inc();
    if let Ok(Stream::Tls(tls)) = &result {
        if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
            metrics()
                .tls_resumed
                .get_or_create(&HandshakeKind { kind })
                .inc();
        }
    }
    result
}
