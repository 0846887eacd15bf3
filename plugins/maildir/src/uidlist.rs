//! Dovecot's `dovecot-uidlist`, read (never written) to serve the UIDLs Dovecot serves.
//!
//! The format, from Dovecot's maildir-uidlist.c (2.3):
//! - version 3 (Dovecot 1.1 and later): header `3 V<uidvalidity> N<nextuid> G<guid> ...`
//!   (single-letter keys, any order, unknown keys ignored); records
//!   `<uid> [<key><value> ...] :<filename>` with keys `W` (virtual size), `S` (physical size),
//!   `P` (POP3 UIDL), `O` (POP3 order), `G` (GUID), ...
//! - version 1 (Dovecot 1.0, Courier's courierimapuiddb): header `1 <uidvalidity> <nextuid>`;
//!   records `<uid> <filename>`.
//!
//! Dovecot writes only the base name, but older versions wrote the whole name with `:2,`
//! flags; records are matched by base name either way. When a base name appears twice the
//! later record wins, as in Dovecot. A record line that cannot be read is skipped (Dovecot
//! would rebuild the whole file, assigning new UIDs, which is worse for POP3 clients); a bad
//! header makes the file unusable.

use crate::control_file::{self, Contents};
use crate::filename;
use crate::fs_at::Dir;
use std::collections::HashMap;

pub const FILE_NAME: &str = "dovecot-uidlist";

/// What one record says about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub uid: u32,
    /// `W`: the size with CRLF line ends.
    pub vsize: Option<u64>,
    /// `P`: a POP3 UIDL kept from a migration; empty means "the base name".
    pub pop3_uidl: Option<String>,
    /// `O`: POP3 message order kept from a migration; listed first, lowest first.
    pub pop3_order: Option<u32>,
}

#[derive(Debug)]
pub struct Uidlist {
    pub uid_validity: u32,
    records: HashMap<String, Record>,
    /// Record lines that could not be read.
    pub skipped: usize,
}

impl Uidlist {
    /// Reads the maildir's `dovecot-uidlist` if it is a regular file of at most `limit`
    /// bytes (see [`control_file`]); `Ok(None)` when there is none.
    pub fn load(maildir: &Dir, limit: u64) -> Result<Option<Self>, String> {
        match control_file::read(maildir, FILE_NAME, limit) {
            Ok(Contents::Read(bytes)) => Self::parse(&String::from_utf8_lossy(&bytes)).map(Some),
            Ok(Contents::Missing) => Ok(None),
            Err(err) => Err(err.to_string()),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let header = lines.next().ok_or("empty file")?;
        let (version, uid_validity) = parse_header(header)?;
        let mut records = HashMap::new();
        let mut skipped = 0;
        for line in lines.filter(|l| !l.is_empty()) {
            match parse_record(line, version) {
                Some((base, record)) => {
                    records.insert(base.to_string(), record);
                }
                None => skipped += 1,
            }
        }
        Ok(Self {
            uid_validity,
            records,
            skipped,
        })
    }

    /// The record of the message with this base name.
    pub fn get(&self, base: &str) -> Option<&Record> {
        self.records.get(base)
    }
}

/// The version and the UIDVALIDITY.
fn parse_header(header: &str) -> Result<(u8, u32), String> {
    let (version, rest) = header.split_once(' ').ok_or("header has no version")?;
    let uid_validity = match version {
        "1" => rest.split(' ').next().and_then(|v| v.parse().ok()),
        "3" => rest
            .split(' ')
            .find_map(|field| field.strip_prefix('V')?.parse().ok()),
        _ => return Err(format!("unsupported version {version:?}")),
    };
    match uid_validity {
        Some(v) if v != 0 => Ok((if version == "1" { 1 } else { 3 }, v)),
        _ => Err("header has no valid UIDVALIDITY".to_string()),
    }
}

fn parse_record(line: &str, version: u8) -> Option<(&str, Record)> {
    let (uid, rest) = line.split_once(' ')?;
    let uid: u32 = uid.parse().ok().filter(|&uid| uid != 0)?;
    let mut record = Record {
        uid,
        vsize: None,
        pop3_uidl: None,
        pop3_order: None,
    };
    let name = if version == 1 {
        rest.trim_start_matches(' ')
    } else {
        let (fields, name) = rest.split_once(':')?;
        for field in fields.split(' ').filter(|f| !f.is_empty()) {
            let (key, value) = field.split_at(field.chars().next()?.len_utf8());
            match key {
                "W" => record.vsize = Some(value.parse().ok()?),
                "P" => record.pop3_uidl = Some(value.to_string()),
                "O" => record.pop3_order = Some(value.parse().ok()?),
                _ => {}
            }
        }
        name
    };
    let base = filename::base(name);
    (!base.is_empty() && !base.contains('/')).then_some((base, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_3_records_with_extension_fields() {
        let list = Uidlist::parse(
            "3 V1795722265 N5 G0123456789abcdef0123456789abcdef\n\
             1 :1700000000.M1P1.host\n\
             2 W1234 S1200 G0123 :1700000001.M1P2.host\n\
             3 P :1700000002.M1P3.host:2,S\n\
             4 PUID-77 O1 :1700000003.M1P4.host\n",
        )
        .unwrap();
        assert_eq!(list.uid_validity, 1_795_722_265);
        assert_eq!(list.skipped, 0);
        assert_eq!(list.get("1700000000.M1P1.host").unwrap().uid, 1);
        let two = list.get("1700000001.M1P2.host").unwrap();
        assert_eq!((two.uid, two.vsize), (2, Some(1234)));
        assert_eq!(
            list.get("1700000002.M1P3.host")
                .unwrap()
                .pop3_uidl
                .as_deref(),
            Some("")
        );
        let four = list.get("1700000003.M1P4.host").unwrap();
        assert_eq!(
            (four.pop3_uidl.as_deref(), four.pop3_order),
            (Some("UID-77"), Some(1))
        );
    }

    #[test]
    fn version_1_and_odd_lines() {
        let list = Uidlist::parse(
            "1 1234 10\n7 1700000000.M1.host:2,S\nbogus line\n0 :x\n8 1700000001.M2.host\n",
        )
        .unwrap();
        assert_eq!(list.uid_validity, 1234);
        assert_eq!(list.get("1700000000.M1.host").unwrap().uid, 7);
        assert_eq!(list.get("1700000001.M2.host").unwrap().uid, 8);
        assert_eq!(list.skipped, 2);
    }

    #[test]
    fn later_records_win() {
        let list = Uidlist::parse("3 V1 N3\n1 :a.b.c\n2 :a.b.c\n").unwrap();
        assert_eq!(list.get("a.b.c").unwrap().uid, 2);
    }

    #[test]
    fn bad_headers_are_errors() {
        for text in [
            "",
            "2 V1 N1\n",
            "3 N5\n",
            "3 V0 N5\n",
            "1 x 5\n",
            "garbage\n",
        ] {
            assert!(Uidlist::parse(text).is_err(), "{text:?}");
        }
    }
}
