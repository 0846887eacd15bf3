//! `pop3host check` on the plugins in this repository: every rule passes, and a plugin that
//! breaks one fails with a hint and a non-zero exit.

mod common;

use common::{assert_check_passes, check, plugin, temp_path, Server};
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

#[test]
fn a_broken_plugin_fails_with_a_hint() {
    let path = plugin("static_messages");
    let config = json!({
        "users": {"u": {"password": "p", "builtin": true}},
        "faults": [{"callback": "delete", "action": "error", "code": "SYS/TEMP"}]
    });
    let output = check(&path, &config.to_string(), "u", "p");
    let report = report(&output);
    assert!(!output.status.success(), "{report}");
    assert!(
        report.contains("FAIL  delete") && report.contains("hint:"),
        "{report}"
    );
    assert!(report.contains("7 passed, 1 failed, 1 skipped"), "{report}");
}

#[test]
fn maildir_passes() {
    let root = temp_path("check-maildir");
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
