//! The login snapshot: which messages a session sees, in which order, with which UIDLs and
//! which sizes are already known.
//!
//! Order: messages the Dovecot uidlist knows come as Dovecot 2.3's POP3 server lists them (by
//! the uidlist's POP3 order field where a migration left one, then by UID); the others follow
//! by delivery time (the file name's leading number), then by base name. Without a uidlist
//! that is simply delivery order. Numbering is per session anyway; clients track UIDLs.

use crate::config::UidlMode;
use crate::control_file;
use crate::filename;
use crate::listing::{self, Location};
use crate::message::Message;
use crate::size_cache::{self, SizeCache};
use crate::store::Store;
use crate::uidl;
use crate::uidlist::{Record, Uidlist};
use pop3_plugin_api::{debug, warn};
use std::io;

/// The uidlist to serve UIDLs from, if the mode wants one and the maildir has a usable one
/// of at most `limit` bytes.
fn uidlist_for(store: &Store, mode: UidlMode, limit: u64) -> Option<Uidlist> {
    if mode == UidlMode::Filename {
        return None;
    }
    let maildir = &store.path;
    match Uidlist::load(&store.root, limit) {
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
            warn!(
                "{}/{}: not used, UIDLs come from the file names: {err}",
                maildir.display(),
                crate::uidlist::FILE_NAME
            );
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

/// The size cache, when enabled, from a file of at most `limit` bytes.
fn size_cache_for(store: &Store, enabled: bool, limit: u64) -> SizeCache {
    if !enabled {
        return SizeCache::disabled();
    }
    let (cache, problem) = SizeCache::load(&store.root, limit);
    if let Some(err) = problem {
        warn!(
            "{}/{}: ignored, sizes are measured again: {err}",
            store.path.display(),
            size_cache::FILE_NAME
        );
    }
    cache
}

/// What a session sees of a maildir.
pub struct Snapshot {
    pub messages: Vec<Message>,
    pub sizes: SizeCache,
    /// How many sizes came from the size cache: when that is all its entries, none is stale.
    pub cache_hits: usize,
}

/// Lists the maildir as a session sees it. The control files are read after the directories,
/// so that their bound fits the number of messages.
pub fn take(store: &Store, mode: UidlMode, size_cache: bool) -> io::Result<Snapshot> {
    let locations = listing::scan(store)?;
    let limit = control_file::limit_for(locations.len());
    let uidlist = uidlist_for(store, mode, limit);
    let cache = size_cache_for(store, size_cache, limit);
    let mut cache_hits = 0;
    let mut keyed: Vec<(OrderKey, Message)> = locations
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
        sizes: cache,
        cache_hits,
    })
}
