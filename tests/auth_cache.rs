//! The authentication cache (`"auth_cache"`) end to end: the real pop3host binary with
//! libmaildir.so over loopback. With the cache on, a SHA512-CRYPT user's repeated logins skip
//! the hash; a password changed in the passwd-file is refused at the first login after the
//! change (the cache remembers a success with the password field it was checked against); a
//! wrong password is never remembered; and an unknown user still takes as long as a wrong
//! password. The postgres plugin's cache is tested in tests/postgres.rs.

mod common;

use common::auth_cache::{
    login_is, remembered_after_the_first_login, NEW_SHA512, SLOW_SHA512, TIMING_SHA512,
};
use common::maildir_site::MaildirSite;
use common::Server;
use serde_json::json;
use std::fs;
use std::time::Duration;

const CACHE_ON: &str = r#"{"auth_cache": {"size": 100, "ttl_seconds": 600}}"#;

fn cache_on() -> serde_json::Value {
    serde_json::from_str(CACHE_ON).unwrap()
}

/// Replaces the passwd-file as an administrator's tool does: a new file renamed over it.
fn replace_passwd(site: &MaildirSite, text: &str) {
    let new = site.root.join("users.new");
    fs::write(&new, text).unwrap();
    fs::rename(&new, site.root.join("users")).unwrap();
}

#[test]
fn a_changed_password_is_refused_at_once_and_wrong_ones_are_never_remembered() {
    let site = MaildirSite::new(
        "auth-cache-change",
        format!("ann:{{SHA512-CRYPT}}{SLOW_SHA512}\n").as_bytes(),
    );
    let server = site.start(cache_on());
    server.wait_for_log("auth cache of 100 entries for 600s");

    remembered_after_the_first_login(&server, "ann", "password");
    // A wrong password is checked, and refused, each time.
    for _ in 0..2 {
        login_is(&server, "ann", "wrong", "-ERR [AUTH]");
    }

    replace_passwd(&site, &format!("ann:{{SHA512-CRYPT}}{NEW_SHA512}\n"));
    login_is(&server, "ann", "password", "-ERR [AUTH]");
    login_is(&server, "ann", "newpass", "+OK");
    login_is(&server, "ann", "newpass", "+OK");
    login_is(&server, "ann", "wrong", "-ERR [AUTH]");
    login_is(&server, "ann", "password", "-ERR [AUTH]");

    // Back to the old line: the cache has no say in it, the hash does.
    replace_passwd(&site, &format!("ann:{{SHA512-CRYPT}}{SLOW_SHA512}\n"));
    login_is(&server, "ann", "newpass", "-ERR [AUTH]");
    login_is(&server, "ann", "password", "+OK");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn with_the_cache_an_unknown_user_takes_as_long_as_a_wrong_password() {
    let mut passwd: String = (0..20)
        .map(|i| format!("user{i}:{{PLAIN}}pw{i}\n"))
        .collect();
    passwd.push_str(&format!("ann:{{SHA512-CRYPT}}{TIMING_SHA512}\n"));
    let site = MaildirSite::new("auth-cache-timing", passwd.as_bytes());
    let server = site.start(cache_on());
    login_is(&server, "ann", "password", "+OK");

    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved with remembered logins, so that the cache is in use throughout, and a busy
    // moment of the machine falls on both kinds alike.
    for _ in 0..15 {
        wrong.push(login_is(&server, "ann", "wrong password", "-ERR [AUTH]"));
        unknown.push(login_is(
            &server,
            "nobody-here",
            "wrong password",
            "-ERR [AUTH]",
        ));
        login_is(&server, "ann", "password", "+OK");
    }
    let (wrong, unknown) = (median(wrong), median(unknown));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    eprintln!("median wrong password {wrong:?}, unknown user {unknown:?}: ratio {ratio:.2}");
    assert!(
        (1.0 / 1.5..1.5).contains(&ratio),
        "an unknown user takes {unknown:?}, a wrong password {wrong:?}"
    );
}

#[test]
fn a_bad_auth_cache_setting_stops_the_server_naming_the_key() {
    let site = MaildirSite::new("auth-cache-bad", b"ann:{PLAIN}pw\n");
    let plugin = common::plugin("maildir");
    for (extra, needle) in [
        (
            json!({"auth_cache": {"size": 0}}),
            "\"auth_cache\": \"size\"",
        ),
        (json!({"auth_cache": {"ttl": 5}}), "\"auth_cache.ttl\""),
    ] {
        let config = site.config(extra);
        let log = Server::start_fails(&[
            "--plugin",
            plugin.to_str().unwrap(),
            "--plugin-config",
            &config,
        ]);
        assert!(log.contains(needle), "{needle}: {log}");
    }
}
