//! The host bounded under any client: output held back by a client that does not
//! read, a line trickled byte by byte, client addresses that could dodge the per-address
//! limits or borrow a proxy's trust, echoes of what a client sent, the APOP timestamp, and a
//! plugin whose message stream does not match the size it listed.

mod common;

use common::proxy_protocol::{behind_proxy, proxy_v2, proxy_v4, proxy_v6};
use common::{plugin, Client, Server, TempDir};
use serde_json::json;
use std::fs;
use std::time::{Duration, Instant};

fn static_users() -> String {
    json!({"users": {"alice": {"password": "pw", "apop_secret": "s3cret", "builtin": true}}})
        .to_string()
}

/// A connection that sent `header` and read its first line (greeting or refusal).
fn connect_with(server: &Server, header: &[u8]) -> (Client, String) {
    let mut client = server.client();
    client.send(header);
    let first = client.line();
    (client, first)
}

const REFUSED_PER_IP: &str = "-ERR [SYS/TEMP] Too many connections from your address.\r\n";

#[test]
fn an_ipv4_mapped_client_is_its_ipv4_address() {
    let server = behind_proxy(&static_users(), &["--max-connections-per-ip", "1"]);
    let (_v4, first) = connect_with(&server, &proxy_v4([192, 0, 2, 7], 40000));
    assert!(first.starts_with("+OK"), "{first}");
    let (_mapped, first) = connect_with(&server, &proxy_v6("::ffff:192.0.2.7"));
    assert_eq!(first, REFUSED_PER_IP, "one client, one limit");
    server
        .wait_for_log("session{id=2 peer=192.0.2.7:40000}: pop3host::server::connection: refused");
    assert!(!server.log().contains("::ffff:"), "logged as IPv4");
}

#[test]
fn ipv6_clients_are_counted_per_64() {
    let server = behind_proxy(&static_users(), &["--max-connections-per-ip", "1"]);
    let (_a, first) = connect_with(&server, &proxy_v6("2001:db8::1"));
    assert!(first.starts_with("+OK"), "{first}");
    let (_b, first) = connect_with(&server, &proxy_v6("2001:db8::2"));
    assert_eq!(first, REFUSED_PER_IP, "the same /64");
    let (_c, first) = connect_with(&server, &proxy_v6("2001:db8:0:1::1"));
    assert!(first.starts_with("+OK"), "another /64: {first}");
    // The prefix is a setting.
    let per_address = [
        "--max-connections-per-ip",
        "1",
        "--ipv6-prefix-length",
        "128",
    ];
    let server = behind_proxy(&static_users(), &per_address);
    let (_a, first) = connect_with(&server, &proxy_v6("2001:db8::1"));
    assert!(first.starts_with("+OK"), "{first}");
    let (_b, first) = connect_with(&server, &proxy_v6("2001:db8::2"));
    assert!(first.starts_with("+OK"), "per address with /128: {first}");
}

/// A header without a client address does not make the client the (loopback, trusted)
/// proxy: plaintext logins stay refused, and the per-address limit applies.
#[test]
fn a_proxy_header_without_a_client_is_an_unknown_client() {
    let server = behind_proxy(
        &static_users(),
        &[
            "--plaintext-auth",
            "loopback",
            "--max-connections-per-ip",
            "3",
        ],
    );
    let unix_addresses = vec![0u8; 216];
    let headers: [Vec<u8>; 4] = [
        b"PROXY UNKNOWN\r\n".to_vec(),
        proxy_v2(0, 0x00, &[]),
        proxy_v2(1, 0x00, &[]),
        proxy_v2(1, 0x31, &unix_addresses),
    ];
    let mut held = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let (mut client, first) = connect_with(&server, header);
        if i == 3 {
            assert_eq!(first, REFUSED_PER_IP, "unknown clients share one bucket");
            break;
        }
        assert!(first.starts_with("+OK"), "{i}: {first}");
        let reply = client.cmd("USER alice");
        assert!(
            reply.starts_with("-ERR [AUTH] Plaintext"),
            "header {i}: {reply}"
        );
        held.push(client);
    }
    server.wait_for_log("peer=unknown proxy=127.0.0.1:");
}

