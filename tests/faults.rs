//! A plugin's failure is one session's error, never the server's death: faults injected in
//! each callback of the static-messages plugin, while another session keeps working.

mod common;

use common::{stuck_logins, Client, Server};
use serde_json::json;
use std::time::{Duration, Instant};

/// alice's sessions hit the fault; bob's must not notice.
fn server_with_fault(fault: serde_json::Value, extra: &[&str]) -> Server {
    let config = json!({
        "users": {
            "alice": {"password": "pw", "apop_secret": "s", "builtin": true},
            "bob": {"password": "pw", "builtin": true}
        },
        "faults": [fault]
    });
    Server::with_static(Some(&config.to_string()), extra)
}

/// Bob logs in, reads a message and quits while the server runs.
fn bob_is_served(server: &Server) {
    let mut c = server.client();
    c.login("bob", "pw");
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    c.body();
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

const TEMP: &str = "-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n";

/// Logs alice in up to `command` and returns what the server answered to it.
fn alice_reply(server: &Server, command: &str) -> (Client, String) {
    let mut c = server.client();
    c.login("alice", "pw");
    let reply = c.cmd(command);
    (c, reply)
}

#[test]
fn a_panic_in_authenticate_list_or_size_fails_the_login() {
    for callback in ["authenticate", "list", "size"] {
        let server = server_with_fault(
            json!({"callback": callback, "action": "panic", "user": "alice"}),
            &[],
        );
        let mut c = server.client();
        c.line();
        c.cmd("USER alice");
        assert_eq!(c.cmd("PASS pw"), TEMP, "{callback}");
        server.wait_for_log(&format!("plugin panicked in {callback}"));
        bob_is_served(&server);
    }
}

#[test]
fn a_panic_in_a_mailbox_callback_fails_that_command() {
    for (callback, command) in [
        ("retrieve", "RETR 1"),
        ("top", "TOP 1 0"),
        ("delete", "QUIT"),
    ] {
        let server = server_with_fault(
            json!({"callback": callback, "action": "panic", "user": "alice"}),
            &[],
        );
        let (mut c, reply) = alice_reply(&server, command);
        match callback {
            "delete" => assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}"),
            _ => assert_eq!(reply, TEMP, "{callback}"),
        }
        if callback != "delete" {
            assert_eq!(
                c.cmd("NOOP"),
                "+OK\r\n",
                "the session goes on after {callback}"
            );
        }
        server.wait_for_log(&format!("plugin panicked in {callback}"));
        bob_is_served(&server);
    }
}

#[test]
fn a_panic_in_the_middle_of_a_message_closes_that_connection() {
    let server = server_with_fault(
        json!({"callback": "read", "action": "panic", "user": "alice"}),
        &[],
    );
    let mut c = server.client();
    c.login("alice", "pw");
    c.cmd("LIST");
    let largest = String::from_utf8(c.body())
        .unwrap()
        .lines()
        .map(|l| l.split_once(' ').unwrap())
        .max_by_key(|(_, size)| size.parse::<u64>().unwrap())
        .map(|(n, _)| n.to_string())
        .unwrap();
    assert!(c.cmd(&format!("RETR {largest}")).starts_with("+OK"));
    let rest = c.rest();
    assert!(
        !rest.ends_with(b"\r\n.\r\n"),
        "a cut message must not look complete"
    );
    bob_is_served(&server);
}

#[test]
fn a_panic_in_connect_refuses_only_that_connection() {
    let server = server_with_fault(json!({"callback": "connect", "action": "panic"}), &[]);
    let mut c = server.client();
    assert_eq!(c.line(), TEMP);
    c.closed();
    server.wait_for_log("plugin panicked in connect");
}

#[test]
fn panics_in_disconnect_drop_and_policies_are_contained() {
    for callback in ["disconnect", "drop", "login_delay", "expire"] {
        let server = server_with_fault(json!({"callback": callback, "action": "panic"}), &[]);
        let mut c = server.client();
        c.login("alice", "pw");
        assert!(c.cmd("QUIT").starts_with("+OK"));
        c.closed();
        server.wait_for_log(&format!("plugin panicked in {callback}"));
        bob_is_served(&server);
    }
}

#[test]
fn a_panic_in_apop_fails_that_login() {
    let server = server_with_fault(json!({"callback": "apop", "action": "panic"}), &[]);
    let mut c = server.client();
    c.line();
    assert_eq!(c.cmd("APOP alice 0123456789abcdef0123456789abcdef"), TEMP);
    bob_is_served(&server);
}

#[test]
fn error_codes_from_the_plugin_reach_the_client() {
    let server = server_with_fault(
        json!({"callback": "authenticate", "action": "error", "code": "SYS/PERM", "user": "alice"}),
        &[],
    );
    let mut c = server.client();
    c.line();
    c.cmd("USER alice");
    assert!(c.cmd("PASS pw").starts_with("-ERR [SYS/PERM]"));
}

#[test]
fn a_hung_callback_hits_the_deadline_and_other_sessions_stay_fast() {
    let server = server_with_fault(
        json!({"callback": "retrieve", "action": "delay", "ms": 30_000, "user": "alice"}),
        &["--backend-timeout", "1"],
    );
    let mut alice = server.client();
    alice.login("alice", "pw");
    let mut bob = server.client();
    bob.login("bob", "pw");
    alice.send(b"RETR 1\r\n");
    // While alice's call hangs, bob's commands are answered at once.
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(bob.cmd("NOOP"), "+OK\r\n");
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "NOOPs took {:?}",
        started.elapsed()
    );
    assert_eq!(alice.line(), TEMP);
    // The hung call still holds alice's mailbox: the session cannot go on.
    alice.closed();
    server.wait_for_log("backend_timeout");
}

