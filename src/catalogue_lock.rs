//! Cargo.lock without running cargo, for installs made of built-in skills.
//!
//! `skills/catalogue-lock.json` (generated, see SKILLS.md) holds the lock cargo resolves for an
//! install holding every catalogue skill, and for each crate in it what cargo's dependency
//! resolver reads: its declared dependencies (with the version each one resolved to) and the
//! features that install activates. A change resolves features over those fixed versions from
//! the workspace members' manifests, as cargo does when it writes a lock: every feature of a
//! member, its dev-dependencies, target-specific dependencies whatever the platform, optional
//! dependencies only when a feature (weak ones included) names them, features unified per crate.
//! It then writes the lock exactly as cargo would (format 4, sorted as cargo sorts).
//!
//! Anything it does not know (a crate not in the catalogue lock, a feature the full install never
//! activates, a git or patched dependency, a version requirement the catalogue's version does not
//! meet) is an `Err`: the caller falls back to cargo, so correctness never rests on this file.
//! tests/catalogue_lock.rs proves the output byte-identical to cargo's for every built-in set.
//!
//! Self-contained (no other claw module), so the generator's test builds the file with the same
//! resolver.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub const PATH: &str = "catalogue-lock.json";
#[allow(dead_code)] // named by tests/catalogue_lock.rs and SKILLS.md
pub const REGENERATE: &str = "CLAW_WRITE_CATALOGUE_LOCK=1 cargo test --locked --test catalogue_lock up_to_date";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalogue {
    pub regenerate: String,
    /// The platform the `on_host` marks were computed for.
    pub host: String,
    pub packages: Vec<Package>,
}

/// A registry crate of the catalogue lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// "build script" or "proc-macro": the crate runs its own code when built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_code: Option<String>,
    /// Whether the crate is built on `host` (cargo metadata --filter-platform).
    pub on_host: bool,
    /// Whether the crate has a `default` feature (the table below holds only activated ones).
    pub has_default: bool,
    pub features: BTreeMap<String, Vec<String>>,
    pub deps: Vec<Dep>,
}

/// A declared dependency, as cargo's resolver reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dep {
    /// The package name.
    pub name: String,
    /// The name in the manifest, when renamed (`package = "..."`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<String>,
    pub req: String,
    /// None (normal), "build" or "dev".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    pub default_features: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// The version of `name` this dependency resolved to in the catalogue lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// A workspace member this path dependency points at (members only).
    #[serde(skip)]
    pub member: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

fn yes() -> bool {
    true
}

impl Dep {
    fn toml_name(&self) -> &str {
        self.rename.as_deref().unwrap_or(&self.name)
    }
}

/// A composed lock.
pub struct Composed {
    pub lock: String,
    /// Registry crates of the lock that run code when built, by name and version.
    pub runs_code: BTreeMap<(String, String), String>,
    /// For each registry crate of the lock: the features and dependency names activated (what
    /// the generator keeps of each crate).
    #[allow(dead_code)]
    pub activated: BTreeMap<(String, String), (BTreeSet<String>, BTreeSet<String>)>,
}

/// One package of the resolution: a workspace member or a catalogue crate.
struct Node<'a> {
    name: &'a str,
    version: &'a str,
    source: Option<&'a str>,
    checksum: Option<&'a str>,
    member: bool,
    has_default: bool,
    features: &'a BTreeMap<String, Vec<String>>,
    deps: &'a [Dep],
    /// Each dependency's node, when known.
    targets: Vec<Option<usize>>,
}

/// A workspace member read from its manifest.
struct Member {
    name: String,
    version: String,
    features: BTreeMap<String, Vec<String>>,
    deps: Vec<Dep>,
}

