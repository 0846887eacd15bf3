//! A POP3 client connection for measuring and checking a server: every read and write has a
//! deadline, every line a length bound, and every reply is checked for form (status lines,
//! CRLF line ends, dot-stuffing) so that a malformed reply is a protocol error, never a hang.
//! The replies are decoded by `pop3_client_codec`; this client is the strict reader of it, and
//! refuses every departure from the form RFC 1939 asks of a server.

use memchr::memchr;
use pop3_client_codec::listing::parse_listed;
use pop3_client_codec::multiline::{self, EndSearch};
use pop3_client_codec::status::{self, Status};
use pop3_client_codec::{content, uidl};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// RFC 2449 §4: a response line, CRLF included, is at most 512 octets.
pub const STATUS_LINE_MAX: usize = 512;
/// Body lines have no limit in POP3; this one only keeps a broken server from using up memory.
pub const BODY_LINE_MAX: usize = 1 << 20;
/// Nor do messages; the same goes for this bound.
pub const BODY_MAX: usize = 256 << 20;

/// Why an exchange failed: the server broke the protocol, or the connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// A reply that no server may send, or `+OK`/`-ERR` where the other was due.
    Protocol(String),
    /// The connection failed or the server closed it.
    Connection(String),
    /// A read, write or connect took longer than the deadline.
    Timeout(String),
}

impl Fail {
    pub fn protocol(what: impl Into<String>) -> Fail {
        Fail::Protocol(what.into())
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Protocol(what) => write!(f, "protocol error: {what}"),
            Fail::Connection(what) => write!(f, "connection error: {what}"),
            Fail::Timeout(what) => write!(f, "timeout: {what}"),
        }
    }
}

/// A status line: `+OK` or `-ERR` and the text after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    Err(String),
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Ok(_))
    }

    /// `+OK` or a protocol error naming `what` was asked.
    pub fn ok(self, what: &str) -> Result<String, Fail> {
        match self {
            Reply::Ok(text) => Ok(text),
            Reply::Err(text) => Err(Fail::protocol(format!("{what}: -ERR {text}"))),
        }
    }

    pub fn err(self, what: &str) -> Result<String, Fail> {
        match self {
            Reply::Err(text) => Ok(text),
            Reply::Ok(text) => Err(Fail::protocol(format!(
                "{what}: +OK {text} where -ERR was due"
            ))),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ok(text) => write!(f, "+OK {text}"),
            Reply::Err(text) => write!(f, "-ERR {text}"),
        }
    }
}

/// What a connection reads and writes: TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Conn {
    stream: BufReader<Box<dyn Io>>,
    /// The read buffer's size, kept through an upgrade to TLS.
    buffer: usize,
    timeout: Duration,
    /// Octets read from the server so far.
    pub bytes_read: u64,
    /// The multi-line body last read, as sent.
    wire: Vec<u8>,
}

