//! Cargo dependency edits (toml_edit, so formatting and comments survive). Several contributors
//! (the base and each skill) may ask for the same crate: compatible requirements merge to the
//! higher one and features are united; incompatible ones are an error naming both contributors.

use std::collections::BTreeMap;

use toml_edit::{Array, DocumentMut, InlineTable, Item, Value};

use crate::error::{Context, Result, bail};
use crate::manifest::DetailedDependency;

/// What one contributor asks of one crate.
#[derive(Debug, Clone)]
pub struct Request {
    pub who: String,
    pub dep: DetailedDependency,
}

/// Writes every requested crate into `table` of the manifest `text`, merging with what the base
/// already has there. `requests` maps crate names to the skills' requests, in canonical order.
pub fn add_dependencies(
    path: &str,
    text: &str,
    table: &str,
    requests: &BTreeMap<String, Vec<Request>>,
) -> Result<String> {
    let mut doc: DocumentMut = text.parse().with_context(|| format!("{path}: not valid TOML"))?;
    let deps = doc
        .entry(table)
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .with_context(|| format!("{path}: [{table}] is not a table"))?;
    for (krate, asks) in requests {
        let existing = deps.get(krate).map(|item| read_existing(path, krate, item)).transpose()?;
        let mut merged = existing.clone();
        for ask in asks {
            merged = Some(match merged {
                None => ask.clone(),
                Some(have) => merge(krate, &have, ask)?,
            });
        }
        let Some(merged) = merged else { continue };
        match deps.get_mut(krate) {
            Some(item) => update_existing(item, &merged.dep),
            None => {
                deps.insert(krate, new_entry(&merged.dep));
            }
        }
    }
    Ok(doc.to_string())
}

fn read_existing(path: &str, krate: &str, item: &Item) -> Result<Request> {
    let who = "the base".to_string();
    if let Some(version) = item.as_str() {
        return Ok(Request { who, dep: DetailedDependency { version: version.to_string(), ..Default::default() } });
    }
    let table =
        item.as_table_like().with_context(|| format!("{path}: dependency {krate} is neither a string nor a table"))?;
    let Some(version) = table.get("version").and_then(Item::as_str) else {
        bail!("{path}: dependency {krate} has no version (path and git dependencies cannot be merged)");
    };
    let features = table
        .get("features")
        .and_then(Item::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let default_features = table.get("default-features").and_then(Item::as_bool);
    Ok(Request {
        who,
        dep: DetailedDependency {
            version: version.to_string(),
            features,
            default_features,
            optional: None,
            package: None,
        },
    })
}

/// Merges two requests for one crate.
fn merge(krate: &str, have: &Request, ask: &Request) -> Result<Request> {
    let version = merge_versions(krate, have, ask)?;
    if have.dep.package != ask.dep.package && have.dep.package.is_some() && ask.dep.package.is_some() {
        bail!("{} and {} rename different packages to {krate}", have.who, ask.who);
    }
    let mut features = have.dep.features.clone();
    for f in &ask.dep.features {
        if !features.contains(f) {
            features.push(f.clone());
        }
    }
    // Unset means "no opinion": default features stay off unless someone asks for them.
    let default_features = match (have.dep.default_features, ask.dep.default_features) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        (None, None) => None,
    };
    let dep = DetailedDependency {
        version,
        features,
        default_features,
        optional: have.dep.optional.or(ask.dep.optional),
        package: have.dep.package.clone().or(ask.dep.package.clone()),
    };
    Ok(Request { who: format!("{} and {}", have.who, ask.who), dep })
}

/// Two caret requirements in the same semver-compatible range merge to the higher one.
fn merge_versions(krate: &str, have: &Request, ask: &Request) -> Result<String> {
    let (a, b) = (&have.dep.version, &ask.dep.version);
    if a == b {
        return Ok(a.clone());
    }
    match (caret(a), caret(b)) {
        (Some(x), Some(y)) if compat_key(x) == compat_key(y) => Ok(if y > x { b.clone() } else { a.clone() }),
        _ => bail!(
            "{} and {} need incompatible versions of {krate}: {a:?} ({}) and {b:?} ({})",
            have.who,
            ask.who,
            have.who,
            ask.who
        ),
    }
}

