//! pop3host on Windows, run under Wine and driven from Linux: the host and its plugins
//! cross-built for x86_64-pc-windows-gnu with mingw-w64, `wine pop3host.exe` serving on a
//! loopback port, real clients on Linux (curl, Python's poplib) fetching the same bytes as
//! from the Linux build: static_messages.dll, hello_plugin.dll, maildir.dll (a passwd-file
//! user whose home has a drive letter; Windows' `!` info separator on disk), proxy.dll (in
//! front of a Linux pop3host) and postgres.dll (on a PostgreSQL started on Linux).
//!
//! It also runs pop3host.exe as a Windows service under Wine's Service Control Manager
//! (services.exe), driven with Wine's sc.exe.
//!
//! Skipped, with a message that names what is missing, where wine, mingw-w64 or the Rust
//! target is not installed; `.ci/run` installs all three, so CI always runs it.

mod common;

use common::clients::{assert_same, curl_message, curl_sizes, poplib_mailbox};
use common::cluster::{build_postgres, free_port, Postgres};
use common::process::{output_within, run, Guarded};
use common::{
    bin_dir, cargo_build, crlf_normalized, packages, test_certificate, unstuff, Client, Server,
    TempDir,
};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TARGET: &str = "x86_64-pc-windows-gnu";

/// The first `wine` run creates the prefix (a Windows directory tree, ~700 MB), which takes
/// tens of seconds on a loaded machine.
const WINE_BOOT: Duration = Duration::from_secs(300);

#[test]
fn pop3host_exe_serves_under_wine() {
    let missing = missing_tools();
    if !missing.is_empty() {
        eprintln!(
            "skipped: the Windows test needs {} (.ci/run installs them)",
            missing.join(", ")
        );
        return;
    }
    let started = Instant::now();
    let wine = Wine::set_up();
    eprintln!("built and booted Wine in {:?}", started.elapsed());
    plugins_are_found_by_their_windows_names(&wine);
    serves_the_bytes_the_linux_build_serves(&wine);
    deletes_at_quit_and_keeps_a_second_session_out(&wine);
    proxies_a_linux_server_byte_for_byte(&wine);
    serves_from_postgres(&wine);
    serves_a_maildir(&wine);
    refuses_the_unix_only_drivers(&wine);
    stops_gracefully_on_ctrl_c(&wine);
    refuses_the_unix_only_options(&wine);
    let service = Instant::now();
    runs_as_a_windows_service(&wine);
    eprintln!("the service part took {:?}", service.elapsed());
    eprintln!("the Windows test took {:?}", started.elapsed());
}

/// `--plugin NAME` is `NAME.dll` beside pop3host.exe; a Windows path (drive letter,
/// backslashes) is a path.
fn plugins_are_found_by_their_windows_names(wine: &Wine) {
    let by_path = windows_path(&wine.bin().join("hello_plugin.dll"));
    for (plugin, file, name) in [
        ("static-messages", "static_messages.dll", "static-messages"),
        ("hello-plugin", "hello_plugin.dll", "hello"),
        (by_path.as_str(), "hello_plugin.dll", "hello"),
    ] {
        let output = output_within(
            &mut wine.pop3host(&["--plugin", plugin, "--describe"]),
            common::DEADLINE,
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "--plugin {plugin}: {printed}");
        let described: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(described["name"], name, "{printed}");
        let path = described["path"].as_str().unwrap();
        assert!(path.ends_with(&format!(r"\{file}")), "{path}");
    }

    let server = wine.start(&["--plugin", "hello-plugin"]);
    let mut c = server.client();
    c.login("hello", "world");
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert_eq!(c.body(), b"Subject: Hello\r\n\r\nHello, world!\r\n");
}

/// The built-in maildrop of static_messages (dot lines, bare LF, NUL bytes, a 3000-octet
/// line, 4 MiB generated) through curl and poplib: byte for byte what the Linux build serves.
fn serves_the_bytes_the_linux_build_serves(wine: &Wine) {
    let linux = Server::with_static(None, &[]);
    let windows = wine.start(&["--plugin", "static_messages"]);
    let (want, want_uidl) = poplib_mailbox(linux.port(), "test", "test", &wine.dir.join("linux"));
    let (got, got_uidl) = poplib_mailbox(windows.port(), "test", "test", &wine.dir.join("windows"));
    assert!(want.len() >= 6, "the built-in maildrop has its messages");
    assert_eq!(got.len(), want.len());
    assert_eq!(got_uidl, want_uidl);
    for (n, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_same(got, want, &format!("poplib, message {}", n + 1));
    }
    for n in 1..=want.len() {
        assert_same(
            &curl_message(windows.port(), "test", "test", n),
            &curl_message(linux.port(), "test", "test", n),
            &format!("curl, message {n}"),
        );
    }
}