impl Conn {
    /// Connects with a read buffer of `buffer` octets (small for many idle sessions).
    pub async fn connect(
        addr: SocketAddr,
        deadline: Duration,
        buffer: usize,
    ) -> Result<Conn, Fail> {
        let stream = match timeout(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(Fail::Timeout(format!("connect to {addr}"))),
            Ok(Err(err)) => return Err(Fail::Connection(format!("connect to {addr}: {err}"))),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream: BufReader::with_capacity(buffer, Box::new(stream)),
            buffer,
            timeout: deadline,
            bytes_read: 0,
            wire: Vec::new(),
        })
    }

    /// Connects and reads the greeting, which must be `+OK`.
    pub async fn open(addr: SocketAddr, deadline: Duration, buffer: usize) -> Result<Conn, Fail> {
        let mut conn = Conn::connect(addr, deadline, buffer).await?;
        conn.status().await?.ok("greeting")?;
        Ok(conn)
    }

    /// Runs `upgrade` on the stream (a TLS handshake); the read buffer must be empty, since
    /// what it holds came before the upgrade (RFC 2595 §4: nothing may follow the STLS reply).
    /// `upgrade` may say how it went (`T`).
    pub async fn upgrade<F, Fut, T>(self, upgrade: F) -> Result<(Conn, T), Fail>
    where
        F: FnOnce(Box<dyn Io>) -> Fut,
        Fut: std::future::Future<Output = Result<(Box<dyn Io>, T), Fail>>,
    {
        if !self.stream.buffer().is_empty() {
            return Err(Fail::protocol("data after the reply to STLS"));
        }
        let (stream, how) = upgrade(self.stream.into_inner()).await?;
        let conn = Conn {
            stream: BufReader::with_capacity(self.buffer, stream),
            ..self
        };
        Ok((conn, how))
    }

    /// Writes raw octets (the caller ends each line with CRLF).
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Fail> {
        match timeout(self.timeout, self.stream.get_mut().write_all(bytes)).await {
            Err(_) => Err(Fail::Timeout("write".into())),
            Ok(Err(err)) => Err(Fail::Connection(format!("write: {err}"))),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Sends `line` and CRLF, then reads the status line.
    pub async fn command(&mut self, line: &str) -> Result<Reply, Fail> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.status().await.map_err(|fail| context(fail, line))
    }

    /// USER and PASS; the reply to PASS, or to USER if that was `-ERR`.
    pub async fn login(&mut self, user: &str, pass: &str) -> Result<Reply, Fail> {
        let reply = self.command(&format!("USER {user}")).await?;
        if !reply.is_ok() {
            return Ok(reply);
        }
        self.send(format!("PASS {pass}\r\n").as_bytes()).await?;
        self.status().await.map_err(|fail| context(fail, "PASS"))
    }

    /// QUIT, which must be `+OK`, then the server must close the connection.
    pub async fn quit(&mut self) -> Result<(), Fail> {
        self.command("QUIT").await?.ok("QUIT")?;
        self.expect_close().await
    }

    async fn fill(&mut self) -> Result<&[u8], Fail> {
        match timeout(self.timeout, self.stream.fill_buf()).await {
            Err(_) => Err(Fail::Timeout("read".into())),
            Ok(Err(err)) => Err(Fail::Connection(format!("read: {err}"))),
            Ok(Ok(buf)) => Ok(buf),
        }
    }

    fn consume(&mut self, n: usize) {
        self.stream.consume(n);
        self.bytes_read += n as u64;
    }

    /// One line, CRLF included, of at most `max` octets.
    async fn line(&mut self, max: usize, line: &mut Vec<u8>) -> Result<(), Fail> {
        line.clear();
        loop {
            let buf = self.fill().await?;
            if buf.is_empty() {
                return Err(Fail::Connection(if line.is_empty() {
                    "closed by the server".into()
                } else {
                    "closed by the server inside a line".into()
                }));
            }
            let (taken, done) = match memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..taken]);
            self.consume(taken);
            if line.len() > max {
                return Err(Fail::protocol(format!("a line over {max} octets")));
            }
            if done {
                if !line.ends_with(b"\r\n") {
                    return Err(Fail::protocol(format!(
                        "line ends in a bare LF: {}",
                        printable(line)
                    )));
                }
                return Ok(());
            }
        }
    }

    /// A status line.
    pub async fn status(&mut self) -> Result<Reply, Fail> {
        let mut line = Vec::with_capacity(64);
        self.line(STATUS_LINE_MAX, &mut line).await?;
        parse_status(&line[..line.len() - 2])
    }

    /// A multi-line body up to its terminating `.` line, dot-unstuffed, into `out`. Every line
    /// must end in CRLF and every line that starts with a dot must have been stuffed.
    pub async fn body(&mut self, out: &mut Vec<u8>) -> Result<(), Fail> {
        let wire = self.wire_body().await?;
        unstuff(wire, out)
    }

    /// A multi-line body as sent, dot-stuffed, up to and without its terminating `.` line.
    ///
    /// Read whole before any check: a reply is then one search for its end and, for a
    /// caller that knows what to expect (RETR of a corpus message), one comparison, instead
    /// of work per line, so that the client costs a server's measured throughput little.
    pub async fn wire_body(&mut self) -> Result<&[u8], Fail> {
        self.wire.clear();
        let mut search = EndSearch::default();
        loop {
            let buf = match timeout(self.timeout, self.stream.fill_buf()).await {
                Err(_) => return Err(Fail::Timeout("read inside a multi-line body".into())),
                Ok(Err(err)) => return Err(Fail::Connection(format!("read: {err}"))),
                Ok(Ok(buf)) => buf,
            };
            if buf.is_empty() {
                return Err(Fail::Connection(
                    "closed by the server inside a multi-line body".into(),
                ));
            }
            let read = buf.len();
            self.wire.extend_from_slice(buf);
            if let Some(end) = search.find(&self.wire) {
                // What follows the terminator is the next reply's: left in the buffer.
                self.consume(read - (self.wire.len() - end.total));
                if end.bare_lf() {
                    return Err(Fail::protocol("the terminator line ends in a bare LF"));
                }
                return Ok(&self.wire[..end.body]);
            }
            self.consume(read);
            if self.wire.len() > BODY_MAX {
                return Err(Fail::protocol("a body over 256 MiB"));
            }
        }
    }

    /// A multi-line body that is thrown away (CAPA).
    pub async fn skip_body(&mut self) -> Result<(), Fail> {
        self.body(&mut Vec::new()).await
    }

    /// Waits for the server to close the connection; anything it sends first is an error.
    pub async fn expect_close(&mut self) -> Result<(), Fail> {
        let mut byte = [0u8; 1];
        match timeout(self.timeout, self.stream.read(&mut byte)).await {
            Err(_) => Err(Fail::Timeout("waiting for the server to close".into())),
            Ok(Ok(0)) => Ok(()),
            // A reset after QUIT still closes the session.
            Ok(Err(_)) => Ok(()),
            Ok(Ok(_)) => Err(Fail::protocol("data after the final reply")),
        }
    }

    /// Whether the server has closed the connection (end of stream or reset), waiting at most
    /// `wait` for it; data from the server is an error.
    pub async fn closed_within(&mut self, wait: Duration) -> Result<bool, Fail> {
        match timeout(wait, self.stream.fill_buf()).await {
            Err(_) => Ok(false),
            Ok(Err(_)) => Ok(true),
            Ok(Ok([])) => Ok(true),
            Ok(Ok(buf)) => Err(Fail::protocol(format!(
                "unsolicited data: {}",
                printable(buf)
            ))),
        }
    }
}

