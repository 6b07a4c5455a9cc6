//! Rust edits at slots. The target is found with syn, and the new text is spliced in at that byte
//! offset: every other byte of the file (comments, blank lines, CRLF, a BOM) stays as it was.
//! New code is normalised through quote + prettyplease, and the edited file is parsed again.

use proc_macro2::Span;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Item, Stmt, Token};

use crate::error::{Result, bail};

const BOM: &str = "\u{feff}";

/// A parsed file, with its BOM (if any) set aside so syn's byte offsets can be mapped back.
struct Source<'a> {
    text: &'a str,
    offset: usize,
    file: syn::File,
}

impl<'a> Source<'a> {
    fn parse(path: &str, text: &'a str) -> Result<Source<'a>> {
        let offset = if text.starts_with(BOM) { BOM.len() } else { 0 };
        match syn::parse_file(&text[offset..]) {
            Ok(file) => Ok(Source { text, offset, file }),
            Err(e) => {
                let at = e.span().start();
                bail!("{path}:{}:{}: not valid Rust: {e}", at.line, at.column + 1)
            }
        }
    }

    fn start(&self, span: Span) -> usize {
        span.byte_range().start + self.offset
    }

    fn end(&self, span: Span) -> usize {
        span.byte_range().end + self.offset
    }

    fn newline(&self) -> &'static str {
        if self.text.contains("\r\n") { "\r\n" } else { "\n" }
    }

    /// The leading whitespace of the line holding byte `at`.
    fn indent_at(&self, at: usize) -> &'a str {
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = &self.text[line_start..];
        &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
    }
}

/// Adds `expr` as the last element of the list the item `item` holds: the array or `vec![]` a
/// `fn` returns (optionally inside `Ok(...)`), or that a `const` / `static` is set to.
pub fn add_list_element(path: &str, text: &str, item: &str, expr_text: &str) -> Result<String> {
    let expr: Expr = syn::parse_str(expr_text)
        .map_err(|e| crate::error::Error::new(format!("{expr_text:?} is not a Rust expression: {e}")))?;
    let mut check = PlainExpr::default();
    syn::visit::Visit::visit_expr(&mut check, &expr);
    if let Some(why) = check.refused {
        bail!("{expr_text:?}: a rust-list slot takes a plain expression: {why}");
    }
    // A one-line expression is kept as its author wrote it; anything longer is laid out by
    // prettyplease.
    let rendered =
        if expr_text.trim().lines().count() == 1 { expr_text.trim().to_string() } else { pretty_expr(&expr) };
    let src = Source::parse(path, text)?;
    let list = find_list(&src.file, item).ok_or_else(|| {
        crate::error::Error::new(format!(
            "{path}: found no `fn {item}` returning an array or vec![], nor a `const`/`static {item}` holding one"
        ))
    })?;
    let nl = src.newline();
    let (open, close) = (src.start(list.open), src.start(list.close));
    let edited = match list.last_end {
        Some(last_end) => {
            let last_end = src.end(last_end);
            let indent = src.indent_at(last_end);
            let body = reindent(&rendered, indent, nl);
            if list.trailing_comma {
                splice(text, last_end, &format!("{nl}{indent}{body},"))
            } else {
                splice(text, last_end, &format!(",{nl}{indent}{body},"))
            }
        }
        None => {
            let indent = format!("{}    ", src.indent_at(open));
            let body = reindent(&rendered, &indent, nl);
            let between = &text[open + 1..close];
            if between.contains('\n') {
                let at = open + 1 + between.trim_end().len();
                splice(text, at, &format!("{nl}{indent}{body},"))
            } else {
                let outer = src.indent_at(open);
                format!("{}{nl}{indent}{body},{nl}{outer}{}", &text[..open + 1], &text[close..])
            }
        }
    };
    reparse(path, &edited)?;
    Ok(edited)
}

