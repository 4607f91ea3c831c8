//! Source text held in memory. Paths never enter the core as file-system objects: a file is a
//! [`FileId`] plus a display name and its text, supplied by whoever drives the compiler.

use std::ops::Range;

/// Index of a file in a [`SourceDb`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one file. Every AST node, IR entity and diagnostic carries one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span { file, start: range.start as u32, end: range.end as u32 }
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both (they must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// One source file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// What diagnostics print: a path relative to the working directory, or `std/hh.syl`.
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A leading byte order mark (U+FEFF, which some Windows editors write) is dropped here,
    /// the one place every text enters, so no parser sees it; spans are offsets into the text
    /// as stored, so they stay consistent.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let mut text = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        SourceFile { name: name.into(), text, line_starts }
    }

    /// Zero-based line index of a byte offset.
    pub fn line_index(&self, byte: usize) -> usize {
        match self.line_starts.binary_search(&byte) {
            Ok(line) => line,
            Err(next) => next - 1,
        }
    }

    /// Byte range of a zero-based line (including its newline).
    pub fn line_range(&self, line: usize) -> Option<Range<usize>> {
        let start = *self.line_starts.get(line)?;
        let end = self.line_starts.get(line + 1).copied().unwrap_or(self.text.len());
        Some(start..end)
    }

    /// One-based (line, column) of a byte offset, the column counted in characters.
    pub fn line_col(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let line = self.line_index(byte);
        let start = self.line_starts[line];
        let col = self.text.get(start..byte).map_or(0, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

/// All files of one compilation, in memory.
#[derive(Clone, Debug, Default)]
pub struct SourceDb {
    files: Vec<SourceFile>,
}

impl SourceDb {
    pub fn new() -> SourceDb {
        SourceDb::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(name, text));
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// Replaces a file's text (the language server does this on every edit).
    pub fn set_text(&mut self, id: FileId, text: impl Into<String>) {
        let name = std::mem::take(&mut self.files[id.0 as usize].name);
        self.files[id.0 as usize] = SourceFile::new(name, text);
    }

    pub fn find(&self, name: &str) -> Option<FileId> {
        self.files.iter().position(|f| f.name == name).map(|i| FileId(i as u32))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether `span` lies in a file of this database, start before end, both on character
    /// boundaries: what every diagnostic label must satisfy.
    pub fn contains(&self, span: Span) -> bool {
        self.files.get(span.file.0 as usize).is_some_and(|f| f.text.get(span.range()).is_some())
    }

    pub fn text(&self, span: Span) -> &str {
        self.get(span.file).text.get(span.range()).unwrap_or("")
    }
}

impl<'a> codespan_reporting::files::Files<'a> for SourceDb {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.files.get(id.0 as usize).map(|f| f.name.as_str()).ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.files.get(id.0 as usize).map(|f| f.text.as_str()).ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn line_index(&'a self, id: FileId, byte: usize) -> Result<usize, codespan_reporting::files::Error> {
        let file = self.files.get(id.0 as usize).ok_or(codespan_reporting::files::Error::FileMissing)?;
        Ok(file.line_index(byte))
    }

    fn line_range(&'a self, id: FileId, line: usize) -> Result<Range<usize>, codespan_reporting::files::Error> {
        let file = self.files.get(id.0 as usize).ok_or(codespan_reporting::files::Error::FileMissing)?;
        file.line_range(line)
            .ok_or(codespan_reporting::files::Error::LineTooLarge { given: line, max: file.line_starts.len() - 1 })
    }
}