#[test]
fn an_unknown_command_is_not_echoed_beyond_a_keyword() {
    let server = Server::with_static(Some(&static_users()), &[]);
    let mut client = server.client();
    client.line();
    let credential = "dGVzdAB0ZXN0AHNlY3JldA==";
    for line in [credential.to_string(), format!("XYZZY {credential}")] {
        let reply = client.cmd(&line).to_ascii_lowercase();
        assert!(reply.starts_with("-ERR Unknown command".to_ascii_lowercase().as_str()));
        let leaked = (0..credential.len() - 4)
            .any(|i| reply.contains(&credential[i..i + 5].to_ascii_lowercase()));
        assert!(!leaked, "{line:?} came back: {reply}");
    }
    assert_eq!(client.cmd("XTND"), "-ERR Unknown command: XTND\r\n");
}

#[test]
fn the_apop_timestamp_carries_no_process_id() {
    let server = Server::with_static(Some(&static_users()), &[]);
    let pid = server.pid().to_string();
    let nonces: Vec<String> = (0..2)
        .map(|_| {
            let greeting = server.client().line();
            let timestamp = &greeting[greeting.find('<').expect("a timestamp")..];
            let fields: Vec<&str> = timestamp[1..].split(['.', '@']).collect();
            // A field, not a substring: a random number may hold a short pid's digits.
            assert!(!fields.contains(&pid.as_str()), "pid {pid} in {timestamp}");
            fields[0].to_string()
        })
        .collect();
    assert_ne!(nonces[0], nonces[1], "random per connection");
}

