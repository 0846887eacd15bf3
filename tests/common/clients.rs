//! Real POP3 clients driven from tests: curl's pop3://, Python's poplib and Perl's Net::POP3.
//! Each fetches a whole maildrop; the tests compare what they got with a raw client's view.

use super::process::{output, run};
use std::path::Path;
use std::process::Command;

/// Message `n` as curl prints it (curl opens one session per message).
pub fn curl_message(port: u16, user: &str, pass: &str, n: usize) -> Vec<u8> {
    let url = format!("pop3://127.0.0.1:{port}/{n}");
    let output = output(Command::new("curl").args([
        "--silent",
        "--show-error",
        "--max-time",
        "20",
        "--user",
        &format!("{user}:{pass}"),
        &url,
    ]));
    assert!(
        output.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // curl 7.88 prints a CRLF for an empty message (the wire has only the terminator): a
    // quirk of its terminator search, not a line the server sent.
    match output.stdout.as_slice() {
        b"\r\n" => Vec::new(),
        _ => output.stdout,
    }
}

/// The sizes curl's LIST gives, one per message, in order.
pub fn curl_sizes(port: u16, user: &str, pass: &str) -> Vec<String> {
    let listing = curl_list(port, user, pass);
    let sizes = listing.lines().map(|l| l.split_once(' ').unwrap().1);
    sizes.map(str::to_string).collect()
}

/// curl's LIST: one "n size" line per message.
fn curl_list(port: u16, user: &str, pass: &str) -> String {
    run(Command::new("curl").args([
        "--silent",
        "--max-time",
        "20",
        "--user",
        &format!("{user}:{pass}"),
        &format!("pop3://127.0.0.1:{port}/"),
    ]))
}

const POPLIB: &str = r#"
import poplib, sys, os
# poplib refuses lines over 2048 octets; the test mailboxes have 3000-octet lines on purpose.
poplib._MAXLINE = 1 << 20
port, user, password, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
pop = poplib.POP3("127.0.0.1", port, timeout=20)
pop.user(user); pop.pass_(password)
count, size = pop.stat()
for n in range(1, count + 1):
    resp, lines, octets = pop.retr(n)
    with open(os.path.join(out, str(n)), "wb") as f:
        f.write(b"".join(line + b"\r\n" for line in lines))
print("\r\n".join(u.decode() for u in pop.uidl()[1]))
pop.quit()
"#;

const NET_POP3: &str = r#"
use strict; use Net::POP3;
my ($port, $user, $password, $out) = @ARGV;
my $pop = Net::POP3->new("127.0.0.1", Port => $port, Timeout => 20) or die "connect: $@";
defined $pop->login($user, $password) or die "login failed";
my $list = $pop->list();
for my $n (sort { $a <=> $b } keys %$list) {
    my $lines = $pop->get($n) or die "get $n failed";
    open(my $fh, ">:raw", "$out/$n") or die; print $fh @$lines; close $fh;
}
my $uidl = $pop->uidl();
print join("\r\n", map { "$_ $uidl->{$_}" } sort { $a <=> $b } keys %$uidl), "\n";
$pop->quit();
"#;

/// Every message as poplib gives it (lines joined with CRLF), and its UIDL listing.
pub fn poplib_mailbox(port: u16, user: &str, pass: &str, dir: &Path) -> (Vec<Vec<u8>>, String) {
    let mut python = Command::new("python3");
    python.args(["-c", POPLIB]);
    fetch_into(python, port, user, pass, dir)
}

/// Every message as Net::POP3 gives it (which turns CRLF into LF), and its UIDL listing.
pub fn net_pop3_mailbox(port: u16, user: &str, pass: &str, dir: &Path) -> (Vec<Vec<u8>>, String) {
    let mut perl = Command::new("perl");
    perl.args(["-e", NET_POP3]);
    fetch_into(perl, port, user, pass, dir)
}

/// Runs a client script that writes message n to `dir/n` and prints the UIDL listing.
fn fetch_into(
    mut client: Command,
    port: u16,
    user: &str,
    pass: &str,
    dir: &Path,
) -> (Vec<Vec<u8>>, String) {
    std::fs::create_dir_all(dir).unwrap();
    let printed = run(client.arg(port.to_string()).args([user, pass]).arg(dir));
    let mut messages = Vec::new();
    while let Ok(message) = std::fs::read(dir.join((messages.len() + 1).to_string())) {
        messages.push(message);
    }
    (messages, printed.trim_end().to_string())
}

/// Compares messages without printing megabytes when they differ.
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first_difference = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} vs {} octets, first difference at {first_difference:?}",
            got.len(),
            want.len()
        );
    }
}

/// LF for CRLF, as Net::POP3 delivers lines.
pub fn crlf_to_lf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    for (i, &b) in message.iter().enumerate() {
        if !(b == b'\r' && message.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}
