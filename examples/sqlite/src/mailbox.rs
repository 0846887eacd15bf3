//! One session's maildrop: the session's own connection, the user, and the lock.

use crate::db;
use crate::UserLock;
use pop3_plugin_api::{Mailbox, MessageInfo, MessageReader, MessageRef, PopError};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub struct SqliteMailbox {
    /// The session's connection. The message readers of the session share it, hence the
    /// `Arc<Mutex<_>>`; the host calls one session's objects one at a time, so the mutex is
    /// never contended. (A `Connection` is `Send`, so it may move between the host's threads,
    /// but not `Sync`, so it cannot be shared without the mutex.)
    db: Arc<Mutex<Connection>>,
    user_id: i64,
    /// Dropped with the mailbox: the next session of this user may log in.
    _lock: UserLock,
}

fn lock(db: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    db.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteMailbox {
    pub(crate) fn new(db: Connection, user_id: i64, lock: UserLock) -> Self {
        Self {
            db: Arc::new(Mutex::new(db)),
            user_id,
            _lock: lock,
        }
    }

    /// The row id of `msg`, if it is still this user's message.
    fn row(&self, msg: MessageRef<'_>) -> Result<i64, PopError> {
        let gone = || PopError::plain(format!("message {} is gone", msg.id));
        let id: i64 = msg.id.parse().map_err(|_| gone())?;
        lock(&self.db)
            .query_row(
                "SELECT id FROM messages WHERE id = ?1 AND user_id = ?2",
                params![id, self.user_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| db::error("finding a message", e))?
            .ok_or_else(gone)
    }
}

impl Mailbox for SqliteMailbox {
    /// One query: the ids (the UIDLs) and the sizes stored by load.py, oldest first.
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        let db = lock(&self.db);
        let mut stmt = db
            .prepare_cached("SELECT id, size FROM messages WHERE user_id = ?1 ORDER BY id")
            .map_err(|e| db::error("listing", e))?;
        let rows = stmt
            .query_map([self.user_id], |row| {
                let (id, size): (i64, i64) = (row.get(0)?, row.get(1)?);
                Ok(MessageInfo::new(id.to_string(), u64::try_from(size).ok()))
            })
            .map_err(|e| db::error("listing", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| db::error("listing", e))
    }

    /// A reader that fetches the body in chunks through SQLite's incremental BLOB I/O, so a
    /// large message never sits in memory whole.
    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let row = self.row(msg)?;
        Ok(Box::new(BlobReader {
            db: Arc::clone(&self.db),
            row,
            offset: 0,
        }))
    }

    /// The UPDATE state: every message marked in the session goes, in one transaction.
    /// A message already gone (another tool removed it) is not an error: it is deleted.
    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let mut db = lock(&self.db);
        let fail = |e| db::error("deleting", e);
        // IMMEDIATE takes the write lock now, so the transaction cannot fail half-way
        // because another writer got there first.
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        {
            let mut stmt = tx
                .prepare("DELETE FROM messages WHERE id = ?1 AND user_id = ?2")
                .map_err(fail)?;
            for msg in msgs {
                if let Ok(id) = msg.id.parse::<i64>() {
                    stmt.execute(params![id, self.user_id]).map_err(fail)?;
                }
            }
        }
        tx.commit().map_err(fail)
    }
}

/// Reads one message body at a time through the session's connection.
struct BlobReader {
    db: Arc<Mutex<Connection>>,
    row: i64,
    offset: usize,
}

impl io::Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let db = lock(&self.db);
        let read = db
            .blob_open("main", "messages", "body", self.row, true)
            .and_then(|blob| blob.read_at(buf, self.offset));
        // A `PopError` inside the `io::Error` reaches the client with its code.
        let n = read.map_err(|e| io::Error::other(db::error("reading a message", e)))?;
        self.offset += n;
        Ok(n)
    }
}
