//! The proxy plugin against a hostile upstream: pop3host with the proxy in front
//! of a fake upstream on loopback that drips, sends an endless body or an oversized
//! listing, or lists duplicate and non-UTF-8 ids. The fake watches from its side whether the
//! proxy gave up and closed the connection; the server's memory and CPU time come from
//! /proc.

mod common;

use common::{fake_upstream, plugin, Client, Server, DEADLINE};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The one message of every maildrop the fake serves (each listed id gets a copy).
const MESSAGE: &str = "Subject: m\r\n\r\nbody\r\n";

/// What the fake upstream saw: connections it took over for an attack, and for each the
/// time from the attack's start to the proxy closing the connection, and the octets sent.
#[derive(Default)]
struct Seen {
    attacks: usize,
    closed_after: Vec<Duration>,
    sent: u64,
}

type Watch = Arc<Mutex<Seen>>;

/// One connection to the fake upstream, as an attack uses it.
struct Peer {
    stream: TcpStream,
    watch: Watch,
    started: Instant,
}

impl Peer {
    fn closed(&self) {
        let mut seen = self.watch.lock().unwrap();
        seen.closed_after.push(self.started.elapsed());
    }

    /// Sends `head`, then one octet of `drip` every 300 ms (forever, within the test's
    /// deadline) until the proxy closes the connection.
    fn drip(mut self, head: &[u8], drip: &[u8]) {
        if self.stream.write_all(head).is_err() {
            return self.closed();
        }
        self.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        for byte in drip.iter().cycle() {
            if self.started.elapsed() > DEADLINE {
                return;
            }
            match self.stream.read(&mut [0; 256]) {
                Ok(0) => return self.closed(),
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return self.closed(),
            }
            if self.stream.write_all(&[*byte]).is_err() {
                return self.closed();
            }
        }
    }

    /// Sends `head`, then `line` again and again as fast as the proxy takes it, until the
    /// proxy closes the connection or `max` octets went out.
    fn flood(mut self, head: &[u8], line: &[u8], max: u64) {
        if self.stream.write_all(head).is_err() {
            return self.closed();
        }
        let mut sent = 0;
        while sent < max && self.started.elapsed() < DEADLINE {
            if self.stream.write_all(line).is_err() {
                return self.closed();
            }
            sent += line.len() as u64;
            self.watch.lock().unwrap().sent = sent;
        }
    }
}

/// A POP3 upstream with user `fred`, password `secret`, one copy of [`MESSAGE`] per id in
/// `ids` (raw bytes, listed by UIDL as they are), and `attack`, which sees each command line
/// first and may take the connection over by returning `None`.
fn upstream(
    ids: Vec<Vec<u8>>,
    attack: impl Fn(&str, Peer) -> Option<Peer> + Send + Sync + 'static,
) -> (SocketAddr, Watch) {
    let watch = Watch::default();
    let seen = watch.clone();
    let addr = fake_upstream(move |stream| {
        let mut out = stream.try_clone().unwrap();
        let _ = out.write_all(b"+OK fake\r\n");
        let mut input = BufReader::new(stream.try_clone().unwrap());
        let mut peer = Some(Peer {
            stream,
            watch: seen.clone(),
            started: Instant::now(),
        });
        let mut line = String::new();
        while input.read_line(&mut line).is_ok_and(|n| n > 0) {
            let command = line.trim_end().to_string();
            line.clear();
            let mut current = peer.take().unwrap();
            current.started = Instant::now();
            match attack(&command, current) {
                Some(unused) => peer = Some(unused),
                None => return,
            }
            let reply = answer(&command, &ids);
            if out.write_all(&reply).is_err() || command == "QUIT" {
                return;
            }
        }
    });
    (addr, watch)
}

/// What an honest upstream answers.
fn answer(command: &str, ids: &[Vec<u8>]) -> Vec<u8> {
    let size = MESSAGE.len();
    let mut reply = b"+OK\r\n".to_vec();
    let mut each = |line: &dyn Fn(usize) -> Vec<u8>| {
        for n in 1..=ids.len() {
            reply.extend(line(n));
        }
        reply.extend(b".\r\n");
    };
    match command.split(' ').next().unwrap() {
        "CAPA" => return b"+OK\r\nUSER\r\nTOP\r\nUIDL\r\nPIPELINING\r\n.\r\n".to_vec(),
        "USER" | "QUIT" => {}
        "PASS" if command == "PASS secret" => {}
        "STAT" => return format!("+OK {} {}\r\n", ids.len(), ids.len() * size).into_bytes(),
        "LIST" => each(&|n| format!("{n} {size}\r\n").into_bytes()),
        "UIDL" => each(&|n| [format!("{n} ").as_bytes(), &ids[n - 1], b"\r\n"].concat()),
        "RETR" | "TOP" => reply.extend(format!("{MESSAGE}.\r\n").as_bytes()),
        _ => return b"-ERR no\r\n".to_vec(),
    }
    reply
}

