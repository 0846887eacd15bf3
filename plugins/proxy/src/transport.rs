//! The byte stream to an upstream: TCP, or TLS over TCP. Every connect, read and write ends
//! by the deadline of the host's call in progress (see `deadline`): the time left is set as
//! the socket timeout before each one. Blocking std I/O, because plugin calls run on the
//! host's blocking pool and a plugin has no async reactor of its own.

use crate::config::Timeouts;
use crate::endpoint::{Address, TlsTarget};
use rustls::{ClientConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub enum Transport {
    Plain(Timed),
    Tls(Box<StreamOwned<ClientConnection, Timed>>),
}

/// A TCP stream whose reads and writes fail once `deadline` has passed.
pub struct Timed {
    tcp: TcpStream,
    deadline: Instant,
}

/// Connects to the first address of `address` that answers within the connect timeout and
/// before `deadline`. (Name resolution is the system resolver's, with its own timeouts.)
pub fn connect(address: &Address, timeouts: &Timeouts, deadline: Instant) -> io::Result<Timed> {
    let mut last_error = None;
    for addr in (address.host.as_str(), address.port).to_socket_addrs()? {
        let timeout = timeouts.connect.min(time_left(deadline)?);
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                tcp.set_nodelay(true)?;
                return Ok(Timed { tcp, deadline });
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// The time left before `deadline`; an error once none is.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(deadline_passed());
    }
    Ok(left)
}

fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the call's deadline passed")
}

/// A socket timeout (`WouldBlock` on Unix) is the deadline passing.
fn at_deadline(err: io::Error) -> io::Error {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => deadline_passed(),
        _ => err,
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(time_left(self.deadline)?))?;
        self.tcp.read(buf).map_err(at_deadline)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp
            .set_write_timeout(Some(time_left(self.deadline)?))?;
        self.tcp.write(buf).map_err(at_deadline)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl Transport {
    /// TLS over `tcp`, with the handshake done here so that a certificate problem shows as
    /// such and not as a failure of the first command.
    pub fn tls(mut tcp: Timed, target: &TlsTarget) -> io::Result<Self> {
        let mut tls = ClientConnection::new(target.config.clone(), target.server_name.clone())
            .map_err(io::Error::other)?;
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp)?;
        }
        Ok(Self::Tls(Box::new(StreamOwned::new(tls, tcp))))
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.timed().tcp
    }

    /// Sets the deadline of the call that uses the connection now.
    pub fn set_deadline(&mut self, deadline: Instant) {
        match self {
            Self::Plain(timed) => timed.deadline = deadline,
            Self::Tls(tls) => tls.sock.deadline = deadline,
        }
    }

    fn timed(&self) -> &Timed {
        match self {
            Self::Plain(timed) => timed,
            Self::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(tls) => tls.flush(),
        }
    }
}
