//! `sylva import`: NMODL (`.mod`) files to Sylva source, one mechanism per file.
//!
//! [`lexer`] and [`parser`] read NMODL into an AST with spans ([`ast`]) (a hand-written recursive
//! descent: NMODL is not Sylva's grammar); [`translate`] turns it into readable Sylva text,
//! reporting what it cannot translate (E08xx) and translating the rest; [`units`] maps NMODL's
//! unit names to Sylva's. Pure, as the rest of the compiler: the CLI reads and writes files.
//! `docs/nmodl.md` describes the mapping.

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod translate;
pub mod units;

use crate::diagnostics::Diagnostic;
use crate::source::{FileId, SourceDb};

/// The result of importing one `.mod` file.
pub struct Import {
    /// The mechanism's name (its SUFFIX or POINT_PROCESS) and its Sylva text, when the file
    /// names a mechanism; produced even when some constructs could not be translated.
    pub mechanism: Option<translate::Translated>,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Import {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Translates the NMODL file `file` of `db`.
pub fn import(db: &SourceDb, file: FileId) -> Import {
    let source = db.get(file);
    let mut diagnostics = Vec::new();
    let ast = parser::parse(file, &source.text, &mut diagnostics);
    let display = source.name.rsplit(['/', '\\']).next().unwrap_or(&source.name).to_string();
    let mechanism = translate::translate(&ast, file, &display, &mut diagnostics);
    let mut sorted = crate::diagnostics::Diagnostics::new();
    sorted.extend(diagnostics);
    Import { mechanism, diagnostics: sorted.into_sorted() }
}