/// A client trickling one byte every 300 ms never completes a line: it is cut off when the
/// idle timeout has passed since the last reply, as an idle one is.
#[test]
fn a_trickled_line_is_cut_off_like_an_idle_client() {
    let server = Server::with_static(Some(&static_users()), &["--idle-timeout", "2"]);
    let mut client = server.client();
    client.line();
    let started = Instant::now();
    let mut trickle = client.writer();
    let trickler = std::thread::spawn(move || {
        use std::io::Write;
        while started.elapsed() < Duration::from_secs(8) {
            if trickle.write_all(b"N").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let reply = client.line();
    let elapsed = started.elapsed();
    assert_eq!(reply, "-ERR Disconnected for inactivity.\r\n");
    assert!(
        elapsed < Duration::from_millis(3500),
        "cut off after {elapsed:?}"
    );
    trickler.join().unwrap();
}

/// Messages from files that the test changes after the plugin measured them.
struct LyingMessages {
    short: std::path::PathBuf,
    long: std::path::PathBuf,
    server: Server,
    _dir: TempDir,
}

impl LyingMessages {
    /// `name` keeps the files of tests running at once apart.
    fn start(name: &str) -> Self {
        let body: String = (0..200).map(|i| format!("line {i}\r\n")).collect();
        let message = format!("Subject: size\r\n\r\n{body}");
        let dir = TempDir::new(name);
        let (short, long) = (dir.join("short.eml"), dir.join("long.eml"));
        fs::write(&short, &message).unwrap();
        fs::write(&long, &message).unwrap();
        let config = json!({"users": {"alice": {"password": "pw", "messages": [
            {"id": "short-1", "file": short},
            {"id": "long-2", "file": long},
        ]}}});
        let server = Server::with_static(Some(&config.to_string()), &[]);
        fs::write(&short, &message[..message.len() / 2]).unwrap();
        fs::write(&long, format!("{message}{message}")).unwrap();
        LyingMessages {
            short,
            long,
            server,
            _dir: dir,
        }
    }
}

/// What follows a `+OK` line of a message transfer until the server closes.
fn transfer(client: &mut Client, command: &str) -> Vec<u8> {
    let status = client.cmd(command);
    assert!(status.starts_with("+OK"), "{status}");
    client.rest()
}

#[test]
fn a_message_stream_short_of_its_size_closes_the_connection() {
    let lying = LyingMessages::start("short");
    for command in ["RETR 1", "TOP 1 1000"] {
        let mut client = lying.server.client();
        client.login("alice", "pw");
        let rest = transfer(&mut client, command);
        assert!(!rest.is_empty(), "{command}: part of the message came");
        assert!(
            !rest.ends_with(b"\r\n.\r\n"),
            "{command}: ended as complete"
        );
    }
    lying
        .server
        .wait_for_log("the message stream ended short of its listed size");
    let log = lying.server.log();
    let warning = log.lines().find(|l| l.contains("ended short")).unwrap();
    assert!(
        warning.contains("plugin=\"static-messages\" number=1 uidl=short-1"),
        "{warning}"
    );
    // TOP that needs only the header is served: the stream is not read to its end.
    let mut client = lying.server.client();
    client.login("alice", "pw");
    assert!(client.cmd("TOP 1 0").starts_with("+OK"));
    assert_eq!(client.body(), b"Subject: size\r\n\r\n");
    drop(lying.short);
}

#[test]
fn a_message_stream_past_its_size_is_cut_and_the_connection_closed() {
    let lying = LyingMessages::start("long");
    let mut client = lying.server.client();
    client.login("alice", "pw");
    let listed: usize = client
        .cmd("LIST 2")
        .split(' ')
        .nth(2)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let rest = transfer(&mut client, "RETR 2");
    assert!(!rest.ends_with(b"\r\n.\r\n"), "ended as complete");
    assert!(
        rest.len() <= listed,
        "{} octets sent of {listed} listed",
        rest.len()
    );
    lying
        .server
        .wait_for_log("the message stream ran past its listed size");
    let log = lying.server.log();
    let warning = log.lines().find(|l| l.contains("ran past")).unwrap();
    assert!(
        warning.contains("plugin=\"static-messages\" number=2 uidl=long-2"),
        "{warning}"
    );
    drop(lying.long);
}

/// The server's resident memory now, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const MESSAGES: usize = 100_000;
const PIPELINED: usize = 800;
/// Replies read back and compared.
const CHECKED: usize = 10;
/// What the server may grow by while a client holds back 800 listings of ~3 MB each: the
/// session's output is bounded by a few hundred KiB; the rest is allocator slack.
const GROWTH_BOUND_KIB: u64 = 16 * 1024;

/// 800 pipelined UIDL on a 100,000-message maildrop from a client that reads nothing for a
/// while: the server stops executing them when its output is not read, instead of building
/// gigabytes of replies; then the replies come, complete and in order.
#[test]
fn pipelined_listings_from_a_client_that_does_not_read_cost_bounded_memory() {
    let root = TempDir::new("huge-maildrop");
    let cur = root.join("mail/plain/cur");
    fs::create_dir_all(&cur).unwrap();
    fs::create_dir_all(root.join("mail/plain/new")).unwrap();
    fs::create_dir_all(root.join("mail/plain/tmp")).unwrap();
    fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/maildir/tests/data/users"),
        root.join("users"),
    )
    .unwrap();
    for i in 0..MESSAGES {
        fs::write(cur.join(format!("{i}.M{i}P1.host,W=3:2,S")), b"x\r\n").unwrap();
    }
    let config = json!({
        "passwd_file": root.join("users"),
        "maildir": format!("{}/mail/%u", root.display()),
    });
    let maildir = plugin("maildir");
    let server = Server::start(&[
        "--plugin",
        maildir.to_str().unwrap(),
        "--plugin-config",
        &config.to_string(),
    ]);
    let mut client = server.client();
    client.login("plain", "password");
    // One listing read whole, as the reference and the baseline.
    assert!(client
        .cmd("UIDL")
        .starts_with(&format!("+OK {MESSAGES} messages")));
    let body = client.body();
    assert_eq!(body.split(|&b| b == b'\n').count() - 1, MESSAGES);
    let mut expected = format!("+OK {MESSAGES} messages (").into_bytes();
    let baseline = rss_kib(server.pid());

    client.send("UIDL\r\n".repeat(PIPELINED).as_bytes());
    let mut peak = baseline;
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(3) {
        peak = peak.max(rss_kib(server.pid()));
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("VmRSS {baseline} KiB after one UIDL, at most {peak} KiB while {PIPELINED} wait");
    assert!(
        peak - baseline < GROWTH_BOUND_KIB,
        "grew by {} KiB from {baseline} KiB",
        peak - baseline
    );

    let status_len = {
        let status = client.line();
        assert!(status.starts_with(std::str::from_utf8(&expected).unwrap()));
        expected = status.into_bytes();
        expected.len()
    };
    expected.extend(&body);
    expected.extend(b".\r\n");
    let mut reply = vec![0u8; expected.len()];
    reply[..status_len].copy_from_slice(&expected[..status_len]);
    client.read_exact(&mut reply[status_len..]);
    assert!(reply == expected, "reply 1 differs");
    // The replies that follow come in order and whole; reading all 800 (2.6 GB from a debug
    // build) would take minutes, so the client checks the first ones and leaves.
    for n in 2..=CHECKED {
        client.read_exact(&mut reply);
        assert!(reply == expected, "reply {n} differs");
    }
    drop(client);
    assert!(server.client().line().starts_with("+OK"), "still serving");
    let _ = fs::remove_dir_all(&root);
}
