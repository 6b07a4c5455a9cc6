//! An in-memory file tree: the unit every generator step works on. Nothing touches the disk until
//! a whole change has been computed and checked.

use std::collections::BTreeMap;

/// How git stores an entry; the generator keeps the executable bit and symlinks it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    File,
    Executable,
    Symlink,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub data: Vec<u8>,
    pub mode: Mode,
}

impl Entry {
    pub fn file(data: impl Into<Vec<u8>>) -> Entry {
        Entry { data: data.into(), mode: Mode::File }
    }
}

/// Paths are '/'-separated and relative to the install root; sorted, so iteration is
/// deterministic and equal trees compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    pub fn insert(&mut self, path: impl Into<String>, entry: Entry) {
        self.entries.insert(path.into(), entry);
    }

    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        self.entries.remove(path)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The text of a file, for edits that need it; `None` if missing or not UTF-8.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(|e| std::str::from_utf8(&e.data).ok())
    }

    /// Replaces a file's contents, keeping its mode (or adding a plain file).
    pub fn set_text(&mut self, path: &str, text: String) {
        let mode = self.get(path).map_or(Mode::File, |e| e.mode);
        self.insert(path, Entry { data: text.into_bytes(), mode });
    }

    /// The entries under the folder `prefix` (e.g. `"base/"`), with the prefix removed.
    pub fn under(&self, prefix: &str) -> Tree {
        let entries = self.entries.iter().filter_map(|(p, e)| Some((p.strip_prefix(prefix)?.to_string(), e.clone())));
        Tree { entries: entries.collect() }
    }

    /// The first proper prefix of `path` that is itself a file here: writing `path` would need
    /// that file to be a directory.
    pub fn file_ancestor<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.match_indices('/').map(|(i, _)| &path[..i]).find(|prefix| self.contains(prefix))
    }
}
