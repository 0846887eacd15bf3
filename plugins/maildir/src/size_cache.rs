//! `<maildir>/pop3host-sizes`: the CRLF sizes of messages whose names carry no `,W=`, measured
//! once so that the next login need not read them again.
//!
//! Format: a header `pop3host-sizes 1 <count>`, then `<size> <base name>` lines. A file that
//! does not parse, has another version or the wrong count (a torn write) is ignored and
//! rebuilt. It is replaced atomically (written under a unique temporary name, then renamed), so
//! readers see the old or the new file whole and concurrent writers cannot interleave: the last
//! rename wins. Message files never change content, so a base name's size never goes stale.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::fs;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const FILE_NAME: &str = "pop3host-sizes";
const HEADER: &str = "pop3host-sizes 1";

/// The sizes by base name.
///
/// Built for a login to a large maildir, which looks up every message's size once, in list
/// order: the names stay in one buffer (the file as read, then names added since), the
/// entries in a vector in file order, and the hash table holds only indexes into it. Loading
/// 100,000 entries is then a handful of allocations, and because the file is written in the
/// order the entries were added (measured at login in list order), the next login's lookups
/// walk the names and entries front to back instead of jumping through memory, which had made
/// them a fifth of that login's time.
#[derive(Debug)]
pub struct SizeCache {
    /// `None` when caching is disabled.
    path: Option<PathBuf>,
    names: String,
    entries: Vec<Entry>,
    /// Indexes into `entries`, by the hash of the name.
    table: HashTable<usize>,
    hasher: DefaultHashBuilder,
    /// Entries not forgotten.
    live: usize,
    dirty: bool,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    /// The base name, in `names`.
    name: Range<usize>,
    size: u64,
    /// No longer in the maildir ([`SizeCache::retain`]); not written out.
    forgotten: bool,
}

impl SizeCache {
    /// A cache that remembers nothing and writes nothing.
    pub fn disabled() -> Self {
        Self::empty(None)
    }

    fn empty(path: Option<PathBuf>) -> Self {
        Self {
            path,
            names: String::new(),
            entries: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            live: 0,
            dirty: false,
        }
    }

    /// The cache of `maildir`: empty when the file is missing or unusable.
    pub fn load(maildir: &Path) -> Self {
        let path = maildir.join(FILE_NAME);
        let text = fs::read_to_string(&path).unwrap_or_default();
        let mut cache = Self::empty(Some(path.clone()));
        if cache.parse(text) {
            cache
        } else {
            Self::empty(Some(path))
        }
    }

    /// Takes the entries of a file's `text`; false when it does not parse.
    fn parse(&mut self, text: String) -> bool {
        let Some(header_end) = text.find('\n') else {
            return false;
        };
        let count = text[..header_end]
            .strip_prefix(HEADER)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|count| count.parse::<usize>().ok());
        let Some(count) = count else {
            return false;
        };
        self.names = text;
        // The count is only a claim: at most one entry per 4 octets ("1 a\n") is reserved.
        let capacity = count.min(self.names.len() / 4);
        self.entries.reserve(capacity);
        self.table.reserve(capacity, |_| 0); // (empty: nothing to rehash)
        let mut line_start = header_end + 1;
        while line_start < self.names.len() {
            let line = &self.names.as_bytes()[line_start..];
            let line_end = line_start + memchr::memchr(b'\n', line).unwrap_or(line.len());
            let Some(space) = memchr::memchr(b' ', &line[..line_end - line_start]) else {
                return false;
            };
            let Ok(size) = self.names[line_start..line_start + space].parse() else {
                return false;
            };
            let name = line_start + space + 1..line_end;
            if name.is_empty() || !self.put(name, size) {
                return false; // no name, or a name twice
            }
            line_start = line_end + 1;
        }
        // Fewer entries than the header says: a torn write.
        self.live == count
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn get(&self, base: &str) -> Option<u64> {
        let entry = &self.entries[*self.find(base, self.hasher.hash_one(base))?];
        (!entry.forgotten).then_some(entry.size)
    }

    fn find(&self, base: &str, hash: u64) -> Option<&usize> {
        self.table.find(hash, |&i| {
            let entry = &self.entries[i];
            entry.hash == hash && self.names[entry.name.clone()] == *base
        })
    }

    pub fn insert(&mut self, base: &str, size: u64) {
        if self.path.is_none() || self.get(base) == Some(size) {
            return;
        }
        self.dirty = true;
        if let Some(&i) = self.find(base, self.hasher.hash_one(base)) {
            let entry = &mut self.entries[i];
            self.live += usize::from(entry.forgotten);
            (entry.size, entry.forgotten) = (size, false);
            return;
        }
        let start = self.names.len();
        self.names.push_str(base);
        self.put(start..self.names.len(), size);
    }

