//! The tolerant pre-scan: splits a file into top-level items before pest sees it, collects the
//! `///` documentation comments, and finds what pest must never be given (unterminated strings
//! and comments, brackets nested too deeply).

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// Brackets (`(`, `[`, `{` together) nested deeper than this make their item an error: pest and
/// the tree builder are recursive.
pub(super) const MAX_NESTING: usize = 200;

/// How many times an unclosed item may be cut at a later item keyword in column 0.
const MAX_RESTARTS: usize = 1000;

/// The keywords that start a top-level item.
pub(super) const ITEM_KEYWORDS: [&str; 11] =
    ["import", "param", "fn", "density", "point", "species", "morphology", "cell", "network", "simulation", "train"];

/// One top-level item's text: `start..end` of the file, from its keyword to the next item.
pub(super) struct Chunk {
    pub start: usize,
    pub end: usize,
    /// A problem found by the scan; the item is then reported and not parsed.
    pub error: Option<Diagnostic>,
}

pub(super) struct Scan {
    pub chunks: Vec<Chunk>,
    pub docs: Docs,
    pub diags: Vec<Diagnostic>,
}

/// One `///` line.
struct DocLine {
    /// The `///`.
    start: usize,
    /// The end of the line (before the newline).
    end: usize,
    /// Only whitespace before it on its line.
    own_line: bool,
}

/// The documentation comments of a file, in order.
pub(super) struct Docs {
    lines: Vec<DocLine>,
}

impl Docs {
    /// The documentation of a declaration spanning `start..end`: the `///` lines directly
    /// before it, or else a `///` comment after it on the same line (`param g = 1  /// doc`).
    pub fn for_decl(&self, text: &str, start: usize, end: usize) -> Option<String> {
        self.leading(text, start).or_else(|| self.trailing(text, end))
    }

    fn leading(&self, text: &str, start: usize) -> Option<String> {
        let after = self.lines.partition_point(|d| d.end <= start);
        let last = after.checked_sub(1)?;
        let line = &self.lines[last];
        if !line.own_line || !is_blank(text.get(line.end..start)?) {
            return None;
        }
        let mut first = last;
        while first > 0 {
            let prev = &self.lines[first - 1];
            if prev.own_line && is_blank(text.get(prev.end..self.lines[first].start)?) {
                first -= 1;
            } else {
                break;
            }
        }
        Some(self.join(text, first..last + 1))
    }

    fn trailing(&self, text: &str, end: usize) -> Option<String> {
        let index = self.lines.partition_point(|d| d.start < end);
        let line = self.lines.get(index)?;
        let gap = text.get(end..line.start)?;
        if line.own_line || !gap.bytes().all(|b| matches!(b, b' ' | b'\t' | b',' | b';')) {
            return None;
        }
        Some(self.join(text, index..index + 1))
    }

    fn join(&self, text: &str, range: std::ops::Range<usize>) -> String {
        let mut out = String::new();
        for (i, line) in self.lines[range].iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let body = text.get(line.start + 3..line.end).unwrap_or("");
            let body = body.strip_suffix('\r').unwrap_or(body);
            out.push_str(body.strip_prefix(' ').unwrap_or(body));
        }
        out
    }
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_whitespace())
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes.get(from..).and_then(|rest| rest.iter().position(|&b| b == b'\n')).map_or(bytes.len(), |i| i + from)
}

/// Splits `text` into items. An item starts at an item keyword at bracket depth 0 and runs to
/// the next one. When the file ends inside an unclosed item, the item is cut at the first item
/// keyword it contains in column 0, and the scan resumes there.
pub(super) fn scan(file: FileId, text: &str) -> Scan {
    let mut scanner = Scanner::new(file, text);
    loop {
        if scanner.i >= scanner.bytes.len() {
            if scanner.cut_unclosed_item() {
                continue;
            }
            break;
        }
        scanner.step();
    }
    scanner.finish()
}

/// The state of [`scan`] as it walks the file.
struct Scanner<'t> {
    file: FileId,
    text: &'t str,
    bytes: &'t [u8],
    /// Where each item starts (its keyword), and its first error.
    starts: Vec<usize>,
    errors: Vec<Option<Diagnostic>>,
    lines: Vec<DocLine>,
    diags: Vec<Diagnostic>,
    /// The first token outside every item (before the first one).
    stray: Option<usize>,
    /// Bracket depth.
    depth: usize,
    line_start: usize,
    /// Only whitespace so far on the current line.
    line_blank: bool,
    /// The first item keyword in column 0 inside the current item, where to cut it if the file
    /// ends inside it.
    restart: Option<usize>,
    restarts: usize,
    i: usize,
}

