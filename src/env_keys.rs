//! One declaration per environment key: a skill's `[[env]]` is the only place it names a key.
//! From it claw writes the host's configuration key at the `config-keys` slot and, for a key an
//! agent needs (`to = "agent"`, never a secret), its name at the `agent-keys` slot, the list the
//! host reads to pass values into agent containers. A `config-keys` edit of a key the skill also
//! declares in `[[env]]` (the older way, twice) is ignored; any other edit at these two slots is
//! refused, since it would bypass the checks.

use crate::base::{Base, Slot};
use crate::catalog::Skill;
use crate::error::{Context, Result, bail};
use crate::manifest::{Edit, Kind, looks_secret};
use crate::rust_edit;
use crate::tree::Tree;

pub const CONFIG_KEYS: &str = "config-keys";
pub const AGENT_KEYS: &str = "agent-keys";

/// Whether `edit` is one of the skill's own edits to apply as written; `false` for a duplicate
/// of an `[[env]]` key, an error for an edit that would declare a key around `[[env]]`.
pub fn keep_edit(skill: &Skill, edit: &Edit) -> Result<bool> {
    match edit.slot.as_str() {
        AGENT_KEYS => bail!(
            "edit at slot {AGENT_KEYS}: claw writes that list from [[env]] entries with to = \"agent\" and secret = false; declare the key there"
        ),
        CONFIG_KEYS => match key_name(&edit.add) {
            Some(name) if skill.manifest.env.iter().any(|e| e.name == name) => Ok(false),
            Some(name) => {
                bail!("edit at slot {CONFIG_KEYS}: declare {name} in [[env]]; claw writes its Key from there")
            }
            None => bail!(
                "edit at slot {CONFIG_KEYS}: expected `Key {{ name: \"NAME\", .. }}`; better, declare the key in [[env]]"
            ),
        },
        _ => Ok(true),
    }
}

/// Writes the skill's `[[env]]` keys into the composed tree.
pub fn add(base: &Base, skill: &Skill, tree: &mut Tree) -> Result<()> {
    let m = &skill.manifest;
    for env in &m.env {
        let (file, item) = list_slot(base, CONFIG_KEYS)?;
        let text = tree.text(file).with_context(|| format!("{file} is missing or not UTF-8"))?;
        let agent_keys = agent_keys(base, tree)?;
        if env.to_agent() && (looks_secret(&env.name) || declares(text, &env.name)) {
            bail!(
                "[[env]] {}: another skill or the base holds this key in the host; it cannot go to an agent",
                env.name
            );
        }
        if agent_keys.contains(&env.name) && !env.to_agent() {
            bail!("[[env]] {}: another skill passes this key to agents; it cannot be a host-only key too", env.name);
        }
        if !declares(text, &env.name) {
            // A channel checks its keys when it opens and a provider's route when it is the one
            // chosen, so a channel left out of `channels` or a provider not chosen needs none.
            let required = env.required && !matches!(m.kind, Kind::Channel | Kind::Provider);
            let line = format!("Key {{ name: {:?}, doc: {:?}, required: {required} }}", env.name, env.doc);
            let out = rust_edit::add_list_element(file, text, item, &line)
                .with_context(|| format!("[[env]] {}", env.name))?;
            tree.set_text(file, out);
        }
        if env.to_agent() && !agent_keys.contains(&env.name) {
            let (file, item) = list_slot(base, AGENT_KEYS).with_context(|| {
                format!("[[env]] {} goes to agents, but this install's base has no {AGENT_KEYS} slot (run claw update first)", env.name)
            })?;
            let text = tree.text(file).with_context(|| format!("{file} is missing or not UTF-8"))?;
            let out = rust_edit::add_list_element(file, text, item, &format!("{:?}", env.name))?;
            tree.set_text(file, out);
        }
    }
    Ok(())
}

fn list_slot<'a>(base: &'a Base, name: &str) -> Result<(&'a str, &'a str)> {
    match base.slot(name)? {
        Slot::RustList { file, item, .. } => Ok((file, item)),
        _ => bail!("slot {name} is not a rust-list slot"),
    }
}

/// The names already at the `agent-keys` slot (none when the base has no such slot).
fn agent_keys(base: &Base, tree: &Tree) -> Result<Vec<String>> {
    let Ok((file, item)) = list_slot(base, AGENT_KEYS) else { return Ok(Vec::new()) };
    let text = tree.text(file).unwrap_or_default();
    let parsed = syn::parse_file(text).map_err(|e| crate::error::Error::new(format!("{file}: {e}")))?;
    let mut names = Vec::new();
    for it in &parsed.items {
        let syn::Item::Const(c) = it else { continue };
        if c.ident != item {
            continue;
        }
        let mut expr = &*c.expr;
        if let syn::Expr::Reference(r) = expr {
            expr = &r.expr;
        }
        if let syn::Expr::Array(array) = expr {
            for e in &array.elems {
                if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = e {
                    names.push(s.value());
                }
            }
        }
    }
    Ok(names)
}

/// Whether the configuration file already declares key `name`.
fn declares(config: &str, name: &str) -> bool {
    config.contains(&format!("Key {{ name: {name:?},"))
}

/// The `name` of a `Key { name: "X", .. }` expression.
fn key_name(add: &str) -> Option<String> {
    let syn::Expr::Struct(expr) = syn::parse_str::<syn::Expr>(add).ok()? else { return None };
    expr.fields.iter().find_map(|f| match (&f.member, &f.expr) {
        (syn::Member::Named(id), syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. })) if id == "name" => {
            Some(s.value())
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_read_from_key_expressions() {
        assert_eq!(key_name(r#"Key { name: "A_B", doc: "x", required: false }"#).as_deref(), Some("A_B"));
        assert_eq!(key_name("1 + 2"), None);
    }
}
