//! Real POP3 clients (curl, Python's poplib, Perl's Net::POP3) fetch the built-in mailbox;
//! what they get must be what a raw client reads, byte for byte (after each client's own
//! line-ending conversion: poplib strips CRLF, Net::POP3 turns it into LF).

mod common;

use common::clients::{
    assert_same, crlf_to_lf, curl_message, curl_sizes, net_pop3_mailbox, poplib_mailbox,
};
use common::{unstuff, Server, TempDir};

/// Every message of the built-in mailbox as a raw client reads it, unstuffed, with UIDLs.
fn raw_mailbox(server: &Server) -> (Vec<Vec<u8>>, String) {
    let mut c = server.client();
    c.login("test", "test");
    c.cmd("UIDL");
    let uidl = String::from_utf8(c.body()).unwrap();
    let count = uidl.lines().count();
    let messages = (1..=count)
        .map(|n| {
            assert!(c.cmd(&format!("RETR {n}")).starts_with("+OK"));
            unstuff(&c.body())
        })
        .collect();
    c.cmd("QUIT");
    (messages, uidl.trim_end().to_string())
}

#[test]
fn curl_fetches_every_message_byte_for_byte() {
    let server = Server::with_static(None, &[]);
    let (messages, _) = raw_mailbox(&server);
    for (i, expected) in messages.iter().enumerate() {
        let got = curl_message(server.port(), "test", "test", i + 1);
        assert_same(&got, expected, &format!("curl message {}", i + 1));
    }
    let sizes: Vec<String> = messages.iter().map(|m| m.len().to_string()).collect();
    assert_eq!(curl_sizes(server.port(), "test", "test"), sizes);
}

#[test]
fn python_poplib_fetches_every_message_byte_for_byte() {
    let server = Server::with_static(None, &[]);
    let (messages, uidl) = raw_mailbox(&server);
    let (fetched, listed) = poplib_mailbox(server.port(), "test", "test", &TempDir::new("poplib"));
    assert_eq!(fetched.len(), messages.len());
    for (n, (got, want)) in fetched.iter().zip(&messages).enumerate() {
        assert_same(got, want, &format!("poplib message {}", n + 1));
    }
    assert_eq!(listed, uidl);
}

#[test]
fn perl_net_pop3_fetches_every_message_byte_for_byte() {
    let server = Server::with_static(None, &[]);
    let (messages, uidl) = raw_mailbox(&server);
    let (fetched, listed) =
        net_pop3_mailbox(server.port(), "test", "test", &TempDir::new("netpop3"));
    assert_eq!(fetched.len(), messages.len());
    for (n, (got, want)) in fetched.iter().zip(&messages).enumerate() {
        assert_same(
            &crlf_to_lf(got),
            &crlf_to_lf(want),
            &format!("Net::POP3 message {}", n + 1),
        );
    }
    assert_eq!(listed, uidl);
}
