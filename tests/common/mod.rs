//! The end-to-end harness: builds the real binary and plugins once, starts `pop3host` on an
//! ephemeral loopback port, and talks to it as a raw TCP client. Every wait has a deadline.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod abi_v1;
pub mod auth_cache;
pub mod clients;
pub mod cluster;
pub mod fake_ldap;
pub mod ldap;
pub mod maildir_site;
pub mod metrics;
pub mod process;
pub mod proxy_protocol;
pub mod user_sources;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use process::BUILD_DEADLINE;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The directory with the binary and the plugin libraries (target/debug or target/release):
/// the test executable lives in its `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// `cargo build --quiet` with `args` (and `--release` when the tests are a release build),
/// from the workspace root; fails the test unless it succeeds within [`BUILD_DEADLINE`].
pub fn cargo_build<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--quiet"]).args(args);
    if bin_dir().ends_with("release") {
        cargo.arg("--release");
    }
    cargo.current_dir(env!("CARGO_MANIFEST_DIR"));
    let output = process::output_within(&mut cargo, BUILD_DEADLINE);
    assert!(
        output.status.success(),
        "{cargo:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `-p` before each package name, for [`cargo_build`].
pub fn packages<'a>(names: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    names.iter().flat_map(|name| ["-p", name])
}

/// Builds pop3host and the plugins once per test binary. `cargo test` does not build the
/// cdylibs of other workspace members, so the tests do it themselves.
pub fn build() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let plugins = ["static-messages", "maildir", "proxy", "rule-breaker"];
        cargo_build(packages(&[&["pop3host"][..], &plugins].concat()));
    });
}

pub fn pop3host() -> PathBuf {
    build();
    bin_dir().join("pop3host")
}

pub fn plugin(name: &str) -> PathBuf {
    build();
    bin_dir().join(format!("lib{name}.so"))
}

/// The log of a pop3host that must refuse to start with `plugin` and its `config`.
pub fn refused_start(plugin: &Path, config: &str) -> String {
    let args = [
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-config",
        config,
    ];
    Server::try_start(&args)
        .err()
        .expect("pop3host refuses to start")
}

/// A running pop3host; killed when dropped.
pub struct Server {
    child: Child,
    /// The first plain listener.
    pub addr: SocketAddr,
    /// The first implicit-TLS listener, if any.
    pub tls_addr: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts pop3host with `args` plus a loopback listener on a free port, and waits until
    /// it listens.
    pub fn start(args: &[&str]) -> Server {
        Self::try_start(args).unwrap_or_else(|log| panic!("pop3host did not start:\n{log}"))
    }

    /// Like `start`, but returns the log if the server exits or never listens.
    pub fn try_start(args: &[&str]) -> Result<Server, String> {
        Self::try_start_binary(&pop3host(), args)
    }

    /// Like `try_start`, with another pop3host binary (an installed one, say).
    pub fn try_start_binary(binary: &Path, args: &[&str]) -> Result<Server, String> {
        Self::try_start_command(Command::new(binary), args)
    }

