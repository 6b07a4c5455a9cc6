//! The three-way merge that keeps the person's edits: per path, ancestor = the old pristine
//! tree, ours = the person's tree, theirs = the new pristine tree (git2 `merge_file`, diff3).

use std::collections::BTreeSet;

use git2::{MergeFileInput, MergeFileOptions};

use crate::error::{Context, Result};
use crate::tree::{Entry, Tree};

/// 1-based, inclusive lines of a file.
pub type LineRange = (usize, usize);

/// One path the merge could not settle; `lines` are the 1-based, inclusive ranges of the
/// person's file that collide with claw's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: String,
    pub lines: Vec<LineRange>,
    pub reason: &'static str,
}

pub struct Merged {
    /// The result; conflicted files hold diff3 markers (or the person's version where a marker
    /// cannot express the conflict).
    pub tree: Tree,
    pub conflicts: Vec<Conflict>,
}

pub fn merge_trees(ancestor: &Tree, ours: &Tree, theirs: &Tree) -> Result<Merged> {
    let paths: BTreeSet<&String> = ancestor.paths().chain(ours.paths()).chain(theirs.paths()).collect();
    let mut tree = Tree::new();
    let mut conflicts = Vec::new();
    for path in paths {
        let (a, o, t) = (ancestor.get(path), ours.get(path), theirs.get(path));
        let result = if o == t || a == t {
            o.cloned()
        } else if a == o {
            t.cloned()
        } else {
            match (o, t) {
                (Some(o), Some(t)) => {
                    let empty = Entry::file(Vec::new());
                    let (entry, lines) = merge_file(path, a.unwrap_or(&empty), o, t)?;
                    if let Some(lines) = lines {
                        let reason = if a.is_none() {
                            "you and claw both add this file"
                        } else {
                            "your edit and claw's change touch the same lines"
                        };
                        conflicts.push(Conflict { path: path.clone(), lines, reason });
                    }
                    Some(entry)
                }
                (None, Some(t)) => {
                    conflicts.push(Conflict {
                        path: path.clone(),
                        lines: vec![],
                        reason: "you deleted this file and claw changes it",
                    });
                    Some(t.clone())
                }
                (Some(o), None) => {
                    conflicts.push(Conflict {
                        path: path.clone(),
                        lines: vec![],
                        reason: "claw removes this file and you changed it",
                    });
                    Some(o.clone())
                }
                (None, None) => None,
            }
        };
        if let Some(entry) = result {
            tree.insert(path.clone(), entry);
        }
    }
    Ok(Merged { tree, conflicts })
}

/// Merges one file. Returns the merged entry and, on conflict, the conflicting lines.
fn merge_file(path: &str, a: &Entry, o: &Entry, t: &Entry) -> Result<(Entry, Option<Vec<LineRange>>)> {
    // A person who converted the file's line endings changed every line; claw's sides are
    // brought to the person's endings first, so that only real edits meet in the merge.
    let (a, t) = (&in_endings_of(o, a), &in_endings_of(o, t));
    // git2 initialises libgit2 lazily but not in merge_file; any Oid parse does it.
    let _ = git2::Oid::from_str("0");
    let (ai, oi, ti) = (input(path, a), input(path, o), input(path, t));
    let mut opts = MergeFileOptions::new();
    opts.style_diff3(true).ancestor_label("generated before").our_label("yours").their_label("generated now");
    let result = git2::merge_file(&ai, &oi, &ti, Some(&mut opts)).with_context(|| format!("merging {path}"))?;
    let mode = if a.mode == o.mode { t.mode } else { o.mode };
    let entry = Entry { data: result.content().to_vec(), mode };
    if result.is_automergeable() {
        return Ok((entry, None));
    }
    Ok((entry, Some(conflict_lines(a, o, t)?)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
    Lf,
    Crlf,
}

/// The file's line ending, when every line has the same one.
fn endings(data: &[u8]) -> Option<Eol> {
    let lines = data.iter().filter(|b| **b == b'\n').count();
    let crlf = data.windows(2).filter(|w| w == b"\r\n").count();
    match (lines, crlf) {
        (0, _) => None,
        (_, 0) => Some(Eol::Lf),
        (n, c) if n == c => Some(Eol::Crlf),
        _ => None,
    }
}

/// `entry` with the line endings of `like`, where both use one ending throughout and they
/// differ; otherwise `entry` as it is.
fn in_endings_of(like: &Entry, entry: &Entry) -> Entry {
    let data = match (endings(&like.data), endings(&entry.data)) {
        (Some(Eol::Crlf), Some(Eol::Lf)) => {
            let mut out = Vec::with_capacity(entry.data.len() + entry.data.len() / 16);
            for b in &entry.data {
                if *b == b'\n' {
                    out.push(b'\r');
                }
                out.push(*b);
            }
            out
        }
        (Some(Eol::Lf), Some(Eol::Crlf)) => {
            let mut out = Vec::with_capacity(entry.data.len());
            for (i, b) in entry.data.iter().enumerate() {
                if !(*b == b'\r' && entry.data.get(i + 1) == Some(&b'\n')) {
                    out.push(*b);
                }
            }
            out
        }
        _ => return entry.clone(),
    };
    Entry { data, mode: entry.mode }
}

fn input<'a>(path: &str, entry: &'a Entry) -> MergeFileInput<'a> {
    let mut input = MergeFileInput::new();
    input.path(path).content(&entry.data);
    input
}

