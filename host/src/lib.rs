//! pop3host: a POP3 server whose mailboxes come from plugins.
//!
//! - [`protocol`]: the wire format, sans I/O.
//! - [`session`]: the per-connection state machine, sans I/O.
//! - [`server`]: tokio listeners and connections, backend calls on the blocking pool.
//! - [`config`], [`loader`], [`logging`]: settings, plugin loading, log output.

pub mod config;
pub mod loader;
pub mod logging;
pub mod privileges;
pub mod protocol;
pub mod server;
pub mod session;

use config::{Config, Settings, MAX_GREETING};
use session::SessionConfig;

/// Everything `main` does: configure, load the plugin, read the certificate, bind, drop
/// privileges, serve until a signal.
pub fn run(settings: Settings) -> Result<(), String> {
    let config = Config::from_settings(settings)?;
    logging::init(&config)?;
    let path = loader::resolve(&config.plugin, config.plugin_dir.as_deref())?;
    let plugin = loader::load(&path)?;
    if config.describe {
        println!("{:#}", loader::describe(&plugin, &path));
        return Ok(());
    }
    let info = plugin.describe();
    let backend = plugin
        .init(&config.plugin_config)
        .map_err(|e| format!("plugin {}: init failed: {}", path.display(), e.message))?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(server::Tls::load(cert, key)?),
        None => None,
    };
    let session = SessionConfig {
        greeting: config.greeting.clone(),
        apop: backend.supports_apop(),
        login_delay: backend.login_delay(None),
        expire: backend.expire(None),
        hostname: config.hostname.clone(),
        tls_available: tls.is_some(),
        max_auth_failures: config.limits.max_auth_failures,
    };
    check_greeting_fits(&session)?;
    let mut bound = server::bind_all(&config.listen, false, config.listen_is_default)?;
    bound.extend(server::bind_all(&config.tls_listen, true, false)?);
    privileges::drop(&config.privileges)?;
    tracing::info!(plugin = info.name, version = info.version, path = %path.display(), apop = session.apop, "plugin loaded");
    let backend = server::Backend::new(
        info.name,
        backend,
        config.backend_concurrency,
        config.backend_timeout,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(server::serve(&config, bound, backend, session, tls))
}

/// With APOP the greeting also carries `<pid.connection.time@hostname>`; the whole must fit.
fn check_greeting_fits(session: &SessionConfig) -> Result<(), String> {
    if !session.apop {
        return Ok(());
    }
    let longest_timestamp = format!(
        "<{}.{}.{}@{}>",
        u32::MAX,
        u64::MAX,
        u64::MAX,
        session.hostname
    );
    let length = session.greeting.len() + 1 + longest_timestamp.len();
    if length > MAX_GREETING {
        return Err(format!(
            "greeting: with the APOP timestamp it is {length} octets, over the {MAX_GREETING} allowed; shorten it or --hostname"
        ));
    }
    Ok(())
}
