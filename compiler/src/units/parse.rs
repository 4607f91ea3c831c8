//! Unit text to [`Unit`], with errors that point at the offending atom.
//!
//! ```text
//! unit    = product
//! product = factor (("*" | "/") factor)*        left to right: a/b*c = (a/b)*c
//! factor  = "1"                                 only first in a product: 1, 1/ms
//!         | atom
//!         | "(" product ")" ["^" ["-"] digits]  an extension: 1/(ms*mV), J/(mol*K)
//! atom    = [prefix] base [digits | "^" ["-"] digits]
//! ```

use std::fmt;
use std::ops::Range;

use super::Unit;
use super::atoms::{Exact, NameError, known, resolve_name};

/// Why a unit text does not parse.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitError {
    /// What is wrong, such as "unknown unit `mv`".
    pub message: String,
    /// Byte range inside the unit text: the name of an unknown atom (without its power, so
    /// that [`UnitError::suggestion`] can replace it), the whole atom for a bad power, the
    /// offending character otherwise; empty at the end of the text for a missing unit.
    pub range: Range<usize>,
    /// The closest valid atom, such as "mV" for `mv`, to replace `range` with.
    pub suggestion: Option<String>,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnitError {}

fn error(message: impl Into<String>, range: Range<usize>) -> UnitError {
    UnitError { message: message.into(), range, suggestion: None }
}

/// Parses a unit as written in a model: `S/cm2`, `mV`, `ohm*cm`, `1`, `1/ms`, `um^3`,
/// `s^-1`, `mol/L`, `degC`, `uF/cm2`, `MOhm`, `µm`, and (an extension of the grammar in the
/// language reference) parenthesised groups such as `1/(ms*mV)`.
pub fn parse_unit(text: &str) -> Result<Unit, UnitError> {
    if text.is_empty() {
        return Err(error("empty unit", 0..0));
    }
    let mut p = Parser { text, pos: 0, depth: 0 };
    let exact = p.product()?;
    if let Some(c) = p.peek() {
        let at = p.pos..p.pos + c.len_utf8();
        return Err(if c == ')' { error("unmatched `)` in unit", at) } else { p.unexpected(c) });
    }
    exact.to_unit().ok_or_else(|| error(format!("the scale of `{text}` is out of range"), 0..text.len()))
}

/// Looks up a single atom, such as a bare `ms` or `cm2` in an expression: a name with an
/// optional prefix and power, no operators. `None` if it is not exactly one atom.
pub fn lookup_atom(name: &str) -> Option<Unit> {
    if name.is_empty() || !name.chars().next().is_some_and(is_name_char) {
        return None;
    }
    let mut p = Parser { text: name, pos: 0, depth: 0 };
    let exact = p.atom().ok()?;
    if p.pos != name.len() {
        return None;
    }
    exact.to_unit()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, 'µ' | 'μ' | 'Ω')
}

/// Parentheses nested deeper than this are refused (and the stack stays small).
const MAX_DEPTH: u32 = 32;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, c: char) -> UnitError {
        let at = self.pos..self.pos + c.len_utf8();
        match c {
            c if c.is_whitespace() => error("unexpected space in unit (units have no spaces)", at),
            '*' | '/' | '^' => error(format!("expected a unit before `{c}`"), at),
            _ => error(format!("unexpected `{c}` in unit"), at),
        }
    }

    fn product(&mut self) -> Result<Exact, UnitError> {
        let mut acc = self.factor(true)?.0;
        loop {
            let div = if self.eat('*') {
                false
            } else if self.eat('/') {
                true
            } else {
                return Ok(acc);
            };
            let (f, range) = self.factor(false)?;
            acc = if div { acc.div(f) } else { acc.mul(f) }
                .ok_or_else(|| error("unit exponent out of range (a power above 127 or below -128)", range))?;
        }
    }

    /// One factor and its byte range.
    fn factor(&mut self, first: bool) -> Result<(Exact, Range<usize>), UnitError> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            let message = match self.text[..start].chars().next_back() {
                Some(op @ ('*' | '/' | '(')) => format!("expected a unit after `{op}`"),
                _ => "expected a unit".to_string(),
            };
            return Err(error(message, start..start));
        };
        if c == '(' {
            if self.depth >= MAX_DEPTH {
                return Err(error("too many nested parentheses in unit", start..start + 1));
            }
            self.pos += 1;
            self.depth += 1;
            let inner = self.product()?;
            self.depth -= 1;
            if !self.eat(')') {
                return Err(match self.peek() {
                    Some(c) => self.unexpected(c),
                    None => error("unclosed `(` in unit", start..start + 1),
                });
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                let digits = self.digits();
                return Err(error(format!("write `^{digits}` for a power of a parenthesised unit"), start..self.pos));
            }
            let exact = match self.power(start)? {
                Some(n) => inner.powi(n).ok_or_else(|| overflow(start..self.pos))?,
                None => inner,
            };
            return Ok((exact, start..self.pos));
        }
        if c.is_ascii_digit() {
            let digits = self.digits();
            let range = start..self.pos;
            if digits == "1" && first {
                return Ok((Exact::ONE, range));
            }
            let message = if digits == "1" {
                "`1` may only begin a unit, as in `1/ms`".to_string()
            } else {
                format!("unexpected number `{digits}` in unit (only `1`, as in `1/ms`, may stand for no unit)")
            };
            return Err(error(message, range));
        }
        if is_name_char(c) {
            let exact = self.atom()?;
            return Ok((exact, start..self.pos));
        }
        Err(self.unexpected(c))
    }

    fn digits(&mut self) -> &'a str {
        let text = self.text;
        let start = self.pos;
        let len = text[start..].bytes().take_while(u8::is_ascii_digit).count();
        self.pos += len;
        &text[start..self.pos]
    }

    /// An optional power after an atom or group that began at `start`: `^` [`-`] digits.
    fn power(&mut self, start: usize) -> Result<Option<i64>, UnitError> {
        if !self.eat('^') {
            return Ok(None);
        }
        let negative = self.eat('-');
        let digits = self.digits();
        if digits.is_empty() {
            let message = if negative {
                "expected digits after `^-`"
            } else {
                "expected an integer power after `^`, as in `um^3` or `s^-1`"
            };
            return Err(error(message, start..self.pos));
        }
        let n = parse_power(digits).ok_or_else(|| overflow(start..self.pos))?;
        Ok(Some(if negative { -n } else { n }))
    }

    /// `[prefix] base [digits | ^ [-] digits]`; the parser stands on a name character.
    fn atom(&mut self) -> Result<Exact, UnitError> {
        let start = self.pos;
        let len: usize = self.text[start..].chars().take_while(|&c| is_name_char(c)).map(char::len_utf8).sum();
        self.pos += len;
        let name_range = start..self.pos;
        let text = self.text;
        let name = &text[name_range.clone()];
        let exact = resolve_name(name).map_err(|e| name_error(name, e, name_range))?;
        let power = if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            let digits = self.digits();
            Some(parse_power(digits).ok_or_else(|| overflow(start..self.pos))?)
        } else {
            self.power(start)?
        };
        match power {
            Some(n) => exact.powi(n).ok_or_else(|| overflow(start..self.pos)),
            None => Ok(exact),
        }
    }
}

