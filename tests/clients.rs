//! Real POP3 clients (curl, Python's poplib, Perl's Net::POP3) fetch the built-in mailbox;
//! what they get must be what a raw client reads, byte for byte (after each client's own
//! line-ending conversion: poplib strips CRLF, Net::POP3 turns it into LF).

mod common;

use common::{temp_path, unstuff, Server};
use std::path::Path;
use std::process::Command;

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
    (messages, uidl)
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} runs: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Compares messages without printing megabytes when they differ.
fn assert_same(fetched: &[Vec<u8>], expected: &[Vec<u8>]) {
    assert_eq!(fetched.len(), expected.len(), "message count");
    for (n, (got, want)) in fetched.iter().zip(expected).enumerate() {
        let first_difference = got.iter().zip(want).position(|(a, b)| a != b);
        assert!(
            got == want,
            "message {}: {} vs {} bytes, first difference at {first_difference:?}",
            n + 1,
            got.len(),
            want.len()
        );
    }
}

fn crlf_to_lf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    for (i, &b) in message.iter().enumerate() {
        if !(b == b'\r' && message.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

fn read_numbered(dir: &Path, count: usize) -> Vec<Vec<u8>> {
    (1..=count)
        .map(|n| std::fs::read(dir.join(n.to_string())).expect("client wrote the message"))
        .collect()
}

#[test]
fn curl_fetches_every_message_byte_for_byte() {
    let server = Server::with_static(None, &[]);
    let (messages, _) = raw_mailbox(&server);
    for (i, expected) in messages.iter().enumerate() {
        let url = format!("pop3://127.0.0.1:{}/{}", server.port(), i + 1);
        let output = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--max-time",
                "20",
                "--user",
                "test:test",
                &url,
            ])
            .output()
            .expect("curl runs");
        assert!(
            output.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_same(&[output.stdout], std::slice::from_ref(expected));
    }
    // curl without a message number lists the mailbox.
    let listing = run(Command::new("curl")
        .args(["--silent", "--max-time", "20", "--user", "test:test"])
        .arg(format!("pop3://127.0.0.1:{}/", server.port())));
    assert_eq!(listing.lines().count(), messages.len());
}

#[test]
fn python_poplib_fetches_every_message_byte_for_byte() {
    let server = Server::with_static(None, &[]);
    let (messages, uidl) = raw_mailbox(&server);
    let dir = temp_path("poplib");
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
import poplib, sys, os
# poplib refuses lines over 2048 octets; the mailbox has a 3000-octet line on purpose.
poplib._MAXLINE = 1 << 20
port, out = int(sys.argv[1]), sys.argv[2]
pop = poplib.POP3("127.0.0.1", port, timeout=20)
pop.user("test"); pop.pass_("test")
count, size = pop.stat()
for n in range(1, count + 1):
    resp, lines, octets = pop.retr(n)
    with open(os.path.join(out, str(n)), "wb") as f:
        f.write(b"".join(line + b"\r\n" for line in lines))
print("\r\n".join(u.decode() for u in pop.uidl()[1]))
pop.quit()
"#;
    let printed = run(Command::new("python3").args([
        "-c",
        script,
        &server.port().to_string(),
        dir.to_str().unwrap(),
    ]));
    assert_same(&read_numbered(&dir, messages.len()), &messages);
    assert_eq!(printed.trim_end(), uidl.trim_end());
}

#[test]
fn perl_net_pop3_fetches_every_message_byte_for_byte() {
    let server = Server::with_static(None, &[]);
    let (messages, uidl) = raw_mailbox(&server);
    let dir = temp_path("netpop3");
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
use strict; use Net::POP3;
my ($port, $out) = @ARGV;
my $pop = Net::POP3->new("127.0.0.1", Port => $port, Timeout => 20) or die "connect: $@";
defined $pop->login("test", "test") or die "login failed";
my $list = $pop->list();
for my $n (sort { $a <=> $b } keys %$list) {
    my $lines = $pop->get($n) or die "get $n failed";
    open(my $fh, ">:raw", "$out/$n") or die; print $fh @$lines; close $fh;
}
my $uidl = $pop->uidl();
print join("\r\n", map { "$_ $uidl->{$_}" } sort { $a <=> $b } keys %$uidl), "\n";
$pop->quit();
"#;
    let printed = run(Command::new("perl").args([
        "-e",
        script,
        &server.port().to_string(),
        dir.to_str().unwrap(),
    ]));
    let fetched: Vec<Vec<u8>> = read_numbered(&dir, messages.len())
        .iter()
        .map(|m| crlf_to_lf(m))
        .collect();
    assert_same(
        &fetched,
        &messages.iter().map(|m| crlf_to_lf(m)).collect::<Vec<_>>(),
    );
    assert_eq!(printed.trim_end(), uidl.trim_end());
}
