//! `<maildir>/pop3host-sizes`: the CRLF sizes of messages whose names carry no `,W=`, measured
//! once so that the next login need not read them again.
//!
//! Format: a header `pop3host-sizes 1 <count>`, then `<size> <base name>` lines. A file that
//! does not parse, has another version or the wrong count (a torn write) is ignored and
//! rebuilt. It is replaced atomically (written under a unique temporary name, then renamed), so
//! readers see the old or the new file whole and concurrent writers cannot interleave: the last
//! rename wins. Message files never change content, so a base name's size never goes stale.
//!
//! The mail user can write this file and its directory, so it is read only as a regular file
//! within a bound (see [`crate::control_file`]), and the temporary file has a random name and
//! is created with `O_EXCL|O_NOFOLLOW` relative to the maildir handle: a symlink or file
//! planted under any name cannot be written through.

use crate::control_file::{self, Contents};
use crate::fs_at::Dir;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::ops::Range;

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
    /// Off: remembers nothing, writes nothing.
    enabled: bool,
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
        Self::empty(false)
    }

    fn empty(enabled: bool) -> Self {
        Self {
            enabled,
            names: String::new(),
            entries: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            live: 0,
            dirty: false,
        }
    }

    /// The cache of the maildir `dir`, from a file of at most `limit` bytes: empty when the
    /// file is missing or does not parse; an error (and an empty cache, rebuilt at the next
    /// save) when it is not a regular file or is too large.
    pub fn load(dir: &Dir, limit: u64) -> (Self, Option<io::Error>) {
        let (bytes, problem) = match control_file::read(dir, FILE_NAME, limit) {
            Ok(Contents::Read(bytes)) => (bytes, None),
            Ok(Contents::Missing) => (Vec::new(), None),
            Err(err) => (Vec::new(), Some(err)),
        };
        let mut cache = Self::empty(true);
        let parsed = String::from_utf8(bytes).is_ok_and(|text| cache.parse(text));
        let cache = if parsed { cache } else { Self::empty(true) };
        (cache, problem)
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
        if !self.enabled || self.get(base) == Some(size) {
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

    /// Writes the file into the maildir `dir` if anything changed since it was read or last
    /// saved.
    pub fn save_if_changed(&mut self, dir: &Dir) -> io::Result<()> {
        if !self.enabled || !self.dirty {
            return Ok(());
        }
        write_atomically(dir, &self.render())?;
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

/// A temporary name nobody can predict (128 random bits), so that none can be planted.
fn temporary_name() -> io::Result<String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(io::Error::other)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{FILE_NAME}.tmp.{hex}"))
}

/// Writes the file through a new temporary file in the same directory and a rename.
fn write_atomically(dir: &Dir, text: &str) -> io::Result<()> {
    let tmp = temporary_name()?;
    let written = dir
        .create_new(&tmp)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    let renamed = written.and_then(|()| dir.rename(&tmp, dir, FILE_NAME));
    if renamed.is_err() {
        // Best effort: the error worth reporting is the one that made the write fail.
        let _ = dir.unlink(&tmp);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const LIMIT: u64 = 1 << 20;

    fn load(dir: &tempfile::TempDir) -> SizeCache {
        let (cache, problem) = SizeCache::load(&Dir::open_root(dir.path()).unwrap(), LIMIT);
        assert!(problem.is_none(), "{problem:?}");
        cache
    }

    fn save(cache: &mut SizeCache, dir: &tempfile::TempDir) {
        cache
            .save_if_changed(&Dir::open_root(dir.path()).unwrap())
            .unwrap();
    }

    #[test]
    fn round_trip_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = load(&dir);
        cache.insert("1.a.host", 10);
        cache.insert("2.b.host", 20);
        save(&mut cache, &dir);

        let mut cache = load(&dir);
        assert_eq!(
            (cache.get("1.a.host"), cache.get("2.b.host")),
            (Some(10), Some(20))
        );
        cache.retain(|base| base == "2.b.host");
        save(&mut cache, &dir);
        let cache = load(&dir);
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

    /// The rename replaces the file while another program has it open: on Windows, where
    /// `MoveFileExW` refuses an open target, std renames with POSIX semantics instead (Windows
    /// 10 1607 and later), and the reader keeps the version it opened. Where that does not
    /// exist (Wine 8, older Windows) the save fails, logged, and the old file stays whole
    /// with no temporary file left: either way never a torn file.
    #[test]
    fn a_save_replaces_a_file_that_is_open_or_leaves_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = load(&dir);
        cache.insert("1.a.host", 10);
        save(&mut cache, &dir);
        let root = Dir::open_root(dir.path()).unwrap();
        let (mut open, _) = root.open_file(FILE_NAME).unwrap();
        cache.insert("2.b.host", 20);
        match cache.save_if_changed(&root) {
            Ok(()) => assert_eq!(load(&dir).get("2.b.host"), Some(20)),
            Err(err) if cfg!(windows) => {
                assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
                assert_eq!(load(&dir).get("1.a.host"), Some(10));
            }
            Err(err) => panic!("{err}"),
        }
        let mut old = String::new();
        std::io::Read::read_to_string(&mut open, &mut old).unwrap();
        assert_eq!(old, "pop3host-sizes 1 1\n10 1.a.host\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME], "no temporary file remains");
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
            assert_eq!(load(&dir).get("a"), None, "{text:?}");
        }
        fs::write(dir.path().join(FILE_NAME), "pop3host-sizes 1 1\n10 a b\n").unwrap();
        assert_eq!(load(&dir).get("a b"), Some(10));
    }

    #[test]
    fn many_entries_survive_updates_pruning_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let name = |i: u64| format!("{}.M{i}P1.host", 1_700_000_000 + i);
        let mut cache = load(&dir);
        for i in 0..1000 {
            cache.insert(&name(i), i);
        }
        cache.insert(&name(7), 70); // a new size for a known name replaces the old one
        save(&mut cache, &dir);
        let mut cache = load(&dir);
        assert_eq!(cache.len(), 1000);
        assert_eq!(
            (cache.get(&name(7)), cache.get(&name(999))),
            (Some(70), Some(999))
        );
        cache.retain(|base| base != name(3));
        cache.insert(&name(1000), 1);
        save(&mut cache, &dir);
        let cache = load(&dir);
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
        let dir = tempfile::tempdir().unwrap();
        save(&mut cache, &dir);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn temporary_names_differ_and_symlinks_are_neither_read_nor_written_through() {
        assert_ne!(temporary_name().unwrap(), temporary_name().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        fs::write(outside.path(), "pop3host-sizes 1 1\n10 a\n").unwrap();
        if crate::fs_at::symlink_file(outside.path(), &dir.path().join(FILE_NAME)).is_none() {
            return; // Windows without the right to make symlinks
        }
        let (mut cache, problem) = SizeCache::load(&Dir::open_root(dir.path()).unwrap(), LIMIT);
        // Refused by name on Unix; Wine shows its (Unix) symlinks to Windows as no file at all.
        let problem = problem.map(|p| p.to_string());
        assert!(
            problem.as_ref().is_some_and(|p| p.contains("symlink")) || cfg!(windows),
            "{problem:?}"
        );
        assert_eq!(cache.get("a"), None);
        cache.insert("b", 20);
        save(&mut cache, &dir);
        assert_eq!(
            fs::read_to_string(outside.path()).unwrap(),
            "pop3host-sizes 1 1\n10 a\n"
        );
        assert_eq!(load(&dir).get("b"), Some(20), "the link was replaced");
    }
}
