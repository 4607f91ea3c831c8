//! The parser: a tolerant pre-scan splits the file into top-level items ([`scan`]), pest parses
//! each item with the grammar in `grammar/sylva.pest` ([`grammar`]), and the pairs become
//! syntax-tree nodes ([`build`], [`expr`]). pest's errors become diagnostics ([`errors`]). A
//! broken item is reported (its first error only) and left out; the other items are kept.

mod build;
mod errors;
mod expr;
mod grammar;
mod scan;

use pest::Parser;

use self::build::Ctx;
use self::grammar::{Rule, SylvaParser};
use super::ast;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// Files longer than this are not parsed (spans are 32-bit, and nobody writes such a model).
pub const MAX_FILE_LEN: usize = 64 << 20;

/// Parses one file. Never fails and never panics: items that do not parse are reported and
/// left out.
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut items = Vec::new();
    if text.len() > MAX_FILE_LEN {
        let end = text.chars().next().map_or(0, char::len_utf8);
        diags.push(Diagnostic::error(Code::Syntax, Span::new(file, 0..end), "file too large").label(format!(
            "this file has {} bytes; the limit is {} MiB",
            text.len(),
            MAX_FILE_LEN >> 20
        )));
        return (ast::File { items, broken: Vec::new() }, diags);
    }
    let mut broken = Vec::new();
    let scan = scan::scan(file, text);
    diags.extend(scan.diags);
    for chunk in scan.chunks {
        let item = match chunk.error {
            Some(error) => {
                diags.push(error);
                None
            }
            // pest and the builder are recursive: 200 nested brackets need about a megabyte of
            // stack in a debug build, so make sure that much is there.
            None => {
                let (item, item_diags) = stacker::maybe_grow(4 << 20, 8 << 20, || {
                    parse_item(file, text, &scan.docs, chunk.start, chunk.end)
                });
                diags.extend(item_diags);
                item
            }
        };
        match item {
            Some(item) => items.push(item),
            None => broken.extend(
                scan::item_name(text, chunk.start)
                    .map(|(range, name)| ast::Ident { name, span: Span::new(file, range) }),
            ),
        }
    }
    (ast::File { items, broken }, diags)
}

/// Parses the item in `text[start..end]`.
fn parse_item(
    file: FileId,
    text: &str,
    docs: &scan::Docs,
    start: usize,
    end: usize,
) -> (Option<ast::Item>, Vec<Diagnostic>) {
    let source = &text[start..end];
    let mut ctx = Ctx { file, text, offset: start, docs, diags: Vec::new(), broken: false };
    let pair = match SylvaParser::parse(Rule::file_item, source) {
        Ok(mut pairs) => pairs.next().and_then(|p| p.into_inner().next()),
        Err(error) => {
            let diagnostic = errors::syntax_error(file, text, start, &error);
            let error_at = diagnostic.primary.span.start as usize;
            ctx.diags.push(diagnostic);
            // The item itself may be complete, with stray text after it: keep the item.
            match SylvaParser::parse(Rule::item_prefix, source) {
                Ok(mut pairs) => pairs
                    .next()
                    .and_then(|p| p.into_inner().next())
                    .filter(|p| scan::skip_trivia(text, start + build::end_of(p)) == error_at),
                Err(_) => None,
            }
        }
    };
    let item = pair.and_then(|p| ctx.item(p));
    if item.is_none() && ctx.diags.is_empty() {
        let (range, found) = scan::token_at(text, start);
        ctx.diags.push(Diagnostic::error(
            Code::Syntax,
            Span::new(file, range),
            format!("cannot parse the item at {found}"),
        ));
    }
    let item = if ctx.broken { None } else { item };
    (item, ctx.diags)
}
