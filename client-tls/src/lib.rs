//! # pop3_client_tls: rustls client settings for the plugins that connect out
//!
//! Whose certificates to trust, one place for the proxy plugin's upstreams, the postgres
//! plugin's database and the maildir plugin's directory server (ldap): the system's roots by
//! default (what an administrator expects of "verify the certificate"), a PEM `ca_file` for a
//! private CA, or nobody's, only when the config says so (`"insecure": true`,
//! `"tls": "require"`).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The client settings for one server. Errors are meant to follow a config path.
pub fn client_config(ca_file: Option<&Path>, insecure: bool) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = match ca_file {
            Some(path) => Arc::new(file_roots(path)?),
            None => system_roots()?,
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The certificates of a PEM file.
fn file_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| format!("cannot read certificates from {shown}: {err}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("no usable certificate in {shown}"));
    }
    Ok(roots)
}

/// The system's trusted roots (or those of `SSL_CERT_FILE`/`SSL_CERT_DIR`), read once per
/// process however many upstreams use them.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    let load = || {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(found.certs);
        match (roots.is_empty(), found.errors.first()) {
            (false, _) => Ok(Arc::new(roots)),
            (true, Some(err)) => Err(format!("no system root certificates ({err}); set ca_file")),
            (true, None) => Err("no system root certificates; set ca_file".to_string()),
        }
    };
    ROOTS.get_or_init(load).clone()
}

/// Accepts any certificate chain, but still checks that the server holds the key of the
/// certificate it sent, so the session is encrypted to that key (just not to a verified
/// identity).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_an_error_naming_it() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem")), false).unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let empty =
            std::env::temp_dir().join(format!("client-tls-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(Some(&empty), false).unwrap_err();
        std::fs::remove_file(&empty).unwrap();
        assert!(err.contains("no usable certificate"), "{err}");
    }

    #[test]
    fn insecure_needs_no_roots() {
        assert!(client_config(Some(Path::new("/nonexistent")), true).is_ok());
    }
}
