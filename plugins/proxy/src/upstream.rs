//! The client side of POP3 with one upstream server: connect, secure, log in, then commands
//! and their answers. Every line the proxy keeps is bounded; message bodies are streamed
//! through an [`Unstuffer`] and never held whole.

use crate::capa::Capabilities;
use crate::config::Timeouts;
use crate::endpoint::{Endpoint, Security, TlsTarget};
use crate::error::Failure;
use crate::response::{parse_status, Refusal};
use crate::transport::{self, Transport};
use crate::unstuff::Unstuffer;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pop3_plugin_api::ResponseCode;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};

/// Read buffer: as large as the host's read chunk (128 KiB), so that each host read of a
/// message is served from one buffer fill.
const BUFFER: usize = 128 * 1024;
/// The longest line accepted where the proxy keeps lines (status, CAPA, UIDL, LIST). POP3
/// status lines are at most 512 octets (RFC 2449 §4); far longer means the peer is not a
/// POP3 server. Message lines are streamed and have no limit.
const MAX_LINE: usize = 64 * 1024;
/// The most lines of one kept answer: a maildrop of a million messages.
const MAX_LINES: usize = 1_000_000;
/// Commands per write when the upstream pipelines (RFC 2449 §6.6): few enough that their
/// answers fit the socket buffers while the proxy is still writing.
const BATCH: usize = 64;

pub struct Upstream {
    io: BufReader<Transport>,
    capa: Capabilities,
}

impl Upstream {
    /// Connects, secures the connection as configured, reads the greeting and the
    /// capabilities. The session is then in the AUTHORIZATION state.
    pub fn open(endpoint: &Endpoint, timeouts: &Timeouts) -> Result<Self, Failure> {
        let tcp = transport::connect(&endpoint.address, timeouts)?;
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
            Ok(_) => Ok(Capabilities::parse(&self.lines()?)),
            Err(Failure::Refused(_)) => Ok(Capabilities::BASELINE),
            Err(failure) => Err(failure),
        }
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

    /// Sends `commands` and reads the answer to each with `answer`, in order: in batches
    /// when the upstream pipelines, else one by one. A refusal is one answer among the
    /// others; any other failure ends the exchange.
    pub fn pipeline<C: AsRef<str>, T>(
        &mut self,
        commands: &[C],
        mut answer: impl FnMut(&mut Self) -> Result<T, Failure>,
    ) -> Result<Vec<Result<T, Refusal>>, Failure> {
        let batch = if self.capa.pipelining { BATCH } else { 1 };
        let mut answers = Vec::with_capacity(commands.len());
        for chunk in commands.chunks(batch) {
            self.send(chunk)?;
            for _ in chunk {
                answers.push(match answer(self) {
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
        parse_status(&self.read_line()?)
    }

    /// Reads the lines of a short multi-line answer (CAPA, UIDL, LIST), un-stuffed, without
    /// the terminator.
    pub fn lines(&mut self) -> Result<Vec<String>, Failure> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            if line == "." {
                return Ok(lines);
            }
            if lines.len() == MAX_LINES {
                return Err(Failure::Garbage(format!("more than {MAX_LINES} lines")));
            }
            lines.push(match line.strip_prefix('.') {
                Some(unstuffed) => unstuffed.to_string(),
                None => line,
            });
        }
    }

    /// Reads message bytes of the current body into `out`: at least one byte, or none once
    /// the terminator is reached.
    pub fn read_body(&mut self, body: &mut Unstuffer, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let input = self.io.fill_buf()?;
            if input.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the upstream closed the connection inside a message",
                ));
            }
            let (taken, made) = body.feed(input, out);
            self.io.consume(taken);
            if made > 0 || body.is_done() {
                return Ok(made);
            }
        }
    }

    /// Reads the rest of the current body, handing its bytes to `sink`.
    pub fn finish_body(
        &mut self,
        body: &mut Unstuffer,
        mut sink: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let mut chunk = [0; 8192];
        while !body.is_done() {
            let n = self.read_body(body, &mut chunk)?;
            sink(&chunk[..n]);
        }
        Ok(())
    }

    /// One line without its line end, lossily decoded (the lines kept are ASCII).
    fn read_line(&mut self) -> Result<String, Failure> {
        let mut line = Vec::new();
        let mut bounded = self.io.by_ref().take(MAX_LINE as u64 + 1);
        bounded.read_until(b'\n', &mut line)?;
        match line.strip_suffix(b"\n") {
            Some(content) => {
                let content = content.strip_suffix(b"\r").unwrap_or(content);
                Ok(String::from_utf8_lossy(content).into_owned())
            }
            None if line.len() > MAX_LINE => {
                Err(Failure::garbage("a line of at most 64 KiB", &line))
            }
            None => Err(Failure::Io(io::Error::new(
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