    /// Like `try_start`, with pop3host started by `command` (`wine pop3host.exe`, say).
    pub fn try_start_command(mut command: Command, args: &[&str]) -> Result<Server, String> {
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        if !args.contains(&"--log-level") {
            command.args(["--log-level", "debug"]);
        }
        let mut child = command
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pop3host starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let started = Instant::now();
        loop {
            let wants_tls = args.contains(&"--tls-listen");
            let (addr, tls_addr) = {
                let log = log.lock().unwrap();
                (listening_addr(&log, false), listening_addr(&log, true))
            };
            if let Some(addr) = addr.filter(|_| tls_addr.is_some() || !wants_tls) {
                return Ok(Server {
                    child,
                    addr,
                    tls_addr,
                    log,
                });
            }
            if child.try_wait().expect("wait works").is_some() || started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(50)); // let the reader drain the pipe
                return Err(log.lock().unwrap().clone());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts pop3host with `args`, which must fail to start; returns the log.
    pub fn start_fails(args: &[&str]) -> String {
        match Self::try_start(args) {
            Ok(server) => panic!("pop3host started:\n{}", server.log()),
            Err(log) => log,
        }
    }

    /// pop3host on the static-messages plugin, with its built-in mailbox or `config`.
    pub fn with_static(config: Option<&str>, extra: &[&str]) -> Server {
        let plugin = plugin("static_messages");
        let mut args = vec!["--plugin", plugin.to_str().unwrap()];
        if let Some(config) = config {
            args.extend(["--plugin-config", config]);
        }
        args.extend(extra);
        Self::start(&args)
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        self.wait_for_log_count(needle, 1);
    }

    /// Waits until the log contains `needle` at least `count` times.
    pub fn wait_for_log_count(&self, needle: &str, count: usize) {
        let started = Instant::now();
        while self.log().matches(needle).count() < count {
            assert!(
                started.elapsed() < DEADLINE,
                "not {count} times {needle:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, name: &str) {
        process::run(Command::new("kill").args(["-s", name, &self.child.id().to_string()]));
    }

    /// Waits for the process to exit and returns whether it exited successfully.
    pub fn wait_exit(&mut self) -> bool {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "pop3host did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL, as a crash would: no cleanup of any kind.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of the first listener logged, plain or implicit TLS.
fn listening_addr(log: &str, tls: bool) -> Option<SocketAddr> {
    let marker = if tls { " tls=true" } else { " tls=false" };
    log.lines().find_map(
        |line| match serde_json::from_str::<serde_json::Value>(line) {
            // --log-format json
            Ok(event) => {
                let fields = &event["fields"];
                let listening = fields["message"] == "listening" && fields["tls"] == tls;
                listening.then(|| fields["addr"].as_str()?.parse().ok())?
            }
            Err(_) if line.contains("listening") && line.contains(marker) => {
                let rest = &line[line.find("addr=")? + 5..];
                rest.split_whitespace().next()?.parse().ok()
            }
            Err(_) => None,
        },
    )
}

/// A raw POP3 client over TCP.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connects");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let writer = stream.try_clone().unwrap();
        Client {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Reads one line, CRLF included (empty at end of stream).
    pub fn line(&mut self) -> String {
        String::from_utf8_lossy(&self.raw_line()).into_owned()
    }

    pub fn raw_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .expect("reads a line before the deadline");
        line
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("sends");
    }

    /// Sends a command line and returns the status line.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.line()
    }

    /// Reads a multi-line body up to the terminator, as on the wire (still dot-stuffed,
    /// terminator excluded).
    pub fn body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.raw_line();
            assert!(
                !line.is_empty(),
                "connection closed inside a multi-line body"
            );
            if line == b".\r\n" {
                return body;
            }
            body.extend(line);
        }
    }

    /// Reads the greeting, then logs in with USER/PASS; panics unless it succeeds.
    pub fn login(&mut self, user: &str, pass: &str) -> String {
        let greeting = self.line();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        assert!(self.cmd(&format!("USER {user}")).starts_with("+OK"));
        let reply = self.cmd(&format!("PASS {pass}"));
        assert!(reply.starts_with("+OK"), "login failed: {reply}");
        reply
    }

    /// Reads exactly `buf.len()` octets.
    pub fn read_exact(&mut self, buf: &mut [u8]) {
        self.reader
            .read_exact(buf)
            .expect("reads the octets before the deadline");
    }

    /// Another handle on the connection, to write from another thread.
    pub fn writer(&self) -> TcpStream {
        self.writer.try_clone().unwrap()
    }

    /// Reads until the server closes the connection and returns what came before the close.
    /// Panics if the server keeps the connection open past [`DEADLINE`]: a test that expects
    /// a close must not pass on a server that merely goes silent. A reset counts as a close
    /// (the server closed with client bytes unread).
    pub fn rest(&mut self) -> Vec<u8> {
        self.rest_within(DEADLINE)
    }

    /// [`Client::rest`] with its own deadline for the close.
    pub fn rest_within(&mut self, deadline: Duration) -> Vec<u8> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(deadline))
            .unwrap();
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!(
                "the server did not close the connection within {deadline:?} ({e}); \
                 it sent {:?} before going silent",
                String::from_utf8_lossy(&rest)
            ),
        }
        self.reader
            .get_ref()
            .set_read_timeout(Some(DEADLINE))
            .unwrap();
        rest
    }

    /// Asserts that the server closes the connection without sending anything more.
    pub fn closed(&mut self) {
        let rest = self.rest();
        assert!(
            rest.is_empty(),
            "expected the server to close the connection, it sent {:?} first",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Half-closes: the server reads end of stream, the client can still read.
    pub fn close_write(&self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Write);
    }

    pub fn shutdown_write(&self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

/// `count` logins of alice, whose `authenticate` the plugin holds past the deadline: each
/// gets `[SYS/TEMP]`, and each call counts as stuck.
pub fn stuck_logins(server: &Server, count: usize) {
    let mut stuck: Vec<Client> = (0..count)
        .map(|_| {
            let mut c = server.client();
            c.line();
            c.cmd("USER alice");
            c.send(b"PASS pw\r\n");
            c
        })
        .collect();
    for c in &mut stuck {
        assert!(c.line().starts_with("-ERR [SYS/TEMP]"));
    }
    server.wait_for_log_count("stuck past its deadline", count);
}

/// USER/PASS on a new connection: the client and the reply to PASS.
pub fn try_login(server: &Server, user: &str, pass: &str) -> (Client, String) {
    let mut c = server.client();
    assert!(c.line().starts_with("+OK"));
    assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
    let reply = c.cmd(&format!("PASS {pass}"));
    (c, reply)
}

/// APOP on a new connection with the greeting's timestamp and `secret`: the client and the
/// reply.
pub fn try_apop(server: &Server, user: &str, secret: &str) -> (Client, String) {
    use md5::{Digest, Md5};
    let mut c = server.client();
    let greeting = c.line();
    let timestamp =
        &greeting[greeting.find('<').expect("APOP timestamp")..=greeting.rfind('>').unwrap()];
    let digest: String = Md5::digest(format!("{timestamp}{secret}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let reply = c.cmd(&format!("APOP {user} {digest}"));
    (c, reply)
}

/// Fails the test unless it runs as root: tests of uid switching and privilege dropping must
/// fail, not pass silently, where they cannot run (CI runs them as root).
pub fn require_root(why: &str) {
    assert_eq!(
        proc_status_field(std::process::id(), "Uid:", 1),
        0,
        "this test must run as root: {why}"
    );
}

/// The `index`th number of the `field` line in `/proc/<pid>/status` (for `Uid:` and `Gid:`,
/// 0 is the real id and 1 the effective one).
pub fn proc_status_field(pid: u32, field: &str, index: usize) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    line.split_whitespace().nth(index).unwrap().parse().unwrap()
}

/// Removes dot-stuffing from a multi-line body (as [`Client::body`] gives it: no terminator).
pub fn unstuff(body: &[u8]) -> Vec<u8> {
    pop3_client_codec::multiline::unstuff(body).body
}

/// What a message looks like on the wire once unstuffed: CRLF line ends, a final CRLF.
pub fn crlf_normalized(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for (i, &b) in message.iter().enumerate() {
        if b == b'\n' && (i == 0 || message[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(if out.ends_with(b"\r") { b"\n" } else { b"\r\n" });
    }
    out
}

/// Set to keep the temporary directory of a test that fails, to look at what it left.
pub const KEEP_TEMP: &str = "POP3HOST_KEEP_TEMP";

/// A fresh temporary directory of one test, removed when dropped: when the test passes and
/// when it panics (unless [`KEEP_TEMP`] is set). Declare it before the servers that use it, so
/// that they are dropped (killed) first. It derefs to its path.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// `<tmp>/pop3host-e2e-<pid>-<n>-<name>`: `name` says whose it is, `n` keeps directories
    /// of tests running at once apart.
    pub fn new(name: &str) -> TempDir {
        static CREATED: AtomicUsize = AtomicUsize::new(0);
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let unique = format!("pop3host-e2e-{}-{n}-{name}", std::process::id());
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os(KEEP_TEMP).is_some() {
            eprintln!("kept {} ({KEEP_TEMP} is set)", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `pop3host check --allow-delete` on a plugin; the report is on stdout.
pub fn check(plugin: &Path, config: &str, user: &str, pass: &str) -> std::process::Output {
    let mut command = Command::new(pop3host());
    command
        .args(["check", "--allow-delete", "--plugin"])
        .arg(plugin)
        .args(["--plugin-config", config, "--user", user, "--pass", pass])
        .env("RUST_LOG", "error");
    // Every rule against the plugin, the largest message included: slow on a loaded machine.
    process::output_within(&mut command, DEADLINE * 3)
}

/// Asserts that every rule of `pop3host check` passed.
/// Every rule of `pop3host check` passed; the prefetch rule runs only for a plugin that allows
/// prefetch, and is skipped otherwise.
pub fn assert_check_passes(output: &std::process::Output, prefetch: bool) {
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (summary, rule) = match prefetch {
        true => ("9 passed, 0 failed, 0 skipped", "PASS  prefetch"),
        false => ("8 passed, 0 failed, 1 skipped", "SKIP  prefetch"),
    };
    assert!(
        report.contains(summary) && report.contains(rule),
        "{report}"
    );
}

/// A self-signed certificate for `localhost` and its key, as PEM files in a temporary
/// directory that goes with it.
pub struct TestCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TempDir,
}

pub fn test_certificate(name: &str) -> TestCertificate {
    let dir = TempDir::new(name);
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    TestCertificate {
        cert,
        key,
        _dir: dir,
    }
}

/// A fake server on a loopback port (an upstream for the proxy plugin): each connection is
/// served by `serve` on its own thread. The threads end with the test process.
pub fn fake_upstream(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let serve = serve.clone();
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}