fn parse_power(digits: &str) -> Option<i64> {
    digits.parse::<i64>().ok().filter(|&n| n <= i64::from(i32::MAX))
}

fn overflow(range: Range<usize>) -> UnitError {
    error("unit exponent out of range (a power above 127 or below -128)", range)
}

fn name_error(name: &str, e: NameError, range: Range<usize>) -> UnitError {
    match e {
        NameError::NoPrefix(base) => UnitError {
            message: format!("`{base}` takes no prefix (in `{name}`)"),
            range,
            suggestion: Some(base.to_string()),
        },
        NameError::Unknown => {
            let mut message = format!("unknown unit `{name}`");
            if matches!(name, "h" | "hr" | "hour" | "hours") {
                message.push_str(" (`h` is only the hecto prefix; there is no hour, use `min`, `s` or `ms`)");
            }
            UnitError { message, range, suggestion: suggest(name) }
        }
    }
}

/// Common misspellings that edit distance would not find.
const HINTS: &[(&str, &str)] = &[
    ("sec", "s"),
    ("secs", "s"),
    ("msec", "ms"),
    ("usec", "us"),
    ("micron", "um"),
    ("microns", "um"),
    ("ohms", "ohm"),
    ("Ohms", "Ohm"),
    ("mohms", "Mohm"),
    ("Mohms", "Mohm"),
    ("deg", "degC"),
    ("celsius", "degC"),
    ("degK", "K"),
    ("kelvin", "K"),
    ("molar", "M"),
    ("liter", "L"),
    ("litre", "L"),
    ("hz", "Hz"),
];

/// The closest valid atom to an unknown name: a known misspelling, then a case-insensitive
/// match, then the nearest by edit distance ignoring case (1 for names up to 4 characters,
/// 2 beyond; none for single characters), ties going to the closer case, then to the more
/// common unit.
pub(crate) fn suggest(name: &str) -> Option<String> {
    if let Some((_, s)) = HINTS.iter().find(|(h, _)| *h == name) {
        return Some(s.to_string());
    }
    let known = known();
    let lower = name.to_lowercase();
    if let Some(k) = known.iter().find(|k| k.to_lowercase() == lower) {
        return Some(k.clone());
    }
    let chars: Vec<char> = name.chars().collect();
    let limit = match chars.len() {
        0 | 1 => return None,
        2..=4 => 1,
        _ => 2,
    };
    let mut best: Option<((usize, usize), &String)> = None;
    let lower: Vec<char> = lower.chars().collect();
    let mut other = Vec::new();
    for k in known {
        other.clear();
        other.extend(k.chars());
        if other.len().abs_diff(chars.len()) > limit {
            continue;
        }
        // Distance ignoring case decides; distance with case breaks ties (`mvv`: `mV`).
        let exact = edit_distance(&chars, &other);
        other.clear();
        other.extend(k.to_lowercase().chars());
        let d = (edit_distance(&lower, &other), exact);
        if d.0 <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k.clone())
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * w + j] = if i == 0 {
                j
            } else if j == 0 {
                i
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut v = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    v = v.min(d[(i - 2) * w + j - 2] + 1);
                }
                v
            };
        }
    }
    d[a.len() * w + b.len()]
}
