//! The harness checks itself: a helper that asserts "the server closed the connection" must
//! fail against a server that keeps the connection open and says nothing more.

mod common;

use common::Client;
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

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
