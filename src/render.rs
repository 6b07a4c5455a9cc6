//! Template rendering (minijinja). Undefined variables are errors, not empty strings: a typo in a
//! skill must stop the generator, never produce a half-filled file.

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::{Result, bail};

/// Bounds a template's work, so a hostile skill cannot loop the generator forever.
const FUEL: u64 = 5_000_000;
/// Largest rendered output accepted (bytes).
pub const MAX_OUTPUT: usize = 1 << 20;

/// Renders `source` (named `name` in errors) with `context`.
pub fn render(name: &str, source: &str, context: &Value) -> Result<String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    let syntax = SyntaxConfig::builder().keep_trailing_newline(true).build();
    env.set_syntax(syntax.map_err(|e| crate::error::Error::new(format!("template syntax: {e}")))?);
    let out = env
        .template_from_named_str(name, source)
        .and_then(|t| t.render(context))
        .map_err(|e| crate::error::Error::new(describe(name, &e)))?;
    if out.len() > MAX_OUTPUT {
        bail!("template {name} renders to {} bytes, over the {MAX_OUTPUT}-byte limit", out.len());
    }
    Ok(out)
}

/// Renders only if `text` holds template syntax (used for paths and one-line edits).
pub fn render_if_templated(name: &str, text: &str, context: &Value) -> Result<String> {
    if text.contains("{{") || text.contains("{%") || text.contains("{#") {
        render(name, text, context)
    } else {
        Ok(text.to_string())
    }
}

fn describe(name: &str, e: &minijinja::Error) -> String {
    let mut msg = format!("template {name}");
    if let Some(line) = e.line() {
        msg.push_str(&format!(" line {line}"));
    }
    msg.push_str(&format!(": {}", e.kind()));
    if let Some(detail) = e.detail() {
        msg.push_str(&format!(" ({detail})"));
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
    fn runaway_templates_run_out_of_fuel() {
        let ctx = minijinja::context! {};
        let src = "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}";
        assert!(render("loop", src, &ctx).is_err());
    }
}
