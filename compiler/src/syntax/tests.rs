//! Parser tests: the reference's examples, precedence, documentation comments, recovery, every
//! syntax diagnostic as rendered, units against keywords, and inputs meant to crash it.

use super::ast::*;
use super::parse;
use crate::diagnostics::{Code, Diagnostic};
use crate::render::try_render;
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
    let out = try_render(&db, &diags, false).expect("renders");
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
        Item::Train(t) => ("train", t.name.name.clone()),
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

fn errors(text: &str) -> Vec<Diagnostic> {
    parse(FileId(0), text).1
}

#[test]
fn deep_nesting_is_one_error_and_no_crash() {
    let deep = "(".repeat(100_000);
    let diags = errors(&deep);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code, Code::Syntax);

    for body in [
        format!("param x = {}1", "(".repeat(100_000)),
        format!("param x = {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("fn f() -> 1 {}", "{".repeat(100_000)),
        format!("cell c {{ cm = {}", "f(".repeat(50_000)),
    ] {
        let (file, diags) = parse(FileId(0), &body);
        assert!(file.items.is_empty());
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].message, "nesting too deep");
    }
    // Just inside the limit: parses.
    let ok = format!("param x = {}1{}", "(".repeat(200), ")".repeat(200));
    assert_eq!(parse(FileId(0), &ok).0.items.len(), 1);
    let ok = format!("param x = {}1{}", "[(".repeat(100), ")]".repeat(100));
    assert_eq!(errors(&ok).len(), 1);
}

#[test]
fn long_operator_chains_are_bounded() {
    for text in [
        format!("param x = {}1", "-".repeat(100_000)),
        format!("param x = {}1", "!".repeat(100_000)),
        format!("param x = 1{}", " + 1".repeat(100_000)),
        format!("param x = 2{}", "^2".repeat(100_000)),
        format!("param x = if a {{ 1 }}{} else {{ 2 }}", " else if a { 1 }".repeat(50_000)),
        format!("param x = {}1{}", "-(".repeat(199), ")".repeat(199)),
    ] {
        let (file, diags) = parse(FileId(0), &text);
        if diags.is_empty() {
            assert_eq!(file.items.len(), 1);
        } else {
            assert_eq!(diags.len(), 1, "{diags:?}");
            assert!(file.items.is_empty());
        }
    }
    // A long but reasonable chain parses.
    let text = format!("param x = 1{}", " + 1".repeat(400));
    assert!(errors(&text).is_empty());
}

/// A small deterministic generator (no dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "param",
        "fn",
        "density",
        "point",
        "cell",
        "network",
        "simulation",
        "morphology",
        "species",
        "import",
        "state",
        "gate",
        "let",
        "ion",
        "read",
        "write",
        "current",
        "electrode",
        "kinetic",
        "conserve",
        "on",
        "event",
        "initial",
        "section",
        "region",
        "swc",
        "insert",
        "synapse",
        "detector",
        "threshold",
        "population",
        "connect",
        "source",
        "stimulus",
        "probe",
        "record",
        "spikes",
        "in",
        "at",
        "by",
        "if",
        "else",
        "inf",
        "x",
        "mV",
        "S/cm2",
        "1",
        "0.5",
        "1e999",
        ".5",
        "2e",
        "\"s\"",
        "\"a\\q\"",
        "\"",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        ";",
        ":",
        "=",
        "==",
        "+=",
        "-=",
        "->",
        "<->",
        "..",
        ".",
        "'",
        "+",
        "-",
        "*",
        "/",
        "^",
        "<",
        ">",
        "!",
        "&&",
        "||",
        "//",
        "///",
        "/*",
        "*/",
        "\n",
        " ",
        "\t",
        "µ",
        "é",
        "\0",
        "\u{FEFF}",
        "☃",
    ];
    let mut rng = Lcg(0x5eed);
    for _ in 0..3000 {
        let len = rng.next() % 40;
        let mut text = String::new();
        for _ in 0..len {
            if rng.next().is_multiple_of(10) {
                text.push(char::from_u32(rng.next() % 0x2FF).unwrap_or('?'));
            } else {
                text.push_str(PIECES[rng.next() as usize % PIECES.len()]);
                if rng.next().is_multiple_of(2) {
                    text.push(' ');
                }
            }
        }
        let mut db = SourceDb::new();
        let id = db.add("g.syl", text.clone());
        // Spans are offsets into the stored text (without a leading byte order mark).
        let (_, diags) = parse(id, &db.get(id).text);
        for label in diags.iter().flat_map(Diagnostic::labels) {
            assert!(db.contains(label.span), "{label:?} is not a span of {text:?}");
        }
        // Rendering must work on whatever was reported.
        if let Err(e) = try_render(&db, &diags, false) {
            panic!("rendering the diagnostics of {text:?} failed: {e}");
        }
    }
}