impl<'t> Scanner<'t> {
    fn new(file: FileId, text: &'t str) -> Scanner<'t> {
        Scanner {
            file,
            text,
            bytes: text.as_bytes(),
            starts: Vec::new(),
            errors: Vec::new(),
            lines: Vec::new(),
            diags: Vec::new(),
            stray: None,
            depth: 0,
            line_start: 0,
            line_blank: true,
            restart: None,
            restarts: 0,
            i: 0,
        }
    }

    /// Records an error for the current item (the first one only), or for the file when no
    /// item has started yet and no stray text is reported there.
    fn report(&mut self, d: Diagnostic) {
        let stray = self.stray.is_some();
        match self.errors.last_mut() {
            Some(slot @ None) => *slot = Some(d),
            Some(Some(_)) => {}
            None if !stray => self.diags.push(d),
            None => {}
        }
    }

    /// Notes a token at `at` as stray if it is the first one and no item has started.
    fn mark_stray(&mut self, at: usize) {
        if self.stray.is_none() && self.starts.is_empty() {
            self.stray = Some(at);
        }
    }

    /// At the end of the file inside an unclosed item: cuts the item at its first item keyword
    /// in column 0 (dropping an error found after it, and its doc lines) and resumes the scan
    /// there. Returns whether it did.
    fn cut_unclosed_item(&mut self) -> bool {
        if self.depth > 0
            && self.restarts < MAX_RESTARTS
            && let Some(r) = self.restart.take()
        {
            self.restarts += 1;
            if let Some(slot) = self.errors.last_mut()
                && slot.as_ref().is_some_and(|d| d.primary.span.start as usize >= r)
            {
                *slot = None;
            }
            self.lines.retain(|d| d.start < r);
            self.depth = 0;
            self.i = r;
            self.line_start = r;
            self.line_blank = true;
            return true;
        }
        false
    }

    /// Scans the token (or trivia) at `i`.
    fn step(&mut self) {
        let (bytes, i) = (self.bytes, self.i);
        let b = bytes[i];
        let token = match b {
            b'\n' => {
                self.i += 1;
                self.line_start = self.i;
                self.line_blank = true;
                false
            }
            b' ' | b'\t' | b'\r' => {
                self.i += 1;
                false
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                self.line_comment();
                false
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                self.block_comment();
                false
            }
            b'"' => {
                self.string();
                false
            }
            b'(' | b'[' | b'{' => {
                self.open_bracket();
                true
            }
            b')' | b']' | b'}' => {
                self.depth = self.depth.saturating_sub(1);
                self.i += 1;
                true
            }
            _ if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                self.word();
                false
            }
            _ => {
                self.i += 1;
                true
            }
        };
        if token {
            self.line_blank = false;
            self.mark_stray(self.i - 1);
        }
    }

    /// `//` to the end of the line; a `///` line (not `////`) is documentation.
    fn line_comment(&mut self) {
        let (bytes, i) = (self.bytes, self.i);
        let end = line_end(bytes, i);
        if bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/') {
            self.lines.push(DocLine { start: i, end, own_line: self.line_blank });
        }
        self.i = end;
    }

    /// `/* … */`; one without `*/` is an error and ends the scan.
    fn block_comment(&mut self) {
        let (bytes, i) = (self.bytes, self.i);
        match find(bytes, i + 2, b"*/") {
            Some(close) => {
                if let Some(nl) = bytes[i..close].iter().rposition(|&b| b == b'\n') {
                    self.line_start = i + nl + 1;
                    self.line_blank = false;
                }
                self.i = close + 2;
            }
            None => {
                let d = Diagnostic::error(Code::Syntax, Span::new(self.file, i..i + 2), "unterminated block comment")
                    .label("this comment has no `*/`");
                self.report(d);
                self.i = bytes.len();
            }
        }
    }

    /// A string, closed on its line (an error otherwise); `\` escapes the next byte.
    fn string(&mut self) {
        let (bytes, i) = (self.bytes, self.i);
        self.mark_stray(i);
        let mut j = i + 1;
        loop {
            match bytes.get(j) {
                None | Some(b'\n') => {
                    let end = if j > i + 1 { j } else { i + 1 };
                    let d = Diagnostic::error(Code::InvalidString, Span::new(self.file, i..end), "unterminated string")
                        .label("this string has no closing `\"` on its line");
                    self.report(d);
                    break;
                }
                Some(b'\\') if bytes.get(j + 1).is_some_and(|&b| b != b'\n') => j += 2,
                Some(b'"') => {
                    j += 1;
                    break;
                }
                Some(_) => j += 1,
            }
        }
        self.line_blank = false;
        self.i = j;
    }

    /// An opening bracket; one nested deeper than [`MAX_NESTING`] is an error.
    fn open_bracket(&mut self) {
        let i = self.i;
        self.mark_stray(i);
        self.depth += 1;
        if self.depth == MAX_NESTING + 1 {
            let d = Diagnostic::error(Code::Syntax, Span::new(self.file, i..i + 1), "nesting too deep")
                .label(format!("more than {MAX_NESTING} nested brackets"));
            self.report(d);
        }
        self.i += 1;
    }

    /// A word: an item keyword at depth 0 starts an item; one in column 0 inside an item is
    /// where that item is cut if it is never closed.
    fn word(&mut self) {
        let (bytes, i) = (self.bytes, self.i);
        let mut j = i + 1;
        while j < bytes.len() && is_word_byte(bytes[j]) {
            j += 1;
        }
        let word = &bytes[i..j];
        if ITEM_KEYWORDS.iter().any(|k| k.as_bytes() == word) {
            if self.depth == 0 {
                self.starts.push(i);
                self.errors.push(None);
                self.restart = None;
            } else if i == self.line_start && self.restart.is_none() && !self.starts.is_empty() {
                self.restart = Some(i);
            }
        }
        self.mark_stray(i);
        self.line_blank = false;
        self.i = j;
    }

    /// The items, each to the start of the next, the doc lines, and the file's diagnostics
    /// (stray text first).
    fn finish(self) -> Scan {
        let Scanner { file, text, bytes, starts, errors, lines, mut diags, stray, .. } = self;
        if let Some(pos) = stray {
            diags.insert(0, not_an_item(file, text, pos));
        }
        let n = bytes.len();
        let chunks = starts
            .iter()
            .enumerate()
            .zip(errors)
            .map(|((k, &start), error)| Chunk { start, end: starts.get(k + 1).copied().unwrap_or(n), error })
            .collect();
        Scan { chunks, docs: Docs { lines }, diags }
    }
}

