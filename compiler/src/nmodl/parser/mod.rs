//! A recursive-descent parser of NMODL into a small AST with a span on every node. A block it
//! cannot read is reported (E0801) and skipped to its closing brace, so that the rest of the
//! file is still parsed; a construct it reads but Sylva cannot translate is kept as
//! `Unsupported` for the translator to report (E0802).

use super::lexer::{Tok, Token, lex};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

use super::ast::*;

mod stmt;

/// Blocks that are valid NMODL but that this translator does not handle.
pub const UNSUPPORTED_BLOCKS: &[&str] = &[
    "LINEAR",
    "NONLINEAR",
    "DISCRETE",
    "PARTIAL",
    "FUNCTION_TABLE",
    "BEFORE",
    "AFTER",
    "CONSTRUCTOR",
    "DESTRUCTOR",
    "STEPPED",
    "LAG",
];

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    text: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
    depth: usize,
}

/// Parses an NMODL file. Errors go into `diagnostics`; the result holds what could be read.
pub fn parse(file: FileId, text: &str, diagnostics: &mut Vec<Diagnostic>) -> ModFile {
    let lexed = lex(file, text, diagnostics);
    let mut p = Parser { tokens: lexed.tokens, pos: 0, text, diagnostics, depth: 0 };
    let mut out = ModFile { title: None, comments: Vec::new(), items: Vec::new(), line_comments: lexed.comments };
    while !p.at_eof() {
        let before = p.pos;
        p.item(&mut out);
        if p.pos == before {
            p.pos += 1;
        }
    }
    out
}

