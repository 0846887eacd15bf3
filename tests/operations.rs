//! What an operator sees of the server at work: the summary line each session logs when it
//! ends (text and JSON logs, and the setting that turns it off), the log in `--log-file`, and
//! `/metrics` and `/health` on `--metrics-listen`.

mod common;

use common::metrics::{get, metrics_addr, sample, wait_for};
use common::{stuck_logins, Client, Server};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// The built-in mailbox's user (static-messages without configuration).
const USER: (&str, &str) = ("test", "test");

/// The fields of the one "session summary" line in a text log, once it is there.
fn summary(server: &Server) -> HashMap<String, String> {
    server.wait_for_log("session summary");
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("session summary"))
        .collect();
    assert_eq!(lines.len(), 1, "one summary line: {log}");
    lines[0]
        .split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ':')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_string(), value.trim_matches('"').to_string()))
        .collect()
}

/// Octets of a multi-line reply's body on the wire, terminator included.
fn body_octets(c: &mut Client) -> u64 {
    c.body().len() as u64 + ".\r\n".len() as u64
}

fn login_and_quit(server: &Server) {
    let mut c = server.client();
    c.login(USER.0, USER.1);
    assert!(c.cmd("QUIT").starts_with("+OK"));
    c.closed();
}

fn assert_fields(fields: &HashMap<String, String>, expected: &[(&str, String)]) {
    for (key, value) in expected {
        assert_eq!(fields.get(*key), Some(value), "{key} in {fields:?}");
    }
}

#[test]
fn the_summary_counts_what_a_session_did_and_how_it_ended() {
    let server = Server::with_static(None, &[]);
    let mut c = server.client();
    c.login(USER.0, USER.1);
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    let retr_octets = body_octets(&mut c);
    assert!(c.cmd("RETR 2").starts_with("+OK"));
    let retr_octets = retr_octets + body_octets(&mut c);
    assert!(c.cmd("TOP 1 0").starts_with("+OK"));
    let top_octets = body_octets(&mut c);
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    c.closed();
    assert_fields(
        &summary(&server),
        &[
            ("user", USER.0.into()),
            ("ended", "quit".into()),
            ("tls", "false".into()),
            ("retr", "2".into()),
            ("retr_octets", retr_octets.to_string()),
            ("top", "1".into()),
            ("top_octets", top_octets.to_string()),
            ("marked", "2".into()),
            ("deleted", "2".into()),
        ],
    );
}

#[test]
fn a_session_left_without_quit_is_summarised_with_its_marks_and_nothing_deleted() {
    let server = Server::with_static(None, &[]);
    let mut c = server.client();
    c.login(USER.0, USER.1);
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    c.close_write();
    c.closed();
    assert_fields(
        &summary(&server),
        &[
            ("ended", "client_left".into()),
            ("retr", "0".into()),
            ("marked", "1".into()),
            ("deleted", "0".into()),
        ],
    );
}

#[test]
fn an_idle_session_is_summarised_as_timed_out() {
    let server = Server::with_static(None, &["--idle-timeout", "1"]);
    let mut c = server.client();
    c.login(USER.0, USER.1);
    assert!(c.line().contains("inactivity"));
    c.closed();
    assert_fields(&summary(&server), &[("ended", "idle_timeout".into())]);
}

#[test]
fn too_many_failed_logins_are_summarised_as_closed_by_the_server() {
    let server = Server::with_static(None, &["--max-auth-failures", "1"]);
    let mut c = server.client();
    c.line();
    c.cmd("USER test");
    assert!(c.cmd("PASS wrong").starts_with("-ERR"));
    c.closed();
    let fields = summary(&server);
    assert_fields(&fields, &[("ended", "closed_by_server".into())]);
    assert!(!fields.contains_key("user"), "no one logged in: {fields:?}");
}

#[test]
fn json_logs_carry_the_summary_as_fields() {
    let server = Server::with_static(None, &["--log-format", "json"]);
    login_and_quit(&server);
    server.wait_for_log("session summary");
    let log = server.log();
    let line = log.lines().find(|l| l.contains("session summary")).unwrap();
    let event: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    let fields = &event["fields"];
    assert_eq!(fields["ended"], "quit", "{line}");
    assert_eq!(fields["retr"], 0, "{line}");
    assert!(fields["duration_ms"].is_u64(), "{line}");
    assert_eq!(event["span"]["user"], USER.0, "{line}");
    assert!(event["span"]["peer"]
        .as_str()
        .is_some_and(|peer| peer.starts_with("127.0.0.1:")));
}

#[test]
fn the_summary_can_be_turned_off() {
    let server = Server::with_static(None, &["--session-summary", "false"]);
    login_and_quit(&server);
    // The connection's last line: the summary would have come before it.
    server.wait_for_log("pop3host::server::connection: closed");
    assert!(!server.log().contains("session summary"));
}

