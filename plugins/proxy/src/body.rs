//! A message body from the upstream (RETR, TOP, or TOP for a derived id), bounded by the
//! size the upstream listed for it. An upstream that sends more (an endless body) would
//! otherwise keep a thread reading, and a core busy, for as long as it likes: past the bound
//! the body is an error and the connection is closed, never read on to resync.

use crate::error::Failure;
use pop3_client_codec::multiline::Unstuffer;

/// Octets a body may bring beyond twice its listed size. Twice, because an upstream that
/// counts LF line ends sends up to two octets (CRLF) for each it counted.
const SLACK: u64 = 64 * 1024;

pub struct Body {
    unstuffer: Unstuffer,
    /// The most octets the body may have, and how many of them are still allowed.
    limit: u64,
    left: u64,
}

impl Body {
    /// The body of a message listed with `size` octets.
    pub fn of_listed(size: u64) -> Self {
        let limit = size.saturating_mul(2).saturating_add(SLACK);
        Self {
            unstuffer: Unstuffer::default(),
            limit,
            left: limit,
        }
    }

    pub fn is_done(&self) -> bool {
        self.unstuffer.is_done()
    }

    /// [`Unstuffer::feed`], failing when the body runs past its limit. `out` must not be
    /// empty.
    pub fn feed(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Failure> {
        let room = usize::try_from(self.left).map_or(out.len(), |left| left.min(out.len()));
        if room > 0 {
            let (taken, made) = self.unstuffer.feed(input, &mut out[..room]);
            self.left -= made as u64;
            return Ok((taken, made));
        }
        // At the limit only the terminator (or a stuffing dot) may come.
        let (taken, made) = self.unstuffer.feed(input, &mut [0]);
        if made > 0 {
            return Err(Failure::Garbage(format!(
                "a message body of at most {} octets (twice the listed size and 64 KiB): \
                 it runs on",
                self.limit
            )));
        }
        Ok((taken, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_may_fill_its_limit_but_not_pass_it() {
        let limit = 2 * 10 + SLACK as usize;
        let fits = [&b"x".repeat(limit - 2)[..], b"\r\n.\r\n"].concat();
        let mut body = Body::of_listed(10);
        let mut out = vec![0; limit + 10];
        let (taken, made) = body.feed(&fits, &mut out).unwrap();
        assert_eq!(made, limit);
        assert_eq!(body.feed(&fits[taken..], &mut out).unwrap(), (3, 0));
        assert!(body.is_done());

        let runs_on = [&b"x".repeat(limit - 2)[..], b"\r\nx\r\n.\r\n"].concat();
        let mut body = Body::of_listed(10);
        let (taken, _) = body.feed(&runs_on, &mut out).unwrap();
        assert!(body.feed(&runs_on[taken..], &mut out).is_err());
    }

    #[test]
    fn a_huge_listed_size_does_not_overflow() {
        let mut body = Body::of_listed(u64::MAX);
        assert_eq!(body.feed(b"ab\r\n.\r\n", &mut [0; 16]).unwrap(), (7, 4));
    }
}
