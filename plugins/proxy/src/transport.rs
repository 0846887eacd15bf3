//! The byte stream to an upstream: TCP, or TLS over TCP, with the config's timeouts on every
//! connect, read and write. Blocking std I/O, because plugin calls run on the host's
//! blocking pool and a plugin has no async reactor of its own.

use crate::config::Timeouts;
use crate::endpoint::{Address, TlsTarget};
use rustls::{ClientConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// Connects to the first address of `address` that answers within the connect timeout.
pub fn connect(address: &Address, timeouts: &Timeouts) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in (address.host.as_str(), address.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeouts.connect) {
            Ok(stream) => {
                stream.set_read_timeout(Some(timeouts.io))?;
                stream.set_write_timeout(Some(timeouts.io))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

impl Transport {
    /// TLS over `tcp`, with the handshake done here so that a certificate problem shows as
    /// such and not as a failure of the first command.
    pub fn tls(mut tcp: TcpStream, target: &TlsTarget) -> io::Result<Self> {
        let mut tls = ClientConnection::new(target.config.clone(), target.server_name.clone())
            .map_err(io::Error::other)?;
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp)?;
        }
        Ok(Self::Tls(Box::new(StreamOwned::new(tls, tcp))))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
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
