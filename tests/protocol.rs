//! RFC 1939/2449 behaviour of the real binary with the static-messages plugin, driven by a
//! raw TCP client: wire format, states, optional commands, CAPA and response codes, and the
//! client quirks that need no TLS or SASL.

mod common;

use common::{crlf_normalized, unstuff, Client, Server};
use serde_json::json;

/// Messages whose exact source the tests know, covering the wire-format cases.
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("m1", b"Subject: plain\r\n\r\nHello\r\n".to_vec()),
        ("m2", b"Subject: dots\n\n.\n..x\n.hidden\nend .\n".to_vec()),
        (
            "m3",
            b"Subject: endings\r\n\r\nbare lf\nmixed crlf\r\nno final newline".to_vec(),
        ),
        (
            "m4",
            "Subject: 8bit\n\ncaf\u{e9} \u{0} nul\n".as_bytes().to_vec(),
        ),
        (
            "not a valid uidl",
            [
                b"Subject: long\n\n".to_vec(),
                vec![b'x'; 3000],
                b"\n".to_vec(),
            ]
            .concat(),
        ),
    ]
}

fn config(extra: serde_json::Value) -> String {
    let msgs: Vec<_> = messages()
        .into_iter()
        .map(|(id, text)| json!({"id": id, "text": String::from_utf8(text).unwrap()}))
        .collect();
    let mut config = json!({
        "users": {
            "alice": {"password": "pw", "apop_secret": "s3cret", "messages": msgs},
            "bob": {"password": "pw2", "builtin": true}
        }
    });
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    config.to_string()
}

fn server() -> Server {
    Server::with_static(Some(&config(json!({}))), &[])
}

#[test]
fn greeting_carries_an_apop_timestamp_and_capa_differs_by_state() {
    let server = server();
    let mut c = server.client();
    let greeting = c.line();
    assert!(
        greeting.starts_with("+OK pop3host ready. <") && greeting.ends_with(">\r\n"),
        "{greeting}"
    );
    assert!(greeting.len() <= 512);
    assert_eq!(c.cmd("CAPA"), "+OK Capability list follows\r\n");
    let capa = String::from_utf8(c.body()).unwrap();
    for cap in [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "USER",
        "IMPLEMENTATION pop3host",
    ] {
        assert!(capa.lines().any(|l| l == cap), "{cap} missing from {capa}");
    }
    assert!(
        !capa.contains("LOGIN-DELAY"),
        "no login delay configured: {capa}"
    );
    assert!(c.cmd("USER alice").starts_with("+OK"));
    assert!(c.cmd("PASS pw").starts_with("+OK"));
    c.cmd("CAPA");
    let capa = String::from_utf8(c.body()).unwrap();
    assert!(
        !capa.contains("USER") && capa.contains("UIDL\r\n"),
        "{capa}"
    );
}

#[test]
fn retr_sends_crlf_dot_stuffed_messages_with_exact_sizes() {
    let server = server();
    let mut c = server.client();
    c.login("alice", "pw");
    let total: usize = messages()
        .iter()
        .map(|(_, text)| crlf_normalized(text).len())
        .sum();
    assert_eq!(
        c.cmd("STAT"),
        format!("+OK {} {total}\r\n", messages().len())
    );
    for (n, (_, text)) in messages().iter().enumerate() {
        let n = n + 1;
        let expected = crlf_normalized(text);
        assert_eq!(
            c.cmd(&format!("LIST {n}")),
            format!("+OK {n} {}\r\n", expected.len())
        );
        assert_eq!(
            c.cmd(&format!("RETR {n}")),
            format!("+OK {} octets\r\n", expected.len())
        );
        let wire = c.body();
        assert!(
            wire.split_inclusive(|&b| b == b'\n')
                .all(|l| l.ends_with(b"\r\n")),
            "bare LF in message {n}"
        );
        assert_eq!(unstuff(&wire), expected, "message {n}");
    }
    // The dots message on the wire, exactly.
    c.cmd("RETR 2");
    assert_eq!(
        c.body(),
        b"Subject: dots\r\n\r\n..\r\n...x\r\n..hidden\r\nend .\r\n"
    );
}