/// The ranges of the person's lines (1-based, inclusive) that collide with claw's change: the
/// hunks of ancestor-to-yours that overlap or touch a hunk of ancestor-to-new.
fn conflict_lines(a: &Entry, o: &Entry, t: &Entry) -> Result<Vec<(usize, usize)>> {
    let ours = hunks(a, o)?;
    let theirs = hunks(a, t)?;
    let mut ranges: Vec<(usize, usize)> = ours
        .iter()
        .filter(|h| theirs.iter().any(|g| h.span.0 <= g.span.1 + 1 && g.span.0 <= h.span.1 + 1))
        .map(|h| h.yours)
        .collect();
    if ranges.is_empty() {
        ranges = ours.iter().map(|h| h.yours).collect();
    }
    Ok(ranges)
}

struct Hunk {
    /// The ancestor lines the hunk covers, in half-line units so that an insertion between two
    /// lines has a place of its own: line `l` is `2l`, "after line `l`" is `2l + 1`.
    span: (usize, usize),
    /// The lines of the newer side.
    yours: (usize, usize),
}

fn hunks(old: &Entry, new: &Entry) -> Result<Vec<Hunk>> {
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(0);
    let patch = git2::Patch::from_buffers(&old.data, None, &new.data, None, Some(&mut opts))
        .context("diffing for a conflict report")?;
    let mut hunks = Vec::new();
    for i in 0..patch.num_hunks() {
        let (h, _) = patch.hunk(i).context("diffing for a conflict report")?;
        let (os, ol, ns, nl) =
            (h.old_start() as usize, h.old_lines() as usize, h.new_start() as usize, h.new_lines() as usize);
        let span = if ol == 0 { (2 * os + 1, 2 * os + 1) } else { (2 * os, 2 * (os + ol - 1)) };
        let yours = if nl == 0 { (ns.max(1), ns.max(1)) } else { (ns, ns + nl - 1) };
        hunks.push(Hunk { span, yours });
    }
    Ok(hunks)
}

/// Lines (1-based) that still hold a conflict marker.
pub fn marker_lines(data: &[u8]) -> Vec<usize> {
    data.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| {
            l.starts_with(b"<<<<<<<")
                || l.starts_with(b">>>>>>>")
                || l.starts_with(b"|||||||")
                || *l == b"======="
                || *l == b"=======\r"
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut t = Tree::new();
        for (p, d) in files {
            t.insert(*p, Entry::file(d.as_bytes()));
        }
        t
    }

    #[test]
    fn keeps_the_persons_edits_and_takes_claws_changes() {
        let a = tree(&[("m.rs", "a\nb\nc\nd\ne\n"), ("x.rs", "x\n")]);
        let o = tree(&[("m.rs", "// mine\na\nb\nc\nd\ne\n"), ("x.rs", "x\n"), ("own.rs", "own\n")]);
        let t = tree(&[("m.rs", "a\nb\nc\nd\ne\nnew\n"), ("y.rs", "y\n")]);
        let m = merge_trees(&a, &o, &t).unwrap();
        assert!(m.conflicts.is_empty());
        assert_eq!(m.tree, tree(&[("m.rs", "// mine\na\nb\nc\nd\ne\nnew\n"), ("own.rs", "own\n"), ("y.rs", "y\n")]));
    }

    #[test]
    fn reports_the_persons_line_for_a_conflict() {
        let a = tree(&[("m.rs", "1\n2\n3\n4\n")]);
        let o = tree(&[("m.rs", "1\n2\nmine\n4\n")]);
        let t = tree(&[("m.rs", "1\n2\ntheirs\n4\n")]);
        let m = merge_trees(&a, &o, &t).unwrap();
        assert_eq!(
            m.conflicts,
            vec![Conflict {
                path: "m.rs".into(),
                lines: vec![(3, 3)],
                reason: "your edit and claw's change touch the same lines"
            }]
        );
        let text = String::from_utf8(m.tree.get("m.rs").unwrap().data.clone()).unwrap();
        assert!(
            text.contains("<<<<<<< yours\nmine\n||||||| generated before\n3\n=======\ntheirs\n>>>>>>> generated now\n"),
            "{text}"
        );
        assert_eq!(marker_lines(text.as_bytes()), vec![3, 5, 7, 9]);
    }

    #[test]
    fn a_file_the_person_converted_to_crlf_merges_cleanly_and_stays_crlf() {
        let a = tree(&[("m.toml", "a\nb\nc\n")]);
        let o = tree(&[("m.toml", "a\r\nb\r\nc\r\n")]);
        let t = tree(&[("m.toml", "a\nb\nnew\nc\n")]);
        let m = merge_trees(&a, &o, &t).unwrap();
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        assert_eq!(m.tree, tree(&[("m.toml", "a\r\nb\r\nnew\r\nc\r\n")]));
        // And back: a person who went back to LF keeps LF.
        let m = merge_trees(&o, &a, &tree(&[("m.toml", "a\r\nb\r\nnew\r\nc\r\n")])).unwrap();
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        assert_eq!(m.tree, tree(&[("m.toml", "a\nb\nnew\nc\n")]));
    }
}
