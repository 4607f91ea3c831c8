//! Completion. The item being typed rarely parses, so the context comes from the text before
//! the cursor (the words on its line and the headers of the enclosing `{` blocks); the names
//! offered come from the parsed items of the compilation, and from the text of the enclosing
//! block where its item does not parse.

use super::resolve::{BUILTIN_REGIONS, Index, MECHANISM_BUILTINS, mechanism_kind, morphology_names};
use super::walk::Decl;
use crate::driver::Compilation;
use crate::source::{FileId, SourceDb};
use crate::stdlib;
use crate::syntax::ast;
use crate::units;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Module,
    Mechanism,
    Param,
    State,
    Variable,
    Function,
    Region,
    Unit,
    Cell,
    Morphology,
    Constant,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A short description: a unit, a mechanism's kind, a default.
    pub detail: String,
}

const TOP_KEYWORDS: &[&str] =
    &["import", "param", "fn", "density", "point", "species", "morphology", "cell", "network", "simulation", "train"];
const MECHANISM_KEYWORDS: &[&str] =
    &["param", "state", "gate", "let", "ion", "current", "kinetic", "initial", "on event", "fn", "electrode current"];
const CELL_KEYWORDS: &[&str] = &["morphology", "insert", "synapse", "detector", "species", "cm", "Ra", "v_init"];
const NETWORK_KEYWORDS: &[&str] = &["population", "connect", "source", "stimulus", "probe", "record spikes"];
const TRAIN_KEYWORDS: &[&str] = &["trainable", "target", "loss", "optimizer", "iterations", "seed"];

/// An open `{` before the cursor.
struct Block<'t> {
    /// The text of its line before the brace (the block's header).
    header: &'t str,
    /// Offset of the brace.
    open: usize,
}

/// What may be typed at `offset` in `file`, filtered by the word before the cursor.
pub fn completions(db: &SourceDb, compilation: &Compilation, file: FileId, offset: u32) -> Vec<Completion> {
    let text = db.get(file).text.as_str();
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let word_start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(offset, |(i, _)| i);
    let word = &text[word_start..offset];
    let line_start = text[..word_start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..word_start];
    let blocks = open_blocks(text, word_start);
    let index = Index::new(db, compilation);
    let mut out = Vec::new();
    context(&index, text, before, &blocks, &mut out);
    let lower = word.to_lowercase();
    out.retain(|c| c.label.to_lowercase().starts_with(&lower));
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.label.clone()));
    out
}

/// The completions for the text before the cursor: what a keyword or `=` asks for, the
/// parameters of a placed mechanism, what an item's statements start with, or else the names
/// an expression may use.
fn context(index: &Index<'_>, text: &str, before: &str, blocks: &[Block<'_>], out: &mut Vec<Completion>) {
    let cx = Context::new(before, blocks);
    if cx.after_keyword(index, text, out) || cx.placed_params(index, out) || cx.item_members(index, text, out) {
        return;
    }
    expression_names(index, out);
}

/// Where the cursor is, as the text before it tells.
struct Context<'c> {
    before: &'c str,
    /// The words of the line before the word being typed.
    words: Vec<&'c str>,
    /// The last of them, or "".
    last: &'c str,
    blocks: &'c [Block<'c>],
    /// The outermost open block: the item being typed.
    outer: Option<&'c Block<'c>>,
    /// Its keyword (`cell`, `density`, …), or "" outside every item.
    item_kind: &'c str,
    /// Its name, or "".
    item_name: &'c str,
    /// Nothing before on the line, or just after `{` or `,`.
    at_statement_start: bool,
}