#[test]
fn top_sends_the_header_and_n_body_lines() {
    let server = server();
    let mut c = server.client();
    c.login("alice", "pw");
    assert_eq!(c.cmd("TOP 2 0"), "+OK Top of message follows.\r\n");
    assert_eq!(c.body(), b"Subject: dots\r\n\r\n");
    c.cmd("TOP 2 2");
    assert_eq!(c.body(), b"Subject: dots\r\n\r\n..\r\n...x\r\n");
    c.cmd("TOP 3 99999999");
    let top = c.body();
    c.cmd("RETR 3");
    assert_eq!(top, c.body(), "TOP beyond the body is the whole message");
}

#[test]
fn uidl_is_the_backend_id_or_a_stable_hash() {
    let server = server();
    let mut c = server.client();
    c.login("alice", "pw");
    assert_eq!(
        c.cmd("UIDL"),
        format!("+OK 5 messages ({} octets)\r\n", total_octets())
    );
    let listing = String::from_utf8(c.body()).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(&lines[..4], ["1 m1", "2 m2", "3 m3", "4 m4"]);
    let hashed = lines[4].strip_prefix("5 ").unwrap();
    assert!(
        hashed.len() == 40 && hashed.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hashed}"
    );
    assert_eq!(c.cmd("UIDL 5"), format!("+OK 5 {hashed}\r\n"));
    drop(c);
    // The same ids after a restart.
    let again = self::server();
    let mut c = again.client();
    c.login("alice", "pw");
    c.cmd("UIDL");
    assert_eq!(String::from_utf8(c.body()).unwrap(), listing);
}

fn total_octets() -> usize {
    messages()
        .iter()
        .map(|(_, text)| crlf_normalized(text).len())
        .sum()
}

#[test]
fn deletion_happens_only_on_quit_from_transaction() {
    let server = server();
    let mut c = server.client();
    c.login("alice", "pw");
    assert_eq!(c.cmd("DELE 1"), "+OK Message 1 deleted.\r\n");
    assert_eq!(c.cmd("DELE 1"), "-ERR Message is deleted.\r\n");
    for cmd in ["LIST 1", "RETR 1", "TOP 1 0", "UIDL 1"] {
        assert_eq!(c.cmd(cmd), "-ERR Message is deleted.\r\n", "{cmd}");
    }
    assert_eq!(
        c.cmd("STAT"),
        format!(
            "+OK 4 {}\r\n",
            total_octets() - crlf_normalized(&messages()[0].1).len()
        )
    );
    c.cmd("LIST");
    assert!(!String::from_utf8(c.body())
        .unwrap()
        .lines()
        .any(|l| l.starts_with("1 ")));
    assert!(c.cmd("RSET").starts_with("+OK Maildrop has 5 messages"));
    c.cmd("DELE 2");
    c.cmd("DELE 3");
    // Dropped without QUIT: nothing is deleted. The server closes once the maildrop is free.
    c.close_write();
    c.closed();
    let mut c = server.client();
    c.login("alice", "pw");
    assert!(c.cmd("STAT").starts_with("+OK 5 "));
    c.cmd("DELE 2");
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, 1 messages deleted.\r\n");
    c.closed();
    let mut c = server.client();
    c.login("alice", "pw");
    assert!(c.cmd("STAT").starts_with("+OK 4 "));
    c.cmd("UIDL");
    assert!(
        !String::from_utf8(c.body()).unwrap().contains(" m2\r\n"),
        "m2 was deleted"
    );
}

