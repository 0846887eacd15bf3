//! The soak's command mix: which command a step sends, weighted, and what its reply must
//! be given what the session knows of the maildrop.

use super::client::{Client, Msg};

/// What the reply to one command line must be.
pub(super) enum Check {
    Stat(u64, u64),
    ListAll(Vec<(u32, u64)>),
    ListOne(u32, u64),
    UidlAll(Vec<(u32, String)>),
    UidlOne(u32, String),
    Retr(usize),
    Top(usize, u64),
    Dele(usize),
    Rset,
    Ok,
    OkMultiLine,
    Err,
    /// `-ERR` or the server closes the connection.
    Overlong,
}

#[derive(Clone, Copy)]
pub(super) enum Op {
    Stat,
    ListAll,
    ListOne,
    UidlAll,
    UidlOne,
    Retr,
    Top,
    Dele,
    Rset,
    Noop,
    Capa,
    Garbage,
    Overlong,
    BadNumber,
    WrongState,
    Pipeline,
    DropInRetr,
    DropAfterDele,
}

pub(super) const OPS: &[(Op, u32)] = &[
    (Op::Stat, 10),
    (Op::ListAll, 6),
    (Op::ListOne, 8),
    (Op::UidlAll, 4),
    (Op::UidlOne, 8),
    (Op::Retr, 12),
    (Op::Top, 8),
    (Op::Dele, 6),
    (Op::Rset, 3),
    (Op::Noop, 5),
    (Op::Capa, 2),
    (Op::Garbage, 4),
    (Op::Overlong, 1),
    (Op::BadNumber, 8),
    (Op::WrongState, 3),
    (Op::Pipeline, 4),
    (Op::DropInRetr, 1),
    (Op::DropAfterDele, 1),
];

impl Client {
    /// A random message that is not marked deleted.
    pub(super) fn unmarked(&mut self, msgs: &[Msg]) -> Option<usize> {
        let live: Vec<usize> = (0..msgs.len()).filter(|&i| !msgs[i].marked).collect();
        (!live.is_empty()).then(|| live[self.rng.usize(0..live.len())])
    }

    /// A message to address: mostly a live one, sometimes one marked deleted (must be -ERR).
    pub(super) fn target_message(&mut self, msgs: &[Msg]) -> Option<usize> {
        let marked: Vec<usize> = (0..msgs.len()).filter(|&i| msgs[i].marked).collect();
        if !marked.is_empty() && self.chance(15) {
            return Some(marked[self.rng.usize(0..marked.len())]);
        }
        self.unmarked(msgs)
    }

    /// The command line for `op` and what its reply must be.
    pub(super) fn plan(&mut self, op: Op, msgs: &[Msg]) -> (String, Check) {
        let live = || msgs.iter().enumerate().filter(|(_, m)| !m.marked);
        let target = self.target_message(msgs);
        let dead = |i: usize| msgs[i].marked;
        match (op, target) {
            (Op::Stat, _) => (
                self.keyword("STAT"),
                Check::Stat(live().count() as u64, live().map(|(_, m)| m.size).sum()),
            ),
            (Op::ListAll, _) => (
                self.keyword("LIST"),
                Check::ListAll(live().map(|(i, m)| (i as u32 + 1, m.size)).collect()),
            ),
            (Op::UidlAll, _) => (
                self.keyword("UIDL"),
                Check::UidlAll(
                    live()
                        .map(|(i, m)| (i as u32 + 1, m.uidl.clone()))
                        .collect(),
                ),
            ),
            (Op::ListOne, Some(i)) => (
                format!("{} {}", self.keyword("LIST"), i + 1),
                if dead(i) {
                    Check::Err
                } else {
                    Check::ListOne(i as u32 + 1, msgs[i].size)
                },
            ),
            (Op::UidlOne, Some(i)) => (
                format!("{} {}", self.keyword("UIDL"), i + 1),
                if dead(i) {
                    Check::Err
                } else {
                    Check::UidlOne(i as u32 + 1, msgs[i].uidl.clone())
                },
            ),
            (Op::Retr, Some(i)) => (
                format!("{} {}", self.keyword("RETR"), i + 1),
                if dead(i) { Check::Err } else { Check::Retr(i) },
            ),
            (Op::Top, Some(i)) => {
                let lines = [0, 1, 3, 10, 99_999_999][self.rng.usize(0..5)];
                (
                    format!("{} {} {lines}", self.keyword("TOP"), i + 1),
                    if dead(i) {
                        Check::Err
                    } else {
                        Check::Top(i, lines)
                    },
                )
            }
            (Op::Dele, Some(i)) => {
                let floor = self.mailbox.initial / 2;
                let line = format!("{} {}", self.keyword("DELE"), i + 1);
                if dead(i) {
                    (line, Check::Err)
                } else if live().count() > floor.max(1) {
                    (line, Check::Dele(i))
                } else {
                    (self.keyword("NOOP"), Check::Ok)
                }
            }
            (Op::Rset, _) => (self.keyword("RSET"), Check::Rset),
            (Op::Capa, _) => (self.keyword("CAPA"), Check::OkMultiLine),
            (Op::Garbage, _) => (self.garbage(), Check::Err),
            (Op::Overlong, _) => {
                let length = self.rng.usize(300..=9000);
                (format!("ZLONG {}", "x".repeat(length)), Check::Overlong)
            }
            (Op::BadNumber, _) => (self.bad_number(msgs.len()), Check::Err),
            (Op::WrongState, _) => {
                let line = [
                    "USER someone",
                    "PASS secret",
                    "APOP someone 0123",
                    "AUTH PLAIN",
                ][self.rng.usize(0..4)];
                (line.to_string(), Check::Err)
            }
            _ => (self.keyword("NOOP"), Check::Ok),
        }
    }

    /// A line that is no command: an unknown keyword, sometimes with 8-bit or control octets.
    pub(super) fn garbage(&mut self) -> String {
        let word: String = (0..self.rng.usize(2..8))
            .map(|_| self.rng.alphabetic().to_ascii_uppercase())
            .collect();
        match self.rng.u8(0..4) {
            0 => format!("Z{word} {}", self.rng.u32(..)),
            1 => format!("Z{word}\u{e9}\u{1}\t x"),
            2 => format!("{word}Z"),
            _ => format!("Z{word}"),
        }
    }

    /// A message-number command with a number that is wrong or missing.
    pub(super) fn bad_number(&mut self, count: usize) -> String {
        let bad = [
            "0".to_string(),
            (count + 1).to_string(),
            "4294967296".into(),
            "99999999999999999999999".into(),
            "abc".into(),
            "-1".into(),
            "1x".into(),
        ];
        let number = bad[self.rng.usize(0..bad.len())].clone();
        match self.rng.u8(0..8) {
            0 => format!("LIST {number}"),
            1 => format!("UIDL {number}"),
            2 => format!("DELE {number}"),
            3 => format!("TOP {number} 1"),
            4 => ["RETR", "DELE", "TOP 1", "TOP", "TOP 1 x", "TOP 1 -1"][self.rng.usize(0..6)]
                .to_string(),
            _ => format!("RETR {number}"),
        }
    }
}