/// The lock cargo would write for the workspace whose manifests are given (path -> contents,
/// every `Cargo.toml` of the tree), over the catalogue's versions; `Err` says why it cannot.
pub fn compose(catalogue: &Catalogue, manifests: &BTreeMap<&str, &[u8]>, host: &str) -> Result<Composed, String> {
    let members = read_members(manifests)?;
    let mut nodes: Vec<Node> = Vec::new();
    for m in &members {
        nodes.push(Node {
            name: &m.name,
            version: &m.version,
            source: None,
            checksum: None,
            member: true,
            has_default: m.features.contains_key("default"),
            features: &m.features,
            deps: &m.deps,
            targets: Vec::new(),
        });
    }
    let first_crate = nodes.len();
    for p in &catalogue.packages {
        nodes.push(Node {
            name: &p.name,
            version: &p.version,
            source: Some(&p.source),
            checksum: p.checksum.as_deref(),
            member: false,
            has_default: p.has_default,
            features: &p.features,
            deps: &p.deps,
            targets: Vec::new(),
        });
    }
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate().skip(first_crate) {
        by_name.entry(n.name).or_default().push(i);
    }
    for i in 0..nodes.len() {
        let targets = nodes[i]
            .deps
            .iter()
            .map(|d| match &d.member {
                Some(member) => nodes[..first_crate].iter().position(|n| n.name == member),
                None if nodes[i].member => {
                    let req = semver::VersionReq::parse(&d.req).ok()?;
                    let found: Vec<usize> = by_name
                        .get(d.name.as_str())
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|&j| semver::Version::parse(nodes[j].version).is_ok_and(|v| req.matches(&v)))
                        .collect();
                    if found.len() == 1 { Some(found[0]) } else { None }
                }
                None => {
                    let v = d.resolved.as_deref()?;
                    by_name.get(d.name.as_str())?.iter().copied().find(|&j| nodes[j].version == v)
                }
            })
            .collect();
        nodes[i].targets = targets;
    }

    // Fixed point: each crate's requested features and whether defaults were asked for grow
    // until nothing changes (features only ever unify).
    let mut requested: Vec<(BTreeSet<String>, bool)> = vec![(BTreeSet::new(), false); nodes.len()];
    let mut active = vec![false; nodes.len()];
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
    let mut activated: Vec<(BTreeSet<String>, BTreeSet<String>)> = vec![Default::default(); nodes.len()];
    let mut queue: Vec<usize> = (0..first_crate).collect();
    active[..first_crate].fill(true);
    while let Some(i) = queue.pop() {
        let node = &nodes[i];
        let reqs = requirements(node, &requested[i])?;
        let mut out = BTreeSet::new();
        let mut used = BTreeSet::new();
        for (d, target) in node.deps.iter().zip(&node.targets) {
            if d.kind.as_deref() == Some("dev") && !node.member {
                continue;
            }
            if d.optional && !reqs.deps.contains_key(d.toml_name()) {
                continue;
            }
            let Some(t) = *target else {
                return Err(format!(
                    "{} {}: dependency {} {} is not in the catalogue lock",
                    node.name, node.version, d.name, d.req
                ));
            };
            out.insert(t);
            used.insert(d.toml_name().to_string());
            let mut want: BTreeSet<String> = reqs.deps.get(d.toml_name()).cloned().unwrap_or_default();
            want.extend(d.features.iter().cloned());
            let state = &mut requested[t];
            let before = (state.0.len(), state.1);
            state.0.extend(want);
            state.1 |= d.default_features;
            if !active[t] || before != (state.0.len(), state.1) {
                active[t] = true;
                queue.push(t);
            }
        }
        for name in reqs.deps.keys() {
            if !node.deps.iter().any(|d| d.toml_name() == name) {
                return Err(format!("{} {}: no dependency named {name}", node.name, node.version));
            }
        }
        activated[i] = (reqs.features, used);
        edges[i] = out;
    }

    let mut ids: Vec<usize> = (0..nodes.len()).filter(|&i| active[i]).collect();
    ids.sort_by(|&a, &b| {
        let key = |i: usize| (nodes[i].name, semver::Version::parse(nodes[i].version).ok(), nodes[i].source.is_some());
        key(a).cmp(&key(b))
    });
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &ids {
        *count.entry(nodes[i].name).or_default() += 1;
    }
    for w in ids.windows(2) {
        if nodes[w[0]].name == nodes[w[1]].name && nodes[w[0]].version == nodes[w[1]].version {
            return Err(format!("{} {} comes from two sources", nodes[w[0]].name, nodes[w[0]].version));
        }
    }
    let mut lock = String::from(
        "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n",
    );
    let mut runs_code = BTreeMap::new();
    let mut activated_out = BTreeMap::new();
    for &i in &ids {
        let n = &nodes[i];
        lock.push_str(&format!("\n[[package]]\nname = {}\nversion = {}\n", quote(n.name), quote(n.version)));
        if let Some(source) = n.source {
            lock.push_str(&format!("source = {}\n", quote(source)));
        }
        if let Some(sum) = n.checksum {
            lock.push_str(&format!("checksum = {}\n", quote(sum)));
        }
        let mut deps: Vec<(&str, Option<&str>)> =
            edges[i].iter().map(|&t| (nodes[t].name, (count[nodes[t].name] > 1).then_some(nodes[t].version))).collect();
        deps.sort();
        deps.dedup();
        if !deps.is_empty() {
            lock.push_str("dependencies = [\n");
            for (name, version) in deps {
                let id = match version {
                    Some(v) => format!("{name} {v}"),
                    None => name.to_string(),
                };
                lock.push_str(&format!(" {},\n", quote(&id)));
            }
            lock.push_str("]\n");
        }
        if i >= first_crate {
            let p = &catalogue.packages[i - first_crate];
            let id = (p.name.clone(), p.version.clone());
            if let Some(what) = &p.runs_code
                && (p.on_host || catalogue.host != host)
            {
                runs_code.insert(id.clone(), what.clone());
            }
            activated_out.insert(id, std::mem::take(&mut activated[i]));
        }
    }
    Ok(Composed { lock, runs_code, activated: activated_out })
}

