//! Template rendering (minijinja). Undefined variables are errors, not empty strings: a typo in a
//! skill must stop the generator, never produce a half-filled file. In Rust, TOML and JSON (files
//! `*.rs.j2`, `*.toml.j2`, `*.json.j2`, and edits at Rust slots) a string value prints as a literal
//! of that language, so a value can never become code; numbers, booleans and values marked safe
//! (checked identifiers, names) print as written. The filters `rust`, `toml` and `json` give the
//! same literals anywhere.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::error::{Result, bail};

/// Bounds a template's work, so a hostile skill cannot loop the generator forever.
const FUEL: u64 = 5_000_000;
/// Largest rendered output accepted (bytes).
pub const MAX_OUTPUT: usize = 1 << 20;

/// The language a template's values are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Plain text: values print as they are.
    Text,
    Rust,
    Toml,
    Json,
}

impl Escape {
    /// By a template file's name: `x.rs.j2` is Rust, `x.toml.j2` TOML, `x.json.j2` JSON.
    pub fn for_file(name: &str) -> Escape {
        let name = name.strip_suffix(".j2").unwrap_or(name);
        match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("rs") => Escape::Rust,
            Some("toml") => Escape::Toml,
            Some("json") => Escape::Json,
            _ => Escape::Text,
        }
    }

    fn literal(self, text: &str) -> String {
        match self {
            Escape::Text => text.to_string(),
            // Debug of a str is a valid Rust string literal: quotes, backslashes and control
            // characters escaped.
            Escape::Rust => format!("{text:?}"),
            Escape::Toml => {
                let mut out = String::from("\"");
                for c in text.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
            Escape::Json => serde_json::Value::String(text.to_string()).to_string(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Escape::Text => "text",
            Escape::Rust => "rust",
            Escape::Toml => "toml",
            Escape::Json => "json",
        }
    }
}

/// Renders `source` (named `name` in errors) with `context`, escaping by the file's kind.
pub fn render(name: &str, source: &str, context: &Value) -> Result<String> {
    render_as(name, source, context, Escape::for_file(name))
}

/// Renders `source` with values written as `escape`'s literals.
pub fn render_as(name: &str, source: &str, context: &Value, escape: Escape) -> Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(move |_| match escape {
        Escape::Text => AutoEscape::None,
        other => AutoEscape::Custom(other.name().into()),
    });
    env.set_formatter(move |out, state, value| {
        // Booleans print as the languages write them (minijinja's own Display says `True`).
        let text = if value.kind() == ValueKind::Bool {
            value.is_true().to_string()
        } else if value.is_safe() || value.kind() == ValueKind::Number {
            value.to_string()
        } else if matches!(state.auto_escape(), AutoEscape::Custom(_)) {
            escape.literal(&value.to_string())
        } else {
            value.to_string()
        };
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    for lang in [Escape::Rust, Escape::Toml, Escape::Json] {
        env.add_filter(lang.name(), move |value: Value| Value::from_safe_string(lang.literal(&value.to_string())));
    }
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    let syntax = SyntaxConfig::builder().keep_trailing_newline(true).build();
    env.set_syntax(syntax.map_err(|e| crate::error::Error::new(format!("template syntax: {e}")))?);
    let out = env
        .template_from_named_str(name, source)
        .and_then(|t| t.render(context))
        .map_err(|e| crate::error::Error::new(describe(name, source, &e)))?;
    if out.len() > MAX_OUTPUT {
        bail!("template {name} renders to {} bytes, over the {MAX_OUTPUT}-byte limit", out.len());
    }
    Ok(out)
}

/// Renders only if `text` holds template syntax (used for paths and one-line edits).
pub fn render_if_templated(name: &str, text: &str, context: &Value, escape: Escape) -> Result<String> {
    if text.contains("{{") || text.contains("{%") || text.contains("{#") {
        render_as(name, text, context, escape)
    } else {
        Ok(text.to_string())
    }
}

fn describe(name: &str, source: &str, e: &minijinja::Error) -> String {
    let mut msg = format!("template {name}");
    if let Some(line) = e.line() {
        msg.push_str(&format!(" line {line}"));
    }
    msg.push_str(&format!(": {}", e.kind()));
    if let Some(detail) = e.detail() {
        msg.push_str(&format!(" ({detail})"));
    }
    // `{{`/`}}` are also Rust's escaped braces (`format!("{{}}")`) and a nested block's
    // braces: say so, rather than leave "undefined value" to puzzle over.
    let text = e.line().and_then(|n| source.lines().nth(n.saturating_sub(1))).unwrap_or_default();
    if text.contains("{{") || text.contains("}}") {
        msg.push_str(&format!(
            ": the line holds `{{{{` or `}}}}`, which start and end a template value; for braces meant as code, wrap the lines in {{% raw %}} ... {{% endraw %}} or write {{{{ \"{{{{\" }}}}: {:?}",
            text.trim()
        ));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_trailing_newline_and_substitutes() {
        let ctx = minijinja::context! { vars => minijinja::context! { name => "x" } };
        assert_eq!(render("t", "hi {{ vars.name }}\n", &ctx).unwrap(), "hi x\n");
    }

    #[test]
    fn undefined_variables_are_errors_naming_the_line() {
        let ctx = minijinja::context! {};
        let err = render("files/a.rs.j2", "ok\n{{ vars.nope }}\n", &ctx).unwrap_err().message;
        assert!(err.contains("files/a.rs.j2 line 2") && err.contains("undefined"), "{err}");
    }

    #[test]
    fn strings_print_as_literals_of_the_file_language_and_never_as_code() {
        let evil = "\"); std::process::exit(1); (\"{}";
        let ctx = minijinja::context! { vars => minijinja::context! { s => evil, n => 3, ok => true, id => Value::from_safe_string("tg".into()) } };
        let rs =
            render("a.rs.j2", "const S: &str = {{ vars.s }}; const N: u8 = {{ vars.n }}; mod {{ vars.id }};", &ctx)
                .unwrap();
        assert_eq!(rs, format!("const S: &str = {evil:?}; const N: u8 = 3; mod tg;"));
        assert!(syn::parse_file(&rs).is_ok());
        let toml = render("a.toml.j2", "s = {{ vars.s }}\nb = {{ vars.ok }}\n", &ctx).unwrap();
        assert_eq!(toml::from_str::<toml::Table>(&toml).unwrap()["s"].as_str(), Some(evil));
        let json = render("a.json.j2", "{\"s\": {{ vars.s }}}", &ctx).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["s"], evil);
        assert_eq!(render("a.md.j2", "{{ vars.s }} {{ vars.s | rust }}", &ctx).unwrap(), format!("{evil} {evil:?}"));
    }

    #[test]
    fn double_braces_meant_as_rust_get_an_error_naming_the_file_line_and_the_way_out() {
        let ctx = minijinja::context! {};
        let src = "fn f() -> String {\n    format!(\"{{}}\", 1)\n}\n";
        let err = render("files/src/x.rs.j2", src, &ctx).unwrap_err().message;
        assert!(err.contains("files/src/x.rs.j2 line 2") && err.contains("{% raw %}"), "{err}");
        let raw = "{% raw %}format!(\"{{}}\", 1){% endraw %}\n";
        assert_eq!(render("x.rs.j2", raw, &ctx).unwrap(), "format!(\"{{}}\", 1)\n");
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let ctx = minijinja::context! {};
        let src = "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}";
        assert!(render("loop", src, &ctx).is_err());
    }
}
