//! pop3host: a POP3 server whose mailboxes come from plugins.
//!
//! - [`protocol`]: the wire format, sans I/O.
//! - [`session`]: the per-connection state machine, sans I/O.
//! - [`server`]: tokio listeners and connections, backend calls on the blocking pool.
//! - [`service`]: the loaded plugin and the session settings it implies.
//! - [`config`], [`loader`], [`logging`], [`privileges`]: settings, plugin loading, log
//!   output, dropping root.
//! - [`scm`]: running as a Windows service.

pub mod admin;
pub mod check;
pub mod config;
pub mod descriptors;
pub mod loader;
pub mod logging;
pub mod metrics;
pub mod os_error;
pub mod privileges;
pub mod protocol;
pub mod scm;
pub mod server;
pub mod service;
pub mod session;

use config::{Config, Settings};
use service::Service;

/// Everything `main` does: configure, load the plugin, read the certificate, bind, drop
/// privileges, serve until a signal or, for a service, the `supervisor`'s stop.
pub fn run(settings: Settings, supervisor: Option<server::Supervisor>) -> Result<(), String> {
    let config = Config::from_settings(settings.clone())?;
    logging::init(&config)?;
    if config.describe {
        let path = loader::resolve(&config.plugin, config.plugin_dir.as_deref())?;
        println!("{:#}", loader::describe(&loader::load(&path)?, &path));
        return Ok(());
    }
    let tls = match &config.tls {
        Some((cert, key)) => Some(server::Tls::load(cert, key)?),
        None => None,
    };
    let service = Service::start(&config, tls.is_some())?;
    if config.check_config {
        println!(
            "configuration OK: plugin {} initialised",
            service.plugin_path.display()
        );
        return Ok(());
    }
    descriptors::raise_limit(descriptors::needed(
        config.limits.max_connections,
        service.descriptors_per_session,
    ));
    let listeners = server::listeners(&config)?;
    privileges::drop_root(&config.privileges)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(server::serve(
        &config, settings, listeners, service, tls, supervisor,
    ));
    // A call stuck in the plugin would hold the runtime, and the process, forever: running
    // calls and the plugin's `shutdown` get one backend timeout, then the process exits.
    runtime.shutdown_timeout(config.backend_timeout);
    served
}
