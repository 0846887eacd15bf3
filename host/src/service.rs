//! What the server serves: an initialised plugin and the session settings it implies. Built
//! at startup, and again on SIGHUP when the plugin or its configuration changed; sessions keep
//! the service they started with, so a swap drops no one.

use crate::config::{Config, MAX_GREETING};
use crate::loader;
use crate::metrics::PluginLabels;
use crate::server::PluginCalls;
use crate::session::SessionConfig;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Service {
    /// The initialised plugin, called through the limit and deadline of every call.
    pub plugin: Arc<PluginCalls>,
    pub session: Arc<SessionConfig>,
    /// Whether the plugin lets the server prefetch messages (`Backend::PREFETCH`).
    pub prefetch: bool,
    /// Where the plugin came from and how it was configured, to tell whether a reload
    /// changes anything.
    pub plugin_path: PathBuf,
    /// The content of the plugin file, as loaded: a rebuild at the same path is a change.
    pub plugin_sha256: String,
    pub plugin_version: String,
    /// What a session of this plugin keeps open (`Backend::DESCRIPTORS_PER_SESSION`).
    pub descriptors_per_session: u32,
    pub plugin_config: String,
}

impl Service {
    /// Loads and initialises the plugin `config` names. Blocking: plugin `init` may do I/O.
    pub fn start(config: &Config, tls_available: bool) -> Result<Self, String> {
        let path = loader::resolve(&config.plugin, config.plugin_dir.as_deref())?;
        let loaded = loader::load(&path)?;
        let plugin = loaded.plugin;
        let info = plugin.describe();
        let handle = plugin
            .init(&config.plugin_config)
            .map_err(|e| format!("plugin {}: init failed: {}", path.display(), e.message))?;
        let session = SessionConfig {
            greeting: config.greeting.clone(),
            apop: handle.supports_apop(),
            login_delay: handle.login_delay(None),
            expire: handle.expire(None),
            hostname: config.hostname.clone(),
            tls_available,
            max_auth_failures: config.limits.max_auth_failures,
        };
        check_greeting_fits(&session)?;
        tracing::info!(
            plugin = info.name,
            version = info.version,
            path = %path.display(),
            sha256 = loaded.sha256,
            apop = session.apop,
            prefetch = plugin.prefetch(),
            descriptors_per_session = plugin.descriptors_per_session(),
            "plugin loaded"
        );
        let calls = PluginCalls::new(
            info.name,
            handle,
            config.backend_concurrency,
            config.backend_timeout,
        );
        Ok(Self {
            plugin: Arc::new(calls),
            session: Arc::new(session),
            prefetch: plugin.prefetch(),
            plugin_path: path,
            plugin_sha256: loaded.sha256,
            plugin_version: info.version,
            descriptors_per_session: plugin.descriptors_per_session(),
            plugin_config: config.plugin_config.clone(),
        })
    }

    /// Which build serves, for the metrics.
    pub fn metric_labels(&self) -> PluginLabels {
        PluginLabels {
            plugin: self.plugin.name.clone(),
            version: self.plugin_version.clone(),
            sha256: self.plugin_sha256.clone(),
        }
    }

    /// Whether `config` names this same plugin file, with the same content, and the same
    /// configuration.
    pub fn is_same(&self, config: &Config) -> bool {
        let Ok(path) = loader::resolve(&config.plugin, config.plugin_dir.as_deref()) else {
            return false;
        };
        path == self.plugin_path
            && config.plugin_config == self.plugin_config
            && loader::sha256_of(&path).as_deref() == Ok(self.plugin_sha256.as_str())
    }
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
            "greeting: with the APOP timestamp it is {length} octets, over the {MAX_GREETING} \
             allowed; shorten it or --hostname"
        ));
    }
    Ok(())
}