/// "expected an item, found `x`" for text outside every item.
pub(super) fn not_an_item(file: FileId, text: &str, pos: usize) -> Diagnostic {
    let (range, found) = token_at(text, pos);
    Diagnostic::error(Code::Syntax, Span::new(file, range), format!("expected an item, found {found}"))
        .label("expected an item")
        .help(format!(
            "an item starts with {}",
            super::errors::join_or(&ITEM_KEYWORDS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>())
        ))
}

/// The name an item declares (`cell c {` → `c`), read without the grammar for an item that did
/// not parse; `None` for `import` and `simulation`, or where no name follows the keyword.
pub(super) fn item_name(text: &str, start: usize) -> Option<(std::ops::Range<usize>, String)> {
    let word = |at: usize| {
        let rest = &text[at..];
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let first = rest.chars().next()?;
        (len > 0 && !first.is_ascii_digit()).then(|| (at..at + len, rest[..len].to_string()))
    };
    let (keyword, kind) = word(skip_trivia(text, start))?;
    if kind == "import" || kind == "simulation" || !ITEM_KEYWORDS.contains(&kind.as_str()) {
        return None;
    }
    word(skip_trivia(text, keyword.end))
}

/// Skips whitespace and comments from `pos`.
pub(super) fn skip_trivia(text: &str, mut pos: usize) -> usize {
    let bytes = text.as_bytes();
    loop {
        match bytes.get(pos) {
            Some(b) if b.is_ascii_whitespace() => pos += 1,
            Some(b'/') if bytes.get(pos + 1) == Some(&b'/') => pos = line_end(bytes, pos),
            Some(b'/') if bytes.get(pos + 1) == Some(&b'*') => {
                pos = find(bytes, pos + 2, b"*/").map_or(bytes.len(), |close| close + 2);
            }
            Some(_) if text[pos..].starts_with('\u{FEFF}') => pos += '\u{FEFF}'.len_utf8(),
            _ => return pos.min(bytes.len()),
        }
    }
}

/// The token at `pos` (after trivia) for "found …": its byte range and its description, such as
/// "`foo`" or "end of file".
pub(super) fn token_at(text: &str, pos: usize) -> (std::ops::Range<usize>, String) {
    let mut pos = skip_trivia(text, pos.min(text.len()));
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let rest = &text[pos..];
    let Some(c) = rest.chars().next() else {
        return (text.len()..text.len(), "end of file".to_string());
    };
    let len = if c.is_alphanumeric() || c == '_' {
        if c.is_ascii_digit() {
            // A number with its exponent; `0..5` stops before the `..`.
            let b = rest.as_bytes();
            let mut j = 0;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || (b[j] == b'.' && b.get(j + 1) != Some(&b'.')))
            {
                j += 1;
            }
            j
        } else {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len())
        }
    } else if c == '"' {
        let b = rest.as_bytes();
        let mut j = 1;
        while j < b.len() && b[j] != b'\n' {
            if b[j] == b'\\' && j + 1 < b.len() && b[j + 1] != b'\n' {
                j += 2;
                continue;
            }
            j += 1;
            if b[j - 1] == b'"' {
                break;
            }
        }
        j.min(b.len())
    } else {
        const PUNCT: [&str; 12] = ["<->", "->", "..", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "///"];
        PUNCT.iter().find(|p| rest.starts_with(**p)).map_or(c.len_utf8(), |p| p.len())
    };
    let mut len = len.max(c.len_utf8()).min(rest.len());
    while !rest.is_char_boundary(len) {
        len -= 1;
    }
    let shown: String = rest[..len]
        .chars()
        .take(40)
        .flat_map(|c| if c.is_control() { c.escape_debug().collect() } else { vec![c] })
        .collect();
    let ellipsis = if rest[..len].chars().count() > 40 { "…" } else { "" };
    let tick = if shown.contains('`') { "``" } else { "`" };
    let space = if shown.starts_with('`') || shown.ends_with('`') { " " } else { "" };
    (pos..pos + len, format!("{tick}{space}{shown}{ellipsis}{space}{tick}"))
}
