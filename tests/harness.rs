//! The harness checks itself: a helper that asserts "the server closed the connection" must
//! fail against a server that keeps the connection open and says nothing more; a child past
//! its deadline fails the test and is killed with what it started; a failing test's temporary
//! directory is removed.

mod common;

use common::process::output_within;
use common::{Client, TempDir, DEADLINE, KEEP_TEMP};
use std::io::Write;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

/// A loopback listener that greets its one client, then sends `after` and either closes
/// (`close`) or keeps the connection open, silent, until the test ends.
fn one_peer(after: &'static [u8], close: bool) -> Client {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"+OK hello\r\n").unwrap();
        stream.write_all(after).unwrap();
        if close {
            return;
        }
        // Held open past the client's deadline: the thread ends with the test process.
        std::thread::sleep(Duration::from_secs(30));
        drop(stream);
    });
    let mut client = Client::connect(addr);
    assert_eq!(client.line(), "+OK hello\r\n");
    client
}

#[test]
#[should_panic(expected = "did not close the connection")]
fn rest_fails_when_the_server_stays_open_and_silent() {
    one_peer(b"", false).rest_within(Duration::from_millis(300));
}

#[test]
#[should_panic(expected = "did not close the connection")]
fn rest_fails_when_the_server_sends_more_and_stays_open() {
    one_peer(b"-ERR late\r\n", false).rest_within(Duration::from_millis(300));
}

#[test]
fn rest_returns_what_came_before_the_close() {
    assert_eq!(one_peer(b"bye\r\n", true).rest(), b"bye\r\n");
}

#[test]
fn closed_passes_on_a_close_with_nothing_more() {
    one_peer(b"", true).closed();
}

#[test]
#[should_panic(expected = "expected the server to close the connection, it sent")]
fn closed_fails_when_the_server_sends_more_before_closing() {
    one_peer(b"-ERR late\r\n", true).closed();
}

#[test]
#[should_panic(expected = "still runs after")]
fn output_within_fails_on_a_child_past_its_deadline() {
    output_within(Command::new("sleep").arg("30"), Duration::from_millis(300));
}

/// What a child started goes with it when it overruns: nothing outlives a failed test.
#[test]
fn a_child_past_its_deadline_is_killed_with_what_it_started() {
    let dir = TempDir::new("harness-group");
    let pid_file = dir.join("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    let overran = std::panic::catch_unwind(|| {
        output_within(
            Command::new("sh").args(["-c", &script]),
            Duration::from_millis(500),
        )
    });
    assert!(overran.is_err(), "the child finished within its deadline");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let started = Instant::now();
    // Gone, or a zombie until init reaps it.
    while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(started.elapsed() < DEADLINE, "the grandchild still runs");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A failing test leaves no temporary directory behind (unless asked to).
#[test]
fn a_temporary_directory_goes_when_its_test_panics() {
    if std::env::var_os(KEEP_TEMP).is_some() {
        return; // kept on purpose, by request
    }
    let path = std::sync::Mutex::new(None);
    let failed = std::panic::catch_unwind(|| {
        let dir = TempDir::new("harness-panic");
        std::fs::write(dir.join("file"), b"x").unwrap();
        *path.lock().unwrap() = Some(dir.to_path_buf());
        panic!("a failing test");
    });
    assert!(failed.is_err());
    let path = path.into_inner().unwrap().unwrap();
    assert!(!path.exists(), "{} is still there", path.display());
}