/// DELE takes effect at QUIT, not before; a second session of the user gets [IN-USE].
fn deletes_at_quit_and_keeps_a_second_session_out(wine: &Wine) {
    let server = wine.start(&["--plugin", "static_messages"]);
    let mut first = server.client();
    first.login("test", "test");
    let count = stat_count(&mut first);
    assert!(first.cmd("DELE 1").starts_with("+OK"));

    let mut second = server.client();
    assert!(second.line().starts_with("+OK"));
    assert!(second.cmd("USER test").starts_with("+OK"));
    let reply = second.cmd("PASS test");
    assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");

    assert!(first.cmd("QUIT").starts_with("+OK"));
    first.closed();
    let mut third = server.client();
    third.login("test", "test");
    assert_eq!(stat_count(&mut third), count - 1);
    assert!(third.cmd("UIDL 1").starts_with("+OK 1 test-2"));
}

/// proxy.dll in front of a Linux pop3host (static-messages, STARTTLS with a test
/// certificate): each message curl fetches through it is the bytes the Linux server serves.
fn proxies_a_linux_server_byte_for_byte(wine: &Wine) {
    let reference = Server::with_static(None, &[]);
    let count = curl_sizes(reference.port(), "test", "test").len();
    assert!(count >= 6, "the built-in maildrop has its messages");
    // A user per fetch, each with the built-in maildrop: the upstream session of one fetch
    // may hold its maildrop's lock for a moment after curl's QUIT.
    let users: serde_json::Map<String, serde_json::Value> = (1..=count)
        .map(|n| (format!("u{n}"), json!({"password": "pw", "builtin": true})))
        .collect();
    let certificate = test_certificate("windows-proxy");
    let upstream = Server::with_static(
        Some(&json!({ "users": users }).to_string()),
        &[
            "--tls-cert",
            certificate.cert.to_str().unwrap(),
            "--tls-key",
            certificate.key.to_str().unwrap(),
        ],
    );
    let config = json!({
        "upstream": upstream.addr.to_string(),
        "tls": "starttls",
        "ca_file": windows_path(&certificate.cert),
        "server_name": "localhost",
    });
    let proxy = wine.start(&["--plugin", "proxy", "--plugin-config", &config.to_string()]);
    for n in 1..=count {
        assert_same(
            &curl_message(proxy.port(), &format!("u{n}"), "pw", n),
            &curl_message(reference.port(), "test", "test", n),
            &format!("curl through proxy.dll, message {n}"),
        );
    }
}

