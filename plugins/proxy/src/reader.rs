//! The reader the host streams a message from: the upstream's RETR or TOP body, un-stuffed,
//! read straight off the connection as the host asks for it, so that no message is held in
//! memory whatever its size.

use crate::link::{lock, SharedLink};
use std::io::{self, Read};

pub struct BodyReader {
    link: SharedLink,
    ticket: u64,
    done: bool,
}

impl BodyReader {
    /// The reader of the body that [`Link::begin_body`](crate::link::Link::begin_body)
    /// gave `ticket` for.
    pub fn new(link: SharedLink, ticket: u64) -> Self {
        Self {
            link,
            ticket,
            done: false,
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let (n, done) = lock(&self.link).read_body(self.ticket, out)?;
        self.done = done;
        Ok(n)
    }
}
