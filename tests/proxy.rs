//! The proxy plugin end to end: pop3host with the proxy in front of a second pop3host with
//! the static-messages plugin (or of a scripted fake upstream, where the test needs an
//! upstream that misbehaves or lacks a capability). Through the proxy a client must see what
//! it sees directly, byte for byte.

mod common;

use common::{
    fake_upstream, plugin, test_certificate, try_login, unstuff, Client, Server, TestCertificate,
    DEADLINE,
};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// alice: the wire-format cases; bob: the built-in corpus (with the 4 MiB message).
fn upstream_config(extra: Value) -> String {
    let messages = [
        ("m1", "Subject: plain\r\n\r\nHello\r\n"),
        ("m2", "Subject: dots\n\n.\n..x\n.hidden\nend .\n"),
        (
            "m3",
            "Subject: endings\r\n\r\nbare lf\nmixed crlf\r\nno final newline",
        ),
        ("m4", "Subject: 8bit\n\ncaf\u{e9} \u{0} nul\n"),
        ("m5", "Subject: two\n\nline 1\nline 2\nline 3\n"),
    ];
    let messages: Vec<Value> = messages
        .iter()
        .map(|(id, text)| json!({"id": id, "text": text}))
        .collect();
    let mut config = json!({"users": {
        "alice": {"password": "pw", "messages": messages},
        "bob": {"password": "pw2", "builtin": true},
    }});
    merge(&mut config, extra);
    config.to_string()
}

fn merge(config: &mut Value, extra: Value) {
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
}

/// pop3host with the proxy plugin and `config`.
fn proxy(config: Value) -> Server {
    let plugin = plugin("proxy");
    let config = config.to_string();
    Server::start(&[
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-config",
        &config,
    ])
}

/// The proxy in front of `upstream`, plus `extra` config keys.
fn proxy_to(upstream: SocketAddr, extra: Value) -> Server {
    let mut config = json!({"upstream": upstream.to_string(), "io_timeout": 5});
    merge(&mut config, extra);
    proxy(config)
}