/// postgres.dll on a real PostgreSQL (started on Linux, see `common::cluster`): a message
/// delivered with the Linux `pop3host-pg`, then a login and a RETR under Wine.
fn serves_from_postgres(wine: &Wine) {
    let pg = Postgres::start();
    let config = pg.plugin_config("");
    let server = wine.start(&["--plugin", "postgres", "--plugin-config", &config]);
    // The plugin made the schema (apply_schema) before the server listened.
    pg.add_user("alice", "{PLAIN}secret");
    let message = b"Subject: from PostgreSQL\n\n.leading dot\nno final newline";
    assert_eq!(pg.deliver("alice", message), 0);
    let mut c = server.client();
    c.login("alice", "secret");
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert_eq!(unstuff(&c.body()), crlf_normalized(message));
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

/// The messages of ann's maildir: a `new/` message with a dot line and bare LFs, one with
/// CRLFs, and a `cur/` one named with Windows' `!2,S` and no final newline.
const MAILDIR: [(&str, &[u8]); 3] = [
    (
        "new/1700000000.M1P1.host",
        b"Subject: one\n\n.dot line\nbare LF\n",
    ),
    ("new/1700000001.M2P1.host", b"Subject: two\r\n\r\nCRLF\r\n"),
    (
        "cur/1700000002.M3P1.host!2,S",
        b"Subject: three\n\nno final newline",
    ),
];

/// maildir.dll with a passwd-file user whose home is a Windows path with a drive letter
/// (Wine's Z: is Linux's /): curl and poplib get every message byte for byte, a retrieved
/// message moves from new/ to cur/ under a `!2,S` name, a second session gets [IN-USE], and
/// DELE removes the file at QUIT.
fn serves_a_maildir(wine: &Wine) {
    let home = wine.dir.join("home/ann");
    let maildir = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (name, content) in MAILDIR {
        std::fs::write(maildir.join(name), content).unwrap();
    }
    let users = wine.dir.join("users");
    let line = format!("ann:{{PLAIN}}secret:::Ann:{}:\n", windows_path(&home));
    std::fs::write(&users, line).unwrap();
    let config = serde_json::json!({"passwd_file": windows_path(&users), "maildir": r"%h\Maildir"});
    let server = wine.start(&[
        "--plugin",
        "maildir",
        "--plugin-config",
        &config.to_string(),
    ]);

    for (n, (name, content)) in MAILDIR.iter().enumerate() {
        let got = curl_message(server.port(), "ann", "secret", n + 1);
        assert_same(&got, &crlf_normalized(content), &format!("curl, {name}"));
    }
    let names = |sub: &str| {
        let mut names: Vec<String> = std::fs::read_dir(maildir.join(sub))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names("new"),
        Vec::<String>::new(),
        "retrieved, so moved to cur/"
    );
    let seen = [
        "1700000000.M1P1.host!2,S",
        "1700000001.M2P1.host!2,S",
        "1700000002.M3P1.host!2,S",
    ];
    assert_eq!(names("cur"), seen);
    // The measured sizes, written under a temporary name and renamed into place.
    let sizes = std::fs::read_to_string(maildir.join("pop3host-sizes")).unwrap();
    assert!(sizes.starts_with("pop3host-sizes 1 3\n"), "{sizes}");

    let (fetched, uidl) = poplib_mailbox(server.port(), "ann", "secret", &wine.dir.join("maildir"));
    assert_eq!(fetched.len(), MAILDIR.len());
    for (got, (name, content)) in fetched.iter().zip(MAILDIR) {
        assert_same(got, &crlf_normalized(content), &format!("poplib, {name}"));
    }
    assert_eq!(
        uidl,
        "1 1700000000.M1P1.host\r\n2 1700000001.M2P1.host\r\n3 1700000002.M3P1.host"
    );

    let mut first = server.client();
    first.login("ann", "secret");
    assert!(first.cmd("DELE 1").starts_with("+OK"));
    let mut second = server.client();
    assert!(second.line().starts_with("+OK"));
    assert!(second.cmd("USER ann").starts_with("+OK"));
    let reply = second.cmd("PASS secret");
    assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
    assert_eq!(names("cur"), seen, "DELE takes effect at QUIT, not before");
    assert!(first.cmd("QUIT").starts_with("+OK"));
    first.closed();
    assert_eq!(names("cur"), seen[1..], "removed at QUIT");
    let mut third = server.client();
    third.login("ann", "secret");
    assert_eq!(stat_count(&mut third), 2);
}

/// The drivers that need Unix (PAM, a program reading descriptor 3) stop maildir.dll at
/// startup, naming the key and the driver.
fn refuses_the_unix_only_drivers(wine: &Wine) {
    let users = windows_path(&wine.dir.join("users"));
    for (sources, said) in [
        (
            serde_json::json!({"passdb": {"driver": "system"}}),
            "passdb.driver system: Unix only",
        ),
        (
            serde_json::json!({"passdb": {"driver": "checkpassword", "program": r"C:\check.exe"}}),
            "passdb.driver checkpassword: Unix only",
        ),
        (
            serde_json::json!({"userdb": {"driver": "system"}}),
            "userdb.driver system: Unix only",
        ),
    ] {
        let mut config = serde_json::json!({"passwd_file": users});
        config
            .as_object_mut()
            .unwrap()
            .extend(sources.as_object().unwrap().clone());
        let config = config.to_string();
        let mut pop3host = wine.pop3host(&["--plugin", "maildir", "--plugin-config", &config]);
        let output = output_within(pop3host.args(["--listen", "127.0.0.1:0"]), common::DEADLINE);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{config}: started");
        assert!(stderr.contains(said), "{config}: {stderr}");
    }
}

fn stat_count(c: &mut Client) -> usize {
    let stat = c.cmd("STAT");
    let count = stat.strip_prefix("+OK ").and_then(|s| s.split(' ').next());
    count
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("STAT: {stat}"))
}