#[test]
fn a_plugin_with_every_slot_stuck_is_refused_at_once() {
    let server = server_with_fault(
        json!({"callback": "authenticate", "action": "delay", "ms": 600_000, "user": "alice"}),
        &["--backend-concurrency", "2", "--backend-timeout", "1"],
    );
    stuck_logins(&server, 2);
    // As many calls stuck as --backend-concurrency: the plugin is hung, and a new connection
    // gets [SYS/TEMP] at once instead of a thread that would hang too.
    let mut refused = server.client();
    assert_eq!(refused.line(), TEMP);
    refused.closed();
    server.wait_for_log("the plugin is hung");
}

#[test]
fn sigterm_ends_the_server_while_a_call_is_stuck_in_the_plugin() {
    let mut server = server_with_fault(
        json!({"callback": "retrieve", "action": "delay", "ms": 600_000, "user": "alice"}),
        &["--backend-timeout", "1", "--shutdown-grace", "1"],
    );
    let mut alice = server.client();
    alice.login("alice", "pw");
    assert_eq!(alice.cmd("RETR 1"), TEMP);
    server.signal("TERM");
    assert!(server.wait_exit(), "{}", server.log());
}

#[test]
fn calls_stuck_past_their_deadline_give_their_slots_back() {
    let server = server_with_fault(
        json!({"callback": "authenticate", "action": "delay", "ms": 600_000, "user": "alice"}),
        &["--backend-concurrency", "3", "--backend-timeout", "1"],
    );
    stuck_logins(&server, 2);
    // Two of three slots are held by calls that never return, yet the greeting and a login
    // of another user (connect, login, RETR, QUIT: one call at a time) are served.
    bob_is_served(&server);
    bob_is_served(&server);
}

/// A TOP stops with its lines while the next chunk is still being read (here a read that
/// stalls at the end of the message): the mailbox's next calls wait for that read, because
/// the plugin API promises one call at a time per mailbox. static-messages fails any call that
/// overlaps another on its mailbox, and logs it.
#[test]
fn the_next_call_on_a_mailbox_waits_for_a_read_left_running() {
    let config = json!({
        "users": {"alice": {"password": "pw", "messages": [
            {"generated_bytes": 700_000},
            {"text": "Subject: two\r\n\r\nsecond\r\n"}
        ]}},
        "faults": [{"callback": "read", "action": "delay", "ms": 500, "user": "alice"}]
    });
    let server = Server::with_static(Some(&config.to_string()), &[]);
    let mut c = server.client();
    c.login("alice", "pw");
    for command in ["TOP 1 0", "RETR 2", "TOP 1 0"] {
        assert!(c.cmd(command).starts_with("+OK"), "{command}");
        c.body();
    }
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    assert!(
        !server
            .log()
            .contains("while another call on the same mailbox ran"),
        "{}",
        server.log()
    );
}

/// Where a fault in `callback` shows to alice: the step that calls it (the greeting for
/// `connect`), and the reply line to that step.
fn faulted_step(server: &Server, callback: &str) -> (Client, String) {
    let mut c = server.client();
    let greeting = c.line();
    if callback == "connect" {
        return (c, greeting);
    }
    assert!(greeting.starts_with("+OK"), "{greeting}");
    let reply = match callback {
        "apop" => c.cmd("APOP alice 0123456789abcdef0123456789abcdef"),
        "authenticate" | "list" | "size" => {
            c.cmd("USER alice");
            c.cmd("PASS pw")
        }
        _ => {
            c.cmd("USER alice");
            let reply = c.cmd("PASS pw");
            assert!(reply.starts_with("+OK"), "{callback}: login {reply}");
            c.cmd(match callback {
                "retrieve" => "RETR 1",
                "top" => "TOP 1 0",
                "delete" => "QUIT",
                other => unreachable!("no step for {other}"),
            })
        }
    };
    (c, reply)
}

/// The callbacks that answer a client's step; each is faulted with an error and with a delay
/// past `--backend-timeout`, and each fault must reach alice as `-ERR` at that step while bob
/// is served. (A "read" fault interrupts a stream already answered `+OK`: its panic and a
/// short delay are tested above.)
const STEP_CALLBACKS: [&str; 8] = [
    "connect",
    "authenticate",
    "apop",
    "list",
    "size",
    "retrieve",
    "top",
    "delete",
];

#[test]
fn an_error_in_each_callback_fails_that_step_with_its_code() {
    for callback in STEP_CALLBACKS {
        let mut fault = json!({"callback": callback, "action": "error", "code": "SYS/PERM"});
        if callback != "connect" {
            fault["user"] = json!("alice");
        }
        let server = server_with_fault(fault, &[]);
        let (_c, reply) = faulted_step(&server, callback);
        assert!(
            reply.starts_with("-ERR [SYS/PERM]"),
            "an error in {callback} answered {reply:?}"
        );
        if callback != "connect" {
            bob_is_served(&server);
        }
    }
}

#[test]
fn a_hang_in_each_callback_fails_that_step_at_the_deadline() {
    for callback in STEP_CALLBACKS {
        let mut fault = json!({"callback": callback, "action": "delay", "ms": 30_000});
        if callback != "connect" {
            fault["user"] = json!("alice");
        }
        let server = server_with_fault(fault, &["--backend-timeout", "1"]);
        let started = Instant::now();
        let (_c, reply) = faulted_step(&server, callback);
        assert!(
            reply.starts_with("-ERR [SYS/TEMP]"),
            "a hang in {callback} answered {reply:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a hang in {callback} took {:?} to answer",
            started.elapsed()
        );
        server.wait_for_log("stuck past its deadline");
        if callback != "connect" {
            bob_is_served(&server);
        }
    }
}
