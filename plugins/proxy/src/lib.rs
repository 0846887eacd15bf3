//! # proxy: an upstream POP3 server as the mailbox
//!
//! pop3host in front of another POP3 server: to add TLS, limits and logging to an old
//! server, during a migration, or to send each user to the server that holds their mail.
//! Each login opens a connection to the user's upstream (plain, STLS or implicit TLS) and
//! logs in there with the client's credentials; the upstream's answer, response code
//! included, decides. The session's messages, UIDLs and sizes are the upstream's; RETR and
//! TOP stream from it; DELE reaches it only when the client QUITs.
//!
//! The plugin speaks POP3 with blocking std I/O and rustls (ring): the host calls it
//! synchronously on its blocking pool, where blocking is what threads are for, so it needs no
//! tokio. The keys are in `config_help.txt`, which `--describe` prints.
//!
//! A hostile or slow upstream costs one session, never the server: each call from the host
//! ends by its deadline (`deadline`) and every answer is bounded in octets (`upstream`,
//! `body`, `listing`); when the proxy gives up it closes the upstream connection, never
//! reads on to resync it. Ids are valid and unique whatever the upstream lists (`ids`).
//!
//! Module map: `config` (with `pop3_client_tls`, whose certificates to trust) and `routing`
//! pick an `endpoint`; `transport`, `upstream`,
//! `response` and `capa` talk to it, by the call's `deadline`; `link`, `reader` and `body`
//! share one connection between a mailbox and its message readers; `mailbox`,
//! `listing`, `ids` and `received` serve the host; `error` decides what the client hears
//! when the upstream fails.

mod body;
mod capa;
mod config;
mod deadline;
mod endpoint;
mod error;
mod ids;
mod link;
mod listing;
mod mailbox;
mod reader;
mod received;
mod response;
mod routing;
mod transport;
mod upstream;

pub use mailbox::ProxyMailbox;

use config::Config;
use pop3_plugin_api::{export_plugin, info, warn, Backend, Connection, PluginInfo, PopError};
use received::Stamp;
use std::time::SystemTime;

pub struct Proxy {
    config: Config,
}

impl Backend for Proxy {
    type Mailbox = ProxyMailbox;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "proxy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Serves the mailboxes of upstream POP3 servers: logins, messages and \
                          deletions pass through, with TLS to the upstream and routing by \
                          user or domain."
                .into(),
            config_help: include_str!("config_help.txt").into(),
        }
    }

    fn init(config: &str) -> Result<Self, PopError> {
        let config = config::parse(config)?;
        for endpoint in config.routes.iter() {
            if endpoint.security.target().is_some_and(|tls| !tls.verified) {
                warn!(
                    "proxy: certificates of upstream {} are NOT verified (\"insecure\": true)",
                    endpoint.address
                );
            }
        }
        let default = config.routes.default_route();
        info!(
            "proxy: default upstream {} (tls {}), {} route(s) in all",
            default.address,
            default.security.name(),
            config.routes.iter().count()
        );
        Ok(Self { config })
    }

    fn authenticate(
        &self,
        user: &str,
        password: &str,
        _conn: &Connection,
    ) -> Result<ProxyMailbox, PopError> {
        let endpoint = self.config.routes.find(user);
        let stamp = self
            .config
            .received_by
            .as_deref()
            .map(|by| Stamp::new(&endpoint.address.host, by, SystemTime::now()));
        let deadline = deadline::for_call(self.config.timeouts.call);
        let login = endpoint.login_name(user);
        ProxyMailbox::open(
            endpoint,
            &self.config.timeouts,
            deadline,
            login,
            password,
            stamp,
        )
    }
}

export_plugin!(Proxy);
