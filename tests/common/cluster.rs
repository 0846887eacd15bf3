//! A real PostgreSQL (Debian's `postgresql` package) in a temporary directory on loopback,
//! for the postgres plugin's tests, and the plugin's own build. CI runs as root and
//! PostgreSQL refuses to run as root, so as root the server runs as `nobody`.
//!
//! Every wait is bounded; the server is stopped (immediately) and its directory removed when
//! the value drops, which also happens when a test fails.

use super::process::{output_within, Guarded};
use super::{bin_dir, build, cargo_build, packages, DEADLINE};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Builds pop3host, the plugins and the postgres plugin with its `pop3host-pg` once.
pub fn build_postgres() {
    static BUILT: OnceLock<()> = OnceLock::new();
    build();
    BUILT.get_or_init(|| cargo_build(packages(&["postgres-backend"])));
}

pub fn postgres_plugin() -> PathBuf {
    build_postgres();
    bin_dir().join("libpostgres.so")
}

pub fn pop3host_pg() -> PathBuf {
    build_postgres();
    bin_dir().join("pop3host-pg")
}

/// A free loopback port (bound and released: good enough for a test that binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    effective_uid() == 0
}

/// The effective uid, from /proc (the test crate has no libc binding).
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|uid| uid.parse().ok())
        .unwrap_or(u32::MAX)
}

