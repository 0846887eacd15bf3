//! One session's maildrop: the listing taken at login, RETR through chunked reads, UPDATE
//! in one transaction, and the maildrop lock released when the session ends.

use crate::body::BodyReader;
use crate::db::{self, Param, Pool};
use crate::lock::{self, Holder};
use pop3_plugin_api::{Mailbox, Maildrop, MessageInfo, MessageReader, MessageRef, PopError};

/// A message as listed at login.
pub struct Stored {
    pub id: i64,
    pub uidl: String,
    pub size: u64,
}

pub struct PgMailbox {
    pool: Pool,
    user: String,
    holder: Holder,
    messages: Vec<Stored>,
    /// UPDATE committed, releasing the lock with it.
    released: bool,
}

impl PgMailbox {
    pub fn new(pool: Pool, user: String, holder: Holder, messages: Vec<Stored>) -> Self {
        Self {
            pool,
            user,
            holder,
            messages,
            released: false,
        }
    }
}

impl Mailbox for PgMailbox {
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        Ok(self
            .messages
            .iter()
            .map(|message| MessageInfo::new(message.uidl.clone(), Some(message.size)))
            .collect())
    }

    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        let id = self.messages[msg.index].id;
        let mut conn = db::get(&self.pool)?;
        let length: Option<i32> = conn
            .query_opt(
                "SELECT octet_length(body) FROM messages WHERE id = $1 AND user_name = $2",
                &[&id as Param, &self.user],
            )
            .map_err(|err| db::temporary("opening a message", err))?
            .map(|row| row.get(0));
        let length = length.ok_or_else(|| PopError::plain("the message was deleted meanwhile"))?;
        Ok(Box::new(BodyReader::new(
            self.pool.clone(),
            id,
            length.max(0) as u64,
        )))
    }

    fn maildrop(&self) -> Option<Maildrop> {
        Some(Maildrop::Exclusive(self.user.clone()))
    }

    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        let ids: Vec<i64> = msgs.iter().map(|msg| self.messages[msg.index].id).collect();
        let mut conn = db::get(&self.pool)?;
        let mut tx = conn
            .transaction()
            .map_err(|err| db::temporary("starting UPDATE", err))?;
        if !lock::still_held(&mut tx, &self.user, &self.holder)? {
            pop3_plugin_api::warn!(
                "postgres: {} lost its maildrop lock (lease expired), nothing deleted",
                self.user
            );
            return Err(PopError::temporary(
                "the maildrop lock was lost, nothing deleted",
            ));
        }
        tx.execute(
            "DELETE FROM messages WHERE user_name = $1 AND id = ANY($2)",
            &[&self.user as Param, &ids],
        )
        .map_err(|err| db::temporary("deleting messages (rolled back)", err))?;
        lock::delete_row(&mut tx, &self.user, &self.holder)
            .map_err(|err| db::temporary("releasing the maildrop lock (rolled back)", err))?;
        tx.commit()
            .map_err(|err| db::temporary("committing UPDATE (rolled back)", err))?;
        self.released = true;
        Ok(())
    }
}

impl Drop for PgMailbox {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        lock::release(&self.pool, &self.user, &self.holder);
    }
}
