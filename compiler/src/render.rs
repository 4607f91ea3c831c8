//! Rendering diagnostics to text with codespan-reporting. Pure: it writes into a `String`; the
//! CLI decides where the text goes and whether it is coloured.

use codespan_reporting::diagnostic as cs;
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

/// Renders diagnostics as rustc-style text, optionally with ANSI colours.
pub fn render(db: &SourceDb, diagnostics: &[Diagnostic], colour: bool) -> String {
    let mut buffer = if colour { termcolor::Buffer::ansi() } else { termcolor::Buffer::no_color() };
    let config = term::Config::default();
    for diagnostic in diagnostics {
        // Writing into memory can only fail on a span outside its file, which the phases
        // never produce; such a diagnostic is rendered without its snippet.
        if term::emit_to_write_style(&mut buffer, &config, db, &to_codespan(diagnostic)).is_err() {
            let (line, col) = db.get(diagnostic.primary.span.file).line_col(diagnostic.primary.span.start as usize);
            let name = &db.get(diagnostic.primary.span.file).name;
            let text = format!(
                "{}[{}]: {}\n  --> {name}:{line}:{col}\n",
                if diagnostic.is_error() { "error" } else { "warning" },
                diagnostic.code.as_str(),
                diagnostic.message
            );
            let _ = std::io::Write::write_all(&mut buffer, text.as_bytes());
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}