/// A command of PostgreSQL's, run as `nobody` when the tests run as root.
fn pg_command(program: &str) -> Command {
    let path = Path::new(PG_BIN).join(program);
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

/// Runs a PostgreSQL tool, which may take a while on a loaded machine (initdb, a start).
fn run(mut command: Command, what: &str) -> Output {
    let output = output_within(&mut command, DEADLINE * 3);
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub struct Postgres {
    dir: PathBuf,
    pub port: u16,
    /// Settings beyond the test defaults (`-c name=value ...`).
    settings: String,
}

/// A CA and a server certificate for 127.0.0.1 that it signed, as PEM: (CA, certificate, key).
pub fn server_certificate() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

impl Postgres {
    /// initdb and start a server on a free loopback port (trust authentication, loopback only,
    /// no fsync: a test database).
    pub fn start() -> Postgres {
        Self::start_with(None)
    }

    /// The same, also offering TLS (`ssl = on`) with this certificate and key (PEM).
    pub fn start_with_tls(cert: &str, key: &str) -> Postgres {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Postgres {
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "PostgreSQL 15 is not installed (apt-get install postgresql; .ci/run does it)"
        );
        let dir = std::env::temp_dir().join(format!(
            "pop3host-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            run(
                {
                    let mut chown = Command::new("chown");
                    chown.arg("nobody:nogroup").arg(&dir);
                    chown
                },
                "chown",
            );
        }
        let mut postgres = Postgres {
            dir,
            port: free_port(),
            settings: String::new(),
        };
        let mut initdb = pg_command("initdb");
        initdb
            .args([
                "--auth=trust",
                "--username=pop3",
                "--encoding=UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(postgres.data());
        run(initdb, "initdb");
        if let Some((cert, key)) = tls {
            postgres.install_certificate(cert, key);
        }
        postgres.ctl_start();
        postgres
    }

    /// Puts the certificate and key into the data directory, the key readable by the server's
    /// user alone as PostgreSQL demands, and turns TLS on.
    fn install_certificate(&mut self, cert: &str, key: &str) {
        use std::os::unix::fs::PermissionsExt;
        for (name, pem) in [("server.crt", cert), ("server.key", key)] {
            let path = self.data().join(name);
            std::fs::write(&path, pem).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            if is_root() {
                let mut chown = Command::new("chown");
                chown.arg("nobody:nogroup").arg(&path);
                run(chown, "chown");
            }
        }
        self.settings = " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key".into();
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn ctl_start(&self) {
        let mut ctl = pg_command("pg_ctl");
        ctl.args(["-w", "-t", &DEADLINE.as_secs().to_string(), "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=60{}",
                self.port,
                self.dir.display(),
                self.settings
            ))
            .arg("start");
        run(ctl, "pg_ctl start");
    }

    /// Stops the server (fast: sessions are cut), and returns when it is down.
    pub fn stop(&self) {
        let mut ctl = pg_command("pg_ctl");
        ctl.args([
            "-w",
            "-t",
            &DEADLINE.as_secs().to_string(),
            "-m",
            "fast",
            "-D",
        ])
        .arg(self.data())
        .arg("stop");
        run(ctl, "pg_ctl stop");
    }

    /// Starts it again after `stop`, on the same port.
    pub fn start_again(&self) {
        self.ctl_start();
    }

    /// The server's processes: the postmaster and its children (sessions, workers), for
    /// tests that stop them (`kill -STOP`) to play a server that no longer answers.
    pub fn processes(&self) -> Vec<u32> {
        let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let postmaster: u32 = pid_file.lines().next().unwrap().trim().parse().unwrap();
        let parent = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        let children = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| parent(pid) == Some(postmaster));
        std::iter::once(postmaster).chain(children).collect()
    }

    pub fn url(&self) -> String {
        format!("postgresql://pop3@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL through psql and returns its unaligned output, rows one a line.
    pub fn sql(&self, sql: &str) -> String {
        let mut psql = Command::new(Path::new(PG_BIN).join("psql"));
        psql.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url())
            .args(["-c", sql]);
        String::from_utf8(run(psql, "psql").stdout)
            .unwrap()
            .trim()
            .to_string()
    }

    /// The plugin config for this database.
    pub fn plugin_config(&self, extra: &str) -> String {
        format!(
            r#"{{"url": "{}", "pool_size": 4, "apply_schema": true, "lock_lease_seconds": 3{extra}}}"#,
            self.url()
        )
    }

    /// Adds a user with a password field such as `{PLAIN}secret`.
    pub fn add_user(&self, name: &str, password: &str) {
        self.sql(&format!(
            "INSERT INTO users (name, password) VALUES ('{name}', '{password}')"
        ));
    }

    /// `pop3host-pg deliver USER` with `message` on stdin; returns its exit code.
    pub fn deliver(&self, user: &str, message: &[u8]) -> i32 {
        self.deliver_with(&[], user, message)
    }

    /// The same with more options of `pop3host-pg` (`--tls ...`).
    pub fn deliver_with(&self, options: &[&str], user: &str, message: &[u8]) -> i32 {
        use std::io::Write;
        let mut child = Guarded::spawn(
            Command::new(pop3host_pg())
                .args(["--url", &self.url()])
                .args(options)
                .args(["deliver", user])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        child.stdin.take().unwrap().write_all(message).unwrap();
        child.wait(DEADLINE).code().unwrap_or(-1)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut ctl = pg_command("pg_ctl");
        ctl.args(["-w", "-t", "10", "-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // No panic here: this may run while a failed test unwinds.
        let _ = Guarded::spawn(&mut ctl).wait_within(DEADLINE);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A real HAProxy (Debian's `haproxy`) in TCP mode on a loopback port in front of
/// `backends`, sending PROXY v2 (also on its health checks) and checking each backend with a
/// POP3 health check every 300 ms. Killed when dropped.
pub struct Haproxy {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    stats: PathBuf,
    dir: PathBuf,
}

impl Haproxy {
    pub fn start(backends: &[std::net::SocketAddr]) -> Haproxy {
        let dir = std::env::temp_dir().join(format!(
            "pop3host-haproxy-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let stats = dir.join("stats.sock");
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                format!(
                    "  server s{i} {addr} send-proxy-v2 check check-send-proxy inter 300ms fall 2 rise 1\n"
                )
            })
            .collect();
        let config = format!(
            "global\n  stats socket {stats} level admin\n  maxconn 500\n\
             defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n\
             frontend pop3\n  bind 127.0.0.1:{port}\n  default_backend pop3hosts\n\
             backend pop3hosts\n  balance roundrobin\n  option tcp-check\n  tcp-check expect string +OK\n{servers}",
            stats = stats.display()
        );
        let config_path = dir.join("haproxy.cfg");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy runs (apt-get install haproxy; .ci/run does it)");
        let haproxy = Haproxy {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            stats,
            dir,
        };
        for i in 0..backends.len() {
            haproxy.wait_status(&format!("s{i}"), "UP");
        }
        haproxy
    }

    /// The status column of `show stat` for a server ("UP", "DOWN", ...), `None` while the
    /// stats socket is not there yet.
    pub fn status(&self, server: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut socket = std::os::unix::net::UnixStream::connect(&self.stats).ok()?;
        socket.write_all(b"show stat\n").ok()?;
        let mut csv = String::new();
        socket.read_to_string(&mut csv).ok()?;
        csv.lines()
            .map(|line| line.split(',').collect::<Vec<_>>())
            .find(|fields| fields.get(1) == Some(&server))
            .and_then(|fields| fields.get(17).map(|status| status.to_string()))
    }

    /// Waits until `server`'s status starts with `status`.
    pub fn wait_status(&self, server: &str, status: &str) {
        let started = std::time::Instant::now();
        loop {
            let now = self.status(server);
            if now.as_deref().is_some_and(|now| now.starts_with(status)) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "haproxy server {server} not {status}: {now:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