/// What one package asks of its dependencies, as cargo's dependency resolver computes it.
#[derive(Default)]
struct Requirements {
    features: BTreeSet<String>,
    /// Dependency (by manifest name) -> features asked of it.
    deps: BTreeMap<String, BTreeSet<String>>,
}

fn requirements(node: &Node, (requested, default): &(BTreeSet<String>, bool)) -> Result<Requirements, String> {
    let mut reqs = Requirements::default();
    if node.member {
        for f in node.features.keys() {
            require_feature(node, &mut reqs, f)?;
        }
    } else {
        for f in requested {
            require_feature(node, &mut reqs, f)?;
        }
    }
    if (*default || node.member) && node.has_default {
        require_feature(node, &mut reqs, "default")?;
    }
    Ok(reqs)
}

fn require_feature(node: &Node, reqs: &mut Requirements, feature: &str) -> Result<(), String> {
    if !reqs.features.insert(feature.to_string()) {
        return Ok(());
    }
    let Some(values) = node.features.get(feature) else {
        return Err(format!("{} {}: feature {feature} is not in the catalogue lock", node.name, node.version));
    };
    for value in values {
        if let Some(dep) = value.strip_prefix("dep:") {
            reqs.deps.entry(dep.to_string()).or_default();
        } else if let Some((dep, feat)) = value.split_once('/') {
            // `dep/feat` turns on the optional dependency's own feature; weak ones (`dep?/feat`)
            // do not, yet still activate the dependency in the resolver that writes the lock
            // (only the build's feature resolver narrows them).
            let (dep, weak) = match dep.strip_suffix('?') {
                Some(d) => (d, true),
                None => (dep, false),
            };
            if !weak && node.features.contains_key(dep) && node.deps.iter().any(|d| d.toml_name() == dep && d.optional)
            {
                require_feature(node, reqs, dep)?;
            }
            reqs.deps.entry(dep.to_string()).or_default().insert(feat.to_string());
        } else {
            require_feature(node, reqs, value)?;
        }
    }
    Ok(())
}

