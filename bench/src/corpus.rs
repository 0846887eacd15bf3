//! The messages a mailbox was made from (`--corpus DIR`: a maildir, or a directory of message
//! files), CRLF-normalised as a POP3 server must send them, to check what the server sends.
//!
//! A message is found by its UIDL when that is a file's base name (what pop3host's maildir
//! plugin and Courier serve), otherwise by its size and content (Dovecot's UIDLs are numbers).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

pub struct Message {
    /// The file name up to the maildir flags (`:2,...`).
    pub base: String,
    /// The content with bare LFs made CRLF and a final CRLF added when missing.
    pub content: Arc<[u8]>,
    /// The content as RETR sends it: dot-stuffed, without the terminating `.` line.
    pub wire: Vec<u8>,
}

impl Message {
    pub fn new(base: String, content: Arc<[u8]>) -> Message {
        let wire = stuff(&content);
        Message {
            base,
            content,
            wire,
        }
    }
}

pub struct Corpus {
    pub messages: Vec<Message>,
    by_base: HashMap<String, usize>,
    by_size: HashMap<u64, Vec<usize>>,
}

impl Corpus {
    /// Reads `dir/cur` and `dir/new` when `dir` is a maildir, else every file in `dir`.
    /// Hard links to one file are read once.
    pub fn load(dir: &Path) -> Result<Corpus, String> {
        let subdirs: Vec<_> = ["cur", "new"]
            .iter()
            .map(|sub| dir.join(sub))
            .filter(|sub| sub.is_dir())
            .collect();
        let dirs = if subdirs.is_empty() {
            vec![dir.to_path_buf()]
        } else {
            subdirs
        };
        let mut read_once: HashMap<(u64, u64), Arc<[u8]>> = HashMap::new();
        let mut messages = Vec::new();
        for dir in dirs {
            let entries =
                fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
                let path = entry.path();
                let meta = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                if !meta.is_file() {
                    continue;
                }
                let content = match read_once.get(&(meta.dev(), meta.ino())) {
                    Some(content) => content.clone(),
                    None => {
                        let raw =
                            fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                        let content: Arc<[u8]> = normalize(&raw).into();
                        read_once.insert((meta.dev(), meta.ino()), content.clone());
                        content
                    }
                };
                let name = entry.file_name().to_string_lossy().into_owned();
                let base = name.split(':').next().unwrap_or_default().to_string();
                messages.push(Message::new(base, content));
            }
        }
        if messages.is_empty() {
            return Err(format!("no messages in the corpus {}", dir.display()));
        }
        messages.sort_by(|a, b| a.base.cmp(&b.base));
        Ok(Corpus::new(messages))
    }

    pub fn new(messages: Vec<Message>) -> Corpus {
        let mut by_base = HashMap::new();
        let mut by_size: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, message) in messages.iter().enumerate() {
            by_base.insert(message.base.clone(), i);
            by_size
                .entry(message.content.len() as u64)
                .or_default()
                .push(i);
        }
        Corpus {
            messages,
            by_base,
            by_size,
        }
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Every message's size, sorted: a fresh mailbox's LIST sizes sorted must equal it.
    pub fn sizes(&self) -> Vec<u64> {
        let mut sizes: Vec<u64> = self
            .messages
            .iter()
            .map(|m| m.content.len() as u64)
            .collect();
        sizes.sort_unstable();
        sizes
    }

    /// The corpus message whose UIDL is `uidl` (a base name), if any.
    pub fn by_uidl(&self, uidl: &str) -> Option<usize> {
        self.by_base.get(uidl).copied()
    }

    /// Which message `RETR` sent: the one named by `uidl` if any (it must then match), else
    /// one of that size with that content.
    pub fn identify(&self, uidl: &str, body: &[u8]) -> Result<usize, String> {
        self.find(uidl, body.len() as u64, |m| *m.content == *body)
            .ok_or_else(|| match self.by_uidl(uidl) {
                Some(i) => differs(uidl, body, &self.messages[i].content),
                None => format!(
                    "RETR of UIDL {uidl}: {} octets that match no corpus message",
                    body.len()
                ),
            })
    }

    /// Which message `TOP n lines` of a message of `size` octets sent.
    pub fn identify_top(
        &self,
        uidl: &str,
        size: u64,
        lines: u64,
        body: &[u8],
    ) -> Result<usize, String> {
        self.find(uidl, size, |m| top(&m.content, lines) == body)
            .ok_or_else(|| match self.by_uidl(uidl) {
                Some(i) => differs(uidl, body, top(&self.messages[i].content, lines)),
                None => format!("TOP of UIDL {uidl}: matches no corpus message"),
            })
    }

    /// Which message RETR sent, from the body as sent (one comparison: the fast check of a
    /// server that serves the corpus right). `None` proves nothing: [`Corpus::identify`] on
    /// the unstuffed body then checks the body's form and tells how it differs.
    pub fn identify_wire(&self, uidl: &str, size: u64, wire: &[u8]) -> Option<usize> {
        self.find(uidl, size, |message| {
            message.content.len() as u64 == size && message.wire == wire
        })
    }

    fn find(&self, uidl: &str, size: u64, matches: impl Fn(&Message) -> bool) -> Option<usize> {
        if let Some(i) = self.by_uidl(uidl) {
            return matches(&self.messages[i]).then_some(i);
        }
        self.by_size
            .get(&size)?
            .iter()
            .copied()
            .find(|&i| matches(&self.messages[i]))
    }
}

