//! One database: its connection settings, the first connection that checks them at startup,
//! and the pool the calls take connections from.

use crate::tls::{self, Tls};
use r2d2_postgres::PostgresConnectionManager;
use std::path::Path;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

pub type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
pub type Conn = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// Where the database is and how to reach it.
pub struct Database {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    /// The keys a failed connection points at.
    keys: &'static str,
}

impl Database {
    /// `url` as libpq reads it (`postgresql://user@host/db` or `key=value` pairs), `tls` and
    /// `ca_file` as in [`tls::connector`], and `connect_timeout` unless the URL sets one.
    /// Errors name the key (`"url": ...`); the caller says whose.
    pub fn new(
        url: &str,
        tls: &Tls,
        ca_file: Option<&Path>,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        let mut config: postgres::Config = url.parse().map_err(|err| format!("\"url\": {err}"))?;
        #[cfg(not(unix))]
        refuse_socket_directory(&config)?;
        let (connector, mode) = tls::connector(tls, ca_file)?;
        refuse_contradiction(config.get_ssl_mode(), mode, tls)?;
        config.ssl_mode(mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(connect_timeout);
        }
        let keys = match tls {
            Tls::Disable => "key \"url\"",
            Tls::Require | Tls::VerifyFull => "keys \"url\" and \"tls\"",
        };
        Ok(Self {
            config,
            tls: connector,
            keys,
        })
    }

    /// Sets a server setting for every connection (`-c name=value` in the startup options,
    /// after any the URL gives), such as `statement_timeout`.
    pub fn set(&mut self, name: &str, value: &str) {
        let setting = format!("-c {name}={value}");
        let options = match self.config.get_options() {
            Some(options) if !options.is_empty() => format!("{options} {setting}"),
            _ => setting,
        };
        self.config.options(&options);
    }

    /// Where the database is, for the log (never a password): `user@host:port/dbname`.
    pub fn describe(&self) -> String {
        use postgres::config::Host;
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .zip(
                self.config
                    .get_ports()
                    .iter()
                    .chain(std::iter::repeat(&5432)),
            )
            .map(|(host, port)| match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            })
            .collect();
        format!(
            "{}@{}/{}",
            self.config.get_user().unwrap_or_default(),
            hosts.join(","),
            self.config.get_dbname().unwrap_or_default()
        )
    }

    /// One connection, outside the pool: at startup, so that a wrong URL, TLS setting or a
    /// database that is down stops the server with the cause (the pool keeps only the text of
    /// its last error: "error performing TLS handshake", but not which certificate failed).
    pub fn connect(&self) -> Result<postgres::Client, String> {
        self.config.connect(self.tls.clone()).map_err(|err| {
            format!(
                "the database is unreachable ({}); check the {} and that PostgreSQL runs",
                with_causes(&err),
                self.keys
            )
        })
    }

    /// The pool: at most `size` connections, none kept open before they are needed (a cluster
    /// of instances must not hold `size` connections each while quiet); a call waits at most
    /// `wait` for one.
    pub fn pool(self, size: u32, wait: Duration) -> Pool {
        let manager = PostgresConnectionManager::new(self.config, self.tls);
        r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(wait)
            // The pool's own log would go to stderr, bypassing the host's logger.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager)
    }
}

/// An error and its causes, `error: cause: cause`.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Refuses a host that is a socket directory (`/run/postgresql`): Unix sockets are a Unix
/// thing, and elsewhere the client would look the path up as a host name and fail with a DNS
/// error that does not say why.
#[cfg(not(unix))]
fn refuse_socket_directory(config: &postgres::Config) -> Result<(), String> {
    use postgres::config::Host;
    for Host::Tcp(host) in config.get_hosts() {
        if host.starts_with('/') {
            return Err(format!(
                "\"url\": host {host} is a Unix socket directory, not available on this \
                 platform; give a host name or address"
            ));
        }
    }
    Ok(())
}

