//! The client side of POP3 with one upstream server: connect, secure, log in, then commands
//! and their answers. Every answer is bounded in octets: a status line by [`MAX_LINE`], a
//! multi-line answer by the budget its caller gives (CAPA by [`CAPA_BUDGET`], listings by
//! the size of the maildrop), a message body by its listed size ([`Body`]); message bodies
//! are streamed and never held whole. Each call sets the connection's deadline first.

use crate::body::Body;
use crate::capa::Capabilities;
use crate::config::Timeouts;
use crate::endpoint::{Endpoint, Security, TlsTarget};
use crate::error::Failure;
use crate::response::{parse_status, Refusal};
use crate::transport::{self, Transport};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pop3_client_codec::content;
use pop3_client_codec::multiline::unstuff_line;
use pop3_plugin_api::ResponseCode;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

/// Read buffer: as large as the host's read chunk (128 KiB), so that each host read of a
/// message is served from one buffer fill.
const BUFFER: usize = 128 * 1024;
/// The longest status line accepted. POP3 status lines are at most 512 octets (RFC 2449
/// §4); far longer means the peer is not a POP3 server.
pub const MAX_LINE: usize = 64 * 1024;
/// The longest CAPA answer accepted: a real one is a few hundred octets.
const CAPA_BUDGET: usize = 8 * 1024;
/// What one read of a message waits for (less only at the end of the message): an upstream
/// must deliver this much within each call's deadline, so one that drips a byte at a time
/// fails like a silent one instead of holding the call forever.
const READ_GOAL: usize = 64 * 1024;
/// Commands per write when the upstream pipelines (RFC 2449 §6.6): few enough that their
/// answers fit the socket buffers while the proxy is still writing.
const BATCH: usize = 64;

pub struct Upstream {
    io: BufReader<Transport>,
    capa: Capabilities,
}

impl Upstream {
    /// Connects, secures the connection as configured, reads the greeting and the
    /// capabilities, all before `deadline`. The session is then in the AUTHORIZATION state.
    pub fn open(
        endpoint: &Endpoint,
        timeouts: &Timeouts,
        deadline: Instant,
    ) -> Result<Self, Failure> {
        let tcp = transport::connect(&endpoint.address, timeouts, deadline)?;
        let transport = match &endpoint.security {
            Security::Implicit(target) => Transport::tls(tcp, target)?,
            _ => Transport::Plain(tcp),
        };
        let mut upstream = Self::new(transport);
        upstream.status()?;
        if let Security::StartTls(target) = &endpoint.security {
            upstream.command("STLS").map_err(|failure| match failure {
                Failure::Refused(refusal) => {
                    Failure::Garbage(format!("STLS refused ({}); check \"tls\"", refusal.text))
                }
                failure => failure,
            })?;
            upstream = upstream.start_tls(target)?;
        }
        upstream.capa = upstream.read_capa()?;
        Ok(upstream)
    }

    fn new(transport: Transport) -> Self {
        Self {
            io: BufReader::with_capacity(BUFFER, transport),
            capa: Capabilities::BASELINE,
        }
    }

    /// TLS after the `+OK` to STLS. Bytes that arrived with that answer came before the
    /// handshake and could be anyone's: an error, not the answer to the next command.
    fn start_tls(self, target: &TlsTarget) -> Result<Self, Failure> {
        if !self.io.buffer().is_empty() {
            let early = self.io.buffer();
            return Err(Failure::garbage("nothing before the TLS handshake", early));
        }
        let Transport::Plain(tcp) = self.io.into_inner() else {
            return Err(Failure::Garbage("STLS on a TLS connection".into()));
        };
        Ok(Self::new(Transport::tls(tcp, target)?))
    }

    /// CAPA (RFC 2449); an upstream that refuses it gets the RFC 1939 baseline. Asked after
    /// STLS, since nothing learnt before TLS can be trusted.
    fn read_capa(&mut self) -> Result<Capabilities, Failure> {
        match self.command("CAPA") {
            Ok(_) => {
                let mut lines = Vec::new();
                self.lines("CAPA", CAPA_BUDGET, |line| {
                    lines.push(String::from_utf8_lossy(line).into_owned());
                    Ok(())
                })?;
                Ok(Capabilities::parse(&lines))
            }
            Err(Failure::Refused(_)) => Ok(Capabilities::BASELINE),
            Err(failure) => Err(failure),
        }
    }

