//! Rendering diagnostics to text with codespan-reporting. Pure: it writes into a `String`; the
//! CLI decides where the text goes and whether it is coloured.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files;
use codespan_reporting::term::{self, termcolor};

use crate::diagnostics::{Diagnostic, Severity};
use crate::source::{FileId, SourceDb};

/// Converts to codespan's diagnostic type.
pub fn to_codespan(diagnostic: &Diagnostic) -> cs::Diagnostic<FileId> {
    let severity = match diagnostic.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let primary = &diagnostic.primary;
    let mut labels =
        vec![cs::Label::primary(primary.span.file, primary.span.range()).with_message(primary.message.clone())];
    labels.extend(
        diagnostic
            .secondary
            .iter()
            .map(|l| cs::Label::secondary(l.span.file, l.span.range()).with_message(l.message.clone())),
    );
    let mut notes = diagnostic.notes.clone();
    if let Some(help) = &diagnostic.help {
        notes.push(format!("help: {help}"));
    }
    cs::Diagnostic::new(severity)
        .with_code(diagnostic.code.as_str())
        .with_message(diagnostic.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// Renders diagnostics as rustc-style text, optionally with ANSI colours. Fails only on a label
/// that codespan cannot place in its file (a compiler bug: the phases never produce one), so the
/// tests see the error that [`render`] hides.
pub fn try_render(db: &SourceDb, diagnostics: &[Diagnostic], colour: bool) -> Result<String, files::Error> {
    let mut buffer = if colour { termcolor::Buffer::ansi() } else { termcolor::Buffer::no_color() };
    let config = term::Config::default();
    for diagnostic in diagnostics {
        term::emit_to_write_style(&mut buffer, &config, db, &to_codespan(diagnostic))?;
    }
    Ok(String::from_utf8_lossy(buffer.as_slice()).into_owned())
}

/// Renders as [`try_render`], for the terminal, which must show every diagnostic: one that cannot
/// be rendered is shown without its snippet.
pub fn render(db: &SourceDb, diagnostics: &[Diagnostic], colour: bool) -> String {
    diagnostics
        .iter()
        .map(|diagnostic| {
            // One at a time, so a failure leaves no half-written diagnostic behind.
            try_render(db, std::slice::from_ref(diagnostic), colour).unwrap_or_else(|_| {
                let file = db.get(diagnostic.primary.span.file);
                let (line, col) = file.line_col(diagnostic.primary.span.start as usize);
                format!(
                    "{}[{}]: {}\n  --> {}:{line}:{col}\n",
                    if diagnostic.is_error() { "error" } else { "warning" },
                    diagnostic.code.as_str(),
                    diagnostic.message,
                    file.name
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Code;
    use crate::source::Span;

    #[test]
    fn render_shows_what_try_render_rejects_without_its_snippet() {
        let mut db = SourceDb::new();
        let file = db.add("a.syl", "x = 1\n");
        let good = Diagnostic::error(Code::Syntax, Span::new(file, 0..1), "good");
        let bad = good.clone().secondary(Span::new(FileId(7), 0..1), "in no file");
        let good_text = try_render(&db, std::slice::from_ref(&good), false).expect("renders");
        assert!(try_render(&db, &[good.clone(), bad.clone()], false).is_err());
        assert_eq!(render(&db, &[bad, good], false), format!("error[E0101]: good\n  --> a.syl:1:1\n{good_text}"));
    }
}