/// `--log-file` takes the log from stderr and appends to what the file holds; a file that
/// cannot be opened stops the start, named.
#[test]
fn the_log_goes_to_the_log_file_appended() {
    let dir = common::TempDir::new("log-file");
    let log = dir.join("pop3host.log");
    for run in 1..=2 {
        let output = common::process::output(Command::new(common::pop3host()).args([
            "--plugin".as_ref(),
            "static_messages".as_ref(),
            "--check-config".as_ref(),
            "--log-file".as_ref(),
            log.as_os_str(),
        ]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains("plugin loaded"), "{stderr}");
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(logged.matches("plugin loaded").count(), run, "{logged}");
    }
    let missing = dir.join("no-such-dir/pop3host.log");
    let output = common::process::output(Command::new(common::pop3host()).args([
        "--plugin".as_ref(),
        "static_messages".as_ref(),
        "--log-file".as_ref(),
        missing.as_os_str(),
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("--log-file {}: ", missing.display())),
        "{stderr}"
    );
}

#[test]
fn metrics_count_what_was_done() {
    let server = Server::with_static(
        None,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--trusted-networks",
            "none",
            "--max-connections-per-ip",
            "2",
            "--auth-failure-delay-max",
            "0",
        ],
    );
    let addr = metrics_addr(&server);

    let mut c = server.client();
    c.login(USER.0, USER.1);
    for n in [1, 2] {
        assert!(c.cmd(&format!("RETR {n}")).starts_with("+OK"));
        c.body();
    }
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    c.closed();

    let mut c = server.client();
    c.line();
    c.cmd("USER test");
    assert!(c.cmd("PASS wrong").starts_with("-ERR [AUTH]"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    c.closed();

    let mut c = server.client();
    c.line();
    // AUTH PLAIN with "\0test\0test"
    assert!(c.cmd("AUTH PLAIN AHRlc3QAdGVzdA==").starts_with("+OK"));
    c.close_write();
    c.closed();

    // Two connections from one address, the most allowed; a third is refused. The sessions
    // above count until their `disconnect` call is made, after the client saw them close.
    wait_for(addr, "/metrics", |_, m| {
        sample(m, "pop3host_connections_open") == 0.0
    });
    let (mut first, mut second) = (server.client(), server.client());
    first.line();
    second.line();
    let mut third = server.client();
    assert!(third
        .line()
        .contains("Too many connections from your address"));
    third.closed();
    for c in [&mut first, &mut second] {
        c.close_write();
        c.closed();
    }

    let metrics = wait_for(addr, "/metrics", |_, m| {
        sample(m, "pop3host_connections_open") == 0.0
            && sample(m, "pop3host_sessions_ended_total{ended=\"client_left\"}") == 3.0
    });
    let sha256 = {
        let log = server.log();
        let at = log.find("sha256=\"").unwrap() + 8;
        log[at..at + 64].to_string()
    };
    for (series, expected) in [
        ("pop3host_connections_total", 6.0),
        ("pop3host_connections_refused_total{reason=\"max_connections_per_ip\"}", 1.0),
        ("pop3host_logins_total{mechanism=\"USER\",result=\"ok\"}", 1.0),
        ("pop3host_logins_total{mechanism=\"USER\",result=\"bad_credentials\"}", 1.0),
        ("pop3host_logins_total{mechanism=\"PLAIN\",result=\"ok\"}", 1.0),
        ("pop3host_commands_total{command=\"RETR\"}", 2.0),
        ("pop3host_commands_total{command=\"DELE\"}", 1.0),
        ("pop3host_commands_total{command=\"QUIT\"}", 2.0),
        ("pop3host_commands_total{command=\"PASS\"}", 2.0),
        ("pop3host_commands_total{command=\"AUTH\"}", 1.0),
        ("pop3host_sessions_ended_total{ended=\"quit\"}", 2.0),
        ("pop3host_messages_deleted_total", 1.0),
        ("pop3host_backend_calls_total{callback=\"login\",result=\"ok\"}", 2.0),
        ("pop3host_backend_calls_total{callback=\"login\",result=\"error\"}", 1.0),
        ("pop3host_backend_calls_total{callback=\"retrieve\",result=\"ok\"}", 2.0),
        ("pop3host_backend_call_seconds_count{callback=\"retrieve\"}", 2.0),
        (
            &format!(
                "pop3host_plugin{{plugin=\"static-messages\",version=\"0.1.0\",sha256=\"{sha256}\"}}"
            ),
            1.0,
        ),
    ] {
        assert_eq!(sample(&metrics, series), expected, "{series} in\n{metrics}");
    }
    assert!(sample(&metrics, "pop3host_sent_octets_total") > 0.0);
    assert!(!metrics.contains("test@") && !metrics.contains("127.0.0.1"));
}

#[test]
fn health_turns_unavailable_when_the_server_shuts_down() {
    let mut server = Server::with_static(
        None,
        &["--metrics-listen", "127.0.0.1:0", "--shutdown-grace", "60"],
    );
    let addr = metrics_addr(&server);
    assert_eq!(get(addr, "/health"), (200, "ok\n".into()));
    assert_eq!(get(addr, "/nothing").0, 404);
    // A session keeps the server in its grace period after SIGTERM.
    let mut c = server.client();
    c.login(USER.0, USER.1);
    server.signal("TERM");
    let body = wait_for(addr, "/health", |status, _| status == 503);
    assert_eq!(body, "shutting down\n");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    assert!(server.wait_exit(), "{}", server.log());
}

#[test]
fn health_turns_unavailable_while_the_plugin_is_hung_and_calls_are_counted_by_result() {
    // alice's logins hang in the plugin; bob's RETR panics in it.
    let config = json!({
        "users": {
            "alice": {"password": "pw", "builtin": true},
            "bob": {"password": "pw", "builtin": true}
        },
        "faults": [
            {"callback": "authenticate", "action": "delay", "ms": 600_000, "user": "alice"},
            {"callback": "retrieve", "action": "panic", "user": "bob"}
        ]
    });
    let server = Server::with_static(
        Some(&config.to_string()),
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--backend-concurrency",
            "2",
            "--backend-timeout",
            "1",
        ],
    );
    let addr = metrics_addr(&server);
    let mut bob = server.client();
    bob.login("bob", "pw");
    assert!(bob.cmd("RETR 1").starts_with("-ERR [SYS/TEMP]"));
    assert_eq!(get(addr, "/health").0, 200);

    // Two logins stuck in the plugin: as many as --backend-concurrency.
    stuck_logins(&server, 2);
    assert_eq!(wait_for(addr, "/health", |s, _| s == 503), "plugin hung\n");
    let (_, metrics) = get(addr, "/metrics");
    for (series, expected) in [
        (
            "pop3host_backend_calls_total{callback=\"retrieve\",result=\"panic\"}",
            1.0,
        ),
        (
            "pop3host_backend_calls_total{callback=\"login\",result=\"timeout\"}",
            2.0,
        ),
        ("pop3host_backend_calls_stuck", 2.0),
    ] {
        assert_eq!(sample(&metrics, series), expected, "{series} in\n{metrics}");
    }
}

/// `pop3host who` or `pop3host kick` against `socket`: exit status and stdout.
fn admin(socket: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = common::process::output(
        std::process::Command::new(common::pop3host())
            .args(args)
            .arg("--admin-socket")
            .arg(socket),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout)
}

#[test]
fn who_lists_the_open_sessions_and_kick_ends_a_users_without_update() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::TempDir::new("admin");
    let socket = dir.join("admin.sock");
    let config = json!({
        "users": {
            "alice": {"password": "pw", "builtin": true},
            "bob": {"password": "pw", "builtin": true}
        }
    });
    let server = Server::with_static(
        Some(&config.to_string()),
        &["--admin-socket", socket.to_str().unwrap()],
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "only the owner may use the admin socket"
    );
    let mut alice = server.client();
    let logged_in = alice.login("alice", "pw");
    assert!(alice.cmd("DELE 1").starts_with("+OK"));
    let mut bob = server.client();
    bob.login("bob", "pw");
    let mut anonymous = server.client();
    anonymous.line();

    let (ok, who) = admin(&socket, &["who"]);
    assert!(ok, "{who}");
    let rows: Vec<Vec<&str>> = who
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let users: Vec<&str> = rows.iter().map(|row| row[1]).collect();
    assert_eq!(users, ["alice", "bob", "-"], "{who}");
    assert!(rows.iter().all(|row| row[2].starts_with("127.0.0.1:")
        && row[4] == "false"
        && row[5].starts_with("static-messages ")));

    assert_eq!(
        admin(&socket, &["kick", "alice"]),
        (true, "kicked 1 sessions of alice\n".into())
    );
    assert_eq!(alice.line(), "-ERR Disconnected by the administrator.\r\n");
    alice.closed();
    assert!(bob.cmd("NOOP").starts_with("+OK"), "bob's session goes on");
    // Kicked without UPDATE: the message alice marked is still there.
    let mut alice = server.client();
    assert_eq!(alice.login("alice", "pw"), logged_in);
    assert_eq!(
        admin(&socket, &["kick", "carol"]),
        (false, "kicked 0 sessions of carol\n".into())
    );
}

/// How many descriptors `server` holds open.
fn open_descriptors(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count()
}

#[test]
fn the_metrics_endpoint_holds_few_connections_and_none_kept_alive() {
    use std::io::Read;
    const SERVED_AT_ONCE: usize = 8;
    let server = Server::with_static(None, &["--metrics-listen", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);
    let before = open_descriptors(&server);
    // A request without `Connection: close` is answered, then the connection is closed, well
    // before the 10 s the server gives a silent one.
    let mut scraper = TcpStream::connect(addr).unwrap();
    scraper
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(scraper, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    scraper.read_to_string(&mut response).unwrap();
    assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
    drop(scraper);

    // Many silent connections: the server takes a few, the rest wait in the backlog.
    let silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let started = Instant::now();
    while open_descriptors(&server) < before + SERVED_AT_ONCE {
        assert!(started.elapsed() < common::DEADLINE, "{}", server.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    // A whole session through the server's other listener: the metrics endpoint had every
    // chance to accept more meanwhile.
    login_and_quit(&server);
    assert_eq!(open_descriptors(&server), before + SERVED_AT_ONCE);

    // Their places come back when they leave.
    drop(silent);
    assert_eq!(get(addr, "/health"), (200, "ok\n".into()));
}

/// pop3host on the static-messages plugin started under `ulimit`: a soft limit of 32 open
/// files and a hard one of `hard`.
fn start_with_file_limit(hard: u32, args: &[&str]) -> Server {
    let plugin = common::plugin("static_messages");
    let mut all = vec!["--plugin", plugin.to_str().unwrap()];
    all.extend(args);
    start_limited(hard, &all)
}

/// pop3host with `args` (a plugin among them) under `ulimit`, as above.
fn start_limited(hard: u32, args: &[&str]) -> Server {
    let script = format!("ulimit -S -n 32 && ulimit -H -n {hard} && exec \"$0\" \"$@\"");
    let pop3host = common::pop3host();
    let mut all = vec![
        "-c",
        &script,
        pop3host.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "debug",
    ];
    all.extend(args);
    Server::try_start_binary(std::path::Path::new("/bin/sh"), &all)
        .unwrap_or_else(|log| panic!("pop3host did not start:\n{log}"))
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_one_and_checked_at_startup() {
    let server = start_with_file_limit(256, &["--max-connections", "100"]);
    server.wait_for_log("open-file limit limit=256 needed=164");
    let server = start_with_file_limit(256, &["--max-connections", "1000"]);
    server.wait_for_log("cannot hold --max-connections sessions");
    assert!(server.log().contains("limit=256 needed=1064"));
}

#[test]
fn running_out_of_descriptors_is_logged_with_the_fix_once() {
    let server = start_with_file_limit(48, &["--max-connections", "1000"]);
    // More connections than descriptors: the kernel queues them, and accept fails.
    let clients: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    server.wait_for_log("accepting a connection failed: out of file descriptors");
    assert!(server.log().contains("LimitNOFILE="));
    // Accept keeps failing, every 100 ms; the error is logged once.
    server.wait_for_log_count("accept failed, retrying", 5);
    assert_eq!(server.log().matches("out of file descriptors").count(), 1);
    drop(clients);
}

#[test]
fn a_login_that_runs_out_of_descriptors_is_logged_with_the_fix() {
    use std::io::{BufRead, BufReader};
    let site = common::maildir_site::MaildirSite::new("descriptors", b"alice:{PLAIN}pw\n");
    site.deliver("alice", "new/1700000000.M1P1.host", b"Subject: a\n\na\n");
    let (plugin, config) = (common::plugin("maildir"), site.config(json!({})));
    let server = start_limited(
        40,
        &[
            "--plugin",
            plugin.to_str().unwrap(),
            "--plugin-config",
            &config,
        ],
    );
    // Connections until the server has no descriptor left to accept the next.
    let started = Instant::now();
    let mut greeted = Vec::new();
    while !server.log().contains("accept failed, retrying") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            server.log()
        );
        let stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut greeting = String::new();
        while greeting.is_empty() && !server.log().contains("accept failed, retrying") {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{}",
                server.log()
            );
            let _ = reader.read_line(&mut greeting);
        }
        greeted.push(reader);
    }
    // A session greeted before: its login needs the maildir's descriptors, and there are none.
    let session = &mut greeted[0];
    session
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    for (command, expected) in [("USER alice", "+OK"), ("PASS pw", "-ERR [SYS/TEMP]")] {
        writeln!(session.get_mut(), "{command}\r").unwrap();
        let mut reply = String::new();
        session.read_line(&mut reply).unwrap();
        assert!(reply.starts_with(expected), "{command}: {reply}");
    }
    server.wait_for_log("login failed: out of file descriptors");
}