    /// Sets the deadline of the call that uses the connection now.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.io.get_mut().set_deadline(deadline);
    }

    /// A second handle on the socket, to shut it down while another thread is blocked in
    /// a read on it.
    pub fn closer(&self) -> io::Result<TcpStream> {
        self.io.get_ref().tcp().try_clone()
    }

    /// Ends the connection now, whoever else holds a handle on the socket.
    pub fn shutdown(&self) {
        let _ = self.io.get_ref().tcp().shutdown(Shutdown::Both);
    }

    /// Logs in with USER/PASS, or with SASL PLAIN (RFC 4616, with an initial response as
    /// RFC 5034 allows) when CAPA lists PLAIN but not USER. The upstream's answer decides.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), Failure> {
        if [user, password]
            .iter()
            .any(|s| s.contains(['\r', '\n', '\0']))
        {
            return Err(Failure::Refused(Refusal {
                code: ResponseCode::AUTH,
                text: "line break or NUL in the credentials".into(),
            }));
        }
        if !self.capa.user && self.capa.sasl_plain {
            let token = STANDARD.encode(format!("\0{user}\0{password}"));
            self.command(&format!("AUTH PLAIN {token}"))?;
        } else {
            self.command(&format!("USER {user}"))?;
            self.command(&format!("PASS {password}"))?;
        }
        Ok(())
    }

    /// Sends one command and reads its status line.
    pub fn command(&mut self, line: &str) -> Result<String, Failure> {
        self.send(&[line])?;
        self.status()
    }

    /// Sends `commands` and reads the answer to each with `answer` (given the command), in
    /// order: in batches
    /// when the upstream pipelines, else one by one. A refusal is one answer among the
    /// others; any other failure ends the exchange.
    pub fn pipeline<C: AsRef<str>, T>(
        &mut self,
        commands: &[C],
        mut answer: impl FnMut(&mut Self, &C) -> Result<T, Failure>,
    ) -> Result<Vec<Result<T, Refusal>>, Failure> {
        let batch = if self.capa.pipelining { BATCH } else { 1 };
        let mut answers = Vec::with_capacity(commands.len());
        for chunk in commands.chunks(batch) {
            self.send(chunk)?;
            for command in chunk {
                answers.push(match answer(self, command) {
                    Ok(value) => Ok(value),
                    Err(Failure::Refused(refusal)) => Err(refusal),
                    Err(failure) => return Err(failure),
                });
            }
        }
        Ok(answers)
    }

    /// Reads a status line: the text after `+OK`, or the refusal after `-ERR`.
    pub fn status(&mut self) -> Result<String, Failure> {
        let line = self.read_line(MAX_LINE).map_err(|failure| match failure {
            Failure::Garbage(_) => {
                Failure::Garbage("expected a line of at most 64 KiB, got a longer one".into())
            }
            failure => failure,
        })?;
        parse_status(&String::from_utf8_lossy(content(&line)))
    }

    /// Reads the lines of a multi-line answer to `command` (CAPA, LIST, UIDL), un-stuffed and
    /// without line ends, handing each to `each` as raw bytes. More than `budget` octets in
    /// all (terminator excluded) is an error.
    pub fn lines(
        &mut self,
        command: &str,
        budget: usize,
        mut each: impl FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let too_long = || {
            Failure::Garbage(format!(
                "the {command} answer is longer than {budget} octets"
            ))
        };
        let mut left = budget;
        loop {
            // Room for the terminator, which the budget does not count.
            let line = self.read_line(left + 3).map_err(|failure| match failure {
                Failure::Garbage(_) => too_long(),
                failure => failure,
            })?;
            let Some(text) = unstuff_line(content(&line)) else {
                return Ok(());
            };
            left = left.checked_sub(line.len()).ok_or_else(too_long)?;
            each(text)?;
        }
    }

    /// Reads message bytes of the current body into `out`: as many as `out` holds, up to
    /// [`READ_GOAL`], or fewer (none) where the body ends.
    pub fn read_body(&mut self, body: &mut Body, out: &mut [u8]) -> Result<usize, Failure> {
        let goal = out.len().min(READ_GOAL);
        let mut made = 0;
        while made < goal && !body.is_done() {
            let input = self.io.fill_buf()?;
            if input.is_empty() {
                return Err(Failure::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the upstream closed the connection inside a message",
                )));
            }
            let (taken, n) = body.feed(input, &mut out[made..])?;
            self.io.consume(taken);
            made += n;
        }
        Ok(made)
    }

    /// Reads the rest of the current body, handing its bytes to `sink`.
    pub fn finish_body(
        &mut self,
        body: &mut Body,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), Failure> {
        let mut chunk = [0; 8192];
        while !body.is_done() {
            let n = self.read_body(body, &mut chunk)?;
            sink(&chunk[..n]);
        }
        Ok(())
    }

    /// One line with its line end, of at most `max` octets; a longer one is
    /// [`Failure::Garbage`].
    fn read_line(&mut self, max: usize) -> Result<Vec<u8>, Failure> {
        let mut line = Vec::new();
        let mut bounded = self.io.by_ref().take(max as u64);
        bounded.read_until(b'\n', &mut line)?;
        match line.last() {
            Some(b'\n') => Ok(line),
            _ if line.len() == max => Err(Failure::Garbage("a line too long".into())),
            _ => Err(Failure::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the upstream closed the connection",
            ))),
        }
    }

    fn send<C: AsRef<str>>(&mut self, commands: &[C]) -> io::Result<()> {
        let mut out = String::new();
        for command in commands {
            out.push_str(command.as_ref());
            out.push_str("\r\n");
        }
        let transport = self.io.get_mut();
        transport.write_all(out.as_bytes())?;
        transport.flush()
    }
}
