//! `<maildir>/pop3host-sizes`: the CRLF sizes of messages whose names carry no `,W=`, measured
//! once so that the next login need not read them again.
//!
//! Format: a header `pop3host-sizes 1 <count>`, then `<size> <base name>` lines. A file that
//! does not parse, has another version or the wrong count (a torn write) is ignored and
//! rebuilt. It is replaced atomically (written under a unique temporary name, then renamed), so
//! readers see the old or the new file whole and concurrent writers cannot interleave: the last
//! rename wins. Message files never change content, so a base name's size never goes stale.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const FILE_NAME: &str = "pop3host-sizes";
const HEADER: &str = "pop3host-sizes 1";

#[derive(Debug)]
pub struct SizeCache {
    /// `None` when caching is disabled.
    path: Option<PathBuf>,
    sizes: HashMap<String, u64>,
    dirty: bool,
}

impl SizeCache {
    /// A cache that remembers nothing and writes nothing.
    pub fn disabled() -> Self {
        Self {
            path: None,
            sizes: HashMap::new(),
            dirty: false,
        }
    }

    /// The cache of `maildir`: empty when the file is missing or unusable.
    pub fn load(maildir: &Path) -> Self {
        let path = maildir.join(FILE_NAME);
        let sizes = fs::read_to_string(&path)
            .ok()
            .and_then(|text| parse(&text))
            .unwrap_or_default();
        Self {
            path: Some(path),
            sizes,
            dirty: false,
        }
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    pub fn get(&self, base: &str) -> Option<u64> {
        self.sizes.get(base).copied()
    }

    pub fn insert(&mut self, base: &str, size: u64) {
        if self.path.is_some() && self.sizes.insert(base.to_string(), size) != Some(size) {
            self.dirty = true;
        }
    }

    /// Forgets every message for which `keep` is false (those no longer in the maildir).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.sizes.len();
        self.sizes.retain(|base, _| keep(base));
        self.dirty |= self.sizes.len() != before;
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

    fn render(&self) -> String {
        let mut text = format!("{HEADER} {}\n", self.sizes.len());
        for (base, size) in &self.sizes {
            text.push_str(&format!("{size} {base}\n"));
        }
        text
    }
}

fn parse(text: &str) -> Option<HashMap<String, u64>> {
    let mut lines = text.lines();
    let count: usize = lines
        .next()?
        .strip_prefix(HEADER)?
        .strip_prefix(' ')?
        .parse()
        .ok()?;
    let mut sizes = HashMap::with_capacity(count);
    for line in lines {
        let (size, base) = line.split_once(' ')?;
        if base.is_empty() {
            return None;
        }
        sizes.insert(base.to_string(), size.parse().ok()?);
    }
    (sizes.len() == count).then_some(sizes)
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
    fn a_disabled_cache_writes_nothing() {
        let mut cache = SizeCache::disabled();
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), None);
        cache.save_if_changed().unwrap();
    }
}
