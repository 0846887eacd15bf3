//! pop3host on Windows, run under Wine and driven from Linux: the host and its plugins
//! cross-built for x86_64-pc-windows-gnu with mingw-w64, `wine pop3host.exe` serving on a
//! loopback port, real clients on Linux (curl, Python's poplib) fetching the same bytes as
//! from the Linux build. Phase 1 of Windows support covers static_messages.dll and
//! hello_plugin.dll; maildir, proxy and postgres are Linux-only for now.
//!
//! Skipped, with a message that names what is missing, where wine, mingw-w64 or the Rust
//! target is not installed; `.ci/run` installs all three, so CI always runs it.

mod common;

use common::clients::{assert_same, curl_message, poplib_mailbox};
use common::process::output_within;
use common::{bin_dir, cargo_build, packages, Client, Server, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    stops_gracefully_on_ctrl_c(&wine);
    refuses_the_unix_only_options(&wine);
    eprintln!("the Windows test took {:?}", started.elapsed());
}

/// `--plugin NAME` is `NAME.dll` beside pop3host.exe; a Windows path (drive letter,
/// backslashes) is a path.
fn plugins_are_found_by_their_windows_names(wine: &Wine) {
    let by_path =
        format!(r"Z:{}", wine.bin().join("hello_plugin.dll").display()).replace('/', r"\");
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
        let built = ["pop3host", "static-messages", "hello-plugin"];
        cargo_build(["--target", TARGET].into_iter().chain(packages(&built)));
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
        for file in ["pop3host.exe", "static_messages.dll", "hello_plugin.dll"] {
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