fn context(fail: Fail, line: &str) -> Fail {
    let line = printable(line.as_bytes());
    match fail {
        Fail::Protocol(what) => Fail::Protocol(format!("{line}: {what}")),
        Fail::Connection(what) => Fail::Connection(format!("{line}: {what}")),
        Fail::Timeout(what) => Fail::Timeout(format!("{line}: {what}")),
    }
}

/// A body as [`Conn::wire_body`] gives it, checked and dot-unstuffed into `out`: every line
/// ends in CRLF and every line that starts with a dot was stuffed.
pub fn unstuff(wire: &[u8], out: &mut Vec<u8>) -> Result<(), Fail> {
    let unstuffed = multiline::unstuff(wire);
    if let Some((fault, at)) = unstuffed.fault {
        let at = at as usize;
        let start = wire[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |lf| lf + 1);
        let end = memchr(b'\n', &wire[at..]).map_or(wire.len(), |lf| at + lf + 1);
        return Err(Fail::protocol(format!(
            "body: {fault}: {}",
            printable(&wire[start..end])
        )));
    }
    if wire
        .split_inclusive(|&b| b == b'\n')
        .any(|line| line.len() > BODY_LINE_MAX)
    {
        return Err(Fail::protocol("a body line over 1 MiB"));
    }
    *out = unstuffed.body;
    Ok(())
}

/// `+OK text`, `+OK`, `-ERR text` or `-ERR` (CRLF removed).
pub fn parse_status(line: &[u8]) -> Result<Reply, Fail> {
    match status::parse_status(&String::from_utf8_lossy(line)) {
        Some(Status::Ok(text)) => Ok(Reply::Ok(text.to_string())),
        Some(Status::Err(text)) => Ok(Reply::Err(text.to_string())),
        None => Err(Fail::protocol(format!(
            "not a status line: {}",
            printable(line)
        ))),
    }
}

/// Up to 80 characters of `bytes` with the unprintable ones escaped, for error messages.
pub fn printable(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(80)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > 80 {
        format!("\"{shown}...\" ({} octets)", bytes.len())
    } else {
        format!("\"{shown}\"")
    }
}

/// The body of `LIST`: `n size` lines, numbered from 1 up without gaps in the numbers that are
/// not deleted; returns (number, size) pairs.
pub fn parse_list(body: &[u8]) -> Result<Vec<(u32, u64)>, Fail> {
    scan_listing(body, "LIST", |word| {
        std::str::from_utf8(word).ok()?.parse::<u64>().ok()
    })
}

/// The body of `UIDL`: `n uidl` lines; every UIDL 1-70 characters of 0x21-0x7E, all distinct.
pub fn parse_uidl(body: &[u8]) -> Result<Vec<(u32, String)>, Fail> {
    let listing = scan_listing(body, "UIDL", |word| {
        uidl::is_valid(word).then(|| String::from_utf8_lossy(word).into_owned())
    })?;
    let mut seen = std::collections::HashSet::with_capacity(listing.len());
    for (_, uidl) in &listing {
        if !seen.insert(uidl.as_str()) {
            return Err(Fail::protocol(format!("UIDL {uidl} listed twice")));
        }
    }
    Ok(listing)
}

