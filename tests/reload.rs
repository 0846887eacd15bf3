//! Reliability of a running server: the plugin swapped on SIGHUP while sessions go on,
//! --check-config, and restarts under systemd-style socket activation.

mod common;

use common::{plugin, pop3host, temp_path, Client, Server, DEADLINE};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// Whether `user` can log in with password `pw` on a fresh connection.
fn can_log_in(server: &Server, user: &str) -> bool {
    let mut c = server.client();
    c.line();
    c.cmd(&format!("USER {user}"));
    c.cmd("PASS pw").starts_with("+OK")
}

#[test]
fn sighup_swaps_the_plugin_for_new_sessions_only() {
    let file = temp_path("reload-swap.json");
    std::fs::write(&file, users("alice")).unwrap();
    let server = server_with_config_file(&file);
    let mut old = server.client();
    old.login("alice", "pw");
    std::fs::write(&file, users("carol")).unwrap();
    server.signal("HUP");
    server.wait_for_log("new sessions use the reloaded plugin");
    assert!(can_log_in(&server, "carol"));
    assert!(!can_log_in(&server, "alice"));
    // The session that started before the swap finishes on the old plugin.
    assert!(old.cmd("RETR 1").starts_with("+OK"));
    old.body();
    assert!(old.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn a_plugin_that_fails_to_load_leaves_the_old_one_serving() {
    let file = temp_path("reload-broken.json");
    std::fs::write(&file, users("alice")).unwrap();
    let server = server_with_config_file(&file);
    std::fs::write(&file, r#"{"users": {"x": {"nonsense": 1}}}"#).unwrap();
    server.signal("HUP");
    server.wait_for_log("kept the old plugin");
    assert!(can_log_in(&server, "alice"));
    std::fs::write(&file, users("alice")).unwrap();
    server.signal("HUP");
    server.wait_for_log("plugin and its configuration unchanged");
}

#[test]
fn no_connection_is_refused_or_dropped_during_swaps() {
    let file = temp_path("reload-busy.json");
    std::fs::write(&file, users("alice")).unwrap();
    let server = Arc::new(server_with_config_file(&file));
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (server, done) = (server.clone(), done.clone());
            std::thread::spawn(move || {
                let mut served = 0;
                while !done.load(Ordering::Relaxed) && served < 500 {
                    let mut c = Client::connect(server.addr);
                    assert!(c.line().starts_with("+OK"), "greeting");
                    assert!(c.cmd("NOOP").starts_with("-ERR Not allowed"), "answered");
                    assert_eq!(c.cmd("QUIT"), "+OK Logging out.\r\n");
                    served += 1;
                }
                served
            })
        })
        .collect();
    for (i, user) in ["bob", "carol", "dave"].iter().enumerate() {
        std::fs::write(&file, users(user)).unwrap();
        server.signal("HUP");
        server.wait_for_log_count("new sessions use the reloaded plugin", i + 1);
    }
    done.store(true, Ordering::Relaxed);
    let served: usize = clients
        .into_iter()
        .map(|c| c.join().expect("no client failed"))
        .sum();
    assert!(served > 0);
    assert!(can_log_in(&server, "dave"));
}

#[test]
fn check_config_validates_without_serving() {
    let output = Command::new(pop3host())
        .args(["--plugin", "static_messages", "--check-config"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("configuration OK"));
    let output = Command::new(pop3host())
        .args([
            "--plugin",
            "static_messages",
            "--check-config",
            "--plugin-config",
            r#"{"users": 1}"#,
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("init failed"));
}

/// A supervisor in the manner of systemd: it owns the listening socket, starts pop3host with
/// it as descriptor 3 (`LISTEN_FDS`), stops it and starts a new one. A client that connects
/// between the two is queued by the kernel and served by the second.
const SUPERVISOR: &str = r#"
import os, socket, subprocess, sys, time
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
    let output = Command::new("python3")
        .args([
            "-c",
            SUPERVISOR,
            pop3host().to_str().unwrap(),
            plugin("static_messages").to_str().unwrap(),
        ])
        .output()
        .unwrap();
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
