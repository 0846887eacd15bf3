//! The message table of one session (RFC 1939 §5): numbers fixed at login, deletion marks
//! that only UPDATE acts on, and running totals so STAT costs nothing.

use crate::protocol::command::MessageNumber;
use crate::protocol::uidl;

pub struct Message {
    /// The backend's id, given back to it in every call about this message.
    pub id: String,
    pub uidl: String,
    pub size: u64,
    pub deleted: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum MessageError {
    NoSuchMessage,
    Deleted,
}

impl MessageError {
    pub fn text(&self) -> &'static str {
        match self {
            Self::NoSuchMessage => "No such message.",
            Self::Deleted => "Message is deleted.",
        }
    }
}

pub struct MessageTable {
    messages: Vec<Message>,
    live_count: usize,
    live_octets: u64,
}

impl MessageTable {
    /// From the backend's list, in its order, with sizes resolved.
    pub fn new(list: impl IntoIterator<Item = (String, u64)>) -> Self {
        let messages: Vec<Message> = list
            .into_iter()
            .map(|(id, size)| Message {
                uidl: uidl::from_id(&id).into_owned(),
                id,
                size,
                deleted: false,
            })
            .collect();
        let mut table = Self {
            messages,
            live_count: 0,
            live_octets: 0,
        };
        table.unmark_all();
        table
    }

    /// (messages, octets) not marked deleted: the STAT answer.
    pub fn stat(&self) -> (usize, u64) {
        (self.live_count, self.live_octets)
    }

    /// The 0-based index and the message, if `n` names one that is not deleted.
    pub fn get(&self, n: MessageNumber) -> Result<(usize, &Message), MessageError> {
        let index = (n.0 as usize)
            .checked_sub(1)
            .ok_or(MessageError::NoSuchMessage)?;
        let msg = self
            .messages
            .get(index)
            .ok_or(MessageError::NoSuchMessage)?;
        if msg.deleted {
            return Err(MessageError::Deleted);
        }
        Ok((index, msg))
    }

    pub fn mark_deleted(&mut self, n: MessageNumber) -> Result<(), MessageError> {
        let (index, _) = self.get(n)?;
        let msg = &mut self.messages[index];
        msg.deleted = true;
        self.live_count -= 1;
        self.live_octets -= msg.size;
        Ok(())
    }

    /// The first message after the one at `index` not marked deleted, with its index.
    pub fn next_live(&self, index: usize) -> Option<(usize, &Message)> {
        self.live_from(index.saturating_add(1)).next()
    }

    /// RSET: clears every mark.
    pub fn unmark_all(&mut self) {
        for msg in &mut self.messages {
            msg.deleted = false;
        }
        self.live_count = self.messages.len();
        self.live_octets = self.messages.iter().map(|m| m.size).sum();
    }

    /// The messages not marked deleted from the one at `index` on, with their indexes.
    pub fn live_from(&self, index: usize) -> impl Iterator<Item = (usize, &Message)> {
        self.messages
            .get(index..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(move |(i, m)| (index + i, m))
    }

    /// How many messages are marked deleted.
    pub fn marked_count(&self) -> usize {
        self.messages.len() - self.live_count
    }

    /// The messages marked deleted, as (index, id), for UPDATE.
    pub fn marked(&self) -> Vec<(usize, String)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.deleted)
            .map(|(i, m)| (i, m.id.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MessageTable {
        MessageTable::new([
            ("a".to_string(), 10),
            ("b".to_string(), 20),
            ("c d".to_string(), 30),
        ])
    }

    #[test]
    fn the_next_live_message_skips_deleted_ones() {
        let mut drop = table();
        let next =
            |drop: &MessageTable, index| drop.next_live(index).map(|(i, m)| (i, m.id.clone()));
        assert_eq!(next(&drop, 0), Some((1, "b".to_string())));
        drop.mark_deleted(MessageNumber(2)).unwrap();
        assert_eq!(next(&drop, 0), Some((2, "c d".to_string())));
        assert_eq!(next(&drop, 2), None);
        assert_eq!(next(&drop, usize::MAX), None);
    }

    #[test]
    fn numbers_are_one_based_and_checked() {
        let drop = table();
        assert_eq!(
            drop.get(MessageNumber(0)).err(),
            Some(MessageError::NoSuchMessage)
        );
        assert_eq!(
            drop.get(MessageNumber(4)).err(),
            Some(MessageError::NoSuchMessage)
        );
        assert_eq!(
            drop.get(MessageNumber(u32::MAX)).err(),
            Some(MessageError::NoSuchMessage)
        );
        assert_eq!(
            drop.get(MessageNumber(2)).map(|(i, m)| (i, m.id.as_str())),
            Ok((1, "b"))
        );
    }

    #[test]
    fn marks_hide_messages_until_reset() {
        let mut drop = table();
        drop.mark_deleted(MessageNumber(2)).unwrap();
        assert_eq!(drop.stat(), (2, 40));
        assert_eq!(
            drop.get(MessageNumber(2)).err(),
            Some(MessageError::Deleted)
        );
        assert_eq!(
            drop.mark_deleted(MessageNumber(2)),
            Err(MessageError::Deleted)
        );
        let live = |from| drop.live_from(from).map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(live(0), vec![0, 2]);
        assert_eq!(live(1), vec![2]);
        assert!(live(usize::MAX).is_empty());
        assert_eq!(drop.marked(), vec![(1, "b".to_string())]);
        drop.unmark_all();
        assert_eq!(drop.stat(), (3, 60));
        assert!(drop.marked().is_empty());
    }

    #[test]
    fn invalid_ids_get_hashed_uidls() {
        let drop = table();
        let uidls: Vec<&str> = drop.live_from(0).map(|(_, m)| m.uidl.as_str()).collect();
        assert_eq!(&uidls[..2], ["a", "b"]);
        assert!(crate::protocol::uidl::is_valid(uidls[2]));
    }
}
