//! Reliability of a running server: the plugin swapped on SIGHUP while sessions go on (to
//! another path, or rebuilt at the same path), the maildrop lock kept across a swap,
//! --check-config, and restarts under systemd-style socket activation.

mod common;

use common::abi_v1::fixture_plugin;
use common::{plugin, pop3host, Client, Server, TempDir, DEADLINE};
use serde_json::json;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn users(name: &str) -> String {
    json!({"users": {name: {"password": "pw", "builtin": true}}}).to_string()
}

fn server_with_config_file(file: &Path) -> Server {
    let plugin = plugin("static_messages");
    let config = format!("@{}", file.display());
    Server::start(&[
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-config",
        &config,
    ])
}

#[test]
fn sighup_swaps_the_plugin_for_new_sessions_only() {
    let dir = TempDir::new("reload-swap");
    let file = dir.join("plugin.json");
    std::fs::write(&file, users("alice")).unwrap();
    let server = server_with_config_file(&file);
    let mut old = server.client();
    old.login("alice", "pw");
    std::fs::write(&file, users("carol")).unwrap();
    server.signal("HUP");
    server.wait_for_log("new sessions use the reloaded plugin");
    wait_until_served(&server, "carol", "pw");
    assert!(!serves(&server, "alice", "pw"));
    // The session that started before the swap finishes on the old plugin.
    assert!(old.cmd("RETR 1").starts_with("+OK"));
    old.body();
    assert!(old.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn a_plugin_that_fails_to_load_leaves_the_old_one_serving() {
    let dir = TempDir::new("reload-broken");
    let file = dir.join("plugin.json");
    std::fs::write(&file, users("alice")).unwrap();
    let server = server_with_config_file(&file);
    std::fs::write(&file, r#"{"users": {"x": {"nonsense": 1}}}"#).unwrap();
    server.signal("HUP");
    server.wait_for_log("kept the old plugin");
    assert!(serves(&server, "alice", "pw"));
    std::fs::write(&file, users("alice")).unwrap();
    server.signal("HUP");
    server.wait_for_log("plugin and its configuration unchanged");
}

/// How many times the load test reloads the plugin.
const RELOADS: usize = 3;

/// The static-messages config of generation `generation`: user `load` (any number of sessions
/// at once) with one message that names the generation, as its text and as its UIDL.
fn generation_config(generation: usize) -> String {
    let message = json!({"id": format!("gen-{generation}"), "text": generation_text(generation)});
    let user = json!({"password": "pw", "exclusive": false, "messages": [message]});
    json!({"users": {"load": user}}).to_string()
}

fn generation_text(generation: usize) -> String {
    format!("Subject: generation {generation}\r\n\r\nserved by generation {generation}\r\n")
}

/// How a load session ended: served whole by the plugin of a generation, or refused with a
/// clean `-ERR`. Anything else is a protocol violation (the `Err`).
enum Outcome {
    Served(usize),
    Refused(String),
}

/// One session of the load test: USER/PASS, UIDL 1, STAT, RETR 1, QUIT, each reply checked
/// against the generation that UIDL names.
fn load_session(addr: SocketAddr) -> Result<Outcome, String> {
    let mut c = Client::connect(addr);
    let greeting = c.line();
    if !greeting.starts_with("+OK") {
        return Err(format!("greeting {greeting:?}"));
    }
    // A clean refusal ends the session; any other reply but +OK is a violation.
    let mut command = |command: &str| match c.cmd(command) {
        reply if reply.starts_with("+OK") => Ok(Ok(reply)),
        reply if reply.starts_with("-ERR ") && reply.ends_with("\r\n") => {
            Ok(Err(Outcome::Refused(reply)))
        }
        reply => Err(format!("{command}: {reply:?}")),
    };
    for login in ["USER load", "PASS pw"] {
        if let Err(refused) = command(login)? {
            return Ok(refused);
        }
    }
    let uidl = match command("UIDL 1")? {
        Ok(uidl) => uidl,
        Err(refused) => return Ok(refused),
    };
    let generation: usize = uidl
        .trim_end()
        .strip_prefix("+OK 1 gen-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("UIDL 1: {uidl:?}"))?;
    let text = generation_text(generation);
    let stat = c.cmd("STAT");
    if stat != format!("+OK 1 {}\r\n", text.len()) {
        return Err(format!("STAT on generation {generation}: {stat:?}"));
    }
    let retr = c.cmd("RETR 1");
    let body = if retr.starts_with("+OK") {
        c.body()
    } else {
        Vec::new()
    };
    if body != text.as_bytes() {
        let body = String::from_utf8_lossy(&body);
        return Err(format!(
            "RETR 1 on generation {generation}: {retr:?} {body:?}"
        ));
    }
    match c.cmd("QUIT").as_str() {
        "+OK Logging out, 0 messages deleted.\r\n" => Ok(Outcome::Served(generation)),
        quit => Err(format!("QUIT: {quit:?}")),
    }
}

/// What the load test's clients saw, shared between them.
#[derive(Default)]
struct Tally {
    /// Sessions served, by generation.
    served: Vec<usize>,
    refused: Vec<String>,
    violations: Vec<String>,
}

#[test]
fn sessions_go_on_through_swaps_and_new_ones_use_the_new_plugin() {
    let dir = TempDir::new("reload-busy");
    let file = dir.join("plugin.json");
    std::fs::write(&file, generation_config(0)).unwrap();
    let server = server_with_config_file(&file);
    let tally = Arc::new(Mutex::new(Tally {
        served: vec![0; RELOADS + 1],
        ..Tally::default()
    }));
    let done = Arc::new(AtomicBool::new(false));
    // Each client runs sessions back to back until every reload is done. Its sessions follow
    // one another, so the generation that serves them never goes back.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, tally, done) = (server.addr, tally.clone(), done.clone());
            std::thread::spawn(move || {
                let mut newest = 0;
                while !done.load(Ordering::Relaxed) {
                    let outcome = load_session(addr);
                    let mut tally = tally.lock().unwrap();
                    match outcome {
                        Ok(Outcome::Served(generation)) if generation >= newest => {
                            newest = generation;
                            tally.served[generation] += 1;
                        }
                        Ok(Outcome::Served(generation)) => tally.violations.push(format!(
                            "generation {generation} served a session after {newest} did"
                        )),
                        Ok(Outcome::Refused(reply)) => tally.refused.push(reply),
                        Err(violation) => tally.violations.push(violation),
                    }
                }
            })
        })
        .collect();
    // Sessions are served by each generation in turn, with the clients busy throughout.
    let served = |generation: usize| tally.lock().unwrap().served[generation];
    let wait_until_served = |generation: usize| {
        let started = Instant::now();
        while served(generation) == 0 {
            assert!(
                started.elapsed() < DEADLINE,
                "no session served by generation {generation}; violations: {:?}\n{}",
                tally.lock().unwrap().violations,
                server.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    wait_until_served(0);
    for generation in 1..=RELOADS {
        std::fs::write(&file, generation_config(generation)).unwrap();
        server.signal("HUP");
        server.wait_for_log_count("new sessions use the reloaded plugin", generation);
        wait_until_served(generation);
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("no client failed");
    }
    let tally = tally.lock().unwrap();
    eprintln!(
        "{RELOADS} reloads; sessions served by each generation: {:?}; refused: {}",
        tally.served,
        tally.refused.len()
    );
    assert!(tally.violations.is_empty(), "{:?}", tally.violations);
    assert!(tally.served.iter().all(|&n| n > 0), "{:?}", tally.served);
    assert!(
        tally.refused.len() <= tally.served.iter().sum::<usize>() / 10,
        "most sessions are served: {:?}",
        tally.refused
    );
}

#[test]
fn check_config_validates_without_serving() {
    let output = common::process::output(Command::new(pop3host()).args([
        "--plugin",
        "static_messages",
        "--check-config",
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("configuration OK"));
    let output = common::process::output(Command::new(pop3host()).args([
        "--plugin",
        "static_messages",
        "--check-config",
        "--plugin-config",
        r#"{"users": 1}"#,
    ]));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("init failed"));
}

/// A supervisor in the manner of systemd: it owns the listening socket, starts pop3host with
/// it as descriptor 3 (`LISTEN_FDS`), stops it and starts a new one. A client that connects
/// between the two is queued by the kernel and served by the second.
const SUPERVISOR: &str = r#"
import os, socket, subprocess, sys, time
socket.setdefaulttimeout(20)
binary, plugin = sys.argv[1], sys.argv[2]
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(64)
port = listener.getsockname()[1]
def start():
    def child():
        os.dup2(listener.fileno(), 3)
        os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="pop3")
    return subprocess.Popen([binary, "--plugin", plugin, "--listen", "127.0.0.1:1"],
                            preexec_fn=child, pass_fds=(listener.fileno(),), stderr=subprocess.DEVNULL)
def greeting(sock):
    sock.settimeout(20)
    return sock.makefile("rb").readline().decode().strip()
first = start()
a = socket.create_connection(("127.0.0.1", port)); print(greeting(a)); a.close()
first.terminate(); first.wait(timeout=20)
waiting = socket.create_connection(("127.0.0.1", port))
second = start()
print(greeting(waiting)); waiting.close()
second.terminate(); second.wait(timeout=20)
"#;

#[test]
fn a_restart_under_socket_activation_refuses_no_connection() {
    let started = Instant::now();
    let output = common::process::output(Command::new("python3").args([
        "-c",
        SUPERVISOR,
        pop3host().to_str().unwrap(),
        plugin("static_messages").to_str().unwrap(),
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let greetings: Vec<&str> = stdout.lines().collect();
    assert_eq!(greetings.len(), 2, "{stdout}");
    assert!(
        greetings
            .iter()
            .all(|g| g.starts_with("+OK pop3host ready.")),
        "{stdout}"
    );
    assert_ne!(
        greetings[0], greetings[1],
        "two processes (their APOP timestamps differ)"
    );
    assert!(started.elapsed() < DEADLINE * 2);
}

// --- reloads by content, and the maildrop lock across a reload -------------------------

/// `user` logs in with `pass` on a fresh connection, and QUITs so that the maildrop is free
/// again at once.
fn serves(server: &Server, user: &str, pass: &str) -> bool {
    let mut c = server.client();
    c.line();
    c.cmd(&format!("USER {user}"));
    let served = c.cmd(&format!("PASS {pass}")).starts_with("+OK");
    if served {
        assert!(c.cmd("QUIT").starts_with("+OK"));
    }
    served
}

/// Waits until new sessions are served by the plugin that knows `user`: the reload's log
/// line is written just before the new plugin takes over.
fn wait_until_served(server: &Server, user: &str, pass: &str) {
    let started = Instant::now();
    while !serves(server, user, pass) {
        assert!(
            started.elapsed() < DEADLINE,
            "new sessions are not served by the plugin with user {user}:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Waits for the `count`th `plugin loaded` line (the first is the start's).
fn wait_for_load(server: &Server, count: usize) {
    server.wait_for_log_count("plugin loaded", count);
}

/// The content hash of every `plugin loaded` line so far, in order.
fn loaded_hashes(server: &Server) -> Vec<String> {
    let log = server.log();
    let loaded = log.lines().filter(|line| line.contains("plugin loaded"));
    loaded
        .map(|line| {
            let at = line.find("sha256=").unwrap_or_else(|| {
                panic!("the plugin's content hash is not logged (sha256=): {line}")
            });
            let value = line[at + "sha256=".len()..].trim_start_matches('"');
            value.chars().take_while(char::is_ascii_hexdigit).collect()
        })
        .collect()
}

/// SHA-256 of the file at `path`, in lowercase hex.
fn sha256(path: &Path) -> String {
    let text = common::process::run(Command::new("sha256sum").arg(path));
    text.split_whitespace().next().unwrap().to_string()
}

/// Plugin A is static-messages (user `test`, password `test`), plugin B the abi-v1 fixture's
/// (user `v1`, password `pw`): different code, different users.
const A_USER: (&str, &str) = ("test", "test");
const B_USER: (&str, &str) = ("v1", "pw");

/// A session on plugin A that must survive a reload: it retrieves a message and QUITs.
fn finish_on_a(mut old: Client) {
    assert!(
        old.cmd("RETR 1").starts_with("+OK"),
        "the old session lost A"
    );
    assert!(!old.body().is_empty());
    assert!(
        old.cmd("QUIT").starts_with("+OK"),
        "the old session ends cleanly"
    );
}

/// Sends SIGHUP to a server that serves plugin A (built as `a`) and session `old` on it,
/// after B (built as `b`) took A's place in the configuration or on disk: new sessions get
/// B, `old` finishes on A, and the log names each build.
fn assert_sighup_swaps_a_for_b(server: &Server, old: Client, a: &Path, b: &Path) {
    server.signal("HUP");
    wait_for_load(server, 2);
    wait_until_served(server, B_USER.0, B_USER.1);
    assert!(
        !serves(server, A_USER.0, A_USER.1),
        "A still serves new sessions"
    );
    finish_on_a(old);
    let hashes = loaded_hashes(server);
    assert_eq!(hashes, [sha256(a), sha256(b)], "the log names each build");
}

#[test]
fn sighup_swaps_to_a_plugin_at_another_path() {
    let dir = TempDir::new("reload-other-path");
    let (a, b) = (dir.join("a/libplugin.so"), dir.join("b/libplugin.so"));
    for (from, to) in [(plugin("static_messages"), &a), (fixture_plugin(), &b)] {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
    let config = dir.join("pop3host.json");
    std::fs::write(&config, json!({"plugin": a}).to_string()).unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let mut old = server.client();
    old.login(A_USER.0, A_USER.1);

    std::fs::write(&config, json!({"plugin": b}).to_string()).unwrap();
    assert_sighup_swaps_a_for_b(&server, old, &a, &b);
}

/// Plugin A at a path, then B written over it (A's build replaced by a rebuild), in place
/// (`cp`: the same inode) or by a rename (a new inode), and SIGHUP with the configuration
/// unchanged: new sessions get B, and a session that started on A finishes on A.
fn sighup_reloads_a_plugin_rebuilt_at_the_same_path(name: &str, in_place: bool) {
    let dir = TempDir::new(name);
    let path = dir.join("libplugin.so");
    let (a, b) = (plugin("static_messages"), fixture_plugin());
    std::fs::copy(&a, &path).unwrap();
    let mut server = Server::start(&["--plugin", path.to_str().unwrap()]);
    let mut old = server.client();
    old.login(A_USER.0, A_USER.1);

    let inode = std::fs::metadata(&path).unwrap().ino();
    if in_place {
        std::fs::copy(&b, &path).unwrap();
    } else {
        let temp = path.with_extension("so.new");
        std::fs::copy(&b, &temp).unwrap();
        std::fs::rename(&temp, &path).unwrap();
    }
    let same_inode = std::fs::metadata(&path).unwrap().ino() == inode;
    assert_eq!(same_inode, in_place, "replaced in place: {in_place}");
    assert_eq!(sha256(&path), sha256(&b));
    assert_sighup_swaps_a_for_b(&server, old, &a, &b);
    assert!(server.is_running(), "{}", server.log());
}

/// `cp` over the file (what `cargo build` and an installer may do): the same inode, new
/// contents, while the server has the old build loaded.
#[test]
fn sighup_reloads_a_plugin_overwritten_in_place() {
    sighup_reloads_a_plugin_rebuilt_at_the_same_path("reload-in-place", true);
}

/// A new file renamed over the old one (what `install` and package managers do): a new
/// inode at the same path.
#[test]
fn sighup_reloads_a_plugin_replaced_by_rename() {
    sighup_reloads_a_plugin_rebuilt_at_the_same_path("reload-rename", false);
}

/// RFC 1939's maildrop lock holds across a reload: a session that started on the old
/// backend still holds `test`'s maildrop, though the new backend never saw it log in.
#[test]
fn a_maildrop_stays_in_use_across_a_reload() {
    let dir = TempDir::new("reload-in-use");
    let file = dir.join("plugin.json");
    std::fs::write(&file, "null").unwrap();
    let server = server_with_config_file(&file);
    let mut first = server.client();
    first.login(A_USER.0, A_USER.1);

    // The same maildrop for `test`, and a user `marker` that only the new backend knows.
    let config = json!({"users": {
        "test": {"password": "test", "builtin": true},
        "marker": {"password": "pw"},
    }});
    std::fs::write(&file, config.to_string()).unwrap();
    server.signal("HUP");
    wait_for_load(&server, 2);
    wait_until_served(&server, "marker", "pw");

    let mut second = server.client();
    assert!(second.line().starts_with("+OK"));
    assert!(second.cmd("USER test").starts_with("+OK"));
    let reply = second.cmd("PASS test");
    assert!(
        reply.starts_with("-ERR [IN-USE]"),
        "a second session of test while the first (started before the reload) lives: {reply}"
    );
    finish_on_a(first);
    assert!(second.cmd("USER test").starts_with("+OK"));
    let reply = second.cmd("PASS test");
    assert!(reply.starts_with("+OK Logged in"), "{reply}");
    assert!(second.cmd("QUIT").starts_with("+OK"));
}
