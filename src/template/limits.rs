//! What a template may be before anyone parses it.
//!
//! Templates come from pull requests. The handlebars parser and renderer recurse once per
//! nested block (and per `{{else if}}` in a chain, and per parenthesised subexpression), so
//! a few thousand nested `{{#if}}` overflow the stack: an abort no `catch_unwind` can stop,
//! and a daemon that dies again at every start until the commit is reverted. Partials can
//! recurse without nesting at all (`{{#*inline "p"}}{{> p}}{{/inline}}{{> p}}`), and
//! `{{#each}}` inside `{{#each}}` multiplies the work by each level. So a prompt may use
//! variables, helpers and the blocks `#if`, `#unless` and `#with` (and `{{^x}}`), nothing
//! that repeats or includes: partials, inline partials, decorators, raw blocks and other
//! block helpers are refused. This scan is a loop over the text, no recursion; an escaped
//! `\{{` counts as a tag but opens and closes nothing, as in the parser.

use super::TemplateError;
use crate::location::line_column;

/// Bytes a template may have: 32 KiB is a long prompt (about 8,000 tokens, more than
/// Ollama's default context holds).
pub const MAX_LEN: usize = 32 * 1024;
/// `{{…}}` tags a template may have; a prompt uses a handful. The bound matters: the
/// handlebars parser works out the line and column of every element by counting from the
/// start of the text, so its time grows with tags × length (1,000 tags in 64 KiB took
/// 0.4 s); with these two limits the worst template validates in a few milliseconds.
pub const MAX_TAGS: usize = 100;
/// How deep blocks, `{{else}}` chains and parentheses may nest; the parser's recursion per
/// level is a few kilobytes of stack, so 32 levels stay far from any thread's limit.
pub const MAX_DEPTH: usize = 32;

/// Block helpers a prompt may open: each renders its body at most once.
const BLOCKS: &[&str] = &["if", "unless", "with"];

