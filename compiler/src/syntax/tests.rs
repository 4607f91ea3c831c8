//! Parser tests: the reference's examples, precedence, documentation comments, recovery, every
//! syntax diagnostic as rendered, units against keywords, and inputs meant to crash it.

use super::ast::*;
use super::parse;
use crate::diagnostics::{Code, Diagnostic};
use crate::render::render;
use crate::source::{FileId, SourceDb};

const LANGUAGE_MD: &str = include_str!("../../../docs/language.md");

fn parse_ok(text: &str) -> File {
    let (file, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "unexpected diagnostics for:\n{text}\n{}", rendered(text).1);
    file
}

/// Parses and renders the diagnostics as the CLI would (no colour).
fn rendered(text: &str) -> (File, String, Vec<Diagnostic>) {
    let mut db = SourceDb::new();
    let id = db.add("test.syl", text);
    let (file, diags) = parse(id, text);
    let out = render(&db, &diags, false);
    (file, out, diags)
}

/// An expression as an S-expression, units in brackets.
fn sexpr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number { value, unit } => match unit {
            Some(u) => format!("{value}[{}]", u.text),
            None => format!("{value}"),
        },
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Unary(op, x) => format!("({} {})", if *op == UnaryOp::Neg { "neg" } else { "!" }, sexpr(x)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), sexpr(a), sexpr(b)),
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args.iter().map(sexpr).collect();
            format!("({} {})", callee.name, args.join(" "))
        }
        ExprKind::If { cond, then, otherwise } => {
            format!("(if {} {} {})", sexpr(cond), sexpr(then), sexpr(otherwise))
        }
        ExprKind::Block { lets, result } => {
            let lets: Vec<String> = lets.iter().map(|l| format!("(let {} {})", l.name.name, sexpr(&l.value))).collect();
            format!("(block {} {})", lets.join(" "), sexpr(result))
        }
    }
}

/// The default of `param p = <text>`.
fn expr_of(text: &str) -> String {
    let file = parse_ok(&format!("param p = {text}"));
    match &file.items[..] {
        [Item::Param(p)] => sexpr(&p.default),
        other => panic!("expected one param, got {other:?}"),
    }
}

fn item_name(item: &Item) -> String {
    let (kind, name) = match item {
        Item::Import(i) => match &i.target {
            ImportTarget::Std(n) => ("import", n.name.clone()),
            ImportTarget::File(s) => ("import", format!("{:?}", s.value)),
        },
        Item::Param(p) => ("param", p.name.name.clone()),
        Item::Function(f) => ("fn", f.name.name.clone()),
        Item::Mechanism(m) => ("mechanism", m.name.name.clone()),
        Item::Species(s) => ("species", s.name.name.clone()),
        Item::Morphology(m) => ("morphology", m.name.as_ref().map_or(String::new(), |n| n.name.clone())),
        Item::Cell(c) => ("cell", c.name.name.clone()),
        Item::Network(n) => ("network", n.name.name.clone()),
        Item::Simulation(_) => ("simulation", String::new()),
    };
    format!("{kind} {name}")
}

