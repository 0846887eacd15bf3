//! One session per maildrop, across sessions and processes, released when the session ends.

use crate::common::{login, Site};
use pop3_plugin_api::{Mailbox, ResponseCode};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[test]
fn a_second_session_is_in_use_until_the_first_ends() {
    let site = Site::new();
    site.deliver("plain", "new/1700000000.M1.h", b"x\n");
    let backend = site.backend();
    let mut first = login(&backend, "plain").unwrap();
    first.list().unwrap();
    let err = login(&backend, "plain").err().unwrap();
    assert_eq!(err.code, ResponseCode::IN_USE);
    login(&backend, "md5").unwrap();
    drop(first);
    login(&backend, "plain").unwrap();
}

#[test]
fn a_lock_held_by_another_process_is_respected() {
    let site = Site::new();
    site.deliver("plain", "new/1700000000.M1.h", b"x\n");
    let lock_file = site.maildir("plain").join("pop3host.lock");
    // util-linux flock(1) takes the same flock(2) lock from another process and holds it until
    // `cat` ends, which is when its stdin closes (-o: `cat` itself does not hold the lock).
    let Ok(mut holder) = Command::new("flock")
        .arg("-o")
        .arg(&lock_file)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        eprintln!("flock(1) is not installed; skipping");
        return;
    };
    let backend = site.backend();
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match login(&backend, "plain") {
            Err(err) => break err,
            // flock(1) may not hold the lock yet.
            Ok(mailbox) if Instant::now() < deadline => {
                drop(mailbox);
                sleep(Duration::from_millis(20));
            }
            Ok(_) => panic!("the other process never held the lock"),
        }
    };
    assert_eq!(err.code, ResponseCode::IN_USE);
    drop(holder.stdin.take());
    holder.wait().unwrap();
    login(&backend, "plain").unwrap();
}