#[test]
fn authorization_rules() {
    let server = server();
    let mut c = server.client();
    c.line();
    assert_eq!(c.cmd("STAT"), "-ERR Not allowed before login.\r\n");
    assert_eq!(
        c.cmd("PASS pw"),
        "-ERR No user name given, send USER first.\r\n"
    );
    c.cmd("USER alice");
    assert_eq!(
        c.cmd("PASS wrong"),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(
        c.cmd("PASS pw"),
        "-ERR No user name given, send USER first.\r\n"
    );
    c.cmd("USER nobody");
    assert_eq!(
        c.cmd("PASS pw"),
        "-ERR [AUTH] Authentication failed.\r\n",
        "same text for an unknown user"
    );
    c.cmd("USER alice");
    assert!(c.cmd("PASS pw").starts_with("+OK Logged in, 5 messages"));
    assert_eq!(c.cmd("USER alice"), "-ERR Already logged in.\r\n");
    let mut other = server.client();
    other.line();
    assert_eq!(other.cmd("QUIT"), "+OK Logging out.\r\n");
    other.closed();
}

#[test]
fn a_locked_maildrop_is_in_use() {
    let server = server();
    let mut first = server.client();
    first.login("alice", "pw");
    let mut second = server.client();
    second.line();
    second.cmd("USER alice");
    assert!(second.cmd("PASS pw").starts_with("-ERR [IN-USE]"));
    first.cmd("QUIT");
    first.closed();
    second.cmd("USER alice");
    assert!(
        second.cmd("PASS pw").starts_with("+OK"),
        "the lock is released at QUIT"
    );
}

#[test]
fn apop_right_and_wrong() {
    let server = server();
    let mut c = server.client();
    let greeting = c.line();
    let timestamp = &greeting[greeting.find('<').unwrap()..=greeting.rfind('>').unwrap()];
    let digest = |secret: &str| {
        use md5::{Digest, Md5};
        let hash = Md5::digest(format!("{timestamp}{secret}").as_bytes());
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(
        c.cmd(&format!("APOP alice {}", digest("wrong"))),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert!(c
        .cmd(&format!("APOP alice {}", digest("s3cret")))
        .starts_with("+OK"));
    // Timestamps differ per connection.
    let mut other = server.client();
    assert_ne!(other.line(), greeting);
}

#[test]
fn bad_commands_and_numbers_keep_the_session() {
    let server = server();
    let mut c = server.client();
    c.login("alice", "pw");
    for cmd in [
        "RETR 0",
        "RETR 6",
        "DELE 4294967296",
        "LIST 99999999999999999999",
    ] {
        assert_eq!(c.cmd(cmd), "-ERR No such message.\r\n", "{cmd}");
    }
    assert_eq!(c.cmd("RETR x"), "-ERR Syntax: RETR msg\r\n");
    assert_eq!(c.cmd("RETR -1"), "-ERR Syntax: RETR msg\r\n");
    assert_eq!(c.cmd("XTND foo"), "-ERR Unknown command: XTND\r\n");
    assert_eq!(
        c.cmd("list 2"),
        format!("+OK 2 {}\r\n", crlf_normalized(&messages()[1].1).len())
    );
    c.send(b"NOOP\n");
    assert_eq!(c.line(), "+OK\r\n", "bare LF ends a command line too");
}

#[test]
fn an_overlong_line_gets_an_error_and_the_session_goes_on() {
    let server = server();
    let mut c = server.client();
    c.line();
    let mut long = vec![b'A'; 20_000];
    long.extend(b"\r\nNOOP\r\n");
    c.send(&long);
    assert_eq!(c.line(), "-ERR Command line too long.\r\n");
    assert_eq!(c.line(), "-ERR Not allowed before login.\r\n");
    assert_eq!(c.cmd("QUIT"), "+OK Logging out.\r\n");
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = server();
    let mut c = server.client();
    c.line();
    c.send(b"USER alice\r\nPASS pw\r\nSTAT\r\nLIST 1\r\nUIDL\r\nRETR 1\r\nDELE 1\r\nNOOP\r\nRSET\r\nTOP 2 0\r\nQUIT\r\n");
    assert!(c.line().starts_with("+OK Send PASS"));
    assert!(c.line().starts_with("+OK Logged in"));
    assert!(c.line().starts_with("+OK 5 "));
    assert!(c.line().starts_with("+OK 1 "));
    assert!(c.line().starts_with("+OK 5 messages"));
    c.body();
    assert_eq!(
        c.line(),
        format!("+OK {} octets\r\n", crlf_normalized(&messages()[0].1).len())
    );
    assert_eq!(unstuff(&c.body()), crlf_normalized(&messages()[0].1));
    assert_eq!(c.line(), "+OK Message 1 deleted.\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    assert!(c.line().starts_with("+OK Maildrop has 5"));
    assert!(c.line().starts_with("+OK Top"));
    assert_eq!(c.body(), b"Subject: dots\r\n\r\n");
    assert_eq!(c.line(), "+OK Logging out, 0 messages deleted.\r\n");
}

#[test]
fn idle_clients_are_logged_out_without_update() {
    let server = Server::with_static(Some(&config(json!({}))), &["--idle-timeout", "1"]);
    let mut c = server.client();
    c.login("alice", "pw");
    c.cmd("DELE 1");
    assert_eq!(c.line(), "-ERR Disconnected for inactivity.\r\n");
    c.closed();
    let mut c = server.client();
    c.login("alice", "pw");
    assert!(c.cmd("STAT").starts_with("+OK 5 "), "nothing deleted");
}

#[test]
fn login_delay_is_announced_and_enforced() {
    let extra = json!({"login_delay": 60});
    let server = Server::with_static(Some(&config(extra)), &[]);
    let mut c = server.client();
    c.line();
    c.cmd("CAPA");
    assert!(String::from_utf8(c.body())
        .unwrap()
        .contains("\r\nLOGIN-DELAY 60\r\n"));
    c.cmd("USER alice");
    assert!(c.cmd("PASS pw").starts_with("+OK"));
    c.cmd("QUIT");
    let mut c = server.client();
    c.line();
    c.cmd("USER alice");
    let refused = c.cmd("PASS pw");
    assert!(
        refused.starts_with("-ERR [LOGIN-DELAY] Logged in too recently"),
        "{refused}"
    );
    let mut c = server.client();
    c.login("bob", "pw2");
}

#[test]
fn expire_is_announced_per_user_after_login() {
    let mut config: serde_json::Value =
        serde_json::from_str(&config(json!({"expire": "never"}))).unwrap();
    config["users"]["alice"]["expire"] = json!(30);
    let server = Server::with_static(Some(&config.to_string()), &[]);
    let mut c = server.client();
    c.line();
    c.cmd("CAPA");
    assert!(String::from_utf8(c.body())
        .unwrap()
        .contains("\r\nEXPIRE NEVER\r\n"));
    c.cmd("USER alice");
    c.cmd("PASS pw");
    c.cmd("CAPA");
    assert!(String::from_utf8(c.body())
        .unwrap()
        .contains("\r\nEXPIRE 30\r\n"));
}

#[test]
fn the_builtin_mailbox_streams_its_large_message() {
    let server = Server::with_static(None, &[]);
    let mut c: Client = server.client();
    c.login("test", "test");
    c.cmd("LIST");
    let listing = String::from_utf8(c.body()).unwrap();
    assert!(listing.lines().count() >= 5, "{listing}");
    let (n, size) = listing
        .lines()
        .map(|l| l.split_once(' ').unwrap())
        .map(|(n, s)| (n.to_string(), s.parse::<usize>().unwrap()))
        .max_by_key(|(_, s)| *s)
        .unwrap();
    assert!(size > 2_000_000, "a message of a few megabytes: {size}");
    assert_eq!(
        c.cmd(&format!("RETR {n}")),
        format!("+OK {size} octets\r\n")
    );
    assert_eq!(unstuff(&c.body()).len(), size);
}

#[test]
fn shutdown_closes_sessions_without_update_after_the_grace_period() {
    let mut server = Server::with_static(Some(&config(json!({}))), &["--shutdown-grace", "1"]);
    let mut finishing = server.client();
    finishing.login("bob", "pw2");
    let mut lingering = server.client();
    lingering.login("alice", "pw");
    lingering.cmd("DELE 1");
    server.signal("TERM");
    server.wait_for_log("shutting down");
    // A session may finish during the grace period.
    assert!(finishing.cmd("STAT").starts_with("+OK"));
    assert_eq!(
        finishing.cmd("QUIT"),
        "+OK Logging out, 0 messages deleted.\r\n"
    );
    // One that does not is closed with [SYS/TEMP], without UPDATE.
    assert_eq!(
        lingering.line(),
        "-ERR [SYS/TEMP] Server shutting down, try again later.\r\n"
    );
    assert!(
        server.wait_exit(),
        "exit status 0 after a graceful shutdown"
    );
    assert!(
        !server.log().contains("deleted=1"),
        "no UPDATE for alice:\n{}",
        server.log()
    );
}