/// The ```sylva blocks of the language reference.
fn doc_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in LANGUAGE_MD.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed.starts_with("```sylva") => current = Some((line.len() - trimmed.len(), String::new())),
            None => {}
            Some(_) if trimmed.starts_with("```") => blocks.push(current.take().unwrap().1),
            Some((indent, text)) => {
                text.push_str(line.get(*indent..).unwrap_or(""));
                text.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn every_example_of_the_reference_parses() {
    let blocks = doc_blocks();
    assert!(blocks.len() >= 9, "found {} blocks", blocks.len());
    let mut outline = String::new();
    for block in &blocks {
        // The kinetic example is a mechanism member, not an item.
        let text = if block.trim_start().starts_with("kinetic") {
            format!("density k {{\n{block}}}\n")
        } else {
            block.clone()
        };
        let file = parse_ok(&text);
        assert!(!file.items.is_empty());
        for item in &file.items {
            outline.push_str(&item_name(item));
            outline.push('\n');
        }
        outline.push_str("--\n");
    }
    insta::assert_snapshot!(outline);
}

#[test]
fn the_hh_example_in_detail() {
    let block = doc_blocks().into_iter().find(|b| b.contains("density hh")).unwrap();
    let file = parse_ok(&block);
    let Item::Mechanism(hh) = &file.items[0] else { panic!() };
    assert_eq!(hh.kind, MechanismKind::Density);
    assert_eq!(hh.doc.as_deref(), Some("NEURON's hh.mod, equation for equation."));
    let mut lines = Vec::new();
    for m in &hh.members {
        lines.push(match m {
            Member::Ion(i) => format!(
                "ion {} read {:?} write {:?}",
                i.ion.name,
                i.reads.iter().map(|n| &n.name).collect::<Vec<_>>(),
                i.writes.iter().map(|n| &n.name).collect::<Vec<_>>()
            ),
            Member::Current(c) => format!("current {}", c.name),
            Member::Param(p) => format!(
                "param {}: {} = {} {} doc={:?}",
                p.name.name,
                p.unit.as_ref().map_or("-", |u| u.text.as_str()),
                sexpr(&p.default),
                p.range.as_ref().map_or(String::new(), |r| format!("in [{}, {}]", sexpr(&r.lo), sexpr(&r.hi))),
                p.doc
            ),
            Member::Let(l) => format!("let {} = {}", l.name.name, sexpr(&l.value)),
            Member::Gate(g) => {
                let props: Vec<String> =
                    g.props.iter().map(|p| format!("{} = {}", p.key.name, sexpr(&p.value))).collect();
                format!("gate {} {{ {} }}", g.name.name, props.join(", "))
            }
            Member::Assign(a) => {
                format!("{}{} = {}", if a.electrode { "electrode " } else { "" }, a.target.name, sexpr(&a.value))
            }
            other => format!("{other:?}"),
        });
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("a - b - c", "(- (- a b) c)"),
        ("a / b * c", "(* (/ a b) c)"),
        ("-x^2", "(neg (^ x 2))"),
        ("2^-1", "(^ 2 (neg 1))"),
        ("2^3^2", "(^ 2 (^ 3 2))"),
        ("-a * b", "(* (neg a) b)"),
        ("a || b && c == d + e * f", "(|| a (&& b (== c (+ d (* e f)))))"),
        ("!a && b", "(&& (! a) b)"),
        ("a < b || c >= d", "(|| (< a b) (>= c d))"),
        ("a != b", "(!= a b)"),
        ("a <= -b", "(<= a (neg b))"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("1/ms", "(/ 1 ms)"),
        ("4/ms * exp(-(v + 65 mV) / 18 mV)", "(* (/ 4 ms) (exp (/ (neg (+ v 65[mV])) 18[mV])))"),
        ("0.1/(ms*mV)", "(/ 0.1 (* ms mV))"),
        ("2 mV * x", "(* 2[mV] x)"),
        ("2 mV*x", "2[mV*x]"),
        ("3 ^ ((celsius - 6.3 degC) / 10 K)", "(^ 3 (/ (- celsius 6.3[degC]) 10[K]))"),
        ("-inf", "(neg inf)"),
        ("1e-3 S/cm2 + .5 mS/cm2", "(+ 0.001[S/cm2] 0.5[mS/cm2])"),
        ("2.5E+4 um^3 * 1 s^-1", "(* 25000[um^3] 1[s^-1])"),
        ("f() + g(1, 2,)", "(+ (f ) (g 1 2))"),
        ("if a < b { 1 } else if c { 2 } else { 3 }", "(if (< a b) 1 (if c 2 3))"),
        ("{ let a = 1; let b = 2; a + b }", "(block (let a 1) (let b 2) (+ a b))"),
        ("{ let a = 1\n let b = 2 mV\n a + b }", "(block (let a 1) (let b 2[mV]) (+ a b))"),
        ("{ let a = x\n (a) }", "(block (let a x) a)"),
        ("{ 5 }", "5"),
        ("pow(x, 2) * 100 ohm*cm", "(* (pow x 2) 100[ohm*cm])"),
        ("1 µm + 2 μm", "(+ 1[µm] 2[μm])"),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = expr_of(text);
        if got != want {
            failures.push(format!("{text}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn spans_cover_their_text() {
    let text = "param p: mV = -(a + b) * 2 mV in [0, inf]";
    let file = parse_ok(text);
    let Item::Param(p) = &file.items[0] else { panic!() };
    let slice = |s: crate::source::Span| &text[s.range()];
    assert_eq!(slice(p.span), text);
    assert_eq!(slice(p.name.span), "p");
    assert_eq!(slice(p.unit.as_ref().unwrap().span), "mV");
    assert_eq!(slice(p.default.span), "-(a + b) * 2 mV");
    let ExprKind::Binary(_, lhs, rhs) = &p.default.kind else { panic!() };
    assert_eq!(slice(lhs.span), "-(a + b)");
    assert_eq!(slice(rhs.span), "2 mV");
    let ExprKind::Number { unit: Some(unit), .. } = &rhs.kind else { panic!() };
    assert_eq!(slice(unit.span), "mV");
    assert_eq!(slice(p.range.as_ref().unwrap().span), "in [0, inf]");
}
