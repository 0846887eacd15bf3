//! The body rules spelled out the slow, obvious way: split into lines, fix each, join. The
//! incremental [`super::body`] code is checked against it in unit tests, property tests and
//! the fuzzer (feature `fuzzing`).

/// The wire form of `message` (dot-stuffed when `stuff`, terminator included): every line
/// ending CRLF, an unterminated last line ended, TOP cut after `top` body lines.
pub fn encode(message: &[u8], top: Option<u32>, stuff: bool) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    for &b in message {
        if b == b'\n' {
            if current.last() == Some(&b'\r') {
                current.pop();
            }
            lines.push(std::mem::take(&mut current));
        } else {
            current.push(b);
        }
    }
    if !current.is_empty() {
        if current.last() == Some(&b'\r') {
            current.pop();
        }
        lines.push(current);
    }
    if let Some(n) = top {
        if let Some(blank) = lines.iter().position(|l| l.is_empty()) {
            lines.truncate((blank + 1 + n as usize).min(lines.len()));
        }
    }
    let mut out = Vec::new();
    for line in lines {
        if stuff && line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend(line);
        out.extend(b"\r\n");
    }
    out.extend(b".\r\n");
    out
}
