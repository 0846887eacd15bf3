//! TLS, SASL, the plaintext policy, abuse limits, the PROXY protocol and privilege drop,
//! against the real binary. TLS clients are Python's `ssl` module.

mod common;

use common::proxy_protocol::{behind_proxy, proxy_v4};
use common::{proc_status_field, test_certificate, Client, Server, TestCertificate, DEADLINE};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Static-messages users: alice (exclusive), bob (any number of sessions).
fn users() -> String {
    json!({"users": {
        "alice": {"password": "pw", "builtin": true},
        "bob": {"password": "pw", "builtin": true, "exclusive": false}
    }})
    .to_string()
}

/// A server with a certificate of its own: tests run in parallel, and one of them replaces
/// its certificate file.
fn tls_server(extra: &[&str]) -> (Server, TestCertificate) {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let certificate = test_certificate(&format!("tls-{n}"));
    let mut args = vec![
        "--tls-cert",
        certificate.cert.to_str().unwrap(),
        "--tls-key",
        certificate.key.to_str().unwrap(),
    ];
    args.extend(extra);
    (Server::with_static(Some(&users()), &args), certificate)
}

/// Runs a Python snippet with `port` and `cafile` as argv[1] and argv[2], plus the helpers
/// `line(f)` and `cmd(sock, f, text)`; returns what it prints.
fn python(script: &str, port: u16, cafile: &Path) -> String {
    let prelude = r#"
import socket, ssl, sys, base64
socket.setdefaulttimeout(20)
port, cafile = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=cafile)
def line(f):
    return f.readline().decode("latin-1").rstrip("\r\n")
def cmd(sock, f, text):
    sock.sendall(text.encode() + b"\r\n")
    return line(f)
def body(f):
    lines = []
    while True:
        l = line(f)
        if l == ".":
            return lines
        lines.append(l)