#[test]
fn truncated_examples_never_panic() {
    let all: String = doc_blocks().concat();
    let mut cut = 0;
    while cut < all.len() {
        if all.is_char_boundary(cut) {
            let _ = parse(FileId(0), &all[..cut]);
            let _ = parse(FileId(0), &all[cut..]);
        }
        cut += 13;
    }
}

/// Deep but accepted input on a small stack: the parser grows its stack where it must.
#[test]
fn small_stacks_are_enough() {
    let cases = vec![
        format!("param x = {}1{}", "(".repeat(200), ")".repeat(200)),
        format!("param x = {}1{}", "f(".repeat(200), ")".repeat(200)),
        format!("param x = {}1{}", "{ let a = 1; ".repeat(150), "}".repeat(150)),
        format!("param x = {}1{}", "if a { ".repeat(150), " } else { 2 }".repeat(150)),
        format!("param x = {}1", "-".repeat(490)),
        format!("param x = 1{}", "^2".repeat(490)),
        format!("cell c {{ cm = {}1{} }}", "(".repeat(199), ")".repeat(199)),
    ];
    for text in cases {
        let diags = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || parse(FileId(0), &text).1)
            .unwrap()
            .join()
            .unwrap();
        assert!(diags.is_empty(), "{diags:?}");
    }
}

/// Each broken input with its rendered diagnostics, in one snapshot.
fn render_cases(cases: &[&str]) -> String {
    let mut out = String::new();
    for text in cases {
        let (_, rendered, _) = rendered(text);
        out.push_str(&format!("=== {text:?}\n{rendered}\n"));
    }
    out
}

#[test]
fn syntax_errors_read_like_a_compiler() {
    let out = render_cases(&[
        "param x = }",
        "param x = ",
        "param x = 1 +\nfn f(x: mV) -> mV { x }",
        "density d { param g: S/cm2 = 1 foo bar }",
        "density d { stat a: mV }",
        "density d { il = gl * (v - el) ? }",
        "density d { ion na { read ena, write } }",
        "gate m { alpha = 1 }",
        "cell c { insert hh soma }",
        "cell c { detector at soma(0.5) -20 mV }",
        "network n { connect a -> b { weight = 1 } }",
        "network n { probe v = v at c[0].soma(0.5) }",
        "simulation { dt = 0.025 ms,, }",
        "fn f(x) { x }",
        "param x = if a { 1 }",
        "param x = f\n(1)",
        "morphology m { section a at }",
        "cell c { } }",
        "hello world\nparam x = 1",
        "param x = 1 2",
        "param x = a ☃",
        "param x = \u{1b}",
        "kinetic { a <-> b (1, 2) }",
        "density k { kinetic { a <-> b (1) } }",
        "density k { on event(w) { A += w } }",
        "param x = 1 /* never closed",
    ]);
    insta::assert_snapshot!(out);
}

#[test]
fn invalid_numbers_and_strings() {
    let out = render_cases(&[
        "param x = 1e999",
        "param x = 1e999 mV + 2e400",
        "density k { kinetic { 99999999999 a <-> b (1, 2) } }",
        "import \"never closed\nparam x = 1",
        "network n { probe \"bad \\q escape\" = v at c[0].s(0.5) }",
        "import \"a\\\"b\\\\c\"",
    ]);
    insta::assert_snapshot!(out);
}