/// The workspace members: the root package and `[workspace] members` (no globs).
fn read_members(manifests: &BTreeMap<&str, &[u8]>) -> Result<Vec<Member>, String> {
    let root = parse(manifests, "Cargo.toml")?;
    for unsupported in ["patch", "replace"] {
        if root.contains_key(unsupported) {
            return Err(format!("[{unsupported}] in Cargo.toml"));
        }
    }
    let mut dirs: Vec<String> = Vec::new();
    if root.contains_key("package") {
        dirs.push(String::new());
    }
    if let Some(ws) = root.get("workspace").and_then(|w| w.as_table()) {
        for m in ws.get("members").and_then(|m| m.as_array()).into_iter().flatten() {
            let m = m.as_str().ok_or("a workspace member is not a string")?;
            if m.contains(['*', '?', '[']) {
                return Err("a glob in workspace members".into());
            }
            let dir = normalize("", m)?;
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    let mut names = BTreeMap::new();
    let mut tables = Vec::new();
    for dir in &dirs {
        let path = if dir.is_empty() { "Cargo.toml".to_string() } else { format!("{dir}/Cargo.toml") };
        let table = parse(manifests, &path)?;
        let package = table.get("package").and_then(|p| p.as_table()).ok_or(format!("{path}: no [package]"))?;
        let name = package.get("name").and_then(|n| n.as_str()).ok_or(format!("{path}: no package name"))?;
        names.insert(dir.clone(), name.to_string());
        tables.push((dir, path, table));
    }
    let mut members = Vec::new();
    for (dir, path, table) in tables {
        let package = table.get("package").and_then(|p| p.as_table()).ok_or("no [package]")?;
        let version = match package.get("version") {
            None => "0.0.0",
            Some(v) => v.as_str().ok_or(format!("{path}: version is not a string"))?,
        };
        let mut deps = Vec::new();
        let mut sections: Vec<(&toml::Table, Option<&str>)> = Vec::new();
        let mut scopes = vec![&table];
        if let Some(targets) = table.get("target").and_then(|t| t.as_table()) {
            for t in targets.values() {
                scopes.push(t.as_table().ok_or(format!("{path}: [target] entry is not a table"))?);
            }
        }
        for scope in scopes {
            for (key, kind) in
                [("dependencies", None), ("dev-dependencies", Some("dev")), ("build-dependencies", Some("build"))]
            {
                for k in [key.to_string(), key.replace('-', "_")] {
                    if let Some(s) = scope.get(&k) {
                        sections.push((s.as_table().ok_or(format!("{path}: [{k}] is not a table"))?, kind));
                    }
                }
            }
        }
        for (section, kind) in sections {
            for (key, spec) in section {
                deps.push(member_dep(&names, dir, key, spec, kind).map_err(|e| format!("{path}: {key}: {e}"))?);
            }
        }
        let mut features: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(f) = table.get("features") {
            for (k, v) in f.as_table().ok_or(format!("{path}: [features] is not a table"))? {
                let values = v.as_array().ok_or(format!("{path}: feature {k} is not a list"))?;
                features.insert(
                    k.clone(),
                    values
                        .iter()
                        .map(|x| x.as_str().map(str::to_string).ok_or("a feature value is not a string"))
                        .collect::<Result<_, _>>()?,
                );
            }
        }
        // An optional dependency never named as `dep:NAME` gets a feature of its own name.
        let named: BTreeSet<String> = features
            .values()
            .flatten()
            .filter_map(|v| v.strip_prefix("dep:"))
            .map(|v| v.split('/').next().unwrap_or(v).to_string())
            .collect();
        for d in deps.iter().filter(|d| d.optional) {
            if !named.contains(d.toml_name()) {
                features.entry(d.toml_name().to_string()).or_insert_with(|| vec![format!("dep:{}", d.toml_name())]);
            }
        }
        members.push(Member { name: names[dir].clone(), version: version.to_string(), features, deps });
    }
    Ok(members)
}

fn member_dep(
    names: &BTreeMap<String, String>,
    dir: &str,
    key: &str,
    spec: &toml::Value,
    kind: Option<&str>,
) -> Result<Dep, String> {
    let mut dep = Dep {
        name: key.to_string(),
        rename: None,
        req: String::new(),
        kind: kind.map(str::to_string),
        optional: false,
        default_features: true,
        features: Vec::new(),
        resolved: None,
        member: None,
    };
    match spec {
        toml::Value::String(req) => dep.req = req.clone(),
        toml::Value::Table(t) => {
            for (k, v) in t {
                match k.as_str() {
                    "version" => dep.req = v.as_str().ok_or("version is not a string")?.to_string(),
                    "package" => {
                        dep.name = v.as_str().ok_or("package is not a string")?.to_string();
                        dep.rename = Some(key.to_string());
                    }
                    "optional" => dep.optional = v.as_bool().ok_or("optional is not a boolean")?,
                    "default-features" | "default_features" => {
                        dep.default_features = v.as_bool().ok_or("default-features is not a boolean")?
                    }
                    "features" => {
                        dep.features = v
                            .as_array()
                            .ok_or("features is not a list")?
                            .iter()
                            .map(|f| f.as_str().map(str::to_string).ok_or("a feature is not a string"))
                            .collect::<Result<_, _>>()?
                    }
                    "path" => {
                        let target = normalize(dir, v.as_str().ok_or("path is not a string")?)?;
                        dep.member = Some(
                            names.get(&target).cloned().ok_or("a path dependency that is not a workspace member")?,
                        );
                    }
                    "public" | "artifact" | "lib" | "target" => {}
                    other => return Err(format!("`{other}` is not handled here")),
                }
            }
        }
        _ => return Err("not a version or a table".into()),
    }
    if dep.member.is_none() && dep.req.is_empty() {
        return Err("no version".into());
    }
    Ok(dep)
}

fn parse(manifests: &BTreeMap<&str, &[u8]>, path: &str) -> Result<toml::Table, String> {
    let data = manifests.get(path).ok_or(format!("{path} is missing"))?;
    let text = std::str::from_utf8(data).map_err(|_| format!("{path} is not UTF-8"))?;
    toml::from_str(text).map_err(|e| format!("{path}: {e}"))
}

/// `rel` joined to the folder `dir` (both relative to the workspace root), `..` resolved.
fn normalize(dir: &str, rel: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or("a path outside the workspace")?;
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// A TOML basic string, as cargo writes names, versions and sources.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
