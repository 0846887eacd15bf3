//! The maildrop as the upstream lists it at login: ids from UIDL, sizes from LIST (RFC 1939
//! §5, §7). In a fresh upstream session the messages are numbered 1..N, so the host's index
//! `i` is upstream message `i + 1` for the whole session.

use crate::body::Body;
use crate::error::Failure;
use crate::ids::{self, Duplicates};
use crate::upstream::Upstream;
use pop3_client_codec::listing::parse_listed;
use sha2::{Digest, Sha256};

/// The most messages the proxy serves of one maildrop (as STAT counts them).
const MAX_MESSAGES: usize = 1_000_000;
/// The octets a LIST or UIDL answer may have: a little for any maildrop, and this much per
/// message STAT counts (a UIDL line of a 70-character id takes 80).
const BUDGET_BASE: usize = 4096;
const BUDGET_PER_MESSAGE: usize = 256;

/// One upstream message.
#[derive(Debug, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    /// Octets as the upstream sends them (CRLF line ends, before stuffing).
    pub size: u64,
}

pub struct Listing {
    pub messages: Vec<Listed>,
    /// False when the upstream had no UIDL and the ids were derived by the proxy.
    pub upstream_ids: bool,
    /// Ids the upstream listed more than once (renamed, see `ids`).
    pub duplicates: Option<Duplicates>,
}

/// Asks STAT, then LIST and UIDL (together, when the upstream pipelines). STAT's count
/// bounds the other two answers in octets, so an upstream cannot make the proxy hold more
/// than its maildrop takes.
pub fn fetch(upstream: &mut Upstream) -> Result<Listing, Failure> {
    let count = parse_stat(&upstream.command("STAT")?)?;
    let budget = BUDGET_BASE + BUDGET_PER_MESSAGE * count;
    let what = |command: &str| format!("{command} ({count} messages by STAT)");
    let mut sizes = None;
    let answers = upstream.pipeline(&["LIST", "UIDL"], |upstream, command| {
        upstream.status()?;
        if *command == "LIST" {
            let mut list = Vec::new();
            upstream.lines(&what("LIST"), budget, |line| {
                list.push(parse_list_line(list.len(), line)?);
                Ok(())
            })?;
            sizes = Some(list);
            return Ok(None);
        }
        match &sizes {
            Some(sizes) => {
                let mut ids = vec![None; sizes.len()];
                upstream.lines(&what("UIDL"), budget, |line| add_uidl_line(&mut ids, line))?;
                Ok(Some(ids))
            }
            // LIST was refused: the answer is read only to stay in step.
            None => upstream.lines("UIDL", budget, |_| Ok(())).map(|()| None),
        }
    })?;
    let [list, uidl] = <[_; 2]>::try_from(answers).expect("two commands, two answers");
    list.map_err(Failure::Refused)?;
    let sizes = sizes.expect("LIST answered");
    let (mut ids, upstream_ids) = match uidl {
        Ok(Some(ids)) => (complete(ids)?, true),
        _ => (derive_ids(upstream, &sizes)?, false),
    };
    let duplicates = ids::make_unique(&mut ids);
    let messages = ids
        .into_iter()
        .zip(sizes)
        .map(|(id, size)| Listed { id, size })
        .collect();
    Ok(Listing {
        messages,
        upstream_ids,
        duplicates,
    })
}

/// The message count of a STAT answer (`count octets`), at most [`MAX_MESSAGES`].
fn parse_stat(status: &str) -> Result<usize, Failure> {
    let count = status.split_ascii_whitespace().next();
    match count.and_then(|n| n.parse::<usize>().ok()) {
        Some(count) if count <= MAX_MESSAGES => Ok(count),
        Some(count) => Err(Failure::Garbage(format!(
            "STAT counts {count} messages; the proxy serves at most {MAX_MESSAGES}"
        ))),
        None => Err(Failure::garbage("a STAT answer", status.as_bytes())),
    }
}

/// The size in line `i` (0-based) of a LIST answer, which must number the messages 1..N in
/// order. Extra whitespace and words after the size are tolerated.
fn parse_list_line(i: usize, line: &[u8]) -> Result<u64, Failure> {
    let listed = parse_listed(line).filter(|listed| listed.number == i + 1);
    listed
        .and_then(|listed| listed.size())
        .ok_or_else(|| Failure::garbage(&format!("LIST line {}", i + 1), line))
}

