//! The login snapshot: which messages a session sees, in which order, with which UIDLs and
//! which sizes are already known.
//!
//! Order: messages the Dovecot uidlist knows come as Dovecot 2.3's POP3 server lists them (by
//! the uidlist's POP3 order field where a migration left one, then by UID); the others follow
//! by delivery time (the file name's leading number), then by base name. Without a uidlist
//! that is simply delivery order. Numbering is per session anyway; clients track UIDLs.

use crate::config::UidlMode;
use crate::filename;
use crate::listing::{self, Location};
use crate::message::Message;
use crate::size_cache::SizeCache;
use crate::uidl;
use crate::uidlist::{Record, Uidlist};
use pop3_plugin_api::{debug, warn};
use std::io;
use std::path::Path;

/// The uidlist to serve UIDLs from, if the mode wants one and the maildir has a usable one.
fn uidlist_for(maildir: &Path, mode: UidlMode) -> Option<Uidlist> {
    if mode == UidlMode::Filename {
        return None;
    }
    match Uidlist::load(maildir) {
        Ok(Some(list)) => {
            if list.skipped > 0 {
                warn!(
                    "{}/{}: skipped {} unreadable lines",
                    maildir.display(),
                    crate::uidlist::FILE_NAME,
                    list.skipped
                );
            }
            Some(list)
        }
        Ok(None) => {
            if mode == UidlMode::Dovecot {
                debug!(
                    "{}: no dovecot-uidlist; UIDLs come from the file names",
                    maildir.display()
                );
            }
            None
        }
        Err(err) => {
            warn!("cannot use the Dovecot uidlist, UIDLs come from the file names: {err}");
            None
        }
    }
}

/// Sorts before every message without a uidlist record.
type OrderKey = (bool, u64, u64);

fn order_key(record: Option<&Record>, base: &str) -> OrderKey {
    match record {
        Some(r) => (
            false,
            u64::from(r.pop3_order.unwrap_or(u32::MAX)),
            u64::from(r.uid),
        ),
        None => (true, filename::delivery_time(base).unwrap_or(u64::MAX), 0),
    }
}

/// What a session sees of a maildir.
pub struct Snapshot {
    pub messages: Vec<Message>,
    /// How many sizes came from the size cache: when that is all its entries, none is stale.
    pub cache_hits: usize,
}

/// Lists `maildir` as a session sees it.
pub fn take(maildir: &Path, mode: UidlMode, cache: &SizeCache) -> io::Result<Snapshot> {
    let uidlist = uidlist_for(maildir, mode);
    let mut cache_hits = 0;
    let mut keyed: Vec<(OrderKey, Message)> = listing::scan(maildir)?
        .into_iter()
        .map(|location: Location| {
            let base = location.base();
            let record = uidlist
                .as_ref()
                .and_then(|list| list.get(base).map(|r| (r, list.uid_validity)));
            let uidl = match record {
                Some((r, uid_validity)) => uidl::dovecot(r, uid_validity, base),
                None => uidl::from_base_name(base),
            };
            let size = filename::virtual_size(base).or_else(|| record.and_then(|(r, _)| r.vsize));
            let key = order_key(record.map(|(r, _)| r), base);
            (
                key,
                Message {
                    location,
                    uidl,
                    size,
                },
            )
        })
        .collect();
    // Base names are unique, so an unstable sort gives one order.
    keyed.sort_unstable_by(|(a, ma), (b, mb)| a.cmp(b).then_with(|| ma.base().cmp(mb.base())));
    // The cache after sorting: its entries are in list order too (see `SizeCache`).
    let messages = keyed
        .into_iter()
        .map(|(_, mut message)| {
            if message.size.is_none() {
                message.size = cache.get(message.base());
                cache_hits += usize::from(message.size.is_some());
            }
            message
        })
        .collect();
    Ok(Snapshot {
        messages,
        cache_hits,
    })
}