impl<'c> Context<'c> {
    fn new(before: &'c str, blocks: &'c [Block<'c>]) -> Context<'c> {
        let words: Vec<&str> = before.split_whitespace().collect();
        let trimmed = before.trim_end();
        let last = words.last().copied().unwrap_or("");
        let outer = blocks.first();
        let outer_words: Vec<&str> = outer.map(|b| b.header.split_whitespace().collect()).unwrap_or_default();
        let item_kind = outer_words.first().copied().unwrap_or("");
        let item_name = outer_words.get(1).map(|n| n.trim_end_matches('{')).unwrap_or("");
        let at_statement_start = words.is_empty() || trimmed.ends_with('{') || trimmed.ends_with(',');
        Context { before, words, last, blocks, outer, item_kind, item_name, at_statement_start }
    }

    /// What a keyword or `=` before the cursor asks for: a module, a mechanism, a cell, a
    /// morphology, a region, a unit. Returns whether it asked for one.
    fn after_keyword(&self, index: &Index<'_>, text: &str, out: &mut Vec<Completion>) -> bool {
        let (words, last) = (&self.words, self.last);
        if *words == ["import"] {
            for name in stdlib::names() {
                out.push(Completion {
                    label: name.to_string(),
                    kind: CompletionKind::Module,
                    detail: stdlib::file_name(name),
                });
            }
        } else if last == "insert" {
            mechanisms(index, Some(ast::MechanismKind::Density), out);
        } else if self.item_kind == "train" && last == "trainable" {
            mechanisms(index, Some(ast::MechanismKind::Density), out);
            keywords(&["cm", "Ra"], out);
        } else if self.item_kind == "train" && *words == ["optimizer", "="] {
            keywords(&["adam", "sgd", "lbfgs"], out);
        } else if self.item_kind == "train" && *words == ["loss", "="] {
            keywords(&["mse"], out);
        } else if last == "=" && matches!(words.first(), Some(&"synapse" | &"stimulus")) {
            mechanisms(index, Some(ast::MechanismKind::Point), out);
        } else if last == "=" && words.first() == Some(&"population") {
            items(index, out, |d| matches!(d, Decl::Cell(_)), CompletionKind::Cell);
        } else if *words == ["morphology", "="] {
            items(index, out, |d| matches!(d, Decl::Morphology(_)), CompletionKind::Morphology);
        } else if self.item_kind == "cell" && matches!(last, "in" | "at") {
            regions(index, text, self.item_name, self.outer, out);
        } else if wants_unit(self.before, words) {
            for u in units::known_units() {
                let detail = units::parse_unit(u).map(|p| p.dim.describe()).unwrap_or_default();
                out.push(Completion { label: u.to_string(), kind: CompletionKind::Unit, detail });
            }
        } else {
            return false;
        }
        true
    }

    /// Properties of an inserted or placed mechanism: its parameters. Returns whether the
    /// cursor is in such a block, at the start of a statement.
    fn placed_params(&self, index: &Index<'_>, out: &mut Vec<Completion>) -> bool {
        let blocks = self.blocks;
        if let Some(inner) = blocks.last()
            && blocks.len() >= 2
            && self.at_statement_start
            && let Some(mech) = placed_mechanism(inner.header)
        {
            if let Some(m) = index.mechanism(mech) {
                for member in &m.members {
                    if let ast::Member::Param(p) = member {
                        out.push(param_completion(index, p));
                    }
                }
            }
            return true;
        }
        false
    }

    /// What statements of the item start with (its keywords and, in a mechanism, its
    /// members' names), or top-level keywords outside every item; in a mechanism's
    /// expressions, its names and built-ins. Returns whether nothing else applies.
    fn item_members(&self, index: &Index<'_>, text: &str, out: &mut Vec<Completion>) -> bool {
        let (blocks, at_statement_start) = (self.blocks, self.at_statement_start);
        match self.item_kind {
            "density" | "point" if blocks.len() == 1 && at_statement_start => {
                keywords(MECHANISM_KEYWORDS, out);
                // Equations and assignments start with a member's name.
                mechanism_names(index, text, self.item_name, self.outer, out);
                true
            }
            "density" | "point" => {
                mechanism_names(index, text, self.item_name, self.outer, out);
                for (name, words) in MECHANISM_BUILTINS {
                    out.push(Completion {
                        label: name.to_string(),
                        kind: CompletionKind::Variable,
                        detail: words.to_string(),
                    });
                }
                false
            }
            "cell" if blocks.len() == 1 && at_statement_start => {
                keywords(CELL_KEYWORDS, out);
                true
            }
            "network" if blocks.len() == 1 && at_statement_start => {
                keywords(NETWORK_KEYWORDS, out);
                true
            }
            "train" if blocks.len() == 1 && at_statement_start => {
                keywords(TRAIN_KEYWORDS, out);
                true
            }
            "" if self.words.is_empty() => {
                keywords(TOP_KEYWORDS, out);
                true
            }
            _ => false,
        }
    }
}

/// An expression: parameters, functions, constants.
fn expression_names(index: &Index<'_>, out: &mut Vec<Completion>) {
    items(index, out, |d| matches!(d, Decl::Param(..)), CompletionKind::Param);
    items(index, out, |d| matches!(d, Decl::Function(..)), CompletionKind::Function);
    for (name, arity) in crate::check::builtin_functions() {
        out.push(Completion {
            label: name.to_string(),
            kind: CompletionKind::Function,
            detail: format!("built-in function of {arity} argument{}", if *arity == 1 { "" } else { "s" }),
        });
    }
    for (name, value, unit) in crate::check::constants() {
        out.push(Completion {
            label: name.to_string(),
            kind: CompletionKind::Constant,
            detail: format!("{value} {unit}"),
        });
    }
}

/// A unit goes here: after `param x:`, `state x:`, `x: ` in a parameter list, `->`, or a
/// number (`0.12 `, `0.12 S/`).
fn wants_unit(before: &str, words: &[&str]) -> bool {
    let trimmed = before.trim_end();
    if trimmed.ends_with(':') || trimmed.ends_with("->") {
        return true;
    }
    let Some(last) = words.last() else { return false };
    let is_number = |w: &str| {
        let w = w.trim_start_matches(['-', '(', '=', '[', ',']);
        w.starts_with(|c: char| c.is_ascii_digit()) && w.parse::<f64>().is_ok()
    };
    // `0.12 ` with the cursor after the space.
    if before.ends_with(char::is_whitespace) && is_number(last) {
        return true;
    }
    // `0.12 S/` or `1 mV*`: a unit being continued.
    (last.ends_with('/') || last.ends_with('*')) && words.len() >= 2 && is_number(words[words.len() - 2])
}

/// The mechanism a block's header inserts or places: `insert hh in soma`, `synapse s =
/// expsyn at soma(0.5)`, `stimulus c = iclamp at cells[0].soma(0.5)`.
fn placed_mechanism(header: &str) -> Option<&str> {
    let words: Vec<&str> = header.split_whitespace().collect();
    match words.first()? {
        &"insert" => words.get(1).copied(),
        &"synapse" | &"stimulus" => {
            let eq = words.iter().position(|w| *w == "=")?;
            words.get(eq + 1).copied()
        }
        _ => None,
    }
}

fn keywords(list: &[&str], out: &mut Vec<Completion>) {
    for k in list {
        out.push(Completion { label: k.to_string(), kind: CompletionKind::Keyword, detail: "keyword".to_string() });
    }
}

fn mechanisms(index: &Index<'_>, kind: Option<ast::MechanismKind>, out: &mut Vec<Completion>) {
    let mut list: Vec<&ast::Mechanism> = index
        .items
        .values()
        .filter_map(|(_, d)| match d {
            Decl::Mechanism(m) if kind.is_none_or(|k| m.kind == k) => Some(*m),
            _ => None,
        })
        .collect();
    list.sort_by(|a, b| a.name.name.cmp(&b.name.name));
    let describe = |m: &ast::Mechanism, origin: &str| {
        let summary = m.doc.as_deref().and_then(|d| d.lines().next()).unwrap_or("");
        Completion {
            label: m.name.name.clone(),
            kind: CompletionKind::Mechanism,
            detail: format!("{}{origin}{}{summary}", mechanism_kind(m), if summary.is_empty() { "" } else { ": " }),
        }
    };
    for m in list {
        out.push(describe(m, ""));
    }
    // Standard-library mechanisms not imported yet, which need an `import`.
    for module in stdlib::names() {
        if index.db.find(&stdlib::file_name(module)).is_some() {
            continue;
        }
        let Some(text) = stdlib::source(module) else { continue };
        let (parsed, _) = crate::syntax::parse(FileId(u32::MAX), text);
        for item in &parsed.items {
            if let ast::Item::Mechanism(m) = item
                && kind.is_none_or(|k| m.kind == k)
            {
                out.push(describe(m, &format!(" (needs `import {module}`)")));
            }
        }
    }
}

fn items(index: &Index<'_>, out: &mut Vec<Completion>, keep: impl Fn(&Decl<'_>) -> bool, kind: CompletionKind) {
    let mut list: Vec<(&str, &Decl<'_>)> =
        index.items.iter().filter(|(_, (_, d))| keep(d)).map(|(n, (_, d))| (*n, d)).collect();
    list.sort_by_key(|(n, _)| *n);
    for (name, decl) in list {
        let detail = match decl {
            Decl::Param(p, _) => p.unit.as_ref().map_or(String::new(), |u| u.text.clone()),
            Decl::Function(f, _) => {
                let params: Vec<String> =
                    f.params.iter().map(|p| format!("{}: {}", p.name.name, p.unit.text)).collect();
                format!("fn({})", params.join(", "))
            }
            Decl::Cell(_) => "cell".to_string(),
            Decl::Morphology(_) => "morphology".to_string(),
            _ => String::new(),
        };
        out.push(Completion { label: name.to_string(), kind, detail });
    }
}

fn param_completion(index: &Index<'_>, p: &ast::Param) -> Completion {
    let unit = p.unit.as_ref().map_or(String::new(), |u| format!("{} ", u.text));
    Completion {
        label: p.name.name.clone(),
        kind: CompletionKind::Param,
        detail: format!("{unit}= {}", index.db.text(p.default.span)),
    }
}

/// The members of the mechanism being edited: from its syntax tree when it parses, and from
/// the declarations in its text otherwise.
fn mechanism_names(index: &Index<'_>, text: &str, name: &str, block: Option<&Block<'_>>, out: &mut Vec<Completion>) {
    if let Some(m) = index.mechanism(name) {
        for member in &m.members {
            match member {
                ast::Member::Param(p) => out.push(param_completion(index, p)),
                ast::Member::State(s) => out.push(Completion {
                    label: s.name.name.clone(),
                    kind: CompletionKind::State,
                    detail: s.unit.text.clone(),
                }),
                ast::Member::Gate(g) => out.push(Completion {
                    label: g.name.name.clone(),
                    kind: CompletionKind::State,
                    detail: "gate".into(),
                }),
                ast::Member::Let(l) => out.push(Completion {
                    label: l.name.name.clone(),
                    kind: CompletionKind::Variable,
                    detail: "let".into(),
                }),
                ast::Member::Ion(i) => {
                    for v in i.reads.iter().chain(&i.writes) {
                        out.push(Completion {
                            label: v.name.clone(),
                            kind: CompletionKind::Variable,
                            detail: format!("ion {}", i.ion.name),
                        });
                    }
                }
                ast::Member::Function(f) => out.push(Completion {
                    label: f.name.name.clone(),
                    kind: CompletionKind::Function,
                    detail: "fn".into(),
                }),
                _ => {}
            }
        }
    }
    if let Some(block) = block {
        let body = block_text(text, block.open);
        for (keyword, kind) in [
            ("param", CompletionKind::Param),
            ("state", CompletionKind::State),
            ("gate", CompletionKind::State),
            ("let", CompletionKind::Variable),
            ("current", CompletionKind::Variable),
            ("fn", CompletionKind::Function),
        ] {
            for name in declared_after(body, keyword) {
                out.push(Completion { label: name.to_string(), kind, detail: keyword.to_string() });
            }
        }
    }
}

/// Regions and sections of the cell being edited.
fn regions(index: &Index<'_>, text: &str, cell: &str, block: Option<&Block<'_>>, out: &mut Vec<Completion>) {
    let parsed = match index.items.get(cell) {
        Some((_, Decl::Cell(c))) => index.morphology_of(c),
        _ => None,
    };
    let from_morphology = |m: &ast::Morphology, out: &mut Vec<Completion>| {
        for d in morphology_names(m) {
            if let Some(n) = d.name() {
                let detail = if matches!(d, Decl::Section(_)) { "section" } else { "region" };
                out.push(Completion { label: n.name.clone(), kind: CompletionKind::Region, detail: detail.into() });
            }
        }
    };
    if let Some(m) = parsed {
        from_morphology(m, out);
    }
    if let Some(block) = block {
        let body = block_text(text, block.open);
        for keyword in ["section", "region"] {
            for name in declared_after(body, keyword) {
                out.push(Completion { label: name.to_string(), kind: CompletionKind::Region, detail: keyword.into() });
            }
        }
        // `morphology = name`.
        let mut words = body.split_whitespace().peekable();
        while let Some(w) = words.next() {
            if w == "morphology" && words.peek() == Some(&"=") {
                words.next();
                if let Some(name) = words.next()
                    && let Some((_, Decl::Morphology(m))) = index.items.get(name)
                {
                    from_morphology(m, out);
                }
            }
        }
    }
    for (name, words) in BUILTIN_REGIONS {
        out.push(Completion { label: name.to_string(), kind: CompletionKind::Region, detail: words.to_string() });
    }
}

/// Names following `keyword` as a word in `body` (`param gbar`, `section soma`).
fn declared_after<'t>(body: &'t str, keyword: &str) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut words = body.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
    while let Some(w) = words.next() {
        if w == keyword
            && let Some(name) = words.next()
            && name.starts_with(|c: char| c.is_alphabetic() || c == '_')
        {
            out.push(name);
        }
    }
    out
}

