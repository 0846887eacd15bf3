//! TLS for the benchmarks: implicit TLS (a port like 995) or STLS on the plain port, with each
//! client keeping its sessions, as a mail client that polls does (resumed handshakes), or not
//! (a full handshake every time). The server's certificate is not verified (loopback only;
//! `pop3_client_tls`'s insecure mode still checks the handshake's signature, so the client
//! does the work a real one does).

use crate::client::{Conn, Fail, Io};
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain POP3.
    None,
    /// STLS on the plain port before logging in.
    Stls,
    /// The port speaks TLS from the start.
    Implicit,
}

#[derive(clap::Args, Clone, Debug)]
pub struct TlsArgs {
    /// TLS, and how it starts.
    #[arg(long, value_enum, default_value_t = Mode::None)]
    pub tls: Mode,
    /// Clients forget their TLS sessions: a full handshake every time.
    #[arg(long)]
    pub no_resumption: bool,
}

/// One client's TLS: its settings and session cache (each mail client has its own).
pub struct TlsClient {
    /// Implicit TLS, or STLS.
    implicit: bool,
    connector: TlsConnector,
}

/// Sessions one client keeps: more than one in flight is never needed here.
const SESSIONS_KEPT: usize = 4;

impl TlsArgs {
    /// A new client's TLS; `None` for plain POP3.
    pub fn client(&self) -> Result<Option<TlsClient>, String> {
        if self.tls == Mode::None {
            return Ok(None);
        }
        let mut config = ClientConfig::clone(&*pop3_client_tls::client_config(None, true)?);
        config.resumption = if self.no_resumption {
            Resumption::disabled()
        } else {
            Resumption::in_memory_sessions(SESSIONS_KEPT)
        };
        Ok(Some(TlsClient {
            implicit: self.tls == Mode::Implicit,
            connector: TlsConnector::from(Arc::new(config)),
        }))
    }

    /// The figure's name for this mode (`stls_resumed`, `implicit_full`, `plain`).
    pub fn label(&self) -> String {
        match (self.tls, self.no_resumption) {
            (Mode::None, _) => "plain".into(),
            (mode, full) => {
                let mode = format!("{mode:?}").to_lowercase();
                format!("{mode}_{}", if full { "full" } else { "resumed" })
            }
        }
    }
}

/// Connects, does TLS as `tls` says, and reads the greeting, which must be `+OK`; also says
/// whether the TLS handshake was resumed (`None` without TLS).
pub async fn open(
    addr: SocketAddr,
    deadline: Duration,
    buffer: usize,
    tls: Option<&TlsClient>,
) -> Result<(Conn, Option<bool>), Fail> {
    let Some(tls) = tls else {
        return Ok((Conn::open(addr, deadline, buffer).await?, None));
    };
    let handshake = |stream| handshake(&tls.connector, stream, deadline);
    let mut conn = Conn::connect(addr, deadline, buffer).await?;
    if tls.implicit {
        let (mut conn, resumed) = conn.upgrade(handshake).await?;
        conn.status().await?.ok("greeting")?;
        return Ok((conn, Some(resumed)));
    }
    conn.status().await?.ok("greeting")?;
    conn.command("STLS").await?.ok("STLS")?;
    let (conn, resumed) = conn.upgrade(handshake).await?;
    Ok((conn, Some(resumed)))
}

async fn handshake(
    connector: &TlsConnector,
    stream: Box<dyn Io>,
    deadline: Duration,
) -> Result<(Box<dyn Io>, bool), Fail> {
    let name = ServerName::try_from("localhost").expect("a valid name");
    let tls = match timeout(deadline, connector.connect(name, stream)).await {
        Err(_) => return Err(Fail::Timeout("TLS handshake".into())),
        Ok(Err(err)) => return Err(Fail::Connection(format!("TLS handshake: {err}"))),
        Ok(Ok(tls)) => tls,
    };
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    Ok((Box::new(tls), resumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(tls: Mode, no_resumption: bool) -> TlsArgs {
        TlsArgs { tls, no_resumption }
    }

    #[test]
    fn labels_name_the_mode_and_the_handshake() {
        assert_eq!(args(Mode::None, false).label(), "plain");
        assert_eq!(args(Mode::None, true).label(), "plain");
        assert_eq!(args(Mode::Stls, false).label(), "stls_resumed");
        assert_eq!(args(Mode::Implicit, true).label(), "implicit_full");
    }

    #[test]
    fn a_client_only_with_tls() {
        assert!(args(Mode::None, false).client().unwrap().is_none());
        let client = args(Mode::Implicit, true).client().unwrap().expect("TLS");
        assert!(client.implicit);
        assert!(!args(Mode::Stls, false).client().unwrap().unwrap().implicit);
    }
}
