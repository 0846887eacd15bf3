//! The PROXY protocol header (HAProxy's v1 text and v2 binary forms) that a trusted load
//! balancer sends before the client's first byte, carrying the client's real address.
//! Parsing is the `ppp` crate's; this module bounds it and reduces it to what the server
//! needs: how many bytes the header took and which client it names.

use ppp::PartialResult;
use std::net::SocketAddr;

/// The longest v2 header accepted: 16 octets plus addresses and optional TLVs, of which a
/// POP3 server needs none beyond a few hundred.
pub const MAX_HEADER: usize = 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A complete header of `length` octets; `client` is `None` when it names no client (v1
    /// `UNKNOWN`, v2 `LOCAL`, `AF_UNIX`, `AF_UNSPEC`): the client's address is then unknown,
    /// and not the proxy's, which may be trusted.
    Header {
        length: usize,
        client: Option<SocketAddr>,
    },
    Invalid(String),
}

/// The v2 signature; it starts with CRLF, which no v1 header does.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is one line of at most 107 octets, CRLF included.
const V1_MAX: usize = 107;

/// Whether `buf` (not empty) starts like a v2 header.
fn is_v2(buf: &[u8]) -> bool {
    let n = buf.len().min(V2_SIGNATURE.len());
    buf[..n] == V2_SIGNATURE[..n]
}

/// How many more octets may be read without reading past the header, given the `buf` read
/// so far: the header must be taken off the stream exactly, since what follows it belongs to
/// POP3 or to a TLS handshake.
pub fn readable(buf: &[u8]) -> usize {
    match buf.len() {
        0 => 1,
        _ if !is_v2(buf) => 1,
        n if n < 16 => 16 - n,
        n => (16 + usize::from(u16::from_be_bytes([buf[14], buf[15]])))
            .saturating_sub(n)
            .max(1),
    }
}

pub fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        Parsed::Incomplete
    } else if is_v2(buf) {
        parse_v2(buf)
    } else {
        parse_v1(buf)
    }
}

/// v1 is judged once its line is complete: before that, `ppp` cannot tell a truncated
/// header from a bad one.
fn parse_v1(buf: &[u8]) -> Parsed {
    const PREFIX: &[u8] = b"PROXY ";
    let n = buf.len().min(PREFIX.len());
    if buf[..n] != PREFIX[..n] {
        return Parsed::Invalid("no PROXY header".into());
    }
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n").map(|i| i + 2) else {
        return if buf.len() >= V1_MAX {
            Parsed::Invalid(format!("no end of the PROXY v1 header in {V1_MAX} octets"))
        } else {
            Parsed::Incomplete
        };
    };
    match ppp::v1::Header::try_from(&buf[..end]) {
        Ok(header) => {
            let client = match header.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                ppp::v1::Addresses::Unknown => None,
            };
            Parsed::Header {
                length: end,
                client,
            }
        }
        Err(e) => Parsed::Invalid(format!("bad PROXY v1 header: {e}")),
    }
}

fn parse_v2(buf: &[u8]) -> Parsed {
    if buf.len() >= 16 {
        let declared = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if declared > MAX_HEADER {
            return Parsed::Invalid(format!("PROXY v2 header of {declared} octets"));
        }
    }
    let result = ppp::v2::Header::try_from(buf);
    if result.is_incomplete() {
        return if buf.len() >= MAX_HEADER {
            Parsed::Invalid(format!(
                "no complete PROXY v2 header in {MAX_HEADER} octets"
            ))
        } else {
            Parsed::Incomplete
        };
    }
    match result {
        Ok(header) => {
            let client = match (header.command, header.addresses) {
                (ppp::v2::Command::Local, _) => None,
                (_, ppp::v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (_, ppp::v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (_, _) => None,
            };
            Parsed::Header {
                length: header.len(),
                client,
            }
        }
        Err(e) => Parsed::Invalid(format!("bad PROXY v2 header: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend((addresses.len() as u16).to_be_bytes());
        header.extend(addresses);
        header
    }

    fn tcp4_addresses() -> Vec<u8> {
        [[203, 0, 113, 7], [192, 0, 2, 1]]
            .concat()
            .into_iter()
            .chain(50000u16.to_be_bytes())
            .chain(110u16.to_be_bytes())
            .collect()
    }

    #[test]
    fn v1_gives_the_client_and_stops_at_crlf() {
        let input = b"PROXY TCP4 203.0.113.7 192.0.2.1 50000 110\r\nUSER a\r\n";
        let length = input.len() - b"USER a\r\n".len();
        assert_eq!(
            parse(input),
            Parsed::Header {
                length,
                client: Some("203.0.113.7:50000".parse().unwrap())
            }
        );
        let v6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 50000 110\r\n";
        assert_eq!(
            parse(v6),
            Parsed::Header {
                length: v6.len(),
                client: Some("[2001:db8::7]:50000".parse().unwrap())
            }
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Header {
                length: 15,
                client: None
            }
        );
    }

    #[test]
    fn v2_proxy_and_local() {
        let header = v2(1, 0x11, &tcp4_addresses());
        let mut input = header.clone();
        input.extend(b"CAPA\r\n");
        assert_eq!(
            parse(&input),
            Parsed::Header {
                length: header.len(),
                client: Some("203.0.113.7:50000".parse().unwrap())
            }
        );
        let local = v2(0, 0x00, &[]);
        assert_eq!(
            parse(&local),
            Parsed::Header {
                length: 16,
                client: None
            }
        );
    }

    #[test]
    fn truncated_headers_need_more_at_every_split() {
        for whole in [
            b"PROXY TCP4 203.0.113.7 192.0.2.1 50000 110\r\n".to_vec(),
            v2(1, 0x11, &tcp4_addresses()),
        ] {
            for end in 1..whole.len() {
                assert_eq!(
                    parse(&whole[..end]),
                    Parsed::Incomplete,
                    "{:?}",
                    &whole[..end]
                );
            }
        }
    }

    #[test]
    fn reading_stops_exactly_at_the_end_of_the_header() {
        for header in [
            b"PROXY UNKNOWN\r\n".to_vec(),
            v2(1, 0x11, &tcp4_addresses()),
        ] {
            let mut buf = Vec::new();
            let mut reads = 0;
            while parse(&buf) == Parsed::Incomplete {
                let n = readable(&buf);
                assert!(buf.len() + n <= header.len(), "would read past the header");
                buf.extend(&header[buf.len()..buf.len() + n]);
                reads += 1;
            }
            assert_eq!(buf, header);
            assert!(reads <= header.len());
        }
    }

    #[test]
    fn garbage_is_invalid() {
        assert!(matches!(parse(b"USER alice\r\n"), Parsed::Invalid(_)));
        assert!(matches!(
            parse(b"PROXY TCP4 nonsense\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse(&v2(1, 0x11, &[1, 2, 3])),
            Parsed::Invalid(_)
        ));
    }

    #[test]
    fn a_huge_v2_length_is_refused_at_once() {
        let mut header = v2(1, 0x11, &[]);
        header[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(parse(&header), Parsed::Invalid(_)));
    }

    #[test]
    fn an_endless_header_is_cut_off() {
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; V1_MAX]].concat();
        assert!(matches!(parse(&endless), Parsed::Invalid(_)));
    }
}
