//! Scraping `--metrics-listen`: where it is, `/metrics` and `/health` over plain HTTP, one
//! series' value.

use super::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Where a server started with `--metrics-listen 127.0.0.1:0` serves its metrics.
pub fn metrics_addr(server: &Server) -> SocketAddr {
    let marker = "metrics and health on";
    server.wait_for_log(marker);
    let log = server.log();
    let line = log.lines().find(|l| l.contains(marker)).unwrap();
    let addr = &line[line.rfind("addr=").unwrap() + 5..];
    addr.split_whitespace().next().unwrap().parse().unwrap()
}

/// One HTTP GET: the status code and the body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, body.to_string())
}

/// The value of `series` (name and labels as the server writes them), 0 when absent.
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Polls `path` until `done` holds for its body, with a deadline.
pub fn wait_for(addr: SocketAddr, path: &str, done: impl Fn(u16, &str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = get(addr, path);
        if done(status, &body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} never came to the expected state: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
