//! The TLS server configuration: certificate chain and key from PEM files, TLS 1.2 and 1.3
//! only, reloaded on SIGHUP without touching sessions that are running. Errors name the file.
//!
//! Session resumption is on: a mail client polls every few minutes, and a full handshake
//! costs the server a signature and a key exchange each time, a resumed one neither (TLS 1.2)
//! or only the key exchange (TLS 1.3). TLS 1.3 (and TLS 1.2 clients that ask for them) get
//! stateless tickets, encrypted with a random key of this process that rustls rotates every
//! 6 hours (a ticket lives 12); TLS 1.2 clients without tickets get session IDs from a cache
//! of `SESSION_IDS` entries. Both outlive a certificate reload, so that a reload does not
//! send every client through a full handshake at once; a restart forgets them.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;

/// TLS 1.2 sessions remembered for clients that resume by session ID (those that take
/// tickets need no memory here): a few hundred bytes each, so at most a few MB, and as many
/// as the idle-session target, so that a server full of pollers does not evict them before
/// their next poll. The oldest go first.
const SESSION_IDS: usize = 10_000;

pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    resumption: Resumption,
    current: RwLock<TlsAcceptor>,
}

/// What resumption keeps across certificate reloads.
struct Resumption {
    ticketer: Arc<dyn ProducesTickets>,
    session_ids: Arc<dyn StoresServerSessions>,
}

impl Tls {
    pub fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        let resumption = Resumption {
            ticketer: rustls::crypto::ring::Ticketer::new()
                .map_err(|e| format!("TLS session tickets: {e}"))?,
            session_ids: ServerSessionMemoryCache::new(SESSION_IDS),
        };
        let acceptor = acceptor(cert, key, &resumption)?;
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            resumption,
            current: RwLock::new(acceptor),
        })
    }

    /// Reads the files again; on failure the old certificate stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let acceptor = acceptor(&self.cert, &self.key, &self.resumption)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = acceptor;
        Ok(())
    }

    /// The acceptor for a new handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn acceptor(cert: &Path, key: &Path, resumption: &Resumption) -> Result<TlsAcceptor, String> {
    let (cert_name, key_name) = (cert.display(), key.display());
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("--tls-cert {cert_name}: {}", pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert {cert_name}: {}", pem_error(e)))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {cert_name}: no CERTIFICATE in the file"
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {key_name}: {}", pem_error(e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| format!("--tls-key {key_name} does not fit --tls-cert {cert_name}: {e}"))?;
    config.ticketer = resumption.ticketer.clone();
    config.session_storage = resumption.session_ids.clone();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn pem_error(error: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM item of the right kind in the file".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}