fn scan_listing<T>(
    body: &[u8],
    what: &str,
    value: impl Fn(&[u8]) -> Option<T>,
) -> Result<Vec<(u32, T)>, Fail> {
    let mut out = Vec::new();
    let mut last = 0u32;
    for line in body.split_inclusive(|&b| b == b'\n').map(content) {
        let parsed = parse_listed(line)
            .filter(|listed| listed.exact)
            .and_then(|listed| {
                let n = u32::try_from(listed.number).ok().filter(|&n| n > last)?;
                Some((n, value(listed.value)?))
            });
        let Some((n, v)) = parsed else {
            return Err(Fail::protocol(format!(
                "{what} listing line {}",
                printable(line)
            )));
        };
        last = n;
        out.push((n, v));
    }
    Ok(out)
}

/// The first two words of a `+OK` text as numbers (`STAT`: count and size; `LIST n`:
/// number and size).
pub fn two_numbers(text: &str, what: &str) -> Result<(u64, u64), Fail> {
    let listed = parse_listed(text.as_bytes());
    match listed.and_then(|listed| Some((listed.number as u64, listed.size()?))) {
        Some(numbers) => Ok(numbers),
        None => Err(Fail::protocol(format!("{what}: +OK {text}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"+OK"), Ok(Reply::Ok(String::new())));
        assert_eq!(parse_status(b"+OK 2 320"), Ok(Reply::Ok("2 320".into())));
        assert_eq!(
            parse_status(b"-ERR [IN-USE] x"),
            Ok(Reply::Err("[IN-USE] x".into()))
        );
        assert!(parse_status(b"+OKAY").is_err());
        assert!(parse_status(b"+ go on").is_err());
        assert!(parse_status(b"").is_err());
    }

    #[test]
    fn bodies_are_unstuffed_and_checked() {
        let mut out = Vec::new();
        assert_eq!(unstuff(b"..x\r\na\r\n...\r\n", &mut out), Ok(()));
        assert_eq!(out, b".x\r\na\r\n..\r\n");
        assert_eq!(unstuff(b"", &mut out), Ok(()));
        assert_eq!(out, b"");
        assert!(unstuff(b"a\r\n.x\r\n", &mut out).is_err());
        assert!(unstuff(b"x\n", &mut out).is_err());
        assert!(unstuff(b"\n", &mut out).is_err());
    }

    /// The body ends at its `.` line however the reply is split into reads, and what follows
    /// stays for the next reply.
    #[tokio::test]
    async fn bodies_end_at_the_dot_line_in_reads_of_any_size() {
        let reply = b"+OK\r\n..a\r\nb\r\n.\r\n+OK\r\n.\r\n+OK next\r\n";
        for split in 1..=reply.len() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                for piece in reply.chunks(split) {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                }
            });
            let mut conn = Conn::open(addr, Duration::from_secs(5), 4).await.unwrap();
            let mut body = Vec::new();
            conn.body(&mut body).await.unwrap();
            assert_eq!(body, b".a\r\nb\r\n", "reads of {split}");
            conn.status().await.unwrap();
            assert_eq!(conn.wire_body().await.unwrap(), b"", "reads of {split}");
            assert_eq!(conn.status().await.unwrap(), Reply::Ok("next".into()));
            server.await.unwrap();
        }
    }

    #[test]
    fn listings() {
        assert_eq!(
            parse_list(b"1 10\r\n3 20\r\n").unwrap(),
            vec![(1, 10), (3, 20)]
        );
        assert!(parse_list(b"1 10\r\n1 20\r\n").is_err());
        assert!(parse_list(b"1  10\r\n").is_err());
        assert!(parse_list(b"1 x\r\n").is_err());
        assert_eq!(
            parse_uidl(b"1 a\r\n2 b\r\n").unwrap(),
            vec![(1, "a".into()), (2, "b".into())]
        );
        assert!(parse_uidl(b"1 a\r\n2 a\r\n").is_err());
        assert!(parse_uidl(format!("1 {}\r\n", "x".repeat(71)).as_bytes()).is_err());
        assert_eq!(two_numbers("2 320", "STAT"), Ok((2, 320)));
        assert!(two_numbers("2", "STAT").is_err());
    }
}