"#;
    let output = common::process::output(Command::new("python3").args([
        "-c",
        &format!("{prelude}\n{script}"),
        &port.to_string(),
        cafile.to_str().unwrap(),
    ]));
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn stls_upgrades_and_changes_capa() {
    let (server, cert) = tls_server(&["--plaintext-auth", "never"]);
    let out = python(
        r#"
sock = socket.create_connection(("127.0.0.1", port)); f = sock.makefile("rb")
print(line(f)[:3])
cmd(sock, f, "CAPA"); print("|" + "|".join(body(f)) + "|")
print(cmd(sock, f, "USER alice"))
print(cmd(sock, f, "STLS"))
sock = context.wrap_socket(sock, server_hostname="localhost"); f = sock.makefile("rb")
print(sock.version())
cmd(sock, f, "CAPA"); print("|" + "|".join(body(f)) + "|")
print(cmd(sock, f, "STLS"))
print(cmd(sock, f, "USER alice")); print(cmd(sock, f, "PASS pw")); print(cmd(sock, f, "QUIT"))
"#,
        server.port(),
        &cert.cert,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "+OK");
    assert!(
        lines[1].contains("|STLS|") && !lines[1].contains("|USER|") && !lines[1].contains("SASL"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "-ERR [AUTH] Plaintext authentication is not allowed without TLS; use STLS."
    );
    assert_eq!(lines[3], "+OK Begin TLS negotiation.");
    assert!(
        lines[4] == "TLSv1.3" || lines[4] == "TLSv1.2",
        "{}",
        lines[4]
    );
    assert!(
        !lines[5].contains("STLS")
            && lines[5].contains("|USER|")
            && lines[5].contains("|SASL PLAIN LOGIN|"),
        "{}",
        lines[5]
    );
    assert_eq!(lines[6], "-ERR TLS is already active.");
    assert!(lines[8].starts_with("+OK Logged in"), "{}", lines[8]);
    assert!(lines[9].starts_with("+OK Logging out"));
}

#[test]
fn implicit_tls_greets_after_the_handshake() {
    let (server, cert) = tls_server(&["--tls-listen", "127.0.0.1:0"]);
    let port = server.tls_addr.expect("a TLS listener").port();
    let out = python(
        r#"
sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
f = sock.makefile("rb")
print(line(f))
cmd(sock, f, "CAPA"); print("|" + "|".join(body(f)) + "|")
print(cmd(sock, f, "STLS"))
print(cmd(sock, f, "USER alice")); print(cmd(sock, f, "PASS pw"))
"#,
        port,
        &cert.cert,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "+OK pop3host ready.");
    assert!(
        !lines[1].contains("STLS") && lines[1].contains("|USER|"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "-ERR TLS is already active.");
    assert!(lines[4].starts_with("+OK Logged in"));
    // Plaintext on the TLS port gets no greeting: the connection just ends.
    let mut plain = TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    plain.set_read_timeout(Some(DEADLINE)).unwrap();
    plain.write_all(b"CAPA\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest);
    assert!(!rest.starts_with(b"+OK"), "{rest:?}");
}

#[test]
fn commands_pipelined_after_stls_are_never_executed() {
    let (server, cert) = tls_server(&[]);
    let out = python(
        r#"
sock = socket.create_connection(("127.0.0.1", port)); f = sock.makefile("rb", buffering=0)
line(f)
sock.sendall(b"STLS\r\nCAPA\r\n")
print(line(f))
sock = context.wrap_socket(sock, server_hostname="localhost"); f = sock.makefile("rb")
print(cmd(sock, f, "NOOP"))
"#,
        server.port(),
        &cert.cert,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "+OK Begin TLS negotiation.");
    // Had the injected CAPA run, in clear the handshake would have failed, and in TLS its
    // list would come before the answer to NOOP.
    assert_eq!(lines[1], "-ERR Not allowed before login.");
}

#[test]
fn a_failed_handshake_ends_the_session() {
    let (server, _) = tls_server(&[]);
    let mut c = server.client();
    c.line();
    assert_eq!(c.cmd("STLS"), "+OK Begin TLS negotiation.\r\n");
    c.send(b"this is not a TLS client hello\r\n");
    assert!(!c.rest().starts_with(b"+OK"));
    server.wait_for_log("TLS handshake failed");
    assert!(
        server.client().line().starts_with("+OK"),
        "the server goes on"
    );
}

#[test]
fn certificate_errors_name_the_file() {
    let certificate = test_certificate("errors-a");
    let (cert, key) = (&certificate.cert, &certificate.key);
    let other = test_certificate("errors-b");
    let other_key = &other.key;
    let plugin = common::plugin("static_messages");
    let start = |cert: &str, key: &str| {
        Server::start_fails(&[
            "--plugin",
            plugin.to_str().unwrap(),
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ])
    };
    let log = start("/nonexistent/cert.pem", key.to_str().unwrap());
    assert!(log.contains("--tls-cert /nonexistent/cert.pem"), "{log}");
    let log = start(cert.to_str().unwrap(), other_key.to_str().unwrap());
    assert!(log.contains("does not fit"), "{log}");
    let log = start(key.to_str().unwrap(), key.to_str().unwrap());
    assert!(
        log.contains("no CERTIFICATE") || log.contains("--tls-cert"),
        "{log}"
    );
}

#[test]
fn sighup_reloads_the_certificate_for_new_handshakes() {
    let (server, cert) = tls_server(&["--tls-listen", "127.0.0.1:0"]);
    let port = server.tls_addr.unwrap().port();
    let fingerprint = r#"
import hashlib
sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
print(hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest())
"#;
    let before = python(fingerprint, port, &cert.cert);
    let new = test_certificate("tls-new");
    std::fs::copy(&new.cert, &cert.cert).unwrap();
    std::fs::copy(&new.key, &cert.key).unwrap();
    server.signal("HUP");
    server.wait_for_log("reloaded the TLS certificate");
    let after = python(fingerprint, port, &new.cert);
    assert_ne!(before, after);
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = out.write_char(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn every_auth_form() {
    let server = Server::with_static(Some(&users()), &[]);
    let fresh = || {
        let mut c = server.client();
        c.line();
        c
    };
    let mut c = fresh();
    assert!(c
        .cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0pw")))
        .starts_with("+OK Logged in"));
    let mut c = fresh();
    assert_eq!(c.cmd("AUTH PLAIN"), "+ \r\n");
    assert!(
        c.cmd(&b64(b"bob\0bob\0pw")).starts_with("+OK Logged in"),
        "authzid = user is fine"
    );
    let mut c = fresh();
    assert_eq!(c.cmd("AUTH PLAIN"), "+ \r\n");
    assert_eq!(c.cmd("*"), "-ERR Authentication cancelled.\r\n");
    assert!(
        c.cmd(&format!("AUTH PLAIN {}", b64(b"admin\0bob\0pw")))
            .starts_with("-ERR"),
        "another authzid"
    );
    assert!(
        c.cmd("AUTH PLAIN =").starts_with("-ERR"),
        "= is an empty response"
    );
    assert_eq!(c.cmd("AUTH PLAIN !!!"), "-ERR Invalid base64 data.\r\n");
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", b64(b"\0bob\0wrong"))),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(
        c.cmd("AUTH CRAM-MD5"),
        "-ERR Unsupported authentication mechanism.\r\n"
    );
    assert_eq!(c.cmd("AUTH"), "+OK Mechanisms follow\r\n");
    assert_eq!(c.body(), b"PLAIN\r\nLOGIN\r\n");
    let mut c = fresh();
    assert_eq!(c.cmd("AUTH LOGIN"), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd(&b64(b"bob")), "+ UGFzc3dvcmQ6\r\n");
    assert!(c.cmd(&b64(b"pw")).starts_with("+OK Logged in"));
    let mut c = fresh();
    assert_eq!(
        c.cmd(&format!("AUTH LOGIN {}", b64(b"bob"))),
        "+ UGFzc3dvcmQ6\r\n"
    );
    assert!(c.cmd(&b64(b"pw")).starts_with("+OK Logged in"));
    let mut c = fresh();
    let mut long = b"AUTH PLAIN ".to_vec();
    long.extend(vec![b'A'; 10_000]);
    long.extend(b"\r\n");
    c.send(&long);
    assert_eq!(
        c.line(),
        "-ERR Command line too long.\r\n",
        "SASL tokens are bounded"
    );
}

#[test]
fn a_second_loopback_address_counts_as_loopback_and_never_refuses() {
    let server = Server::with_static(Some(&users()), &["--listen", "127.0.0.2:0"]);
    let mut c = Client::connect(server.addr);
    c.line();
    assert_eq!(c.cmd("USER alice"), "+OK Send PASS.\r\n");
    let never = Server::with_static(Some(&users()), &["--plaintext-auth", "never"]);
    let mut c = never.client();
    c.line();
    assert!(c.cmd("USER alice").starts_with("-ERR [AUTH] Plaintext"));
    assert!(c
        .cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0pw")))
        .starts_with("-ERR [AUTH] Plaintext"));
    c.cmd("CAPA");
    let capa = String::from_utf8(c.body()).unwrap();
    assert!(
        !capa.lines().any(|l| l == "USER" || l.starts_with("SASL")),
        "{capa}"
    );
}

/// Seconds until the answer to a failed PASS arrives.
fn failed_login(c: &mut Client, user: &str) -> f64 {
    c.cmd(&format!("USER {user}"));
    let started = Instant::now();
    assert_eq!(
        c.cmd("PASS wrong"),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    started.elapsed().as_secs_f64()
}

#[test]
fn failed_logins_are_answered_later_and_later() {
    let server = Server::with_static(
        Some(&users()),
        &[
            "--trusted-networks",
            "none",
            "--auth-failure-delay-max",
            "2",
            "--max-auth-failures",
            "5",
        ],
    );
    let mut c = server.client();
    c.line();
    let first = failed_login(&mut c, "alice");
    let second = failed_login(&mut c, "nobody");
    let third = failed_login(&mut c, "alice");
    assert!(first >= 1.0, "first failure answered after {first:.2}s");
    assert!(second >= 2.0, "an unknown user waits as long: {second:.2}s");
    assert!((2.0..4.0).contains(&third), "capped at 2 s: {third:.2}s");
    // The delay follows the address to a new connection.
    let mut again = server.client();
    again.line();
    assert!(failed_login(&mut again, "alice") >= 2.0);
}

#[test]
fn too_many_failures_close_the_connection() {
    let server = Server::with_static(Some(&users()), &["--max-auth-failures", "2"]);
    let mut c = server.client();
    c.line();
    c.cmd("USER alice");
    assert!(c.cmd("PASS x").starts_with("-ERR [AUTH]"));
    c.cmd("USER alice");
    assert!(c.cmd("PASS x").starts_with("-ERR [AUTH]"));
    c.closed();
}

#[test]
fn connection_caps_per_address_and_in_all() {
    let server = Server::with_static(
        Some(&users()),
        &[
            "--trusted-networks",
            "none",
            "--max-connections-per-ip",
            "2",
        ],
    );
    let mut held: Vec<Client> = (0..2).map(|_| server.client()).collect();
    for c in &mut held {
        assert!(c.line().starts_with("+OK"));
    }
    let mut third = server.client();
    assert_eq!(
        third.line(),
        "-ERR [SYS/TEMP] Too many connections from your address.\r\n"
    );
    third.closed();
    drop(held);
    let total = Server::with_static(Some(&users()), &["--max-connections", "1"]);
    let mut first = total.client();
    assert!(
        first.line().starts_with("+OK"),
        "loopback is trusted, but the total cap holds"
    );
    assert_eq!(
        total.client().line(),
        "-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
    );
}

#[test]
fn sessions_per_user_are_capped() {
    let server = Server::with_static(Some(&users()), &["--max-sessions-per-user", "2"]);
    let mut sessions: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = server.client();
            c.login("bob", "pw");
            c
        })
        .collect();
    let mut third = server.client();
    third.line();
    third.cmd("USER bob");
    assert_eq!(
        third.cmd("PASS pw"),
        "-ERR [IN-USE] Too many sessions for this user.\r\n"
    );
    sessions[0].cmd("QUIT");
    sessions[0].closed();
    third.cmd("USER bob");
    assert!(
        third.cmd("PASS pw").starts_with("+OK"),
        "a slot came back at QUIT"
    );
}

#[test]
fn proxy_headers_from_a_trusted_balancer_set_the_client_address() {
    let server = behind_proxy(&users(), &["--plaintext-auth", "always"]);
    let mut v1 = server.client();
    v1.send(b"PROXY TCP4 203.0.113.7 127.0.0.1 50000 110\r\n");
    v1.login("alice", "pw");
    server.wait_for_log("peer=203.0.113.7:50000");
    v1.cmd("QUIT");
    let mut v2 = server.client();
    v2.send(&proxy_v4([198, 51, 100, 9], 40000));
    v2.login("bob", "pw");
    server.wait_for_log("peer=198.51.100.9:40000");
    // The real client address is not loopback: the default plaintext policy refuses it.
    let server = behind_proxy(&users(), &[]);
    let mut remote = server.client();
    remote.send(b"PROXY TCP4 203.0.113.8 127.0.0.1 50001 110\r\n");
    remote.line();
    assert!(remote
        .cmd("USER alice")
        .starts_with("-ERR [AUTH] Plaintext"));
}

#[test]
fn missing_truncated_or_garbage_proxy_headers_close_the_connection() {
    let server = Server::with_static(Some(&users()), &["--proxy-protocol-from", "127.0.0.0/8"]);
    let cases: [&[u8]; 4] = [
        b"CAPA\r\n",
        b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n",
        b"PROXY TCP4 203.0.113.7 127.0",
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
    ];
    for bad in cases {
        let mut c = server.client();
        c.send(bad);
        c.close_write();
        c.closed();
    }
    let mut good = server.client();
    good.send(b"PROXY UNKNOWN\r\n");
    assert!(good.line().starts_with("+OK"), "the server goes on");
}

#[test]
fn a_proxy_header_from_an_untrusted_client_is_refused() {
    let server = Server::with_static(Some(&users()), &[]);
    let mut c = server.client();
    c.line();
    assert_eq!(
        c.cmd("PROXY TCP4 203.0.113.7 127.0.0.1 50000 110"),
        "-ERR PROXY header not accepted from your address.\r\n"
    );
    c.closed();
    let mut c = server.client();
    c.line();
    c.send(&proxy_v4([203, 0, 113, 7], 1));
    let rest = String::from_utf8_lossy(&c.rest()).into_owned();
    assert!(
        rest.ends_with("+OK Logging out.\r\n"),
        "the v2 signature ends in QUIT: {rest:?}"
    );
}

#[test]
fn root_drops_privileges_after_startup() {
    common::require_root("it starts pop3host as root to see it drop to --user");
    let server = Server::with_static(Some(&users()), &["--user", "nobody"]);
    let nobody = proc_status_field(server.pid(), "Uid:", 1);
    assert_ne!(nobody, 0, "effective uid after --user nobody");
    assert_eq!(
        proc_status_field(server.pid(), "Gid:", 1),
        proc_status_field(server.pid(), "Gid:", 0),
        "real and effective gid agree"
    );
    let mut c = server.client();
    c.login("alice", "pw");
    assert!(!server.log().contains("running as root"));
    let root = Server::with_static(Some(&users()), &[]);
    root.wait_for_log("running as root");
    let log = Server::start_fails(&[
        "--plugin",
        common::plugin("static_messages").to_str().unwrap(),
        "--user",
        "no-such-user-here",
    ]);
    assert!(
        log.contains("--user no-such-user-here: no such user"),
        "{log}"
    );
}

/// `--group` and `--chroot` take effect: the process runs with that group (real, effective
/// and as its only supplementary group), and the given directory as its root, and still serves.
#[test]
fn root_drops_to_the_given_group_and_chroot() {
    common::require_root("it starts pop3host as root to see it drop to --group and --chroot");
    let jail = common::TempDir::new("chroot-jail");
    let jail_arg = jail.to_str().unwrap();
    let server = Server::with_static(
        Some(&users()),
        &[
            "--user", "nobody", "--group", "nogroup", "--chroot", jail_arg,
        ],
    );
    let nogroup = 65534;
    assert_eq!(proc_status_field(server.pid(), "Gid:", 0), nogroup);
    assert_eq!(proc_status_field(server.pid(), "Gid:", 1), nogroup);
    assert_ne!(proc_status_field(server.pid(), "Uid:", 1), 0);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let groups = status.lines().find_map(|l| l.strip_prefix("Groups:"));
    assert_eq!(
        groups.map(str::trim),
        Some("65534"),
        "supplementary groups: the given group only"
    );
    let root = std::fs::read_link(format!("/proc/{}/root", server.pid())).unwrap();
    assert_eq!(root, jail.canonicalize().unwrap(), "the process's root");
    let mut c = server.client();
    c.login("alice", "pw");
    assert!(c.cmd("STAT").starts_with("+OK"));

    let log = Server::start_fails(&[
        "--plugin",
        common::plugin("static_messages").to_str().unwrap(),
        "--user",
        "nobody",
        "--group",
        "no-such-group-here",
    ]);
    assert!(
        log.contains("--group no-such-group-here: no such group"),
        "{log}"
    );
    drop(server);
    std::fs::remove_dir_all(&jail).unwrap();
}

#[test]
fn a_silent_tls_client_is_dropped_within_the_idle_timeout() {
    let (server, _) = tls_server(&["--tls-listen", "127.0.0.1:0", "--idle-timeout", "1"]);
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    silent.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    silent
        .read_to_end(&mut rest)
        .expect("the server closes the silent connection before the deadline");
    assert!(rest.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}
