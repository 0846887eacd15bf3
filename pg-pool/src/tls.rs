//! TLS to the database, as the config's `"tls"` asks, with libpq's `sslmode` names:
//! `"disable"` never, `"require"` always but without checking the server's certificate (safe
//! against a listener, not against a man in the middle), and `"verify-full"` always, with the
//! certificate checked against `"ca_file"` (else the system's roots) and the URL's host name.
//! `"tls"` alone says what happens: a URL's own `sslmode` that says otherwise stops the server
//! at startup (naming both keys) rather than being silently overridden, and a server
//! that does not offer TLS when it is required fails the connection instead of falling back to
//! plain text.

use postgres::config::SslMode;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Transport security to the database, as libpq's `sslmode` of the same names.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Tls {
    #[default]
    Disable,
    Require,
    VerifyFull,
}

/// What connections to the database use: the TLS connector and the mode that says when it
/// is used. `ca_file` is read here, so that a missing or empty file stops the server at
/// startup. Errors name the key (`"ca_file": ...`); the caller says whose.
pub fn connector(
    tls: &Tls,
    ca_file: Option<&Path>,
) -> Result<(MakeRustlsConnect, SslMode), String> {
    if ca_file.is_some() && *tls != Tls::VerifyFull {
        return Err("\"ca_file\": only used with \"tls\": \"verify-full\"".into());
    }
    let (mode, insecure) = match tls {
        Tls::Disable => (SslMode::Disable, true),
        Tls::Require => (SslMode::Require, true),
        Tls::VerifyFull => (SslMode::Require, false),
    };
    let config = pop3_client_tls::client_config(ca_file, insecure)
        .map_err(|err| format!("\"ca_file\": {err}"))?;
    Ok((MakeRustlsConnect::new(Arc::unwrap_or_clone(config)), mode))
}