/// Wine turns SIGINT into the console's Ctrl-C event, which the server takes as a stop.
fn stops_gracefully_on_ctrl_c(wine: &Wine) {
    let mut server = wine.start(&["--plugin", "static_messages"]);
    let mut c = server.client();
    c.login("test", "test");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    server.signal("INT");
    assert!(server.wait_exit(), "exits with success:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("shutting down: no new connections"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

/// `--user`, `--group`, `--chroot` and `--admin-socket` stop the server with the reason.
fn refuses_the_unix_only_options(wine: &Wine) {
    for (option, value, reason) in [
        ("--user", "nobody", "--user is not supported on Windows"),
        ("--group", "nogroup", "--group is not supported on Windows"),
        ("--chroot", r"C:\", "--chroot is not supported on Windows"),
        ("--admin-socket", "admin.sock", "not available on Windows"),
    ] {
        let mut pop3host = wine.pop3host(&["--plugin", "static_messages", option, value]);
        let output = output_within(pop3host.args(["--listen", "127.0.0.1:0"]), common::DEADLINE);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{option} {value}: started");
        assert!(stderr.contains(reason), "{option} {value}: {stderr}");
    }
}

/// `pop3host service install`, `sc start`, the options passed through the service's command
/// line (quotes, spaces, backslashes), mail fetched with curl, the "paramchange" control
/// reloading, `sc stop` stopping gracefully (the log says so, the Service Control Manager has
/// exit code 0, the port is closed), `pop3host service uninstall`.
fn runs_as_a_windows_service(wine: &Wine) {
    const NAME: &str = "pop3host-test";
    const GREETING: &str = r#"ready: "quoted" C:\dir\"#;
    let _keeper = wine.keep_services();
    let port = free_port();
    let log = wine.dir.join("service.log");
    let listen = format!("127.0.0.1:{port}");
    let log_file = windows_path(&log);
    let installed = run(&mut wine.pop3host(&[
        "service",
        "install",
        "--name",
        NAME,
        "--",
        "--plugin",
        "static_messages",
        "--listen",
        &listen,
        "--log-file",
        &log_file,
        "--greeting",
        GREETING,
    ]));
    assert!(
        installed.contains("installed service pop3host-test"),
        "{installed}"
    );

    run(&mut wine.wine("sc", &["start", NAME]));
    wait_for_state(wine, NAME, "RUNNING");
    let greeting = Client::connect(listen.parse().unwrap()).line();
    assert!(
        greeting.starts_with(&format!("+OK {GREETING} <")),
        "{greeting}"
    );
    let linux = Server::with_static(None, &[]);
    assert_same(
        &curl_message(port, "test", "test", 3),
        &curl_message(linux.port(), "test", "test", 3),
        "curl, message 3, from the service",
    );

    // Wine's sc.exe has no `control NAME paramchange`: a small C program sends it.
    let paramchange = wine.bin().join("paramchange.exe");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/service-control/paramchange.c");
    run(Command::new("x86_64-w64-mingw32-gcc")
        .args(["-municode", "-O2", "-o"])
        .args([&paramchange, &source])
        .arg("-ladvapi32"));
    run(&mut wine.wine(&windows_path(&paramchange), &[NAME]));
    wait_for_text(&log, "plugin and its configuration unchanged");

    run(&mut wine.wine("sc", &["stop", NAME]));
    let stopped = wait_for_state(wine, NAME, "STOPPED");
    assert!(stopped.contains("WIN32_EXIT_CODE    : 0 "), "{stopped}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("shutting down: no new connections"),
        "{logged}"
    );
    assert!(
        logged.lines().any(|line| line.ends_with(" stopped")),
        "{logged}"
    );
    assert!(
        TcpStream::connect(&listen).is_err(),
        "port {port} still open"
    );

    let removed = run(&mut wine.pop3host(&["service", "uninstall", "--name", NAME]));
    assert!(
        removed.contains("removed service pop3host-test"),
        "{removed}"
    );
    let query = output_within(&mut wine.wine("sc", &["query", NAME]), common::DEADLINE);
    assert!(!query.status.success(), "still registered after uninstall");
}

/// Waits until `sc query NAME` says the service is in `state`; returns what it said.
fn wait_for_state(wine: &Wine, name: &str, state: &str) -> String {
    let started = Instant::now();
    loop {
        let query = run(&mut wine.wine("sc", &["query", name]));
        let current = query
            .lines()
            .find(|line| line.trim_start().starts_with("STATE"));
        if current.is_some_and(|line| line.trim_end().ends_with(state)) {
            return query;
        }
        assert!(
            started.elapsed() < common::DEADLINE,
            "{name} is not {state}:\n{query}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the file at `path` contains `text`.
fn wait_for_text(path: &Path, text: &str) {
    let started = Instant::now();
    loop {
        let content = std::fs::read_to_string(path).unwrap_or_default();
        if content.contains(text) {
            return;
        }
        assert!(
            started.elapsed() < common::DEADLINE,
            "no {text:?} in {}:\n{content}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Linux path `path` as Wine's Windows programs see it: on drive Z:.
fn windows_path(path: &Path) -> String {
    format!(r"Z:{}", path.display()).replace('/', r"\")
}

/// What the test needs and cannot build itself.
fn missing_tools() -> Vec<&'static str> {
    let works = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let mut missing = Vec::new();
    if !works("wine") {
        missing.push("wine");
    }
    if !works("x86_64-w64-mingw32-gcc") {
        missing.push("mingw-w64 (x86_64-w64-mingw32-gcc)");
    }
    if !target_installed() {
        missing.push("the Rust target x86_64-pc-windows-gnu (rustup target add)");
    }
    missing
}

fn target_installed() -> bool {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output();
    sysroot.is_ok_and(|output| {
        let sysroot = String::from_utf8_lossy(&output.stdout);
        Path::new(sysroot.trim())
            .join("lib/rustlib")
            .join(TARGET)
            .is_dir()
    })
}

/// pop3host.exe and its plugins in `bin/`, and a Wine prefix of their own in `prefix/`, both
/// removed at the end.
struct Wine {
    dir: TempDir,
}

impl Wine {
    fn set_up() -> Wine {
        let built = [
            "pop3host",
            "static-messages",
            "hello-plugin",
            "maildir",
            "proxy",
            "postgres-backend",
        ];
        cargo_build(["--target", TARGET].into_iter().chain(packages(&built)));
        // The Linux pop3host-pg delivers the postgres test's message.
        build_postgres();
        // target/debug -> target/x86_64-pc-windows-gnu/debug (or release).
        let target = bin_dir();
        let built_dir = target
            .parent()
            .unwrap()
            .join(TARGET)
            .join(target.file_name().unwrap());
        let wine = Wine {
            dir: TempDir::new("windows"),
        };
        std::fs::create_dir(wine.bin()).unwrap();
        let files = [
            "pop3host.exe",
            "static_messages.dll",
            "hello_plugin.dll",
            "maildir.dll",
            "proxy.dll",
            "postgres.dll",
        ];
        for file in files {
            std::fs::copy(built_dir.join(file), wine.bin().join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        // The first run creates the prefix.
        let output = output_within(&mut wine.pop3host(&["--help"]), WINE_BOOT);
        assert!(
            output.status.success(),
            "wine pop3host.exe --help: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        wine
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// `wine pop3host.exe ARGS` in this prefix, through scripts/wine-run, which puts the
    /// ProcessPrng stand-in that Wine 8 lacks beside pop3host.exe.
    fn pop3host(&self, args: &[&str]) -> Command {
        let mut wine = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/wine-run"));
        wine.arg(self.bin().join("pop3host.exe"))
            .args(args)
            .env("WINEPREFIX", self.prefix());
        wine
    }

    /// `wine PROGRAM ARGS` in this prefix, for Wine's own programs (sc.exe, cmd.exe) and C
    /// programs, which need no ProcessPrng.
    fn wine(&self, program: &str, args: &[&str]) -> Command {
        let mut wine = Command::new("wine");
        wine.arg(program)
            .args(args)
            .env("WINEPREFIX", self.prefix())
            .env("WINEDEBUG", "-all");
        wine
    }

    /// Wine ends services.exe, and the services it runs, as soon as no other program of the
    /// prefix runs: a `wine cmd` waiting for its input keeps them while the returned child
    /// lives. It has booted the prefix when it answers: else a program whose output the test
    /// reads could boot it, and services.exe would hold that output open.
    fn keep_services(&self) -> Guarded {
        let mut cmd = self.wine("cmd", &[]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut keeper = Guarded::spawn(&mut cmd);
        let mut input = keeper.stdin.take().expect("stdin is piped");
        writeln!(input, "echo services-kept").unwrap();
        // Kept open: at the end of its input cmd exits.
        keeper.stdin = Some(input);
        let output = BufReader::new(keeper.stdout.take().expect("stdout is piped"));
        let (answered, answer) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = output.lines().map_while(Result::ok);
            let kept = lines.any(|line| line.trim_end().ends_with("services-kept"));
            let _ = answered.send(kept);
            // Read on, so that cmd never writes into a closed pipe.
            lines.for_each(drop);
        });
        let kept = answer.recv_timeout(WINE_BOOT);
        assert_eq!(kept, Ok(true), "wine cmd did not answer");
        keeper
    }

    fn prefix(&self) -> PathBuf {
        self.dir.join("prefix")
    }

    fn start(&self, args: &[&str]) -> Server {
        Server::try_start_command(self.pop3host(&[]), args)
            .unwrap_or_else(|log| panic!("wine pop3host.exe did not start:\n{log}"))
    }
}

impl Drop for Wine {
    /// wineserver outlives the prefix's last process by seconds: ended first, so that the
    /// prefix can go.
    fn drop(&mut self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", self.prefix())
            .status();
    }
}