/// Puts the id of a UIDL line into its message's slot (from the raw bytes, see `ids`);
/// each listed message once.
fn add_uidl_line(ids: &mut [Option<String>], line: &[u8]) -> Result<(), Failure> {
    let listed = parse_listed(line);
    let slot =
        listed.and_then(|listed| Some((ids.get_mut(listed.number.checked_sub(1)?)?, listed.value)));
    match slot {
        Some((slot @ None, id)) => {
            *slot = Some(ids::from_raw(id));
            Ok(())
        }
        _ => Err(Failure::garbage("a UIDL line for a listed message", line)),
    }
}

/// The ids of a UIDL answer, by message number, once every listed message has one.
fn complete(ids: Vec<Option<String>>) -> Result<Vec<String>, Failure> {
    ids.into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| Failure::Garbage("UIDL left out listed messages".into()))
}

/// Ids for an upstream without UIDL: a hash of the size and header (TOP n 0), which stay
/// the same across sessions unless the message changes; `n<N>` (the message number, which
/// changes when earlier messages are deleted) where TOP is refused too.
fn derive_ids(upstream: &mut Upstream, sizes: &[u64]) -> Result<Vec<String>, Failure> {
    let mut ids = Vec::with_capacity(sizes.len());
    for (i, &size) in sizes.iter().enumerate() {
        let number = i + 1;
        let id = match upstream.command(&format!("TOP {number} 0")) {
            Ok(_) => {
                let mut hash = Sha256::new_with_prefix(size.to_be_bytes());
                upstream.finish_body(&mut Body::of_listed(size), |bytes| hash.update(bytes))?;
                let hex: String = hash.finalize()[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("h{hex}")
            }
            Err(Failure::Refused(_)) => format!("n{number}"),
            Err(failure) => return Err(failure),
        };
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(lines: &[&str]) -> Result<Vec<u64>, Failure> {
        let mut sizes = Vec::new();
        for line in lines {
            sizes.push(parse_list_line(sizes.len(), line.as_bytes())?);
        }
        Ok(sizes)
    }

    fn uidl(lines: &[&[u8]], count: usize) -> Result<Vec<String>, Failure> {
        let mut ids = vec![None; count];
        for line in lines {
            add_uidl_line(&mut ids, line)?;
        }
        complete(ids)
    }

    #[test]
    fn stat_gives_the_count_up_to_the_cap() {
        assert_eq!(parse_stat("2 320").unwrap(), 2);
        assert_eq!(parse_stat("0 0").unwrap(), 0);
        assert!(parse_stat("1000001 5").is_err());
        assert!(parse_stat("many").is_err());
        assert!(parse_stat("").is_err());
    }

    #[test]
    fn list_gives_sizes_in_order() {
        assert_eq!(
            list(&["1 120", "2 4194304", "3 7 extra"]).unwrap(),
            [120, 4_194_304, 7]
        );
        assert_eq!(list(&[]).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn list_out_of_order_or_malformed_is_garbage() {
        for bad in [
            &["2 100"][..],
            &["1 100", "3 100"],
            &["1"],
            &["1 -5"],
            &["one 5"],
            &["1 5", "1 5"],
        ] {
            assert!(matches!(list(bad), Err(Failure::Garbage(_))), "{bad:?}");
        }
    }

    #[test]
    fn uidl_in_any_order_must_cover_every_message_once() {
        let ids = uidl(&[b"2 b-2", b"1 a-1", b"3 c-3"], 3).unwrap();
        assert_eq!(ids, ["a-1", "b-2", "c-3"]);
        for bad in [
            &[&b"1 a"[..], b"2 b"][..],
            &[b"1 a", b"1 b", b"2 c"],
            &[b"0 a", b"1 b"],
            &[b"1 a", b"2 b", b"3 c", b"4 d"],
            &[b"1", b"2 b", b"3 c"],
        ] {
            assert!(uidl(bad, 3).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uidl_ids_keep_their_raw_bytes() {
        let ids = uidl(&[b"1 \xff\xfe", b"2 \xff\xfd"], 2).unwrap();
        assert_eq!(
            ids,
            [ids::from_raw(b"\xff\xfe"), ids::from_raw(b"\xff\xfd")]
        );
        assert_ne!(ids[0], ids[1]);
    }
}