/// Adds a `mod` or `use` item after the last item of the same kind in the file (or after the
/// last `mod`/`use` of any kind, or at the top, after inner attributes and docs).
pub fn add_item(path: &str, text: &str, item: &str) -> Result<String> {
    let parsed: Item =
        syn::parse_str(item).map_err(|e| crate::error::Error::new(format!("{item:?} is not a Rust item: {e}")))?;
    let attributed = match &parsed {
        Item::Mod(m) => !m.attrs.is_empty(),
        Item::Use(u) => !u.attrs.is_empty(),
        _ => false,
    };
    let key = sort_key(&parsed).filter(|_| !attributed).ok_or_else(|| {
        crate::error::Error::new(format!(
            "{item:?}: a rust-items slot takes only a plain `mod name;` or `use path;` (no attributes)"
        ))
    })?;
    let file = syn::File { shebang: None, frontmatter: None, attrs: vec![], items: vec![parsed] };
    let rendered = prettyplease::unparse(&file);
    let rendered = rendered.trim_end();
    let src = Source::parse(path, text)?;
    let nl = src.newline();
    let items = &src.file.items;
    // The last run of consecutive items of the same kind (rustfmt sorts within such a run).
    let same_kind = |i: &Item| sort_key(i).is_some_and(|k| k.0 == key.0);
    let run_end = items.iter().rposition(same_kind);
    let run = run_end.map(|end| {
        let start = items[..end].iter().rposition(|i| !same_kind(i)).map_or(0, |p| p + 1);
        &items[start..=end]
    });
    let edited = if let Some(run) = run {
        match run.iter().find(|i| sort_key(i).is_some_and(|k| k > key)) {
            // Before the first item that sorts after the new one, as rustfmt would order them.
            Some(next) => {
                let start = src.start(next.span());
                let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1).max(src.offset);
                let indent = src.indent_at(start);
                splice(text, line_start, &format!("{indent}{}{nl}", reindent(rendered, indent, nl)))
            }
            None => {
                let at = src.end(run[run.len() - 1].span());
                splice(text, at, &format!("{nl}{}", reindent(rendered, src.indent_at(at), nl)))
            }
        }
    } else if let Some(last) = items.iter().rev().find(|i| sort_key(i).is_some()) {
        // After the other kind's run (mods and uses live together at the top).
        let at = src.end(last.span());
        splice(text, at, &format!("{nl}{nl}{}", reindent(rendered, src.indent_at(at), nl)))
    } else {
        // No mod or use yet: after the file's inner attributes and doc comments.
        let at = src.file.attrs.last().map_or(src.offset, |a| line_end(text, src.end(a.span())));
        let lead = if at == src.offset { "" } else { nl };
        splice(text, at, &format!("{lead}{}{nl}", reindent(rendered, "", nl)))
    };
    reparse(path, &edited)?;
    Ok(edited)
}

/// Walks an expression for what a rust-list slot refuses: attributes (`#[path]`, `#[cfg]`...)
/// and macros other than `vec!` and `format!`, whose bodies are walked too. `include!`,
/// `include_str!`, `env!` and kin would read files or the environment at build time.
#[derive(Default)]
struct PlainExpr {
    refused: Option<String>,
}

impl<'ast> syn::visit::Visit<'ast> for PlainExpr {
    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        let path = attr.path().to_token_stream().to_string().replace(' ', "");
        self.refused.get_or_insert(format!("no attributes (found #[{path}])"));
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = mac.path.to_token_stream().to_string().replace(' ', "");
        if name != "vec" && name != "format" {
            self.refused.get_or_insert(format!("no macros but vec! and format! (found {name}!)"));
            return;
        }
        let body = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated).or_else(|_| {
            mac.parse_body_with(|input: syn::parse::ParseStream| {
                let value: Expr = input.parse()?;
                input.parse::<Token![;]>()?;
                let count: Expr = input.parse()?;
                Ok(Punctuated::<Expr, Token![,]>::from_iter([value, count]))
            })
        });
        match body {
            Ok(exprs) => exprs.iter().for_each(|e| self.visit_expr(e)),
            Err(_) => {
                self.refused.get_or_insert(format!("the body of {name}! is not a list of expressions"));
            }
        }
    }
}

/// What a `mod` or `use` item sorts by: its kind (mods first), then its name or path.
fn sort_key(item: &Item) -> Option<(u8, String)> {
    match item {
        Item::Mod(m) if m.content.is_none() => Some((0, m.ident.to_string())),
        Item::Use(u) => Some((1, u.tree.to_token_stream().to_string())),
        _ => None,
    }
}

struct ListSite {
    open: Span,
    close: Span,
    last_end: Option<Span>,
    trailing_comma: bool,
}

