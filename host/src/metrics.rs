//! What the server counts, for Prometheus: one registry for the process, counted where each
//! thing happens, read by `GET /metrics` (`server::metrics_endpoint`). Counting is an atomic
//! add, so it is always on; only the endpoint is optional.
//!
//! Every label takes its value from a small fixed set (a command, a callback, a result, a
//! reason), never from what a client sends: no user name, no address, and a bounded number of
//! series whatever the traffic.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Handshake {
    /// `implicit` (a TLS port) or `stls`.
    pub kind: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeKind {
    /// `implicit` (a TLS port) or `stls`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginLabels {
    pub mechanism: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabel {
    pub command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Ended {
    pub ended: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub callback: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallbackLabel {
    pub callback: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub plugin: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub result: &'static str,
}

type Latencies = Family<CallbackLabel, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub connections: Counter,
    pub connections_open: Gauge,
    pub connections_refused: Family<Reason, Counter>,
    pub tls_handshakes: Family<Handshake, Counter>,
    pub tls_resumed: Family<HandshakeKind, Counter>,
    pub logins: Family<LoginLabels, Counter>,
    pub commands: Family<CommandLabel, Counter>,
    pub octets_sent: Counter,
    pub sessions_ended: Family<Ended, Counter>,
    pub messages_deleted: Counter,
    pub backend_calls: Family<CallLabels, Counter>,
    pub backend_call_seconds: Latencies,
    pub backend_calls_stuck: Gauge,
    pub plugin: Family<PluginLabels, Gauge>,
    pub plugin_loaded_seconds: Gauge,
    pub reloads: Family<Outcome, Counter>,
}

/// Call latencies from 0.5 ms to about 16 s.
fn call_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("pop3host"),
            connections: Counter::default(),
            connections_open: Gauge::default(),
            connections_refused: Family::default(),
            tls_handshakes: Family::default(),
            tls_resumed: Family::default(),
            logins: Family::default(),
            commands: Family::default(),
            octets_sent: Counter::default(),
            sessions_ended: Family::default(),
            messages_deleted: Counter::default(),
            backend_calls: Family::default(),
            backend_call_seconds: Family::new_with_constructor(call_histogram),
            backend_calls_stuck: Gauge::default(),
            plugin: Family::default(),
            plugin_loaded_seconds: Gauge::default(),
            reloads: Family::default(),
        };
        let r = &mut metrics.registry;
        r.register(
            "connections",
            "Connections accepted",
            metrics.connections.clone(),
        );
        r.register(
            "connections_open",
            "Connections open now",
            metrics.connections_open.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused at admission, by limit",
            metrics.connections_refused.clone(),
        );
        r.register(
            "tls_handshakes",
            "TLS handshakes, by kind and result",
            metrics.tls_handshakes.clone(),
        );
        r.register(
            "tls_resumed_handshakes",
            "TLS handshakes that resumed a session (by ticket or session ID), by kind",
            metrics.tls_resumed.clone(),
        );
        r.register(
            "logins",
            "Logins, by mechanism and result",
            metrics.logins.clone(),
        );
        r.register(
            "commands",
            "Commands received, by name",
            metrics.commands.clone(),
        );
        r.register(
            "sent_octets",
            "Octets written to clients",
            metrics.octets_sent.clone(),
        );
        r.register(
            "sessions_ended",
            "Sessions ended, by how",
            metrics.sessions_ended.clone(),
        );
        r.register(
            "messages_deleted",
            "Messages deleted in UPDATE",
            metrics.messages_deleted.clone(),
        );
        r.register(
            "backend_calls",
            "Plugin calls, by callback and result (ok, error, timeout, panic, no_slot)",
            metrics.backend_calls.clone(),
        );
        r.register(
            "backend_call_seconds",
            "Plugin call latency, by callback",
            metrics.backend_call_seconds.clone(),
        );
        r.register(
            "backend_calls_stuck",
            "Plugin calls past their deadline that have not returned",
            metrics.backend_calls_stuck.clone(),
        );
        r.register(
            "plugin",
            "The plugin build new sessions get (always 1)",
            metrics.plugin.clone(),
        );
        r.register(
            "plugin_loaded_timestamp_seconds",
            "When that plugin was loaded, in Unix seconds",
            metrics.plugin_loaded_seconds.clone(),
        );
        r.register(
            "reloads",
            "SIGHUP reloads of the plugin, by result",
            metrics.reloads.clone(),
        );
        metrics
    }

    /// The registry in the OpenMetrics text format, which Prometheus reads.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// The plugin build that serves from now on.
    pub fn serving(&self, plugin: PluginLabels) {
        self.plugin.clear();
        self.plugin.get_or_create(&plugin).set(1);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
        self.plugin_loaded_seconds
            .set(now.map_or(0, |d| d.as_secs() as i64));
    }

    /// A plugin call's end; `took` is `None` for a call refused before it started.
    pub fn backend_call(
        &self,
        callback: &'static str,
        result: &'static str,
        took: Option<Duration>,
    ) {
        self.backend_calls
            .get_or_create(&CallLabels { callback, result })
            .inc();
        if let Some(took) = took {
            self.backend_call_seconds
                .get_or_create(&CallbackLabel { callback })
                .observe(took.as_secs_f64());
        }
    }
}

/// A connection, counted open until it is dropped.
pub struct ConnectionOpen(());

impl ConnectionOpen {
    /// Counts a connection accepted, and open from now on.
    pub fn accepted() -> Self {
        metrics().connections.inc();
        metrics().connections_open.inc();
        ConnectionOpen(())
    }
}

impl Drop for ConnectionOpen {
    fn drop(&mut self) {
        metrics().connections_open.dec();
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}