/// Refuses a URL whose `sslmode` says otherwise than `"tls"`: `"tls"` decides (it defaults to
/// `"disable"`), so `sslmode=require` in the URL would silently connect in plain text. `prefer`,
/// the URL's default, says nothing and is left to `"tls"`.
fn refuse_contradiction(
    url_mode: postgres::config::SslMode,
    mode: postgres::config::SslMode,
    tls: &Tls,
) -> Result<(), String> {
    use postgres::config::SslMode;
    let url_name = match url_mode {
        SslMode::Disable => "disable",
        SslMode::Require => "require",
        _ => return Ok(()),
    };
    if url_mode == mode {
        return Ok(());
    }
    let tls = match tls {
        Tls::Disable => "disable",
        Tls::Require => "require",
        Tls::VerifyFull => "verify-full",
    };
    Err(format!(
        "\"url\" says sslmode={url_name} but \"tls\" is \"{tls}\": the URL's sslmode is not \
         used, set \"tls\" (\"disable\", \"require\" or \"verify-full\") and drop it from the URL"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_added_to_the_urls_options_and_the_log_shows_no_password() {
        let mut database = Database::new(
            "postgresql://pop3:hunter2@db.internal:5433/mail?options=-c%20search_path%3Dmail",
            &Tls::Disable,
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        database.set("statement_timeout", "1000");
        assert_eq!(
            database.config.get_options(),
            Some("-c search_path=mail -c statement_timeout=1000")
        );
        assert_eq!(database.describe(), "pop3@db.internal:5433/mail");
        assert_eq!(
            database.config.get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = Database::new(
            "postgresql://db/mail?sslmode=bogus",
            &Tls::Disable,
            None,
            Duration::from_secs(1),
        );
        assert!(err.err().unwrap().starts_with("\"url\": "));
        let ca = Path::new("/ca.pem");
        let err = Database::new(
            "postgresql://db/mail",
            &Tls::Require,
            Some(ca),
            Duration::from_secs(1),
        );
        assert!(err
            .err()
            .unwrap()
            .starts_with("\"ca_file\": only used with"));
    }

    #[cfg(not(unix))]
    #[test]
    fn a_socket_directory_is_refused_off_unix() {
        for url in [
            "postgresql://pop3@%2Frun%2Fpostgresql/mail",
            "host=/run/postgresql dbname=mail",
            "host=db,/tmp dbname=mail",
        ] {
            let err = Database::new(url, &Tls::Disable, None, Duration::from_secs(1));
            let err = err.err().unwrap_or_else(|| panic!("{url}: accepted"));
            assert!(err.starts_with("\"url\": host /"), "{url}: {err}");
            assert!(err.contains("Unix socket directory"), "{url}: {err}");
        }
    }

    #[test]
    fn a_url_sslmode_that_contradicts_tls_stops_startup() {
        let new = |url: &str, tls: Tls| Database::new(url, &tls, None, Duration::from_secs(1));
        for (url, tls) in [
            ("postgresql://db/mail?sslmode=require", Tls::Disable),
            ("host=db dbname=mail sslmode=require", Tls::Disable),
            ("postgresql://db/mail?sslmode=disable", Tls::Require),
            ("postgresql://db/mail?sslmode=disable", Tls::VerifyFull),
        ] {
            let err = new(url, tls.clone()).err().unwrap();
            assert!(
                err.starts_with("\"url\" says sslmode=") && err.contains("\"tls\" is"),
                "{url} {tls:?}: {err}"
            );
        }
        for (url, tls) in [
            ("postgresql://db/mail?sslmode=require", Tls::Require),
            ("postgresql://db/mail?sslmode=require", Tls::VerifyFull),
            ("postgresql://db/mail?sslmode=disable", Tls::Disable),
            ("postgresql://db/mail?sslmode=prefer", Tls::Disable),
            ("postgresql://db/mail", Tls::Require),
        ] {
            assert!(new(url, tls.clone()).is_ok(), "{url} {tls:?}");
        }
    }
}