fn find_list(file: &syn::File, name: &str) -> Option<ListSite> {
    file.items.iter().find_map(|item| match item {
        Item::Fn(f) if f.sig.ident == name => match f.block.stmts.last()? {
            Stmt::Expr(e, None) => list_in(e),
            Stmt::Macro(m) if m.semi_token.is_none() => list_in_macro(&m.mac),
            _ => None,
        },
        Item::Const(c) if c.ident == name => list_in(&c.expr),
        Item::Static(s) if s.ident == name => list_in(&s.expr),
        _ => None,
    })
}

fn list_in(expr: &Expr) -> Option<ListSite> {
    match expr {
        Expr::Reference(r) => list_in(&r.expr),
        Expr::Array(a) => Some(site(a.bracket_token.span.open(), a.bracket_token.span.close(), &a.elems)),
        Expr::Macro(m) => list_in_macro(&m.mac),
        Expr::Call(call) if call.args.len() == 1 && call.func.to_token_stream().to_string() == "Ok" => {
            list_in(&call.args[0])
        }
        _ => None,
    }
}

fn list_in_macro(mac: &syn::Macro) -> Option<ListSite> {
    if !mac.path.is_ident("vec") {
        return None;
    }
    let syn::MacroDelimiter::Bracket(bracket) = &mac.delimiter else {
        return None;
    };
    let elems = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated).ok()?;
    Some(site(bracket.span.open(), bracket.span.close(), &elems))
}

fn site(open: Span, close: Span, elems: &Punctuated<Expr, Token![,]>) -> ListSite {
    let last_end = elems.pairs().next_back().map(|pair| match pair.punct() {
        Some(comma) => comma.span,
        None => pair.value().span(),
    });
    ListSite { open, close, last_end, trailing_comma: elems.trailing_punct() }
}

/// An expression as prettyplease prints it at one level of indentation (one line when it fits).
fn pretty_expr(expr: &Expr) -> String {
    let item: Item = syn::parse_quote!(fn slot() { #expr });
    let file = syn::File { shebang: None, frontmatter: None, attrs: vec![], items: vec![item] };
    let text = prettyplease::unparse(&file);
    let lines: Vec<&str> = text.lines().collect();
    let body = lines.get(1..lines.len().saturating_sub(1)).unwrap_or_default();
    let body: Vec<&str> = body.iter().map(|l| l.strip_prefix("    ").unwrap_or(l)).collect();
    body.join("\n")
}

/// Indents continuation lines of `text` by `indent`, with the file's line ending.
fn reindent(text: &str, indent: &str, nl: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, line)| if i == 0 || line.is_empty() { line.to_string() } else { format!("{indent}{line}") })
        .collect::<Vec<_>>()
        .join(nl)
}

fn splice(text: &str, at: usize, insert: &str) -> String {
    let mut out = String::with_capacity(text.len() + insert.len());
    out.push_str(&text[..at]);
    out.push_str(insert);
    out.push_str(&text[at..]);
    out
}

fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}