fn ids(ids: &[&[u8]]) -> Vec<Vec<u8>> {
    ids.iter().map(|id| id.to_vec()).collect()
}

/// pop3host with the proxy in front of `upstream`, `config` keys and `args`.
fn proxy_to(upstream: SocketAddr, config: Value, args: &[&str]) -> Server {
    let mut full = json!({"upstream": upstream.to_string()});
    full.as_object_mut()
        .unwrap()
        .extend(config.as_object().unwrap().clone());
    let plugin = plugin("proxy");
    let config = full.to_string();
    let mut all = vec![
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-config",
        &config,
    ];
    all.extend(args);
    Server::start(&all)
}

/// Waits until the fake saw `count` connections closed by the proxy; returns what it saw.
fn wait_closed(watch: &Watch, count: usize) -> Vec<Duration> {
    let started = Instant::now();
    loop {
        let closed = watch.lock().unwrap().closed_after.clone();
        if closed.len() >= count {
            return closed;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the proxy closed {} of {count} upstream connections",
            closed.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// User plus system CPU time of the process, from /proc/PID/stat (in clock ticks of 10 ms:
/// USER_HZ is 100 on Linux).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<u64> = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

fn login(server: &Server, pass: &str) -> (Client, String) {
    let mut c = server.client();
    let greeting = c.line();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    assert!(c.cmd("USER fred").starts_with("+OK"));
    let reply = c.cmd(&format!("PASS {pass}"));
    (c, reply)
}

/// The proxy's own bound on each call (`io_timeout`), and the host's backend timeout.
const CALL_TIMEOUT: &str = "1";
const BACKEND_TIMEOUT: &str = "3";
/// How late after the call's deadline the fake may see the connection closed.
const CLOSED_WITHIN: Duration = Duration::from_secs(3);

#[test]
fn dripping_logins_end_at_the_deadline_and_free_their_slots() {
    let (addr, watch) = upstream(ids(&[b"a"]), |command, peer| {
        if command != "PASS drip" {
            return Some(peer);
        }
        peer.watch.lock().unwrap().attacks += 1;
        peer.drip(b"", b"+OK nearly there");
        None
    });
    let concurrency = 2;
    let proxy = proxy_to(
        addr,
        json!({"io_timeout": CALL_TIMEOUT.parse::<f64>().unwrap()}),
        &[
            "--backend-timeout",
            BACKEND_TIMEOUT,
            "--backend-concurrency",
            &concurrency.to_string(),
        ],
    );
    // More stuck logins than slots, from clients that go away once the first are stuck.
    let mut clients = Vec::new();
    for _ in 0..concurrency + 2 {
        let mut c = proxy.client();
        c.line();
        c.cmd("USER fred");
        c.send(b"PASS drip\r\n");
        clients.push(c);
    }
    drop(clients);
    let closed = wait_closed(&watch, concurrency + 1);
    let attacks = watch.lock().unwrap().attacks;
    assert!(attacks > concurrency, "only {attacks} logins got a slot");
    for after in closed {
        assert!(
            after < CLOSED_WITHIN,
            "closed {after:?} after the login began"
        );
    }
    // Another user gets a greeting and a working session.
    let (mut c, reply) = login(&proxy, "secret");
    assert!(reply.starts_with("+OK"), "{reply}");
    assert!(c.cmd("STAT").starts_with("+OK 1 "));
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn a_dripping_message_ends_at_the_deadline_and_its_upstream_is_closed() {
    let (addr, watch) = upstream(ids(&[b"a"]), |command, peer| {
        if command != "RETR 1" {
            return Some(peer);
        }
        peer.drip(b"+OK\r\n", b"Subject: slow\r\n");
        None
    });
    let proxy = proxy_to(
        addr,
        json!({"io_timeout": CALL_TIMEOUT.parse::<f64>().unwrap()}),
        &["--backend-timeout", BACKEND_TIMEOUT],
    );
    let (mut c, reply) = login(&proxy, "secret");
    assert!(reply.starts_with("+OK"), "{reply}");
    let reply = c.cmd("RETR 1");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    let closed = wait_closed(&watch, 1);
    assert!(closed[0] < CLOSED_WITHIN, "closed after {:?}", closed[0]);
    proxy.wait_for_log(&format!("upstream {addr}: RETR 1: timed out"));
}

#[test]
fn an_endless_top_body_is_cut_off_after_the_client_left() {
    let (addr, watch) = upstream(ids(&[b"a"]), |command, peer| {
        if command != "TOP 1 0" {
            return Some(peer);
        }
        let line = [&[b'x'; 78][..], b"\r\n"].concat();
        peer.flood(b"+OK\r\nSubject: endless\r\n\r\n", &line, 1 << 30);
        None
    });
    let proxy = proxy_to(addr, json!({}), &[]);
    let (mut c, reply) = login(&proxy, "secret");
    assert!(reply.starts_with("+OK"), "{reply}");
    assert!(c.cmd("TOP 1 0").starts_with("+OK"));
    assert_eq!(c.body(), b"Subject: endless\r\n\r\n");
    // QUIT makes the proxy finish the body to reach its UPDATE; the client does not wait.
    c.send(b"QUIT\r\n");
    drop(c);
    wait_closed(&watch, 1);
    let sent = watch.lock().unwrap().sent;
    assert!(
        sent < 32 << 20,
        "the proxy took {sent} octets of a 20-octet message"
    );
    let before = cpu_time(proxy.pid());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_time(proxy.pid()) - before;
    assert!(
        spent < Duration::from_millis(300),
        "{spent:?} of CPU in 1 s"
    );
}

#[test]
fn an_oversized_listing_is_refused_without_growing_the_server() {
    let (addr, watch) = upstream(ids(&[b"a", b"b"]), |command, peer| {
        if command != "UIDL" {
            return Some(peer);
        }
        let line = [&b"1 "[..], &[b'a'; 65_000], b"\r\n"].concat();
        peer.flood(b"+OK\r\n", &line, 128 << 20);
        None
    });
    let proxy = proxy_to(addr, json!({}), &[]);
    assert!(proxy.client().line().starts_with("+OK"));
    let baseline = memory_kib(proxy.pid(), "VmRSS");
    let (_, reply) = login(&proxy, "secret");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    wait_closed(&watch, 1);
    let sent = watch.lock().unwrap().sent;
    assert!(
        sent < 32 << 20,
        "the proxy took {sent} octets of a 2-message UIDL"
    );
    let peak = memory_kib(proxy.pid(), "VmHWM");
    assert!(
        peak < baseline + 32 * 1024,
        "peak RSS {peak} KiB, {baseline} KiB before"
    );
    proxy.wait_for_log(&format!(
        "upstream {addr}: UIDL and LIST: unexpected answer: the UIDL (2 messages by STAT) \
         answer is longer than"
    ));
}

#[test]
fn duplicate_and_non_utf8_ids_become_unique_stable_uidls() {
    let listed = ids(&[b"dup", b"dup", b"\xff\xfe", b"\xff\xfd", b"ok-1"]);
    let (addr, _) = upstream(listed, |_, peer| Some(peer));
    let proxy = proxy_to(addr, json!({}), &[]);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let (mut c, reply) = login(&proxy, "secret");
        assert!(reply.starts_with("+OK"), "{reply}");
        assert!(c.cmd("UIDL").starts_with("+OK"));
        let body = String::from_utf8(c.body()).unwrap();
        let ids: Vec<String> = body
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect();
        c.cmd("QUIT");
        sessions.push(ids);
    }
    let ids = &sessions[0];
    assert_eq!(ids, &sessions[1], "the same in every session");
    assert_eq!(ids.len(), 5);
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 5, "{ids:?}");
    assert!(ids
        .iter()
        .all(|id| (1..=70).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b))));
    assert_eq!((ids[0].as_str(), ids[4].as_str()), ("dup", "ok-1"));
    assert_eq!(ids[1], "dup-2");
    proxy.wait_for_log(&format!(
        "proxy: upstream {addr} lists an id more than once"
    ));
}