/// A reported syntax error: the caller recovers.
#[derive(Debug)]
struct Fail;

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    fn token(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn span(&self) -> Span {
        self.token().span
    }

    fn at_eof(&self) -> bool {
        matches!(self.peek(), Tok::Eof)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == w)
    }

    fn bump(&mut self) -> Token {
        let t = self.token().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error(&mut self, span: Span, message: impl Into<String>, label: &str) -> Fail {
        self.diagnostics.push(Diagnostic::error(Code::NmodlSyntax, span, message).label(label));
        Fail
    }

    fn describe(&self) -> String {
        match self.peek() {
            Tok::Name(n) => format!("`{n}`"),
            Tok::Number(n) => format!("`{n}`"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Comment(_) => "`COMMENT`".into(),
            Tok::Verbatim => "`VERBATIM`".into(),
            Tok::Title(_) => "`TITLE`".into(),
            Tok::Eof => "the end of the file".into(),
        }
    }

    fn expect(&mut self, p: &str) -> Result<Span, Fail> {
        if self.is_punct(p) {
            return Ok(self.bump().span);
        }
        let found = self.describe();
        let span = self.span();
        Err(self.error(span, format!("expected `{p}`, found {found}"), &format!("expected `{p}`")))
    }

    fn name(&mut self) -> Result<(String, Span), Fail> {
        if let Tok::Name(n) = self.peek() {
            let n = n.clone();
            return Ok((n, self.bump().span));
        }
        let found = self.describe();
        let span = self.span();
        Err(self.error(span, format!("expected a name, found {found}"), "expected a name"))
    }

    /// Skips a balanced `{ … }` group (the opening brace is next, or nothing is skipped).
    fn skip_braces(&mut self) {
        if !self.is_punct("{") {
            return;
        }
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Tok::Eof => return,
                Tok::Punct("{") => depth += 1,
                Tok::Punct("}") => {
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips to the next `{` on this level and over its group: recovery for a broken block.
    fn skip_block(&mut self) {
        while !self.at_eof() && !self.is_punct("{") && !self.is_punct("}") {
            self.bump();
        }
        self.skip_braces();
    }

    /// The text between a `(` (next) and its `)`, as written: a unit.
    fn paren_text(&mut self) -> Result<(String, Span), Fail> {
        let open = self.expect("(")?;
        let mut depth = 1;
        let start = open.end as usize;
        loop {
            match self.peek() {
                Tok::Eof => {
                    return Err(self.error(open, "`(` without `)`", "never closed"));
                }
                Tok::Punct("(") => depth += 1,
                Tok::Punct(")") => {
                    depth -= 1;
                    if depth == 0 {
                        let close = self.bump().span;
                        let text = unit_text(&self.text[start..close.start as usize]);
                        return Ok((text, open.to(close)));
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn item(&mut self, out: &mut ModFile) {
        let token = self.token().clone();
        match &token.tok {
            Tok::Title(t) => {
                self.bump();
                out.title = Some(t.clone());
            }
            Tok::Comment(t) => {
                self.bump();
                out.comments.push(t.clone());
            }
            Tok::Verbatim => {
                self.bump();
                out.items.push(Item::Unsupported("VERBATIM".into(), token.span));
            }
            Tok::Name(word) => {
                let word = word.clone();
                self.bump();
                let result = match word.as_str() {
                    "UNITSON" | "UNITSOFF" | "THREADSAFE" => Ok(()),
                    // `INDEPENDENT { t FROM 0 TO 1 WITH 1 (ms) }` only names the time variable.
                    "INDEPENDENT" => {
                        self.skip_braces();
                        Ok(())
                    }
                    "NEURON" => self.neuron().map(|n| out.items.push(Item::Neuron(n))),
                    "UNITS" => self.units().map(|u| out.items.push(Item::Units(u))),
                    "PARAMETER" | "CONSTANT" => self.decls(true).map(|d| out.items.push(Item::Parameter(d))),
                    "ASSIGNED" => self.decls(false).map(|d| out.items.push(Item::Assigned(d))),
                    // A file-level `LOCAL a, b`: variables shared by the blocks, as ASSIGNED.
                    "LOCAL" => self.local_names().map(|names| {
                        let decls = names.into_iter().map(|(name, span)| {
                            let line = self.tokens.iter().find(|t| t.span == span).map_or(0, |t| t.line);
                            Decl { name, span, line, value: None, unit: None, range: None }
                        });
                        out.items.push(Item::Assigned(decls.collect()));
                    }),
                    "STATE" => self.decls(false).map(|d| out.items.push(Item::State(d))),
                    "INITIAL" => self.block().map(|b| out.items.push(Item::Initial(b, token.span))),
                    "BREAKPOINT" => self.block().map(|b| out.items.push(Item::Breakpoint(b, token.span))),
                    "DERIVATIVE" => self.name().and_then(|(n, _)| {
                        let b = self.block()?;
                        out.items.push(Item::Derivative(n, b, token.span));
                        Ok(())
                    }),
                    "KINETIC" => self.name().and_then(|(n, _)| {
                        let b = self.block()?;
                        out.items.push(Item::Kinetic(n, b, token.span));
                        Ok(())
                    }),
                    "NET_RECEIVE" => self.net_receive(token.span).map(|i| out.items.push(i)),
                    "PROCEDURE" | "FUNCTION" => {
                        self.function(word == "FUNCTION").map(|f| out.items.push(Item::Procedure(f)))
                    }
                    _ => {
                        out.items.push(Item::Unsupported(word.clone(), token.span));
                        self.skip_block();
                        Ok(())
                    }
                };
                if result.is_err() {
                    self.skip_block();
                }
            }
            _ => {
                let found = self.describe();
                self.error(token.span, format!("expected a block such as `NEURON {{`, found {found}"), "not a block");
                self.bump();
            }
        }
    }

    fn names_list(&mut self) -> Vec<(String, Span)> {
        let mut names = Vec::new();
        while let Tok::Name(n) = self.peek() {
            if is_neuron_keyword(n) {
                break;
            }
            let n = n.clone();
            names.push((n, self.bump().span));
            if self.is_punct(",") {
                self.bump();
            } else {
                break;
            }
        }
        names
    }

    fn neuron(&mut self) -> Result<Vec<NeuronStmt>, Fail> {
        self.expect("{")?;
        let mut out = Vec::new();
        while !self.is_punct("}") {
            if self.at_eof() {
                let span = self.span();
                return Err(self.error(span, "the NEURON block is not closed", "expected `}`"));
            }
            let (word, span) = match self.peek() {
                Tok::Name(_) => self.name()?,
                Tok::Verbatim => {
                    out.push(NeuronStmt::Unsupported("VERBATIM".into(), self.bump().span));
                    continue;
                }
                _ => {
                    let found = self.describe();
                    let span = self.span();
                    self.bump();
                    self.error(span, format!("expected a NEURON statement, found {found}"), "not understood");
                    continue;
                }
            };
            match word.as_str() {
                "SUFFIX" => {
                    let (n, s) = self.name()?;
                    out.push(NeuronStmt::Suffix(n, s));
                }
                "POINT_PROCESS" => {
                    let (n, s) = self.name()?;
                    out.push(NeuronStmt::PointProcess(n, s));
                }
                "USEION" => {
                    let (ion, span) = self.name()?;
                    let (mut read, mut write, mut valence) = (Vec::new(), Vec::new(), None);
                    loop {
                        if self.is_word("READ") {
                            self.bump();
                            read.extend(self.names_list());
                        } else if self.is_word("WRITE") {
                            self.bump();
                            write.extend(self.names_list());
                        } else if self.is_word("VALENCE") {
                            self.bump();
                            let minus = if self.is_punct("-") {
                                self.bump();
                                "-"
                            } else {
                                ""
                            };
                            if let Tok::Number(n) = self.peek() {
                                valence = Some(format!("{minus}{n}"));
                                self.bump();
                            }
                        } else {
                            break;
                        }
                    }
                    out.push(NeuronStmt::UseIon { ion, span, read, write, valence });
                }
                "NONSPECIFIC_CURRENT" => out.push(NeuronStmt::Nonspecific(self.names_list())),
                "ELECTRODE_CURRENT" => out.push(NeuronStmt::ElectrodeCurrent(self.names_list())),
                "RANGE" => out.push(NeuronStmt::Range(self.names_list())),
                "GLOBAL" => out.push(NeuronStmt::Global(self.names_list())),
                "POINTER" => out.push(NeuronStmt::Pointer(self.names_list())),
                "THREADSAFE" => {}
                _ => {
                    out.push(NeuronStmt::Unsupported(word.clone(), span));
                    self.names_list();
                }
            }
        }
        self.bump();
        Ok(out)
    }

    fn units(&mut self) -> Result<Vec<UnitDef>, Fail> {
        self.expect("{")?;
        let mut out = Vec::new();
        while !self.is_punct("}") {
            let start = self.span();
            let (lhs, lhs_is_unit) =
                if self.is_punct("(") { (self.paren_text()?.0, true) } else { (self.name()?.0, false) };
            let eq_line = self.token().line;
            self.expect("=")?;
            let mut rhs = Vec::new();
            while self.token().line == eq_line {
                if self.is_punct("(") {
                    rhs.push(self.paren_text()?.0);
                } else if matches!(self.peek(), Tok::Number(_) | Tok::Punct("-")) {
                    rhs.push(format!("#{}", self.number()?.0));
                } else {
                    break;
                }
            }
            let span = start.to(self.tokens[self.pos.saturating_sub(1)].span);
            out.push(UnitDef { lhs, lhs_is_unit, rhs, span });
        }
        self.bump();
        Ok(out)
    }

    /// A signed number as written.
    fn number(&mut self) -> Result<(String, Span), Fail> {
        let start = self.span();
        let minus = if self.is_punct("-") {
            self.bump();
            "-"
        } else {
            if self.is_punct("+") {
                self.bump();
            }
            ""
        };
        if let Tok::Number(n) = self.peek() {
            let n = format!("{minus}{n}");
            let end = self.bump().span;
            return Ok((n, start.to(end)));
        }
        let found = self.describe();
        let span = self.span();
        Err(self.error(span, format!("expected a number, found {found}"), "expected a number"))
    }

    fn decls(&mut self, values: bool) -> Result<Vec<Decl>, Fail> {
        self.expect("{")?;
        let mut out = Vec::new();
        while !self.is_punct("}") {
            if self.is_word("UNITSON") || self.is_word("UNITSOFF") {
                self.bump();
                continue;
            }
            let line = self.token().line;
            let (name, span) = self.name()?;
            let mut decl = Decl { name, span, line, value: None, unit: None, range: None };
            let size = self.array_size()?;
            if values && self.is_punct("=") {
                self.bump();
                decl.value = Some(self.number()?);
            }
            if self.is_punct("(") {
                decl.unit = Some(self.paren_text()?);
            }
            if self.is_punct("<") {
                self.bump();
                let lo = self.number()?.0;
                // `<1e-5>` after a STATE: CVODE's absolute tolerance, nothing to translate.
                if self.is_punct(">") {
                    self.bump();
                } else {
                    self.expect(",")?;
                    let hi = self.number()?.0;
                    self.expect(">")?;
                    decl.range = Some((lo, hi));
                }
            }
            // STATE's `FROM lo TO hi` and a start value `x = 0` of an ASSIGNED/STATE.
            if self.is_word("FROM") {
                self.bump();
                self.number()?;
                if self.is_word("TO") {
                    self.bump();
                    self.number()?;
                }
            }
            if !values && self.is_punct("=") {
                self.bump();
                self.number()?;
            }
            match size {
                Some(n) => out.extend(elements(&decl.name, n).map(|name| Decl { name, ..decl.clone() })),
                None => out.push(decl),
            }
        }
        self.bump();
        Ok(out)
    }

    /// `[N]` after a declared name: an array of constant size, declared element by element
    /// (`x[0]`, `x[1]`, …); `None` without brackets or (reported) with a size out of range.
    pub(super) fn array_size(&mut self) -> Result<Option<usize>, Fail> {
        if !self.is_punct("[") {
            return Ok(None);
        }
        let start = self.bump().span;
        let (n, _) = self.number()?;
        let end = self.expect("]")?;
        match n.parse::<usize>() {
            Ok(size) if (1..=MAX_ARRAY).contains(&size) => Ok(Some(size)),
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::NmodlUnsupported,
                        start.to(end),
                        format!("an array of {n} elements: Sylva translates arrays of 1 to {MAX_ARRAY} elements"),
                    )
                    .label("array size"),
                );
                Ok(None)
            }
        }
    }

    fn function(&mut self, is_function: bool) -> Result<Function, Fail> {
        let (name, span) = self.name()?;
        let params = self.params()?;
        if self.is_punct("(") {
            self.paren_text()?;
        }
        let body = self.block()?;
        Ok(Function { name, span, params, body, is_function })
    }

    /// `(a (unit), b, …)`: the parameters of a FUNCTION, PROCEDURE or NET_RECEIVE.
    fn params(&mut self) -> Result<Vec<(String, Span, Option<String>)>, Fail> {
        self.expect("(")?;
        let mut params = Vec::new();
        while !self.is_punct(")") {
            let (p, s) = self.name()?;
            let unit = if self.is_punct("(") { Some(self.paren_text()?.0) } else { None };
            params.push((p, s, unit));
            if self.is_punct(",") {
                self.bump();
            } else {
                break;
            }
        }
        self.expect(")")?;
        Ok(params)
    }

    fn net_receive(&mut self, span: Span) -> Result<Item, Fail> {
        let params = self.params()?;
        let body = self.block()?;
        Ok(Item::NetReceive { params, body, span })
    }

    fn args(&mut self) -> Result<Vec<Expr>, Fail> {
        self.expect("(")?;
        let mut args = Vec::new();
        while !self.is_punct(")") {
            args.push(self.expr()?);
            if self.is_punct(",") {
                self.bump();
            } else {
                break;
            }
        }
        self.expect(")")?;
        Ok(args)
    }

    pub fn expr(&mut self) -> Result<Expr, Fail> {
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, Fail> {
        const LEVELS: &[&[&str]] = &[&["||"], &["&&"], &["<", "<=", ">", ">=", "==", "!="], &["+", "-"], &["*", "/"]];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            let op = match self.peek() {
                Tok::Punct(p) if LEVELS[level].contains(p) => *p,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.binary(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, Fail> {
        if self.depth > 200 {
            let span = self.span();
            return Err(self.error(span, "an expression nested too deeply", "more than 200 levels"));
        }
        if self.is_punct("-") || self.is_punct("!") || self.is_punct("+") {
            let op = if self.is_punct("-") {
                "-"
            } else if self.is_punct("!") {
                "!"
            } else {
                "+"
            };
            self.bump();
            self.depth += 1;
            let e = self.unary();
            self.depth -= 1;
            let e = e?;
            return Ok(if op == "+" { e } else { Expr::Unary(op, Box::new(e)) });
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr, Fail> {
        let base = self.primary()?;
        if self.is_punct("^") {
            self.bump();
            self.depth += 1;
            let exponent = self.unary();
            self.depth -= 1;
            return Ok(Expr::Binary("^", Box::new(base), Box::new(exponent?)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, Fail> {
        let token = self.token().clone();
        match &token.tok {
            Tok::Number(n) => {
                self.bump();
                // A unit after a number in an expression (`2 (mV)`) is only a declaration of
                // NMODL's unit checker: the number is the same.
                if self.is_punct("(") && self.paren_is_unit() {
                    self.paren_text()?;
                }
                Ok(Expr::Number(n.clone(), token.span))
            }
            Tok::Name(n) => {
                self.bump();
                if self.is_punct("[") {
                    let index = self.index()?;
                    let end = self.tokens[self.pos - 1].span;
                    return Ok(Expr::Index(n.clone(), token.span.to(end), Box::new(index)));
                }
                if self.is_punct("(") {
                    let args = self.args()?;
                    let end = self.tokens[self.pos - 1].span;
                    return Ok(Expr::Call(n.clone(), token.span.to(end), args));
                }
                Ok(Expr::Name(n.clone(), token.span))
            }
            Tok::Punct("(") => {
                self.bump();
                self.depth += 1;
                let e = self.expr();
                self.depth -= 1;
                let e = e?;
                self.expect(")")?;
                Ok(e)
            }
            _ => {
                let found = self.describe();
                Err(self.error(token.span, format!("expected an expression, found {found}"), "expected an expression"))
            }
        }
    }

    /// Whether the `(` next opens a unit (letters and `/` only) rather than a factor.
    fn paren_is_unit(&self) -> bool {
        let mut i = self.pos + 1;
        let mut letters = false;
        while let Some(t) = self.tokens.get(i) {
            match &t.tok {
                Tok::Punct(")") => return letters,
                Tok::Name(_) => letters = true,
                Tok::Punct("/") | Tok::Punct("-") | Tok::Number(_) => {}
                _ => return false,
            }
            i += 1;
        }
        false
    }
}

/// A unit as written between parentheses, blanks removed; a blank between two names is NMODL's
/// product (`/ms mM` is `/ms-mM`).
/// The largest array Sylva translates (each element becomes a variable of its own).
const MAX_ARRAY: usize = 64;

/// The names of the elements of array `name`: `name[0]` … `name[size - 1]`.
pub(super) fn elements(name: &str, size: usize) -> impl Iterator<Item = String> + '_ {
    (0..size).map(move |k| format!("{name}[{k}]"))
}

fn unit_text(written: &str) -> String {
    let mut out = String::new();
    for word in written.split_whitespace() {
        let glued =
            out.ends_with(|c: char| c.is_ascii_alphanumeric()) && word.starts_with(|c: char| c.is_ascii_alphabetic());
        if glued {
            out.push('-');
        }
        out.push_str(word);
    }
    out
}

fn is_neuron_keyword(word: &str) -> bool {
    matches!(
        word,
        "SUFFIX"
            | "POINT_PROCESS"
            | "ARTIFICIAL_CELL"
            | "USEION"
            | "READ"
            | "WRITE"
            | "VALENCE"
            | "NONSPECIFIC_CURRENT"
            | "ELECTRODE_CURRENT"
            | "RANGE"
            | "GLOBAL"
            | "POINTER"
            | "BBCOREPOINTER"
            | "EXTERNAL"
            | "THREADSAFE"
            | "REPRESENTS"
    )
}