/// Logs in once the maildrop is free: a session that just ended may hold the upstream's
/// lock for a moment until its upstream connection is closed.
fn login_when_free(server: &Server, user: &str, pass: &str) -> Client {
    let started = Instant::now();
    loop {
        let (c, reply) = try_login(server, user, pass);
        if reply.starts_with("+OK") {
            return c;
        }
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        assert!(started.elapsed() < DEADLINE, "still locked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A multi-line command: its status line and body, as on the wire.
fn multi(c: &mut Client, command: &str) -> Vec<u8> {
    let status = c.cmd(command);
    assert!(status.starts_with("+OK"), "{command}: {status}");
    [status.into_bytes(), c.body()].concat()
}

/// Everything a client can see of a maildrop, as on the wire: STAT, LIST, UIDL, and RETR,
/// TOP n 0 and TOP n 2 of every message (the TOPs also leave the upstream's terminator
/// unread until the next command).
fn transcript(c: &mut Client) -> Vec<Vec<u8>> {
    let stat = c.cmd("STAT");
    let count: usize = stat.split(' ').nth(1).unwrap().parse().unwrap();
    let mut seen = vec![stat.into_bytes(), multi(c, "LIST"), multi(c, "UIDL")];
    for n in 1..=count {
        for command in [
            format!("RETR {n}"),
            format!("TOP {n} 0"),
            format!("TOP {n} 2"),
        ] {
            seen.push(multi(c, &command));
        }
        seen.push(c.cmd(&format!("LIST {n}")).into_bytes());
    }
    seen
}

fn assert_same(direct: &[Vec<u8>], proxied: &[Vec<u8>]) {
    assert_eq!(direct.len(), proxied.len());
    for (d, p) in direct.iter().zip(proxied) {
        assert!(
            d == p,
            "differs: direct {:?} proxied {:?}",
            String::from_utf8_lossy(&d[..d.len().min(200)]),
            String::from_utf8_lossy(&p[..p.len().min(200)])
        );
    }
}

#[test]
fn a_client_sees_the_same_maildrop_through_the_proxy() {
    let upstream = Server::with_static(Some(&upstream_config(json!({}))), &[]);
    let proxy = proxy_to(upstream.addr, json!({}));
    for (user, pass) in [("alice", "pw"), ("bob", "pw2")] {
        let mut direct = upstream.client();
        direct.login(user, pass);
        let expected = transcript(&mut direct);
        assert!(direct.cmd("QUIT").starts_with("+OK"));
        let mut c = login_when_free(&proxy, user, pass);
        assert_same(&expected, &transcript(&mut c));
        assert!(c.cmd("QUIT").starts_with("+OK"));
    }
}

#[test]
fn deletions_reach_the_upstream_only_after_quit() {
    let upstream = Server::with_static(Some(&upstream_config(json!({}))), &[]);
    let proxy = proxy_to(upstream.addr, json!({}));
    let mut c = login_when_free(&proxy, "alice", "pw");
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 3").starts_with("+OK"));
    assert!(c.cmd("STAT").starts_with("+OK 3 "));
    drop(c); // gone without QUIT: nothing may be deleted
    let mut direct = login_when_free(&upstream, "alice", "pw");
    assert!(
        direct.cmd("STAT").starts_with("+OK 5 "),
        "a dropped session deleted"
    );
    direct.cmd("QUIT");

    let mut c = login_when_free(&proxy, "alice", "pw");
    c.cmd("RETR 1");
    c.body();
    c.cmd("TOP 2 0"); // leaves the upstream's terminator to be read before DELE
    c.body();
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 3").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let mut direct = login_when_free(&upstream, "alice", "pw");
    assert!(direct.cmd("STAT").starts_with("+OK 3 "));
    let uidl = String::from_utf8(multi(&mut direct, "UIDL")).unwrap();
    assert!(uidl.ends_with("1 m2\r\n2 m4\r\n3 m5\r\n"), "{uidl}");
}

#[test]
fn upstream_response_codes_reach_the_client() {
    let fault = |user: &str, code: &str| json!({"callback": "authenticate", "action": "error", "code": code, "user": user});
    let users: Vec<(&str, &str)> = vec![
        ("u_temp", "SYS/TEMP"),
        ("u_perm", "SYS/PERM"),
        ("u_delay", "LOGIN-DELAY"),
        ("u_in_use", "IN-USE"),
        ("u_auth", "AUTH"),
    ];
    let mut config: Value = serde_json::from_str(&upstream_config(json!({}))).unwrap();
    for (user, _) in &users {
        config["users"][user] = json!({"password": "pw"});
    }
    config["faults"] = users.iter().map(|(user, code)| fault(user, code)).collect();
    let upstream = Server::with_static(Some(&config.to_string()), &[]);
    let proxy = proxy_to(upstream.addr, json!({}));
    let wrong_password = ("alice", "wrong");
    let logins = users.iter().map(|&(user, _)| (user, "pw"));
    for (user, pass) in logins.chain([wrong_password]) {
        let (_, direct) = try_login(&upstream, user, pass);
        let (_, proxied) = try_login(&proxy, user, pass);
        assert!(direct.starts_with("-ERR ["), "{direct}");
        assert_eq!(proxied, direct, "{user}");
    }
}

#[test]
fn a_locked_upstream_maildrop_is_in_use_through_the_proxy() {
    let upstream = Server::with_static(Some(&upstream_config(json!({}))), &[]);
    let proxy = proxy_to(upstream.addr, json!({}));
    let mut holder = upstream.client();
    holder.login("alice", "pw");
    let (_, direct) = try_login(&upstream, "alice", "pw");
    let (_, proxied) = try_login(&proxy, "alice", "pw");
    assert!(direct.starts_with("-ERR [IN-USE] "), "{direct}");
    assert_eq!(proxied, direct);
}

#[test]
fn the_upstreams_login_delay_reaches_the_client() {
    let upstream = Server::with_static(Some(&upstream_config(json!({"login_delay": 60}))), &[]);
    let proxy = proxy_to(upstream.addr, json!({}));
    let mut c = login_when_free(&proxy, "alice", "pw");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let (_, reply) = try_login(&proxy, "alice", "pw");
    assert!(reply.starts_with("-ERR [LOGIN-DELAY] "), "{reply}");
}

#[test]
fn an_unreachable_upstream_is_a_temporary_failure_with_a_log_line() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = proxy_to(closed, json!({}));
    let (_, reply) = try_login(&proxy, "alice", "pw");
    assert!(reply.starts_with("-ERR [SYS/TEMP] "), "{reply}");
    proxy.wait_for_log(&format!(
        "upstream {closed}: connecting: Connection refused"
    ));
}

#[test]
fn a_silent_upstream_times_out() {
    let silent = fake_upstream(|stream| {
        std::thread::sleep(DEADLINE);
        drop(stream);
    });
    let proxy = proxy_to(silent, json!({"io_timeout": 0.5}));
    let started = Instant::now();
    let (_, reply) = try_login(&proxy, "alice", "pw");
    assert!(reply.starts_with("-ERR [SYS/TEMP] "), "{reply}");
    assert!(
        started.elapsed() < DEADLINE / 4,
        "took {:?}",
        started.elapsed()
    );
    proxy.wait_for_log(&format!("upstream {silent}: connecting: timed out"));
}

#[test]
fn an_upstream_that_is_not_pop3_is_a_temporary_failure() {
    let http = fake_upstream(|mut stream| {
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let endless = fake_upstream(|mut stream| {
        let _ = stream.write_all(&[b'+'; 100_000]);
    });
    for (upstream, log) in [
        (
            http,
            "unexpected answer: expected a status line, got \"HTTP/1.1 400",
        ),
        (
            endless,
            "unexpected answer: expected a line of at most 64 KiB",
        ),
    ] {
        let proxy = proxy_to(upstream, json!({}));
        let (_, reply) = try_login(&proxy, "alice", "pw");
        assert!(reply.starts_with("-ERR [SYS/TEMP] "), "{reply}");
        proxy.wait_for_log(&format!("upstream {upstream}: connecting: {log}"));
    }
}

#[test]
fn routes_send_users_and_domains_to_their_upstream() {
    let one = Server::with_static(Some(&upstream_config(json!({}))), &[]);
    let two_config = json!({"users": {
        "carol": {"password": "c", "messages": [{"id": "carol-on-two", "text": "x\n"}]},
        "dave": {"password": "d", "messages": [{"id": "dave-on-two", "text": "y\n"}]},
        "alice": {"password": "pw", "messages": [{"id": "alice-on-two", "text": "z\n"}]},
    }});
    let two = Server::with_static(Some(&two_config.to_string()), &[]);
    let two_addr = two.addr.to_string();
    let proxy = proxy_to(
        one.addr,
        json!({"routes": {
            "carol": {"upstream": two_addr},
            "@example.org": {"upstream": two_addr, "strip_domain": true},
        }}),
    );
    for (user, pass, uidl) in [
        ("alice", "pw", "1 m1\r\n"),
        ("carol", "c", "1 carol-on-two\r\n"),
        ("dave@example.org", "d", "1 dave-on-two\r\n"),
        ("alice@EXAMPLE.org", "pw", "1 alice-on-two\r\n"),
    ] {
        let mut c = login_when_free(&proxy, user, pass);
        let uidl_answer = String::from_utf8(multi(&mut c, "UIDL")).unwrap();
        assert!(uidl_answer.contains(uidl), "{user}: {uidl_answer}");
        c.cmd("QUIT");
    }
    let (_, reply) = try_login(&proxy, "dave", "d");
    assert!(
        reply.starts_with("-ERR [AUTH]"),
        "dave has no route: {reply}"
    );
}

#[test]
fn received_headers_are_counted_in_the_sizes() {
    let upstream = Server::with_static(Some(&upstream_config(json!({}))), &[]);
    let proxy = proxy_to(
        upstream.addr,
        json!({"add_received": true, "hostname": "proxy.test"}),
    );
    let mut direct = upstream.client();
    direct.login("bob", "pw2");
    let expected = transcript(&mut direct);
    direct.cmd("QUIT");

    let mut c = login_when_free(&proxy, "bob", "pw2");
    let uidl = String::from_utf8(multi(&mut c, "UIDL")).unwrap();
    let ids: Vec<&str> = uidl
        .lines()
        .skip(1)
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    let mut total = 0;
    for (i, id) in ids.iter().enumerate() {
        let n = i + 1;
        let size: usize = c
            .cmd(&format!("LIST {n}"))
            .trim_end()
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        let message = unstuff(&multi(&mut c, &format!("RETR {n}")));
        let (status, message) =
            message.split_at(message.iter().position(|&b| b == b'\n').unwrap() + 1);
        assert_eq!(status, format!("+OK {size} octets\r\n").as_bytes());
        assert_eq!(message.len(), size, "message {n}");
        let header =
            format!("Received: from 127.0.0.1\r\n\tby proxy.test with POP3 id {id};\r\n\t");
        assert!(
            message.starts_with(header.as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&message[..100])
        );
        let original = unstuff(&expected[3 + 4 * i]);
        let original = &original[original.iter().position(|&b| b == b'\n').unwrap() + 1..];
        let header_len = message.len() - original.len();
        assert_eq!(
            &message[header_len..],
            original,
            "message {n} after the header"
        );
        let top = unstuff(&multi(&mut c, &format!("TOP {n} 0")));
        assert!(
            top.windows(header.len()).any(|w| w == header.as_bytes()),
            "TOP {n} 0 has the header"
        );
        let again = unstuff(&multi(&mut c, &format!("RETR {n}")));
        assert_eq!(
            &again[again.len() - size..],
            message,
            "the same header every time"
        );
        total += size;
    }
    assert_eq!(c.cmd("STAT"), format!("+OK {} {total}\r\n", ids.len()));
}

/// A scripted upstream with user `fred`, password `secret`, two messages, and whichever
/// of CAPA (`capa` lines), USER and UIDL the test wants. Records every command it gets.
struct Fake {
    capa: Option<&'static str>,
    commands: Mutex<Vec<String>>,
}

/// What [`Fake`] records when a connection ends.
const CLOSED: &str = "<closed>";

const FAKE_MESSAGES: [&str; 2] = [
    "Subject: one\r\nMessage-ID: <1@fake>\r\n\r\n.starts with a dot\r\n",
    "Subject: two\r\nMessage-ID: <2@fake>\r\n\r\nbody\r\n",
];

impl Fake {
    fn start(capa: Option<&'static str>) -> (Arc<Fake>, SocketAddr) {
        let fake = Arc::new(Fake {
            capa,
            commands: Mutex::default(),
        });
        let serving = fake.clone();
        let addr = fake_upstream(move |stream| serving.serve(stream));
        (fake, addr)
    }

    fn serve(&self, stream: TcpStream) {
        let mut out = stream.try_clone().unwrap();
        let _ = out.write_all(b"+OK fake ready\r\n");
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            self.commands.lock().unwrap().push(line.clone());
            let words: Vec<&str> = line.split(' ').collect();
            let message = |n: &str| FAKE_MESSAGES[n.parse::<usize>().unwrap() - 1];
            let reply = match words[0] {
                "CAPA" => match self.capa {
                    Some(capa) => format!("+OK\r\n{capa}.\r\n"),
                    None => "-ERR unknown command\r\n".into(),
                },
                "USER" if self.capa.is_none_or(|c| c.contains("USER")) => "+OK\r\n".into(),
                "PASS" if words[1] == "secret" => "+OK\r\n".into(),
                // base64 of "\0fred\0secret"
                "AUTH" if line == "AUTH PLAIN AGZyZWQAc2VjcmV0" => "+OK\r\n".into(),
                "STAT" => format!(
                    "+OK 2 {}\r\n",
                    FAKE_MESSAGES[0].len() + FAKE_MESSAGES[1].len()
                ),
                "LIST" => format!(
                    "+OK\r\n1 {}\r\n2 {}\r\n.\r\n",
                    FAKE_MESSAGES[0].len(),
                    FAKE_MESSAGES[1].len()
                ),
                "TOP" if self.capa.is_none_or(|c| c.contains("TOP")) => {
                    let text = message(words[1]);
                    format!(
                        "+OK\r\n{}.\r\n",
                        &text[..text.find("\r\n\r\n").unwrap() + 4]
                    )
                }
                "RETR" => format!(
                    "+OK\r\n{}.\r\n",
                    message(words[1]).replace("\r\n.", "\r\n..")
                ),
                "QUIT" => "+OK bye\r\n".into(),
                _ => "-ERR no\r\n".into(),
            };
            if out.write_all(reply.as_bytes()).is_err() || line == "QUIT" {
                break;
            }
        }
        self.commands.lock().unwrap().push(CLOSED.into());
    }

    fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
}

#[test]
fn an_upstream_without_uidl_gets_stable_derived_ids() {
    let (fake, addr) = Fake::start(None);
    let proxy = proxy_to(addr, json!({}));
    let mut uidls = Vec::new();
    for _ in 0..2 {
        let mut c = login_when_free(&proxy, "fred", "secret");
        uidls.push(String::from_utf8(multi(&mut c, "UIDL")).unwrap());
        assert_eq!(
            unstuff(&multi(&mut c, "RETR 1")),
            format!(
                "+OK {} octets\r\n{}",
                FAKE_MESSAGES[0].len(),
                FAKE_MESSAGES[0]
            )
            .into_bytes()
        );
        c.cmd("QUIT");
    }
    assert_eq!(uidls[0], uidls[1], "ids are stable across sessions");
    let ids: Vec<&str> = uidls[0]
        .lines()
        .skip(1)
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids[0] != ids[1] && ids.iter().all(|id| id.len() == 25 && id.starts_with('h')),
        "{ids:?}"
    );
    proxy.wait_for_log(&format!("upstream {addr} has no UIDL"));
    let commands = fake.commands();
    assert!(commands.contains(&"USER fred".to_string()), "{commands:?}");
}

#[test]
fn an_upstream_without_user_and_top_gets_sasl_plain_and_a_dropped_session_sends_no_quit() {
    let (fake, addr) = Fake::start(Some("SASL PLAIN\r\n"));
    let proxy = proxy_to(addr, json!({}));
    let mut c = login_when_free(&proxy, "fred", "secret");
    let uidl = String::from_utf8(multi(&mut c, "UIDL")).unwrap();
    assert!(
        uidl.ends_with("\r\n1 n1\r\n2 n2\r\n"),
        "no UIDL, no TOP: {uidl}"
    );
    let header = &FAKE_MESSAGES[1][..FAKE_MESSAGES[1].find("\r\n\r\n").unwrap() + 4];
    assert_eq!(
        multi(&mut c, "TOP 2 0"),
        format!("+OK Top of message follows.\r\n{header}").into_bytes(),
        "cut from RETR"
    );
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    c.shutdown_write();
    drop(c);
    let started = Instant::now();
    while !fake.commands().contains(&CLOSED.to_string()) {
        assert!(
            started.elapsed() < DEADLINE,
            "the upstream connection stays open"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let commands = fake.commands();
    assert_eq!(
        commands[..2],
        ["CAPA", "AUTH PLAIN AGZyZWQAc2VjcmV0"],
        "{commands:?}"
    );
    assert!(
        !commands
            .iter()
            .any(|c| c.starts_with("DELE") || c == "QUIT"),
        "{commands:?}"
    );
    let (_, reply) = try_login(&proxy, "fred", "wrong");
    assert!(reply.starts_with("-ERR [AUTH] "), "{reply}");
}

/// TLS upstreams: pop3host with a test certificate, STLS on its plain port and implicit TLS
/// on a second one.
fn tls_upstream(name: &str) -> (Server, TestCertificate) {
    let certificate = test_certificate(name);
    let (cert, key) = (
        certificate.cert.to_str().unwrap(),
        certificate.key.to_str().unwrap(),
    );
    let args = [
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--tls-listen",
        "127.0.0.1:0",
    ];
    (
        Server::with_static(Some(&upstream_config(json!({}))), &args),
        certificate,
    )
}

#[test]
fn starttls_and_implicit_tls_upstreams_serve_the_same_maildrop() {
    let (upstream, ca_file) = tls_upstream("proxy-tls");
    let mut direct = upstream.client();
    direct.login("alice", "pw");
    let expected = transcript(&mut direct);
    direct.cmd("QUIT");
    let tls_addr = upstream.tls_addr.expect("an implicit TLS listener");
    for (addr, tls) in [(upstream.addr, "starttls"), (tls_addr, "implicit")] {
        let proxy = proxy_to(
            addr,
            json!({"tls": tls, "ca_file": ca_file.cert, "server_name": "localhost"}),
        );
        let mut c = login_when_free(&proxy, "alice", "pw");
        assert_same(&expected, &transcript(&mut c));
        c.cmd("QUIT");
    }
}

#[test]
fn an_untrusted_certificate_fails_unless_insecure_is_chosen() {
    let (upstream, _) = tls_upstream("proxy-untrusted");
    let tls_addr = upstream.tls_addr.expect("an implicit TLS listener");
    let untrusted = proxy_to(
        tls_addr,
        json!({"tls": "implicit", "server_name": "localhost"}),
    );
    let (_, reply) = try_login(&untrusted, "alice", "pw");
    assert!(reply.starts_with("-ERR [SYS/TEMP] "), "{reply}");
    untrusted.wait_for_log(&format!(
        "upstream {tls_addr}: connecting: invalid peer certificate"
    ));

    let insecure = proxy_to(upstream.addr, json!({"tls": "starttls", "insecure": true}));
    insecure.wait_for_log(&format!(
        "certificates of upstream {} are NOT verified",
        upstream.addr
    ));
    let mut c = login_when_free(&insecure, "alice", "pw");
    assert!(c.cmd("STAT").starts_with("+OK 5 "));
}

#[test]
fn without_a_config_the_proxy_asks_for_an_upstream() {
    let plugin = plugin("proxy");
    let log = Server::start_fails(&["--plugin", plugin.to_str().unwrap()]);
    assert!(log.contains("proxy config: upstream: required"), "{log}");
}