/// Checks the limits in one pass; the error says where a limit was crossed.
pub(super) fn check(template: &str) -> Result<(), TemplateError> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_column(template, offset);
        TemplateError(format!("{message} (template line {line}, column {column})"))
    };
    // One entry per open block: how many `{{else}}` branches it has had so far, each of
    // which the parser nests one level deeper.
    let mut open: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut tags = 0usize;
    let mut cursor = 0usize;
    while let Some(found) = template[cursor..].find("{{") {
        let start = cursor + found;
        tags += 1;
        if tags > MAX_TAGS {
            return Err(at(
                start,
                format!("the template has more than {MAX_TAGS} `{{{{…}}}}` tags"),
            ));
        }
        let rest = &template[start..];
        if start > 0 && template.as_bytes()[start - 1] == b'\\' {
            // `\{{…}}` is text: the parser does not look inside.
            cursor = end_of(template, start + 2, "}}");
            continue;
        }
        if rest.starts_with("{{{{") {
            return Err(at(
                start,
                "raw blocks ({{{{raw}}}}) are not available in prompts; write \\{{ for a literal {{"
                    .into(),
            ));
        }
        if rest.starts_with("{{!--") {
            cursor = end_of(template, start + 5, "--}}");
            continue;
        }
        if rest.starts_with("{{!") {
            cursor = end_of(template, start + 3, "}}");
            continue;
        }
        let inner_start = start
            + rest[2..]
                .find(|c: char| c != '{' && c != '~' && !c.is_whitespace())
                .map_or(rest.len(), |i| i + 2);
        let close = template[inner_start..]
            .find("}}")
            .map_or(template.len(), |i| inner_start + i);
        let inner = &template[inner_start..close];
        let mut parens = 0usize;
        for (index, byte) in inner.bytes().enumerate() {
            match byte {
                b'(' => {
                    parens += 1;
                    if parens > MAX_DEPTH {
                        return Err(at(
                            inner_start + index,
                            format!("parentheses nest deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                }
                b')' => parens = parens.saturating_sub(1),
                _ => {}
            }
        }
        let word = inner.trim_end_matches(['~', '}']).trim();
        if inner.starts_with('>') || inner.starts_with("#>") {
            return Err(at(
                start,
                "partials ({{> name}}) are not available in prompts".into(),
            ));
        }
        if inner.starts_with('*') || inner.starts_with("#*") {
            return Err(at(
                start,
                "inline partials and decorators ({{#*inline}}) are not available in prompts".into(),
            ));
        }
        if let Some(helper) = inner.strip_prefix('#') {
            let name = helper
                .split(|c: char| c.is_whitespace() || c == '}' || c == '~')
                .next()
                .unwrap_or("");
            if !BLOCKS.contains(&name) {
                return Err(at(
                    start,
                    format!(
                        "the block `#{name}` is not available in prompts; use #if, #unless or #with"
                    ),
                ));
            }
        }
        match inner.as_bytes().first() {
            Some(b'#') => {
                open.push(0);
                depth += 1;
            }
            Some(b'^') if word.len() > 1 => {
                open.push(0);
                depth += 1;
            }
            Some(b'/') => {
                if let Some(branches) = open.pop() {
                    depth -= 1 + branches;
                }
            }
            _ if word == "^" || word == "else" || word.starts_with("else ") => {
                if let Some(branches) = open.last_mut() {
                    *branches += 1;
                    depth += 1;
                }
            }
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(at(
                start,
                format!("blocks nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        cursor = (close + 2).min(template.len());
    }
    // Checked after the scan (which is linear) so that a deep or crowded template is told
    // where, rather than only that it is long.
    if template.len() > MAX_LEN {
        return Err(TemplateError(format!(
            "the template is {} bytes; at most {MAX_LEN} (32 KiB) are allowed",
            template.len()
        )));
    }
    Ok(())
}

/// Where scanning goes on after the terminator that follows `from` (the end when none does).
fn end_of(template: &str, from: usize, terminator: &str) -> usize {
    let from = from.min(template.len());
    template[from..]
        .find(terminator)
        .map_or(template.len(), |i| from + i + terminator.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_templates_pass() {
        for template in [
            "",
            "Stand-up for {{date}} ({{weekday}})",
            "{{#if job.description}}{{job.description}}{{else}}none{{/if}}",
            "{{!-- a comment with {{#if}} inside --}}{{#unless date}}x{{/unless}}",
            "{{#if date}}{{else if now}}{{else}}{{/if}}",
            "{{~#if date~}} a {{~/if~}}",
            "{{#with job}}{{name}}{{/with}} {{^if date}}none{{/if}}",
            "literal \\{{/if}} and \\{{#each x}} stay text",
        ] {
            assert_eq!(check(template), Ok(()), "{template}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_where_it_starts() {
        let deep = "{{#if date}}".repeat(MAX_DEPTH + 1);
        let error = check(&deep).expect_err("too deep").to_string();
        let column = MAX_DEPTH * "{{#if date}}".len() + 1;
        assert!(
            error.contains(&format!("deeper than {MAX_DEPTH}"))
                && error.contains(&format!("line 1, column {column}")),
            "{error}"
        );
        let exact = format!(
            "{}{}",
            "{{#if date}}".repeat(MAX_DEPTH),
            "{{/if}}".repeat(MAX_DEPTH)
        );
        assert_eq!(check(&exact), Ok(()));
        let closed = "{{#if date}}x{{/if}}".repeat(MAX_TAGS / 2);
        assert_eq!(check(&closed), Ok(()), "closed blocks do not add up");
    }

    #[test]
    fn else_chains_and_parentheses_count_as_depth() {
        let chain = format!(
            "{{{{#if date}}}}{}{{{{/if}}}}",
            "{{else if date}}".repeat(MAX_DEPTH)
        );
        assert!(check(&chain).is_err());
        let parens = format!("{{{{date {}x{}}}}}", "(".repeat(40), ")".repeat(40));
        let error = check(&parens).expect_err("parens").to_string();
        assert!(error.contains("parentheses"), "{error}");
    }

    #[test]
    fn what_repeats_or_includes_is_refused() {
        for (template, words) in [
            (
                "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}",
                "inline partials",
            ),
            ("{{> header}}", "partials"),
            ("{{#> layout}}x{{/layout}}", "partials"),
            ("{{*decorator}}", "decorators"),
            ("{{#each job}}{{#each job}}x{{/each}}{{/each}}", "`#each`"),
            ("{{{{raw}}}}{{date}}{{{{/raw}}}}", "raw blocks"),
        ] {
            let error = check(template).expect_err(template).to_string();
            assert!(error.contains(words), "{template}: {error}");
        }
    }

    #[test]
    fn escaped_closers_do_not_hide_depth() {
        let hidden = format!(
            "{}{}",
            "{{#if date}}\\{{/if}}".repeat(MAX_DEPTH),
            "{{#if date}}"
        );
        assert!(check(&hidden).is_err(), "escaped closers close nothing");
    }

    #[test]
    fn size_and_tag_count_are_capped() {
        let long = "a".repeat(MAX_LEN + 1);
        assert!(
            check(&long)
                .expect_err("long")
                .to_string()
                .contains("32 KiB")
        );
        let many = "{{date}}".repeat(MAX_TAGS + 1);
        let error = check(&many).expect_err("many").to_string();
        assert!(error.contains("more than 100 "), "{error}");
    }
}
