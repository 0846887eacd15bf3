//! The maildrop as the upstream lists it at login: ids from UIDL, sizes from LIST (RFC 1939
//! §5, §7). In a fresh upstream session the messages are numbered 1..N, so the host's index
//! `i` is upstream message `i + 1` for the whole session.

use crate::error::Failure;
use crate::unstuff::Unstuffer;
use crate::upstream::Upstream;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

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
}

/// Asks UIDL and LIST (together, when the upstream pipelines).
pub fn fetch(upstream: &mut Upstream) -> Result<Listing, Failure> {
    let answers = upstream.pipeline(&["UIDL", "LIST"], |upstream| {
        upstream.status()?;
        upstream.lines()
    })?;
    let [uidl, list] = <[_; 2]>::try_from(answers).expect("two commands, two answers");
    let sizes = parse_list(&list.map_err(Failure::Refused)?)?;
    let (ids, upstream_ids) = match uidl {
        Ok(lines) => (parse_uidl(&lines, sizes.len())?, true),
        Err(_) => (derive_ids(upstream, &sizes)?, false),
    };
    let messages = ids
        .into_iter()
        .zip(sizes)
        .map(|(id, size)| Listed { id, size })
        .collect();
    Ok(Listing {
        messages,
        upstream_ids,
    })
}

/// The sizes of a LIST answer, which must number the messages 1..N in order.
pub fn parse_list(lines: &[String]) -> Result<Vec<u64>, Failure> {
    let entry = |(i, line): (usize, &String)| {
        let mut words = line.split_ascii_whitespace();
        let number = words.next().and_then(|n| n.parse::<usize>().ok());
        let size = words.next().and_then(|n| n.parse::<u64>().ok());
        match (number, size) {
            (Some(number), Some(size)) if number == i + 1 => Ok(size),
            _ => Err(Failure::garbage(
                &format!("LIST line {}", i + 1),
                line.as_bytes(),
            )),
        }
    };
    lines.iter().enumerate().map(entry).collect()
}

/// The ids of a UIDL answer, by message number; every number 1..=`count` exactly once.
pub fn parse_uidl(lines: &[String], count: usize) -> Result<Vec<String>, Failure> {
    let mut ids = vec![None; count];
    for line in lines {
        let mut words = line.split_ascii_whitespace();
        let number = words.next().and_then(|n| n.parse::<usize>().ok());
        let slot = number.and_then(|n| ids.get_mut(n.checked_sub(1)?));
        match (slot, words.next()) {
            (Some(slot @ None), Some(id)) => *slot = Some(id.to_string()),
            _ => {
                return Err(Failure::garbage(
                    "a UIDL line for a listed message",
                    line.as_bytes(),
                ))
            }
        }
    }
    ids.into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| Failure::Garbage("UIDL left out listed messages".into()))
}

/// Ids for an upstream without UIDL: a hash of the size and header (TOP n 0), which stay
/// the same across sessions unless the message changes; `n<N>` (the message number, which
/// changes when earlier messages are deleted) where TOP is refused too. Duplicates get
/// `-<N>` added, since ids must be unique.
fn derive_ids(upstream: &mut Upstream, sizes: &[u64]) -> Result<Vec<String>, Failure> {
    let mut seen = HashSet::new();
    let mut ids = Vec::with_capacity(sizes.len());
    for (i, size) in sizes.iter().enumerate() {
        let number = i + 1;
        let id = match upstream.command(&format!("TOP {number} 0")) {
            Ok(_) => {
                let mut hash = Sha256::new_with_prefix(size.to_be_bytes());
                upstream.finish_body(&mut Unstuffer::default(), |bytes| hash.update(bytes))?;
                let hex: String = hash.finalize()[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("h{hex}")
            }
            Err(Failure::Refused(_)) => format!("n{number}"),
            Err(failure) => return Err(failure),
        };
        let id = if seen.contains(&id) {
            format!("{id}-{number}")
        } else {
            id
        };
        seen.insert(id.clone());
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn list_gives_sizes_in_order() {
        assert_eq!(
            parse_list(&lines(&["1 120", "2 4194304", "3 7 extra"])).unwrap(),
            [120, 4_194_304, 7]
        );
        assert_eq!(parse_list(&[]).unwrap(), Vec::<u64>::new());
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
            assert!(
                matches!(parse_list(&lines(bad)), Err(Failure::Garbage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn uidl_in_any_order_must_cover_every_message_once() {
        let ids = parse_uidl(&lines(&["2 b-2", "1 a-1", "3 c-3"]), 3).unwrap();
        assert_eq!(ids, ["a-1", "b-2", "c-3"]);
        for bad in [
            &["1 a", "2 b"][..],
            &["1 a", "1 b", "2 c"],
            &["0 a", "1 b"],
            &["1 a", "2 b", "3 c", "4 d"],
            &["1", "2 b", "3 c"],
        ] {
            assert!(parse_uidl(&lines(bad), 3).is_err(), "{bad:?}");
        }
    }
}
