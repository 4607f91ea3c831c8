//! Editor features over a compilation: hover, go to definition, document symbols and
//! completion. Pure like the rest of the compiler: byte offsets and [`Span`]s in, plain data
//! out. The language server (`sylva lsp`) converts them to LSP positions and messages.
//!
//! Everything works from the syntax trees of [`Compilation::files`] (items that failed to parse
//! are absent, so the rest keeps working while one is being typed) and the dimensions the
//! checker recorded for each expression ([`Compilation::expr_dims`]). Completion also reads
//! the text around the cursor, since the item being typed usually does not parse.

mod complete;
mod resolve;
mod symbols;
mod walk;

#[cfg(test)]
mod tests;

use crate::driver::Compilation;
use crate::source::{FileId, SourceDb, Span};

pub use complete::{Completion, CompletionKind, completions};
pub use symbols::{Symbol, SymbolKind, symbols};

/// What hovering shows: Markdown text, and the span it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Hover {
    pub text: String,
    pub span: Span,
}

/// The hover at `offset` in `file`: a declaration's kind, unit, default, range and
/// documentation; a mechanism's summary; a unit's dimension; or the dimension of the
/// innermost checked expression there.
pub fn hover(db: &SourceDb, compilation: &Compilation, file: FileId, offset: u32) -> Option<Hover> {
    let index = resolve::Index::new(db, compilation);
    let parsed = compilation.files.iter().find(|(f, _)| *f == file).map(|(_, p)| p)?;
    let occurrences = walk::occurrences(parsed);
    if let Some(occ) = walk::at(&occurrences, offset)
        && let Some(target) = index.resolve(occ)
    {
        let mut text = index.describe(&target);
        // A name in an expression also shows the dimension the checker gave it.
        if matches!(occ.role, walk::Role::Name(_))
            && !matches!(target, resolve::Target::Unit(_))
            && let Some(dim) = index.dim_of(occ.span)
        {
            text.push_str(&format!("\n\nhere: {}", dim_words(dim)));
        }
        return Some(Hover { text, span: occ.span });
    }
    let (span, dim) = index.innermost_expr(file, offset)?;
    let source = one_line(db.text(span), 60);
    Some(Hover { text: format!("`{source}`: {}", dim_words(dim)), span })
}

/// Where the name at `offset` is declared: in the same file, an imported file or the
/// standard library (whose files are named `std/<module>.syl`). An import goes to the start
/// of the imported file.
pub fn definition(db: &SourceDb, compilation: &Compilation, file: FileId, offset: u32) -> Option<Span> {
    let index = resolve::Index::new(db, compilation);
    let parsed = compilation.files.iter().find(|(f, _)| *f == file).map(|(_, p)| p)?;
    let occurrences = walk::occurrences(parsed);
    let occ = walk::at(&occurrences, offset)?;
    index.resolve(occ)?.definition()
}

fn dim_words(dim: Option<crate::units::Dimension>) -> String {
    match dim {
        Some(d) => d.describe(),
        None => "a dimension the checker could not determine (an error, or a bare `0`)".to_string(),
    }
}

/// `text` on one line, whitespace collapsed, cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > max {
        let cut: String = joined.chars().take(max).collect();
        format!("{cut}…")
    } else {
        joined
    }
}
