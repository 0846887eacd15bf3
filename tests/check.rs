//! `pop3host check` on the plugins in this repository: every rule passes, and every rule,
//! broken by a plugin or a config, fails with its hint and a non-zero exit.

mod common;

use common::{assert_check_passes, check, plugin, Server, TempDir};
use serde_json::json;
use std::process::Output;

fn report(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn static_messages_passes() {
    let path = plugin("static_messages");
    assert_check_passes(&check(&path, "null", "test", "test"), false);
}

/// Asserts that `output` is a failed check whose report has the FAIL line of `rule` starting
/// with `what`, followed by `hint`.
fn assert_fails(output: &Output, rule: &str, what: &str, hint: &str) {
    let report = report(output);
    assert!(!output.status.success(), "{rule}: exit status\n{report}");
    let fail = format!("FAIL  {rule:<16} {what}");
    let at = report
        .find(&fail)
        .unwrap_or_else(|| panic!("no {fail:?} in\n{report}"));
    let next = report[at..].lines().nth(1).unwrap_or_default();
    assert_eq!(next.trim(), format!("hint: {hint}"), "{rule}\n{report}");
}

/// static-messages' faults and configs break the rules it can break.
#[test]
fn static_messages_configs_fail_login_ids_top_and_delete() {
    let path = plugin("static_messages");
    let builtin_with = |fault: serde_json::Value| json!({"users": {"u": {"password": "p", "builtin": true}}, "faults": [fault]});
    for (rule, config, what, hint) in [
        (
            "login",
            builtin_with(json!({"callback": "authenticate", "action": "error", "code": "AUTH"})),
            "-ERR [AUTH]",
            "authenticate must accept the user's password and list() must succeed",
        ),
        (
            "ids",
            json!({"users": {"u": {"password": "p", "messages": [{"id": "has space", "text": "x\r\n"}]}}}),
            "id \"has space\" is not a valid UIDL",
            "ids should be 1-70 characters in 0x21-0x7E",
        ),
        (
            "top",
            builtin_with(json!({"callback": "top", "action": "error", "code": "SYS/PERM"})),
            "TOP 1 0: [SYS/PERM]",
            "every callback must succeed for a message that list() returned",
        ),
        (
            "delete",
            builtin_with(json!({"callback": "delete", "action": "error", "code": "SYS/TEMP"})),
            "QUIT answered -ERR [SYS/TEMP]",
            "Mailbox::delete should remove the messages it is given",
        ),
    ] {
        let output = check(&path, &config.to_string(), "u", "p");
        assert_fails(&output, rule, what, hint);
    }
}

/// The rules static-messages cannot break, each broken by the test-only rule-breaker plugin
/// (tests/fixtures/rule-breaker); its config "none" passes every rule.
#[test]
fn the_rule_breaker_fails_each_rule_it_breaks() {
    let path = plugin("rule_breaker");
    let output = check(&path, "\"none\"", "u", "p");
    assert!(output.status.success(), "{}", report(&output));
    assert!(report(&output).contains("9 passed, 0 failed, 0 skipped"));
    for (rule, what, hint) in [
        (
            "sizes",
            "message 1: listed 30 octets, sent 29",
            "a size counts each line end as CRLF, before dot-stuffing, and a CRLF added to an unterminated last line",
        ),
        (
            "top",
            "message 1: TOP 1 0 is not the start of RETR 1",
            "top must read the same message as retrieve",
        ),
        (
            "prefetch",
            "message 1: top(msg, u32::MAX) is not what RETR 1 sends",
            "with PREFETCH, top(msg, u32::MAX) must return the whole message, as retrieve does",
        ),
        (
            "second session",
            "-ERR [SYS/PERM] a second session breaks this plugin",
            "a second session of a logged-in user gets PopError::in_use, or is allowed",
        ),
        (
            "stable ids",
            "the UIDL list differs between two logins",
            "ids must stay the same across sessions, in the same order",
        ),
        (
            "wrong password",
            "u logged in with a wrong password",
            "authenticate must check the password",
        ),
    ] {
        let output = check(&path, &format!("\"{rule}\""), "u", "p");
        assert_fails(&output, rule, what, hint);
    }
}

#[test]
fn maildir_passes() {
    let root = TempDir::new("check-maildir");
    let maildir = root.join("home/Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(
        maildir.join("new/1700000000.M1P1.check"),
        "Subject: a\n\n.dot\nno final newline",
    )
    .unwrap();
    std::fs::write(
        maildir.join("cur/1700000001.M2P1.check:2,S"),
        "Subject: b\r\n\r\nbody\r\n",
    )
    .unwrap();
    let users = root.join("users");
    std::fs::write(
        &users,
        format!("carol:{{PLAIN}}pw::::{}::\n", root.join("home").display()),
    )
    .unwrap();
    let config = json!({"passwd_file": users}).to_string();
    assert_check_passes(&check(&plugin("maildir"), &config, "carol", "pw"), true);
}

#[test]
fn proxy_passes_in_front_of_static_messages() {
    let upstream = Server::with_static(None, &[]);
    let config = json!({"upstream": upstream.addr.to_string()}).to_string();
    assert_check_passes(&check(&plugin("proxy"), &config, "test", "test"), false);
}

/// A callback that panics is named, with the command that met it, before any size is judged.
#[test]
fn a_panicking_callback_is_named_before_sizes_are_judged() {
    let path = plugin("static_messages");
    for (callback, named) in [
        ("retrieve", "RETR 1: [SYS/TEMP] plugin panicked in retrieve"),
        (
            "read",
            "RETR 1: [SYS/TEMP] plugin panicked in retrieve (reading)",
        ),
        ("top", "TOP 1 0: [SYS/TEMP] plugin panicked in top"),
    ] {
        let config = json!({
            "users": {"u": {"password": "p", "builtin": true}},
            "faults": [{"callback": callback, "action": "panic"}]
        });
        let output = check(&path, &config.to_string(), "u", "p");
        let report = report(&output);
        assert!(!output.status.success(), "{report}");
        assert!(report.contains(named), "{callback}: {report}");
        assert!(!report.contains("octets, sent"), "{callback}: {report}");
    }
}