    /// Adds the name at `names[name]`, which must be new (false if it is not).
    fn put(&mut self, name: Range<usize>, size: u64) -> bool {
        let base = &self.names[name.clone()];
        let hash = self.hasher.hash_one(base);
        let (entries, names) = (&self.entries, &self.names);
        let slot = self.table.entry(
            hash,
            |&i| entries[i].hash == hash && names[entries[i].name.clone()] == *base,
            |&i| entries[i].hash,
        );
        let hashbrown::hash_table::Entry::Vacant(slot) = slot else {
            return false;
        };
        slot.insert(entries.len());
        self.entries.push(Entry {
            hash,
            name,
            size,
            forgotten: false,
        });
        self.live += 1;
        true
    }

    /// Forgets every message for which `keep` is false (those no longer in the maildir).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        for entry in &mut self.entries {
            if !entry.forgotten && !keep(&self.names[entry.name.clone()]) {
                entry.forgotten = true;
                self.live -= 1;
                self.dirty = true;
            }
        }
    }

    /// Writes the file if anything changed since it was read or last saved.
    pub fn save_if_changed(&mut self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        write_atomically(path, &self.render())?;
        self.dirty = false;
        Ok(())
    }

    /// The file, entries in the order they were added.
    fn render(&self) -> String {
        let mut text = format!("{HEADER} {}\n", self.live);
        for entry in self.entries.iter().filter(|e| !e.forgotten) {
            let name = &self.names[entry.name.clone()];
            text.push_str(&format!("{} {name}\n", entry.size));
        }
        text
    }
}

/// Writes `path` through a temporary file in the same directory and a rename.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        "{}.tmp.{}.{}",
        FILE_NAME,
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = path.with_file_name(unique);
    let written = fs::File::create(&tmp).and_then(|mut file| file.write_all(text.as_bytes()));
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    if renamed.is_err() {
        // Best effort: the error worth reporting is the one that made the write fail.
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = SizeCache::load(dir.path());
        cache.insert("1.a.host", 10);
        cache.insert("2.b.host", 20);
        cache.save_if_changed().unwrap();

        let mut cache = SizeCache::load(dir.path());
        assert_eq!(
            (cache.get("1.a.host"), cache.get("2.b.host")),
            (Some(10), Some(20))
        );
        cache.retain(|base| base == "2.b.host");
        cache.save_if_changed().unwrap();
        let cache = SizeCache::load(dir.path());
        assert_eq!(
            (cache.get("1.a.host"), cache.get("2.b.host")),
            (None, Some(20))
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [FILE_NAME], "no temporary files remain");
    }

    #[test]
    fn corrupt_or_foreign_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "pop3host-sizes 1 2\n10 a\n",
            "pop3host-sizes 1 2\n10 a\n20 a\n",
            "pop3host-sizes 1 1\r\n10 a\r\n",
            "pop3host-sizes 2 1\n10 a\n",
            "pop3host-sizes 1 1\nten a\n",
            "pop3host-sizes 1 1\n10\n",
            "garbage",
            "",
        ] {
            fs::write(dir.path().join(FILE_NAME), text).unwrap();
            assert_eq!(SizeCache::load(dir.path()).get("a"), None, "{text:?}");
        }
        fs::write(dir.path().join(FILE_NAME), "pop3host-sizes 1 1\n10 a b\n").unwrap();
        assert_eq!(SizeCache::load(dir.path()).get("a b"), Some(10));
    }

    #[test]
    fn many_entries_survive_updates_pruning_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let name = |i: u64| format!("{}.M{i}P1.host", 1_700_000_000 + i);
        let mut cache = SizeCache::load(dir.path());
        for i in 0..1000 {
            cache.insert(&name(i), i);
        }
        cache.insert(&name(7), 70); // a new size for a known name replaces the old one
        cache.save_if_changed().unwrap();
        let mut cache = SizeCache::load(dir.path());
        assert_eq!(cache.len(), 1000);
        assert_eq!(
            (cache.get(&name(7)), cache.get(&name(999))),
            (Some(70), Some(999))
        );
        cache.retain(|base| base != name(3));
        cache.insert(&name(1000), 1);
        cache.save_if_changed().unwrap();
        let cache = SizeCache::load(dir.path());
        assert_eq!(cache.len(), 1000);
        assert_eq!(
            (cache.get(&name(3)), cache.get(&name(1000))),
            (None, Some(1))
        );
        assert!((0..1000)
            .filter(|&i| i != 3 && i != 7)
            .all(|i| cache.get(&name(i)) == Some(i)));
    }

    #[test]
    fn a_disabled_cache_writes_nothing() {
        let mut cache = SizeCache::disabled();
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), None);
        cache.save_if_changed().unwrap();
    }
}