fn reparse(path: &str, text: &str) -> Result<()> {
    let offset = if text.starts_with(BOM) { BOM.len() } else { 0 };
    syn::parse_file(&text[offset..])
        .map(|_| ())
        .map_err(|e| crate::error::Error::new(format!("{path}: the edit left the file unparsable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTRY: &str = "//! Channels.\n\nmod cli;\n\n/// The registry.\npub fn registry() -> Vec<Box<dyn Channel>> {\n    vec![\n        // the terminal\n        Box::new(cli::Cli::new()),\n    ]\n}\n";

    #[test]
    fn appends_to_a_vec_keeping_every_other_byte() {
        let out = add_list_element("m.rs", REGISTRY, "registry", "Box::new(telegram::Telegram::new())").unwrap();
        assert_eq!(
            out,
            REGISTRY
                .replace("cli::Cli::new()),\n", "cli::Cli::new()),\n        Box::new(telegram::Telegram::new()),\n")
        );
    }

    #[test]
    fn keeps_crlf_and_bom() {
        let crlf = format!("{BOM}{}", REGISTRY.replace('\n', "\r\n"));
        let out = add_list_element("m.rs", &crlf, "registry", "x()").unwrap();
        assert_eq!(out, crlf.replace("cli::Cli::new()),\r\n", "cli::Cli::new()),\r\n        x(),\r\n"));
        let out = add_item("m.rs", &crlf, "mod telegram;").unwrap();
        assert_eq!(out, crlf.replace("mod cli;\r\n", "mod cli;\r\nmod telegram;\r\n"));
    }

    #[test]
    fn adds_a_comma_when_the_last_element_has_none() {
        let text = "const KEYS: &[&str] = &[\"a\", \"b\"];\n";
        assert_eq!(
            add_list_element("k.rs", text, "KEYS", "\"c\"").unwrap(),
            "const KEYS: &[&str] = &[\"a\", \"b\",\n\"c\",];\n"
        );
    }

    #[test]
    fn fills_an_empty_list_and_unwraps_ok() {
        let text = "fn tools() -> Result<Vec<Tool>> {\n    Ok(vec![])\n}\n";
        assert_eq!(
            add_list_element("t.rs", text, "tools", "bash::tool()").unwrap(),
            "fn tools() -> Result<Vec<Tool>> {\n    Ok(vec![\n        bash::tool(),\n    ])\n}\n"
        );
    }

    #[test]
    fn adds_mod_and_use_after_their_kin() {
        let text = "//! Docs.\n\nmod a;\nuse std::fmt;\n\nfn f() {}\n";
        assert_eq!(
            add_item("x.rs", text, "pub mod b;").unwrap(),
            "//! Docs.\n\nmod a;\npub mod b;\nuse std::fmt;\n\nfn f() {}\n"
        );
        assert_eq!(
            add_item("x.rs", text, "use std::io;").unwrap(),
            "//! Docs.\n\nmod a;\nuse std::fmt;\nuse std::io;\n\nfn f() {}\n"
        );
    }

    #[test]
    fn keeps_mod_items_in_rustfmt_order() {
        let text = "mod cli;\nmod whatsapp;\n\nuse std::fmt;\n";
        assert_eq!(
            add_item("x.rs", text, "mod telegram;").unwrap(),
            "mod cli;\nmod telegram;\nmod whatsapp;\n\nuse std::fmt;\n"
        );
        assert_eq!(
            add_item("x.rs", text, "mod alpha;").unwrap(),
            "mod alpha;\nmod cli;\nmod whatsapp;\n\nuse std::fmt;\n"
        );
        let documented = "/// The terminal.\npub mod cli;\n";
        assert_eq!(
            add_item("x.rs", documented, "pub mod alpha;").unwrap(),
            "pub mod alpha;\n/// The terminal.\npub mod cli;\n"
        );
    }

    #[test]
    fn refuses_attributes_and_macros_that_read_files() {
        let err = add_item("x.rs", "mod a;\n", "#[path = \"/abs/evil.rs\"] pub mod evil;").unwrap_err().message;
        assert!(err.contains("(no attributes)"), "{err}");
        assert!(add_item("x.rs", "mod a;\n", "#[cfg(all())] use std::fs;").is_err());
        for (expr, found) in [
            ("include!(\"/abs/file.rs\")", "include!"),
            ("(\"a\", { include_str!(\"/etc/passwd\") })", "include_str!"),
            ("vec![env!(\"HOME\")]", "env!"),
            ("format!(\"{}\", std::option_env!(\"X\"))", "std::option_env!"),
            ("vec![concat!(\"a\"); 2]", "concat!"),
            ("|| { #[path = \"/x.rs\"] mod m; }", "#[path]"),
        ] {
            let err = add_list_element("m.rs", REGISTRY, "registry", expr).unwrap_err().message;
            assert!(err.contains("a rust-list slot takes a plain expression") && err.contains(found), "{expr}: {err}");
        }
        assert!(add_list_element("m.rs", REGISTRY, "registry", "(\"a\", vec![format!(\"{}\", 1)])").is_ok());
    }

    #[test]
    fn refuses_other_items_and_bad_code() {
        assert!(
            add_item("x.rs", "mod a;\n", "fn evil() {}")
                .unwrap_err()
                .message
                .contains("only a plain `mod name;` or `use path;`")
        );
        assert!(
            add_list_element("m.rs", REGISTRY, "registry", "1 +")
                .unwrap_err()
                .message
                .contains("not a Rust expression")
        );
        assert!(
            add_list_element("m.rs", REGISTRY, "nothing", "x()").unwrap_err().message.contains("found no `fn nothing`")
        );
        assert!(add_list_element("m.rs", "fn (", "x", "x()").unwrap_err().message.contains("m.rs:1:"));
    }
}
