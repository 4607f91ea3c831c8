//! NMODL's tokens. Comments (`:` and `?` to the end of the line) are kept beside the tokens
//! with their line, so that the translator can carry them over; `COMMENT … ENDCOMMENT`,
//! `VERBATIM … ENDVERBATIM` and `TITLE …` are single tokens holding their text.

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Name(String),
    /// A number as written (`.5`, `1e-3`).
    Number(String),
    /// One of `{ } ( ) , = ' + - * / ^ < > <= >= == != && || ! ~ <-> <<`.
    Punct(&'static str),
    /// The text of a `COMMENT … ENDCOMMENT` block.
    Comment(String),
    /// A `VERBATIM … ENDVERBATIM` block (C code).
    Verbatim,
    /// The rest of a `TITLE` line.
    Title(String),
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
    /// Zero-based line of the token's start.
    pub line: usize,
}

/// A `:` or `?` comment: its text (without the marker) and its zero-based line.
#[derive(Clone, Debug)]
pub struct LineComment {
    pub text: String,
    pub line: usize,
    /// Whether nothing but blanks precedes it on its line.
    pub own_line: bool,
}

pub struct Lexed {
    pub tokens: Vec<Token>,
    pub comments: Vec<LineComment>,
}

const PUNCT: &[&str] = &[
    "<->", "<<", "<=", ">=", "==", "!=", "&&", "||", "{", "}", "(", ")", ",", "=", "'", "+", "-", "*", "/", "^", "<",
    ">", "!", "~", "[", "]", "@",
];

pub fn lex(file: FileId, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Lexed {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut comments = Vec::new();
    let mut i = 0;
    let mut line = 0;
    let mut line_start = 0;
    let span = |a: usize, b: usize| Span::new(file, a..b);
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            line_start = i;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b':' || c == b'?' {
            let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            let own_line = text[line_start..i].trim().is_empty();
            comments.push(LineComment { text: text[i + 1..end].trim().to_string(), line, own_line });
            i = end;
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &text[start..i];
            let block_end = match word {
                "COMMENT" => Some("ENDCOMMENT"),
                "VERBATIM" => Some("ENDVERBATIM"),
                _ => None,
            };
            if let Some(end_word) = block_end {
                let (inner_end, end) = match text[i..].find(end_word) {
                    Some(n) => (i + n, i + n + end_word.len()),
                    None => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::NmodlSyntax,
                                span(start, i),
                                format!("`{word}` without `{end_word}`"),
                            )
                            .label("never closed"),
                        );
                        (text.len(), text.len())
                    }
                };
                let tok = if word == "COMMENT" { Tok::Comment(text[i..inner_end].to_string()) } else { Tok::Verbatim };
                tokens.push(Token { tok, span: span(start, i), line });
                line += text[start..end].matches('\n').count();
                if let Some(n) = text[start..end].rfind('\n') {
                    line_start = start + n + 1;
                }
                i = end;
                continue;
            }
            if word == "TITLE" {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                tokens.push(Token { tok: Tok::Title(text[i..end].trim().to_string()), span: span(start, i), line });
                i = end;
                continue;
            }
            tokens.push(Token { tok: Tok::Name(word.to_string()), span: span(start, i), line });
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            tokens.push(Token { tok: Tok::Number(text[start..i].to_string()), span: span(start, i), line });
            continue;
        }
        if let Some(p) = PUNCT.iter().find(|p| text[i..].starts_with(**p)) {
            i += p.len();
            tokens.push(Token { tok: Tok::Punct(p), span: span(start, i), line });
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        i += ch.len_utf8();
        diagnostics.push(
            Diagnostic::error(
                Code::NmodlSyntax,
                span(start, i),
                format!("unexpected character `{}`", ch.escape_debug()),
            )
            .label("not part of NMODL"),
        );
    }
    tokens.push(Token { tok: Tok::Eof, span: span(text.len(), text.len()), line });
    Lexed { tokens, comments }
}
