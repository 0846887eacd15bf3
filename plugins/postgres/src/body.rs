//! RETR without loading a message whole: the body is read in chunks with `substring`, each
//! chunk one query on a pooled connection (the column is stored uncompressed, see
//! schema.sql, so PostgreSQL fetches only the TOAST chunks a read covers).

use crate::db::{self, Param, Pool};
use std::io::{self, Read};

/// Bytes fetched per query: large enough that the per-query cost is small against the
/// transfer, small enough to bound memory per session.
const CHUNK: usize = 256 * 1024;

pub struct BodyReader {
    pool: Pool,
    id: i64,
    length: u64,
    /// Octets of the body already fetched (and handed out or buffered).
    fetched: u64,
    buffer: Vec<u8>,
    position: usize,
}

impl BodyReader {
    pub fn new(pool: Pool, id: i64, length: u64) -> Self {
        Self {
            pool,
            id,
            length,
            fetched: 0,
            buffer: Vec::new(),
            position: 0,
        }
    }

    fn fetch(&mut self) -> io::Result<()> {
        let want = (self.length - self.fetched).min(CHUNK as u64) as i32;
        // substring counts from 1.
        let from = i32::try_from(self.fetched + 1).map_err(io::Error::other)?;
        let mut conn = db::get(&self.pool).map_err(io::Error::other)?;
        let row = conn
            .query_opt(
                "SELECT substring(body FROM $2 FOR $3) FROM messages WHERE id = $1",
                &[&self.id as Param, &from, &want],
            )
            .map_err(|err| io::Error::other(db::temporary("reading a message", err)))?
            .ok_or_else(|| io::Error::other("the message was deleted during RETR"))?;
        self.buffer = row.get(0);
        if self.buffer.is_empty() {
            return Err(io::Error::other("the message shrank during RETR"));
        }
        self.fetched += self.buffer.len() as u64;
        self.position = 0;
        Ok(())
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.position == self.buffer.len() {
            if self.fetched >= self.length || out.is_empty() {
                return Ok(0);
            }
            self.fetch()?;
        }
        let n = out.len().min(self.buffer.len() - self.position);
        out[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}