/// The text of the block opened at `open`, to its closing brace or the end of the file.
fn block_text(text: &str, open: usize) -> &str {
    let mut depth = 0usize;
    for (i, c) in code_chars(&text[open..]) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &text[open..open + i];
                }
            }
            _ => {}
        }
    }
    &text[open..]
}

/// The characters of `text` outside comments and strings, with their offsets.
fn code_chars(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut chars = text.char_indices().peekable();
    let mut in_string = false;
    std::iter::from_fn(move || {
        loop {
            let (i, c) = chars.next()?;
            if in_string {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' | '\n' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '/' if chars.peek().is_some_and(|(_, n)| *n == '/') => {
                    for (_, n) in chars.by_ref() {
                        if n == '\n' {
                            break;
                        }
                    }
                }
                '/' if chars.peek().is_some_and(|(_, n)| *n == '*') => {
                    chars.next();
                    let mut star = false;
                    for (_, n) in chars.by_ref() {
                        if star && n == '/' {
                            break;
                        }
                        star = n == '*';
                    }
                }
                _ => return Some((i, c)),
            }
        }
    })
}

/// The `{` blocks open at `end`, outermost first.
fn open_blocks(text: &str, end: usize) -> Vec<Block<'_>> {
    let mut stack: Vec<usize> = Vec::new();
    for (i, c) in code_chars(&text[..end]) {
        match c {
            '{' => stack.push(i),
            '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack
        .into_iter()
        .map(|open| {
            let line_start = text[..open].rfind('\n').map_or(0, |i| i + 1);
            // A brace alone on its line: the header is the line above.
            let mut header = text[line_start..open].trim();
            if header.is_empty() && line_start > 0 {
                let above = text[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
                header = text[above..line_start - 1].trim();
            }
            Block { header, open }
        })
        .collect()
}