/// How `got` differs from the corpus's `want` for an error message.
pub fn differs(uidl: &str, got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "UIDL {uidl}: {} octets where the corpus file has {}, first difference at octet {at}",
        got.len(),
        want.len()
    )
}

/// What a message looks like on the wire once unstuffed: bare LFs become CRLF, and a last line
/// without LF gets one (with its CR unless it ends in CR).
pub fn normalize(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 2);
    let mut prev = None;
    for &byte in raw {
        if byte == b'\n' && prev != Some(b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
        prev = Some(byte);
    }
    match prev {
        None | Some(b'\n') => {}
        Some(b'\r') => out.push(b'\n'),
        Some(_) => out.extend_from_slice(b"\r\n"),
    }
    out
}

/// A normalised message dot-stuffed (RFC 1939 §3): a dot doubled where a line starts with one.
pub fn stuff(content: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(content.len() + 16);
    let mut line_start = true;
    for &byte in content {
        if line_start && byte == b'.' {
            wire.push(b'.');
        }
        wire.push(byte);
        line_start = byte == b'\n';
    }
    wire
}

/// `TOP n lines` of a normalised message: the header, the blank line, then the first `lines`
/// body lines (the whole message when it has no blank line or fewer body lines).
pub fn top(content: &[u8], lines: u64) -> &[u8] {
    let body_start = if content.starts_with(b"\r\n") {
        2
    } else {
        match memchr::memmem::find(content, b"\r\n\r\n") {
            Some(i) => i + 4,
            None => return content,
        }
    };
    let mut end = body_start;
    for _ in 0..lines {
        match memchr::memchr(b'\n', &content[end..]) {
            Some(i) => end += i + 1,
            None => return content,
        }
    }
    &content[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_makes_crlf_and_ends_the_last_line() {
        assert_eq!(normalize(b"a\nb\r\nc"), b"a\r\nb\r\nc\r\n");
        assert_eq!(normalize(b"a\r"), b"a\r\n");
        assert_eq!(normalize(b""), b"");
        assert_eq!(normalize(b"\n\n"), b"\r\n\r\n");
    }

    #[test]
    fn top_takes_header_blank_line_and_lines() {
        let m = b"H: 1\r\nI: 2\r\n\r\nb1\r\nb2\r\n";
        assert_eq!(top(m, 0), b"H: 1\r\nI: 2\r\n\r\n");
        assert_eq!(top(m, 1), b"H: 1\r\nI: 2\r\n\r\nb1\r\n");
        assert_eq!(top(m, 99_999_999), m);
        assert_eq!(top(b"\r\nbody\r\n", 0), b"\r\n");
        assert_eq!(top(b"H: 1\r\n", 0), b"H: 1\r\n");
    }

    #[test]
    fn messages_are_found_by_base_name_or_content() {
        let message = |base: &str, content: &[u8]| Message::new(base.into(), content.into());
        let corpus = Corpus::new(vec![message("1.a", b"x\r\n"), message("2.b", b".y\r\n")]);
        assert_eq!(corpus.identify_wire("2.b", 4, b"..y\r\n"), Some(1));
        assert_eq!(corpus.identify_wire("00000002abcd", 4, b"..y\r\n"), Some(1));
        assert_eq!(corpus.identify_wire("2.b", 4, b".y\r\n"), None);
        assert_eq!(corpus.identify_wire("2.b", 5, b"..y\r\n"), None);
        assert_eq!(corpus.identify("2.b", b".y\r\n"), Ok(1));
        assert!(corpus.identify("2.b", b"x\r\n").is_err());
        assert_eq!(corpus.identify("00000001abcd", b"x\r\n"), Ok(0));
        assert!(corpus.identify("00000001abcd", b"z\r\n").is_err());
        assert_eq!(corpus.identify_top("1.a", 3, 0, b"x\r\n"), Ok(0));
        assert_eq!(corpus.sizes(), [3, 4]);
    }
}