const ALL_CONSTRUCTS: &str = r#"import hh
import "channels/kdr.syl"
param rings = 1
param w: uS = 0.05 in [0 uS, inf]
fn lin(x: 1, y: mV) -> mV { let a = 2; a * x * y }
fn one() { 1 }
point syn {
    param tau: ms = 2 ms
    state A: uS
    state B: uS = 0 uS
    ion ca { read eca, cai, write ica }
    ion k
    ion na { write ina }
    current i
    let g = B - A
    A' = -A / tau
    B' = -B / tau by backward_euler, i = g * (v - 0 mV)
    C = 2 * A each step, j = g * exp(v / 10 mV) * 1 mV by secant
    electrode current ie = 0 nA
    kinetic steady_state {
        c1 <-> c2 (2 * a, b)
        2 c + d <-> o (kf, kb)
        conserve c1 + c2 + o = 1
    }
    on event(w: uS) { A += w, B -= w * 2
        C = 0 uS }
    initial { A = 0 uS, B = 0 uS }
    fn inner(x: 1/ms) -> 1/ms { x }
    gate m { inf = 1, tau = 1 ms }
}
morphology tree {
    section soma { length = 20 um, diam = 20 um, type = soma }
    section dend at soma { length = 100 um }
    section tip at dend(0.5)
    region both = soma + dend
}
morphology swcm = swc("a.swc") { d_lambda = 0.1, region basal = dend + apic }
morphology bare = swc("b.swc")
morphology edited = swc("e.swc") {
    delete axon + dend[3]
    section axon[0] at soma(0.5) { length = 30 um, diam = 1 um }
    section axon[1] at axon[0]
}
cell c1 {
    morphology = tree
    distance from dend[0](0)
    cm in dend = 2 uF/cm2
    insert hh in all { gnabar = 0.012 S/cm2 }
    insert pas in dend
    species na { reversal = 55 mV }
    synapse s = syn at soma(0.5) { tau = 1 ms }
    synapse s2 = syn at dend
    detector at soma(0.5) threshold -20 mV
}
cell c2 { morphology { section soma { length = 10 um } } }
cell c3 { morphology = swc("c.swc") { d_lambda = 0.1 } }
network net {
    population cells = c1[rings * 10]
    connect cells -> cells.s ring(10) { weight = 0.05 uS, delay = 1 ms }
    connect cells[0] -> cells[1].s { weight = w }
    connect cells[0 .. 5] -> cells[5 .. 10 by 1].s all_to_all
    connect cells -> cells.s random(p = 0.1, seed = 1)
    source kick = spikes(1 ms, 5 ms)
    source reg = regular(start = 0 ms, interval = 10 ms)
    stimulus clamp = iclamp at cells[0].soma(0.5) { del = 5 ms }
    probe "v" = v at cells[0].soma(0.5)
    probe "m" = hh.m at cells[0].soma(0.5)
    probe "i" = cells[1].s.i
    probe "ci" = clamp.i
    record spikes
}
simulation { dt = 0.025 ms, duration = 100 ms, temperature = 6.3 degC
    backend = cpu, precision = f64, network = net }
"#;

#[test]
fn every_construct_parses() {
    let file = parse_ok(ALL_CONSTRUCTS);
    insta::assert_debug_snapshot!(file);
}

