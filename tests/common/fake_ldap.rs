//! A directory server that lies, for the ldap driver's limits: a TCP listener on loopback
//! that accepts every bind and answers every search as its [`Search`] says (trickling
//! references without end, one huge entry, a size limit exceeded after one entry). The few
//! LDAP messages it needs are BER-encoded by hand (RFC 4511): a general LDAP server crate
//! would not lie on purpose, and ldap3 has no server side.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// How the server answers a search.
#[derive(Clone, Copy)]
pub enum Search {
    /// A search result reference every 100 ms, and never the final result.
    Trickle,
    /// One entry with a value of this many bytes, then success.
    HugeEntry(usize),
    /// One entry, then sizeLimitExceeded (4): the server says more matched.
    SizeLimitAfterOne,
}

/// Starts the server; its `ldap://` URL. It runs until the test process ends.
pub fn start(search: Search) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, search));
        }
    });
    url
}

/// Answers one connection's requests until the client goes away.
fn serve(mut stream: TcpStream, search: Search) {
    while let Some((id, op)) = read_request(&mut stream) {
        let sent = match op {
            // BindRequest: success for any DN and password.
            0x60 => stream.write_all(&message(id, 0x61, &result(0))),
            // SearchRequest.
            0x63 => answer_search(&mut stream, id, search),
            // Unbind, abandon and the rest: no answer.
            _ => Ok(()),
        };
        if sent.is_err() {
            return;
        }
    }
}

fn answer_search(stream: &mut TcpStream, id: u32, search: Search) -> std::io::Result<()> {
    let entry = |value: &[u8]| {
        let values = tlv(0x31, &tlv(0x04, value));
        let attribute = tlv(0x30, &[tlv(0x04, b"cn"), values].concat());
        let content = [tlv(0x04, b"uid=ann,o=lies"), tlv(0x30, &attribute)].concat();
        message(id, 0x64, &content)
    };
    match search {
        Search::Trickle => loop {
            let reference = tlv(0x04, b"ldap://127.0.0.1:1/o=elsewhere");
            stream.write_all(&message(id, 0x73, &reference))?;
            std::thread::sleep(Duration::from_millis(100));
        },
        Search::HugeEntry(len) => {
            stream.write_all(&entry(&vec![b'x'; len]))?;
            stream.write_all(&message(id, 0x65, &result(0)))
        }
        Search::SizeLimitAfterOne => {
            stream.write_all(&entry(b"ann"))?;
            stream.write_all(&message(id, 0x65, &result(4)))
        }
    }
}

/// An LDAPResult's fields: the code, an empty matched DN and message.
fn result(code: u8) -> Vec<u8> {
    [tlv(0x0a, &[code]), tlv(0x04, b""), tlv(0x04, b"")].concat()
}

/// An LDAPMessage: the message id and the operation `op` holding `content`.
fn message(id: u32, op: u8, content: &[u8]) -> Vec<u8> {
    let id = tlv(0x02, &id.to_be_bytes());
    tlv(0x30, &[id, tlv(op, content)].concat())
}

/// A BER element: tag, definite length (long form above 127), content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        let len = (content.len() as u32).to_be_bytes();
        let skip = len.iter().take_while(|byte| **byte == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend(&len[skip..]);
    }
    out.extend(content);
    out
}

/// The next request's message id and operation tag; `None` when the client is gone.
fn read_request(stream: &mut TcpStream) -> Option<(u32, u8)> {
    let (tag, content) = read_element(stream)?;
    if tag != 0x30 || content.len() < 3 || content[0] != 0x02 {
        return None;
    }
    let id_len = usize::from(content[1]);
    let id = content.get(2..2 + id_len)?;
    let id = id.iter().fold(0u32, |id, byte| id << 8 | u32::from(*byte));
    Some((id, *content.get(2 + id_len)?))
}

fn read_element(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).ok()?;
    let len = if head[1] < 0x80 {
        usize::from(head[1])
    } else {
        let mut bytes = vec![0u8; usize::from(head[1] & 0x7f)];
        stream.read_exact(&mut bytes).ok()?;
        bytes
            .iter()
            .fold(0, |len, byte| len << 8 | usize::from(*byte))
    };
    let mut content = vec![0u8; len];
    stream.read_exact(&mut content).ok()?;
    Some((head[0], content))
}
