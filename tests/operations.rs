//! What an operator sees of the server at work: the summary line each session logs when it
//! ends, in text and JSON logs, and the setting that turns it off.

mod common;

use common::{Client, Server};
use std::collections::HashMap;

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