#[test]
fn doc_comments_attach_to_declarations() {
    let text = "/// A cell.\n///   indented\n///\n//// not a doc\ncell c {}\n\n/// Orphan.\n\n// plain\nparam p = 1\n\
                /// One.\n/// Two.\ndensity d {\n    /// The conductance.\n    param g: S/cm2 = 1  /// ignored: g has one\n    \
                state s: mV   /// Trailing.\n    let a = 1\n}\nparam q = 2 /// Q.\n";
    let file = parse_ok(text);
    let docs: Vec<Option<&str>> = file
        .items
        .iter()
        .map(|i| match i {
            Item::Cell(c) => c.doc.as_deref(),
            Item::Param(p) => p.doc.as_deref(),
            Item::Mechanism(m) => m.doc.as_deref(),
            _ => unreachable!(),
        })
        .collect();
    // `////` is an ordinary comment and ends the block; a blank line or `//` line separates.
    assert_eq!(docs, [None, None, Some("One.\nTwo."), Some("Q.")]);
    let text = "/// A cell.\n///   indented\n///\ncell c {}";
    let Item::Cell(c) = &parse_ok(text).items[0] else { panic!() };
    assert_eq!(c.doc.as_deref(), Some("A cell.\n  indented\n"));
    let Item::Mechanism(d) = &file.items[2] else { panic!() };
    let member_docs: Vec<Option<&str>> = d
        .members
        .iter()
        .map(|m| match m {
            Member::Param(p) => p.doc.as_deref(),
            Member::State(s) => s.doc.as_deref(),
            Member::Let(l) => l.doc.as_deref(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(member_docs, [Some("The conductance."), Some("Trailing."), None]);
}

#[test]
fn a_broken_item_does_not_hide_the_others() {
    let text = "param a = 1\n\ncell broken {\n    cm = = 2\n}\n\nparam b = 2\n";
    let (file, out, diags) = rendered(text);
    let names: Vec<String> = file.items.iter().map(item_name).collect();
    assert_eq!(names, ["param a", "param b"]);
    assert_eq!(diags.len(), 1);
    insta::assert_snapshot!(out);

    // An unclosed item is cut at the next item keyword in column 0.
    let text = "cell c {\n    cm = 1 uF/cm2\n\nnetwork n { record spikes }\nsimulation { dt = 1 ms }\n";
    let (file, _, diags) = rendered(text);
    assert_eq!(file.items.iter().map(item_name).collect::<Vec<_>>(), ["network n", "simulation "]);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].message, "expected one of `,`, `}`, a member or an operator, found `network`");

    // Stray text between items is one error; the item before it is kept.
    let text = "param a = x\ngarbage here\nparam b = 2";
    let (file, _, diags) = rendered(text);
    assert_eq!(file.items.len(), 2);
    assert_eq!(diags.len(), 1, "{diags:?}");

    // Several broken items: one error each.
    let text = "param a = \nparam b = )\nparam c = 3\nfn f( { }\n";
    let (file, _, diags) = rendered(text);
    assert_eq!(file.items.len(), 1);
    assert_eq!(diags.len(), 3);
}

/// An item that does not parse leaves its name, so that the checker knows it exists.
#[test]
fn broken_items_leave_their_names() {
    let text =
        "cell c { insert hh in soma { g = = 1 } }\nfn f(x: 1) -> 1 { x +* }\nsimulation { dt = }\nparam p: mV = 1\n";
    let (file, diags) = parse(FileId(0), text);
    assert_eq!(diags.len(), 3);
    assert_eq!(file.items.len(), 1);
    let names: Vec<(&str, &str)> =
        file.broken.iter().map(|n| (n.name.as_str(), &text[n.span.start as usize..n.span.end as usize])).collect();
    assert_eq!(names, [("c", "c"), ("f", "f")]);
}

#[test]
fn units_and_keywords() {
    assert_eq!(expr_of("0.0003 S/cm2"), "0.0003[S/cm2]");
    // Keywords are never units.
    let file = parse_ok("param g: S/cm2 = 0.0003 in [0, inf]");
    let Item::Param(p) = &file.items[0] else { panic!() };
    assert_eq!(sexpr(&p.default), "0.0003");
    assert_eq!(p.unit.as_ref().unwrap().text, "S/cm2");
    let file = parse_ok("network n { connect k -> c[0 .. 10 by 10].s }");
    let Item::Network(n) = &file.items[0] else { panic!() };
    let NetworkMember::Connect(c) = &n.members[0] else { panic!() };
    let Some(Index::Range { start, end, step: Some(step) }) = &c.target.index else { panic!() };
    assert_eq!((sexpr(start), sexpr(end), sexpr(step)), ("0".into(), "10".into(), "10".into()));
    let file = parse_ok("cell c { detector at soma(0.5) threshold -20 mV }");
    let Item::Cell(c) = &file.items[0] else { panic!() };
    let CellMember::Detector(d) = &c.members[0] else { panic!() };
    assert_eq!(sexpr(&d.threshold), "(neg 20[mV])");
    // A unit is on its number's line, and is not the next property's key.
    for text in ["gate m { alpha = 0.1\n beta = 2 }", "gate m { alpha = 0.1 beta = 2 }"] {
        let file = parse_ok(&format!("density d {{ {text} }}"));
        let Item::Mechanism(d) = &file.items[0] else { panic!() };
        let Member::Gate(g) = &d.members[0] else { panic!() };
        assert_eq!(g.props.len(), 2, "{text}");
        assert_eq!(sexpr(&g.props[0].value), "0.1");
    }
    // Unit expressions in type positions.
    let file = parse_ok("fn f(x: mV, r: 1/ms, n: 1, c: mol/m^3) -> um^3*s^-1 { x }");
    let Item::Function(f) = &file.items[0] else { panic!() };
    let units: Vec<&str> = f.params.iter().map(|p| p.unit.text.as_str()).collect();
    assert_eq!(units, ["mV", "1/ms", "1", "mol/m^3"]);
    assert_eq!(f.result.as_ref().unwrap().text, "um^3*s^-1");
    // Numbers.
    assert_eq!(expr_of("12 + 0.5 + .5 + 1e-3 + 2.5E+4"), "(+ (+ (+ (+ 12 0.5) 0.5) 0.001) 25000)");
    // `1/ms` is a number divided by a name; `2 mV*x` is one unit.
    assert_eq!(expr_of("1/ms"), "(/ 1 ms)");
    assert_eq!(expr_of("2 mV*x"), "2[mV*x]");
    // A unit stops before a function's name: `13 ms*exp(x)` is `13 ms` times `exp(x)`.
    assert_eq!(expr_of("13 ms*exp(-x)"), "(* 13[ms] (exp (neg x)))");
    assert_eq!(expr_of("2 mV/sqrt (x)"), "(/ 2[mV] (sqrt x))");
    assert_eq!(expr_of("2 mV*x*exp(x)"), "(* 2[mV*x] (exp x))");
    assert_eq!(expr_of("2 in2"), "2[in2]");
    assert_eq!(expr_of("2 inch"), "2[inch]");
}

/// No span of the tree starts or ends with whitespace or a comment.
#[test]
fn spans_are_tight() {
    let file = parse_ok(ALL_CONSTRUCTS);
    let debug = format!("{file:?}");
    let mut rest = debug.as_str();
    let mut count = 0;
    const KEY: &str = "Span { file: FileId(0), start: ";
    while let Some(i) = rest.find(KEY) {
        rest = &rest[i + KEY.len()..];
        let start: usize = rest[..rest.find(',').unwrap()].parse().unwrap();
        let j = rest.find("end: ").unwrap();
        rest = &rest[j + 5..];
        let end: usize = rest[..rest.find(' ').unwrap()].parse().unwrap();
        let text = &ALL_CONSTRUCTS[start..end];
        assert!(!text.is_empty(), "empty span at {start}");
        assert_eq!(text.trim(), text, "span {start}..{end}");
        assert!(!text.ends_with("//") && !text.contains("///"), "span {start}..{end}: {text:?}");
        count += 1;
    }
    assert!(count > 300);
}

#[test]
fn member_keywords_are_names_where_a_name_fits() {
    let file = parse_ok(
        "network n { population cell = c[2]\n probe \"v\" = v at cell[0].soma(0.5)\n probe \"i\" = clamp.current }\n\
         density d { current = 1 mA/cm2\n state' = -state / 1 ms\n state state: mV }",
    );
    assert_eq!(file.items.len(), 2);
    let Item::Mechanism(d) = &file.items[1] else { panic!() };
    assert!(matches!(&d.members[0], Member::Assign(a) if a.target.name == "current"));
    assert!(matches!(&d.members[1], Member::Ode(o) if o.state.name == "state"));
    assert!(matches!(&d.members[2], Member::State(s) if s.name.name == "state"));
    // Words that could stand where a name does are never names.
    for text in
        ["param in = 1", "param x = if", "network n { connect a -> b.s source }", "density d { ion na { read write } }"]
    {
        assert_eq!(errors(text).len(), 1, "{text}");
    }
}

#[test]
fn a_train_block_parses_trainables_targets_and_settings() {
    let text = "train fit {\n    /// the sodium conductance\n    trainable hh.gnabar in soma + dend { init = 0.1 S/cm2 }\n    trainable cells.syn.tau2, trainable clamp.amp\n    target \"soma_v\" from \"rec.csv\"\n    target \"dend_v\" from \"rec.csv\" column \"v2\"\n    loss = mse\n    optimizer = adam { learning_rate = 0.01, beta1 = 0.9 }\n    iterations = 200, seed = 1\n}\n";
    let (file, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "{diags:?}");
    let Item::Train(t) = &file.items[0] else { panic!("{:?}", file.items) };
    assert_eq!(t.name.name, "fit");
    let [
        TrainMember::Trainable(a),
        TrainMember::Trainable(b),
        TrainMember::Trainable(c),
        TrainMember::Target(d),
        TrainMember::Target(e),
        TrainMember::Setting(loss),
        TrainMember::Setting(opt),
        TrainMember::Setting(iters),
        TrainMember::Setting(seed),
    ] = t.members.as_slice()
    else {
        panic!("{:?}", t.members)
    };
    let names = |ids: &[Ident]| ids.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(".");
    assert_eq!((names(&a.path).as_str(), names(&a.regions).as_str()), ("hh.gnabar", "soma.dend"));
    assert_eq!(a.doc.as_deref(), Some("the sodium conductance"));
    assert_eq!(a.props[0].key.name, "init");
    assert_eq!((names(&b.path).as_str(), b.regions.len()), ("cells.syn.tau2", 0));
    assert_eq!(names(&c.path), "clamp.amp");
    assert_eq!((d.label.value.as_str(), d.file.value.as_str(), d.column.is_none()), ("soma_v", "rec.csv", true));
    assert_eq!(e.column.as_ref().map(|c| c.value.as_str()), Some("v2"));
    assert_eq!((loss.key.name.as_str(), loss.settings.is_none()), ("loss", true));
    assert_eq!(opt.settings.as_ref().map(Vec::len), Some(2));
    assert_eq!((iters.key.name.as_str(), seed.key.name.as_str()), ("iterations", "seed"));
}

#[test]
fn a_train_block_parses_samples_and_named_connections() {
    let text = "network n {\n    connect exc = in_a -> cells[0].syn { weight = 1 uS }\n    connect cells -> cells.syn\n}\ntrain t {\n    data = table(\"xor.csv\"), test = mnist(\"i.gz\", \"l.gz\")\n    input \"a\" -> in_a\n    input \"x\" -> clamp.amp\n    input \"pixel*\" -> hidden.drive.amp { init = 1 nA }\n    readout = mean \"o0\", \"o1\" in [5 ms, 10 ms]\n    label = \"y\"\n    loss = cross_entropy { scale = 1 mV }\n    epochs = 3, batch = 2\n}\n";
    let (file, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "{diags:?}");
    let Item::Network(n) = &file.items[0] else { panic!("{:?}", file.items) };
    let [NetworkMember::Connect(named), NetworkMember::Connect(plain)] = n.members.as_slice() else {
        panic!("{:?}", n.members)
    };
    assert_eq!((named.name.as_ref().map(|n| n.name.as_str()), named.synapse.name.as_str()), (Some("exc"), "syn"));
    assert_eq!((plain.name.is_none(), plain.synapse.name.as_str()), (true, "syn"));
    let Item::Train(t) = &file.items[1] else { panic!("{:?}", file.items) };
    let [
        TrainMember::Dataset(data),
        TrainMember::Dataset(test),
        TrainMember::Input(source),
        TrainMember::Input(param),
        TrainMember::Input(dense),
        TrainMember::Readout(readout),
        TrainMember::Text(label),
        TrainMember::Setting(loss),
        TrainMember::Setting(epochs),
        TrainMember::Setting(batch),
    ] = t.members.as_slice()
    else {
        panic!("{:?}", t.members)
    };
    assert_eq!((data.key.name.as_str(), data.format.name.as_str(), data.files.len()), ("data", "table", 1));
    assert_eq!((test.key.name.as_str(), test.format.name.as_str(), test.files.len()), ("test", "mnist", 2));
    let to = |i: &Input| i.to.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(".");
    assert_eq!((source.column.value.as_str(), to(source)), ("a", "in_a".to_string()));
    assert_eq!(to(param), "clamp.amp");
    assert_eq!(
        (dense.column.value.as_str(), to(dense), dense.props.len()),
        ("pixel*", "hidden.drive.amp".to_string(), 1)
    );
    assert_eq!((readout.statistic.name.as_str(), readout.probes.len()), ("mean", 2));
    assert_eq!((label.key.name.as_str(), label.value.value.as_str()), ("label", "y"));
    assert_eq!((loss.key.name.as_str(), loss.settings.as_ref().map(Vec::len)), ("loss", Some(1)));
    assert_eq!((epochs.key.name.as_str(), batch.key.name.as_str()), ("epochs", "batch"));
}