/// `(major, minor, patch)` of a plain caret requirement such as "1", "0.30" or "^1.2.3".
fn caret(req: &str) -> Option<(u64, u64, u64)> {
    let parsed = semver::VersionReq::parse(req).ok()?;
    let [c] = parsed.comparators.as_slice() else {
        return None;
    };
    (c.op == semver::Op::Caret && c.pre.is_empty()).then(|| (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
}

fn compat_key((major, minor, patch): (u64, u64, u64)) -> (u64, u64, u64) {
    match (major, minor) {
        (0, 0) => (0, 0, patch),
        (0, m) => (0, m, 0),
        (m, _) => (m, 0, 0),
    }
}

fn update_existing(item: &mut Item, dep: &DetailedDependency) {
    if let Some(version) = item.as_str() {
        if version != dep.version || !dep.features.is_empty() || dep.default_features.is_some() {
            *item = new_entry(dep);
        }
        return;
    }
    let Some(table) = item.as_table_like_mut() else {
        return;
    };
    if table.get("version").and_then(Item::as_str) != Some(dep.version.as_str()) {
        table.insert("version", toml_edit::value(dep.version.clone()));
    }
    if !dep.features.is_empty() {
        let features = table.entry("features").or_insert(toml_edit::value(Array::new()));
        if let Some(array) = features.as_array_mut() {
            for f in &dep.features {
                if !array.iter().any(|v| v.as_str() == Some(f)) {
                    array.push(f.as_str());
                }
            }
        }
    }
    if dep.default_features == Some(true) {
        table.remove("default-features");
    }
    if let Some(inline) = item.as_inline_table_mut() {
        inline.fmt();
    }
}

fn new_entry(dep: &DetailedDependency) -> Item {
    let plain =
        dep.features.is_empty() && dep.default_features.is_none() && dep.optional.is_none() && dep.package.is_none();
    if plain {
        return toml_edit::value(dep.version.clone());
    }
    let mut t = InlineTable::new();
    if let Some(package) = &dep.package {
        t.insert("package", package.as_str().into());
    }
    t.insert("version", dep.version.as_str().into());
    if let Some(d) = dep.default_features {
        t.insert("default-features", d.into());
    }
    if !dep.features.is_empty() {
        t.insert("features", Value::Array(dep.features.iter().map(String::as_str).collect()));
    }
    if let Some(o) = dep.optional {
        t.insert("optional", o.into());
    }
    toml_edit::value(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(who: &str, version: &str, features: &[&str]) -> Request {
        Request {
            who: who.into(),
            dep: DetailedDependency {
                version: version.into(),
                features: features.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        }
    }

    const MANIFEST: &str = "[package]\nname = \"x\"\n\n[dependencies]\n# the runtime\ntokio = { version = \"1.40\", features = [\"rt\"] }\n";

    #[test]
    fn adds_new_crates_and_keeps_comments() {
        let req = BTreeMap::from([("frankenstein".to_string(), vec![ask("telegram", "0.30", &[])])]);
        let out = add_dependencies("Cargo.toml", MANIFEST, "dependencies", &req).unwrap();
        assert_eq!(out, format!("{MANIFEST}frankenstein = \"0.30\"\n"));
    }

    #[test]
    fn compatible_requirements_merge_to_the_higher_and_unite_features() {
        let req = BTreeMap::from([(
            "tokio".to_string(),
            vec![ask("a", "1.45", &["net"]), ask("b", "1.41", &["rt", "time"])],
        )]);
        let out = add_dependencies("Cargo.toml", MANIFEST, "dependencies", &req).unwrap();
        assert!(
            out.contains("# the runtime\ntokio = { version = \"1.45\", features = [\"rt\", \"net\", \"time\"] }\n"),
            "{out}"
        );
    }

    #[test]
    fn default_features_stay_off_unless_asked_for() {
        let text = "[dependencies]\ntokio = { version = \"1\", default-features = false }\n";
        let quiet = BTreeMap::from([("tokio".to_string(), vec![ask("a", "1", &["time"])])]);
        let out = add_dependencies("Cargo.toml", text, "dependencies", &quiet).unwrap();
        assert_eq!(
            out,
            "[dependencies]\ntokio = { version = \"1\", default-features = false, features = [\"time\"] }\n"
        );
        let mut wants = ask("b", "1", &[]);
        wants.dep.default_features = Some(true);
        let loud = BTreeMap::from([("tokio".to_string(), vec![wants])]);
        let out = add_dependencies("Cargo.toml", text, "dependencies", &loud).unwrap();
        assert!(!out.contains("default-features"), "{out}");
    }

    #[test]
    fn incompatible_requirements_name_both_contributors() {
        let req = BTreeMap::from([(
            "frankenstein".to_string(),
            vec![ask("telegram", "0.30", &[]), ask("other", "0.31", &[])],
        )]);
        let err = add_dependencies("Cargo.toml", MANIFEST, "dependencies", &req).unwrap_err().message;
        assert!(err.contains("telegram and other need incompatible versions of frankenstein"), "{err}");
    }
}
