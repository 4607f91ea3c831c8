//! NMODL AST to Sylva source text.
//!
//! NMODL computes with plain numbers, each variable in its declared unit. The translation
//! keeps exactly that arithmetic: every read of a quantity with a unit divides it by its
//! declared unit (`v / 1 mV`), every intermediate (`let`, function) is a plain number, and the
//! unit is attached again where a value is stored (a current: `1 mA/cm2 * …`; a derivative:
//! `… / 1 ms`). The imperative blocks are executed symbolically: each assignment becomes a
//! `let` (single assignment), procedures are inlined, `if` statements become `if` expressions,
//! and functions that read only their arguments become Sylva functions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use super::ast::{Decl, Expr, Function, Item, ModFile, NeuronStmt, Stmt, UnitDef};
use super::parser::UNSUPPORTED_BLOCKS;
use super::units::{UnitTable, constant};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

mod arrays;
mod events;
mod exec;
mod held;
mod initial;
mod kinetic;
mod solve;
mod text;

/// Names Sylva reserves (keywords and built-ins with another meaning): a variable of that name
/// gets a trailing `_`.
const RESERVED: &[&str] = &[
    "at",
    "by",
    "cell",
    "column",
    "connect",
    "conserve",
    "current",
    "density",
    "detector",
    "distance",
    "e",
    "electrode",
    "else",
    "event",
    "fn",
    "from",
    "gate",
    "if",
    "import",
    "in",
    "inf",
    "initial",
    "insert",
    "ion",
    "kinetic",
    "let",
    "morphology",
    "network",
    "on",
    "param",
    "point",
    "population",
    "probe",
    "read",
    "record",
    "region",
    "section",
    "simulation",
    "source",
    "species",
    "spikes",
    "state",
    "stimulus",
    "swc",
    "synapse",
    "target",
    "threshold",
    "train",
    "trainable",
    "write",
    "FARADAY",
    "R",
    "E",
    "exp",
    "log",
    "log10",
    "sqrt",
    "abs",
    "min",
    "max",
    "pow",
    "sin",
    "cos",
    "tanh",
    "exprelr",
    "vtrap",
    "sigmoid",
    "all",
    "soma",
    "axon",
    "dend",
    "apic",
];

/// NMODL's math functions and Sylva's names for them.
const MATH: &[(&str, &str, usize)] = &[
    ("exp", "exp", 1),
    ("log", "log", 1),
    ("log10", "log10", 1),
    ("sqrt", "sqrt", 1),
    ("fabs", "abs", 1),
    ("pow", "pow", 2),
    ("sin", "sin", 1),
    ("cos", "cos", 1),
    ("tanh", "tanh", 1),
    ("fmin", "min", 2),
    ("fmax", "max", 2),
];

/// The ion species of Sylva's standard library (`compiler/stdlib/ions.syl`).
const STANDARD_SPECIES: &[&str] = &["na", "k", "ca"];

/// A mechanism's Sylva name: also not a species of the standard library (`SUFFIX na`).
pub fn mechanism_name(name: &str) -> String {
    if STANDARD_SPECIES.contains(&name) { format!("{name}_") } else { sylva_name(name) }
}

/// A variable's Sylva name: a reserved word gets a trailing `_`, an array's element `x[1]` is
/// `x_1`.
pub fn sylva_name(name: &str) -> String {
    if let Some((array, rest)) = name.split_once('[') {
        return format!("{array}_{}", rest.trim_end_matches(']'));
    }
    if RESERVED.contains(&name) { format!("{name}_") } else { name.to_string() }
}

/// A translated expression and its precedence: 0 `if`, 1 `||`, 2 `&&`, 3 comparisons,
/// 4 `+ -`, 5 `* /`, 6 unary, 7 `^`, 9 atoms.
#[derive(Clone, Debug, PartialEq)]
struct Out {
    text: String,
    prec: u8,
}

impl Out {
    fn atom(text: impl Into<String>) -> Out {
        Out { text: text.into(), prec: 9 }
    }

    fn wrap(&self, min: u8) -> String {
        if self.prec < min { format!("({})", self.text) } else { self.text.clone() }
    }
}

fn binary(op: &str, a: &Out, b: &Out) -> Out {
    let (prec, left, right) = match op {
        "||" => (1, 1, 2),
        "&&" => (2, 2, 3),
        "<" | "<=" | ">" | ">=" | "==" | "!=" => (3, 4, 4),
        "+" | "-" => (4, 4, 5),
        "*" | "/" => (5, 5, 6),
        _ => (7, 9, 7),
    };
    Out { text: format!("{} {op} {}", a.wrap(left), b.wrap(right)), prec }
}

fn number(text: &str) -> Out {
    let mut t = text.to_string();
    if t.starts_with('.') {
        t.insert(0, '0');
    }
    if let Some(p) = t.find(['e', 'E'])
        && t[..p].ends_with('.')
    {
        t.insert(p, '0');
    }
    if t.ends_with('.') {
        t.push('0');
    }
    if t.starts_with('-') { Out { text: t, prec: 6 } } else { Out::atom(t) }
}

/// `x` as a plain number in unit `u`.
fn strip(x: &str, unit: &str) -> Out {
    if unit == "1" {
        return Out::atom(x);
    }
    match unit.strip_prefix("1/") {
        Some(d) => Out { text: format!("{x} * 1 {}", d.trim_start_matches('(').trim_end_matches(')')), prec: 5 },
        None => Out { text: format!("{x} / 1 {unit}"), prec: 5 },
    }
}

/// A plain number `x` as a quantity of unit `u`.
fn attach(x: &Out, unit: &str) -> Out {
    if unit == "1" {
        return x.clone();
    }
    match unit.strip_prefix("1/") {
        Some(d) => {
            Out { text: format!("{} / 1 {}", x.wrap(5), d.trim_start_matches('(').trim_end_matches(')')), prec: 5 }
        }
        None => Out { text: format!("1 {unit} * {}", x.wrap(6)), prec: 5 },
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Param,
    State,
    /// An ion variable the mechanism reads (eX, Xi, Xo, iX).
    IonRead,
    /// A concentration the mechanism writes and integrates (a STATE of the ion).
    IonState,
    Current,
    Assigned,
    /// v, t, dt, celsius, area, diam.
    Builtin,
}

#[derive(Clone, Debug)]
struct Var {
    kind: Kind,
    unit: String,
}

#[derive(Clone, Default)]
struct Env {
    frames: Vec<HashMap<String, Out>>,
    globals: HashMap<String, Out>,
}

#[derive(Clone, Copy, PartialEq)]
enum BlockKind {
    Initial,
    Breakpoint,
    Derivative,
    Kinetic,
    NetReceive,
    /// A PROCEDURE solved without METHOD: it advances the states by assignments.
    Update,
}

enum FnState {
    Pending,
    Pure(String),
    Impure,
}

/// What a function body translates to while it is tried as a Sylva function.
struct FnScope {
    name: String,
    lets: Vec<(String, Out)>,
    pure: bool,
}

pub struct Translated {
    pub name: String,
    pub text: String,
}

struct Tx<'a> {
    file: &'a ModFile,
    file_id: FileId,
    file_name: &'a str,
    diagnostics: Vec<Diagnostic>,
    units: UnitTable,
    vars: HashMap<String, Var>,
    constants: HashMap<String, String>,
    procedures: HashMap<String, Function>,
    fn_states: HashMap<String, FnState>,
    fn_texts: Vec<String>,
    lets: Vec<(String, Out)>,
    let_by_def: HashMap<String, String>,
    taken: HashSet<String>,
    latest: HashMap<String, Out>,
    fn_scope: Option<FnScope>,
    /// PARAMETERs that INITIAL assigns (Exp2Syn's `tau1`): their value after INITIAL, read by
    /// the other blocks.
    shadows: HashMap<String, Out>,
    /// ASSIGNED values INITIAL computes, for blocks that read them without computing them.
    initial_values: HashMap<String, Out>,
    /// The `let`s made by the run of INITIAL ahead (`initial::initial_prepass`).
    prepass_lets: HashSet<String>,
    scheme: kinetic::Scheme,
    /// `SOLVE name STEADYSTATE sparse` in INITIAL: the scheme's name and the statement.
    steady_state: Option<(String, Span)>,
    /// The POINTER that is the presynaptic voltage (`Interface::pre_voltage`), read as `v_pre`.
    pre_voltage: Option<String>,
    /// ASSIGNED variables BREAKPOINT may read as stored by the solved blocks (`held.rs`).
    held_candidates: HashSet<String>,
    /// Those BREAKPOINT read, with the value the solved blocks computed: states set at every
    /// step.
    held: BTreeMap<String, Out>,
    branch: usize,
    call_depth: usize,
    block: BlockKind,
}

/// What the NEURON block declares.
struct Interface {
    name: String,
    point: bool,
    /// (ion, span, read, written).
    ions: Vec<(String, Span, Vec<String>, Vec<String>)>,
    /// Ions the standard library does not declare, with their charge (VALENCE): a `species`
    /// with NEURON's defaults for a new ion.
    species: Vec<(String, i32)>,
    nonspecific: Vec<String>,
    electrode: Vec<String>,
    globals: HashSet<String>,
    /// The POINTER read as the presynaptic voltage (`v_pre`).
    pre_voltage: Option<(String, Span)>,
}

impl Interface {
    /// A density mechanism's currents are densities, a point process's are currents.
    fn current_unit(&self) -> &'static str {
        if self.point { "nA" } else { "mA/cm2" }
    }
}

/// What the executed blocks give: the derivatives (and the DERIVATIVE and KINETIC blocks
/// solved), the kinetic scheme's lines, the currents, the initial values, the event handler.
#[derive(Default)]
struct Blocks {
    derivatives: Vec<(String, Out)>,
    /// States whose derivative NMODL integrates with `derivimplicit` (backward Euler).
    implicit: HashSet<String>,
    solved: HashSet<String>,
    kinetic: Vec<String>,
    /// The KINETIC block solved, and whether it is linear in its states.
    kinetic_block: Option<(String, bool)>,
    /// `kinetic steady_state`: INITIAL solves the scheme for its steady state.
    steady_state: bool,
    currents: Vec<(String, Out)>,
    initial: Vec<(String, Out)>,
    /// `on event(…) { … }`, from NET_RECEIVE.
    event: Option<String>,
    /// `x = … each step`: ASSIGNED values the solved blocks compute and BREAKPOINT reads, and
    /// the states of a DERIVATIVE block solved by `METHOD euler`.
    held: Vec<(String, Out)>,
}

pub fn translate(
    file: &ModFile,
    file_id: FileId,
    file_name: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Translated> {
    let mut tx = Tx {
        file,
        file_id,
        file_name,
        diagnostics: Vec::new(),
        units: UnitTable::default(),
        vars: HashMap::new(),
        constants: HashMap::new(),
        procedures: HashMap::new(),
        fn_states: HashMap::new(),
        fn_texts: Vec::new(),
        lets: Vec::new(),
        let_by_def: HashMap::new(),
        taken: RESERVED.iter().map(|s| s.to_string()).collect(),
        latest: HashMap::new(),
        fn_scope: None,
        shadows: HashMap::new(),
        initial_values: HashMap::new(),
        prepass_lets: HashSet::new(),
        scheme: kinetic::Scheme::default(),
        steady_state: None,
        pre_voltage: None,
        held_candidates: HashSet::new(),
        held: BTreeMap::new(),
        branch: 0,
        call_depth: 0,
        block: BlockKind::Breakpoint,
    };
    let result = tx.run();
    diagnostics.append(&mut tx.diagnostics);
    result
}

impl<'a> Tx<'a> {
    fn unsupported(&mut self, span: Span, message: impl Into<String>, label: &str) {
        self.diagnostics.push(Diagnostic::error(Code::NmodlUnsupported, span, message).label(label));
    }

    fn unit(&mut self, written: Option<&(String, Span)>) -> String {
        let Some((text, span)) = written else { return "1".into() };
        match self.units.to_sylva(text) {
            Some(u) => u,
            None => {
                self.diagnostics.push(
                    Diagnostic::error(Code::NmodlUnit, *span, format!("unit `({text})` has no Sylva equivalent"))
                        .label("unknown unit")
                        .help("define it in the UNITS block in terms of units Sylva knows, e.g. `(mM) = (millimolar)`"),
                );
                "1".into()
            }
        }
    }

    fn trailing_comment(&self, line: usize) -> Option<String> {
        self.file
            .line_comments
            .iter()
            .find(|c| c.line == line && !c.own_line && !c.text.is_empty())
            .map(|c| c.text.clone())
    }

    /// The translation in named steps: the interface (NEURON and UNITS blocks), the variables
    /// with their units, the declarations, the constants, the blocks executed symbolically,
    /// then the text.
    fn run(&mut self) -> Option<Translated> {
        let iface = self.interface()?;
        self.declare_builtins_and_ions(&iface);
        let (params, states) = self.declarations();
        self.constants_as_lets();
        self.find_held();
        let mut blocks = Blocks::default();
        self.initial_prepass();
        self.breakpoint(&iface, &mut blocks);
        self.held_updates(&mut blocks);
        self.initial_and_unused(&states, &mut blocks);
        self.steady_state(&mut blocks);
        blocks.event = self.net_receive(&iface);
        self.drop_unread_prepass_lets(&blocks);
        let text = self.text(&iface, &params, &states, &blocks);
        Some(Translated { name: iface.name, text })
    }

    /// The mechanism's name and kind, ions and currents (NEURON block), and the UNITS block's
    /// aliases and constants; `None` (reported) without a SUFFIX or POINT_PROCESS.
    fn interface(&mut self) -> Option<Interface> {
        let file = self.file;
        let mut name = None;
        let mut point = false;
        let mut ions: Vec<(String, Span, Vec<String>, Vec<String>)> = Vec::new();
        let mut nonspecific = Vec::new();
        let mut electrode = Vec::new();
        let mut globals = HashSet::new();
        let mut pointers: Vec<(String, Span)> = Vec::new();
        let mut species: Vec<(String, i32)> = Vec::new();
        for item in &file.items {
            match item {
                Item::Neuron(stmts) => {
                    for s in stmts {
                        match s {
                            NeuronStmt::Suffix(n, _) => name = Some(n.clone()),
                            NeuronStmt::PointProcess(n, _) => {
                                name = Some(n.clone());
                                point = true;
                            }
                            NeuronStmt::UseIon { ion, span, read, write, valence } => {
                                if !STANDARD_SPECIES.contains(&ion.as_str())
                                    && !species.iter().any(|(s, _)| s == ion)
                                    && let Some(charge) = self.new_species_charge(ion, *span, valence.as_deref())
                                {
                                    species.push((ion.clone(), charge));
                                }
                                let names = |v: &Vec<(String, Span)>| v.iter().map(|(n, _)| n.clone()).collect();
                                ions.push((ion.clone(), *span, names(read), names(write)));
                            }
                            NeuronStmt::Nonspecific(v) => nonspecific.extend(v.iter().map(|(n, _)| n.clone())),
                            NeuronStmt::ElectrodeCurrent(v) => electrode.extend(v.iter().map(|(n, _)| n.clone())),
                            NeuronStmt::Global(v) => globals.extend(v.iter().map(|(n, _)| n.clone())),
                            NeuronStmt::Range(_) => {}
                            NeuronStmt::Pointer(v) => pointers.extend(v.iter().cloned()),
                            NeuronStmt::Unsupported(w, span) => {
                                let w = w.clone();
                                self.unsupported(*span, format!("`{w}` is not translated yet"), "not translated");
                            }
                        }
                    }
                }
                Item::Units(defs) => self.units_block(defs),
                _ => {}
            }
        }
        let Some(name) = name else {
            let span = Span { file: self.file_id, start: 0, end: 0 };
            self.diagnostics.push(
                Diagnostic::error(Code::NmodlUnsupported, span, "no SUFFIX or POINT_PROCESS: nothing to translate")
                    .label("the NEURON block names the mechanism"),
            );
            return None;
        };
        let pre_voltage = self.pre_voltage(point, pointers);
        Some(Interface { name, point, ions, species, nonspecific, electrode, globals, pre_voltage })
    }

    /// The charge of an ion the standard library does not declare: its VALENCE, which NEURON
    /// requires for a new ion; `None` (reported) without one or with one that is not a charge.
    fn new_species_charge(&mut self, ion: &str, span: Span, valence: Option<&str>) -> Option<i32> {
        let charge = valence.and_then(|z| z.parse::<i32>().ok()).filter(|z| *z != 0 && z.abs() <= 8);
        if charge.is_none() {
            let message = match valence {
                Some(z) => {
                    format!("ion `{ion}` has VALENCE {z}: a species' charge is a whole number from -8 to 8, not 0")
                }
                None => format!(
                    "ion `{ion}` has no VALENCE: Sylva declares it as a new species with that charge, as NEURON does"
                ),
            };
            self.diagnostics.push(
                Diagnostic::error(Code::NmodlUnsupported, span, message)
                    .label("a new ion")
                    .help(format!("write `USEION {ion} … VALENCE z` with the ion's charge z")),
            );
        }
        charge
    }

    /// A point process's one POINTER is the presynaptic voltage (NEURON's `setpointer` to a
    /// presynaptic `_ref_v`; Sylva's `v_pre`, from `connect`); any other POINTER is refused.
    fn pre_voltage(&mut self, point: bool, mut pointers: Vec<(String, Span)>) -> Option<(String, Span)> {
        if point && pointers.len() == 1 {
            return pointers.pop();
        }
        for (name, span) in pointers {
            let message = format!(
                "POINTER `{name}`: Sylva translates a POINTER only as the presynaptic voltage (`v_pre`) of a POINT_PROCESS with one POINTER"
            );
            self.unsupported(span, message, "not translated");
        }
        None
    }

    /// A UNITS block: unit aliases for the unit mapping, and named constants.
    fn units_block(&mut self, defs: &[UnitDef]) {
        for d in defs {
            if d.lhs_is_unit {
                if let Some(rhs) = d.rhs.first() {
                    self.units.alias(&d.lhs, rhs);
                }
                continue;
            }
            if d.lhs == "PI" {
                continue; // Sylva's `PI` is the same number.
            }
            let value = match d.rhs.as_slice() {
                [a] | [a, _] if a.starts_with('#') => Some(a[1..].to_string()),
                [a, b] => constant(a, b).map(str::to_string),
                _ => None,
            };
            match value {
                Some(v) => {
                    self.constants.insert(d.lhs.clone(), v);
                }
                None => self.diagnostics.push(
                    Diagnostic::error(
                        Code::NmodlUnit,
                        d.span,
                        format!("the constant `{}` cannot be translated", d.lhs),
                    )
                    .label("unknown physical constant")
                    .help("Sylva knows `(faraday) (coulomb)`, `(faraday) (kilocoulombs)`, `(k-mole) (joule/degC)`, `(e) (coulomb)` and `(pi) (1)`"),
                ),
            }
        }
    }

    /// The builtins, ion variables and currents, with their units.
    fn declare_builtins_and_ions(&mut self, iface: &Interface) {
        let current_unit = iface.current_unit();
        for b in ["v", "t", "dt", "celsius", "area", "diam"] {
            let unit = match b {
                "v" => "mV",
                "t" | "dt" => "ms",
                "celsius" => "degC",
                "area" => "um2",
                _ => "um",
            };
            self.vars.insert(b.into(), Var { kind: Kind::Builtin, unit: unit.into() });
        }
        if let Some((name, _)) = &iface.pre_voltage {
            self.vars.insert(name.clone(), Var { kind: Kind::Builtin, unit: "mV".into() });
            self.pre_voltage = Some(name.clone());
        }
        for (ion, _, read, write) in &iface.ions {
            for n in read {
                let unit = ion_unit(ion, n, current_unit);
                self.vars.insert(n.clone(), Var { kind: Kind::IonRead, unit });
            }
            for n in write {
                let unit = ion_unit(ion, n, current_unit);
                let kind = if *n == format!("i{ion}") { Kind::Current } else { Kind::IonState };
                self.vars.insert(n.clone(), Var { kind, unit });
            }
        }
        for n in iface.nonspecific.iter().chain(&iface.electrode) {
            self.vars.insert(n.clone(), Var { kind: Kind::Current, unit: current_unit.into() });
        }
    }

    /// PARAMETER, STATE and ASSIGNED declarations (their units), the names taken, the
    /// procedures; returns the parameters and states to declare.
    fn declarations(&mut self) -> (Vec<&'a Decl>, Vec<&'a Decl>) {
        let file = self.file;
        let mut params: Vec<&Decl> = Vec::new();
        let mut states: Vec<&Decl> = Vec::new();
        let computed = self.breakpoint_assigns();
        for item in &file.items {
            let (decls, kind) = match item {
                Item::Parameter(d) => (d, Kind::Param),
                Item::State(d) => (d, Kind::State),
                Item::Assigned(d) => (d, Kind::Assigned),
                _ => continue,
            };
            for d in decls {
                let unit = self.unit(d.unit.as_ref());
                match self.vars.get_mut(&d.name) {
                    Some(v) if v.kind == Kind::Builtin => {
                        if self.pre_voltage.as_deref() == Some(d.name.as_str()) && d.unit.is_some() && unit != "mV" {
                            let message =
                                format!("POINTER `{}` is in ({unit}): the presynaptic voltage is in (mV)", d.name);
                            self.unsupported(d.span, message, "not a voltage");
                        }
                    }
                    Some(v) => {
                        if d.unit.is_some() {
                            v.unit = unit;
                        }
                    }
                    None => {
                        // A PARAMETER BREAKPOINT computes (kca.mod's `gk = gbar*m*m*m`) is
                        // overwritten at every step: an ASSIGNED value.
                        let kind =
                            if kind == Kind::Param && computed.contains(&d.name) { Kind::Assigned } else { kind };
                        self.vars.insert(d.name.clone(), Var { kind, unit });
                        match kind {
                            Kind::Param => params.push(d),
                            Kind::State => states.push(d),
                            _ => {}
                        }
                    }
                }
            }
        }
        for (n, v) in &self.vars {
            if v.kind != Kind::Assigned {
                self.taken.insert(sylva_name(n));
            }
        }
        for item in &file.items {
            if let Item::Procedure(f) = item {
                self.taken.insert(sylva_name(&f.name));
                self.procedures.insert(f.name.clone(), f.clone());
            }
        }
        (params, states)
    }

    /// UNITS constants as `let`s.
    fn constants_as_lets(&mut self) {
        let mut constants: Vec<_> = self.constants.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        constants.sort();
        for (k, v) in constants {
            let n = self.fresh(&k);
            self.constants.insert(k.clone(), n.clone());
            self.lets.push((n, number(&v)));
        }
    }

    /// BREAKPOINT: the DERIVATIVE blocks it solves and the currents it assigns.
    fn breakpoint(&mut self, iface: &Interface, blocks: &mut Blocks) {
        let file = self.file;
        for item in &file.items {
            if let Item::Breakpoint(body, _) = item {
                let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
                for stmt in body {
                    if let Stmt::Solve { name: target, span, method, .. } = stmt {
                        self.solve(target, *span, method.as_ref(), blocks);
                        continue;
                    }
                    self.block = BlockKind::Breakpoint;
                    self.stmt(stmt, &mut env);
                }
                self.keep(&env);
                let names: Vec<String> = iface
                    .ions
                    .iter()
                    .flat_map(|(_, _, _, w)| w.iter())
                    .chain(&iface.nonspecific)
                    .chain(&iface.electrode)
                    .filter(|n| self.vars.get(*n).is_some_and(|v| v.kind == Kind::Current))
                    .cloned()
                    .collect();
                for n in names {
                    if let Some(value) = env.globals.get(&n) {
                        blocks.currents.push((n.clone(), value.clone()));
                    }
                }
            }
        }
    }

    /// INITIAL's state values, and reports of what is left: DERIVATIVE blocks never solved,
    /// blocks not translated.
    fn initial_and_unused(&mut self, states: &[&Decl], blocks: &mut Blocks) {
        let file = self.file;
        for item in &file.items {
            match item {
                Item::Initial(body, _) => {
                    self.block = BlockKind::Initial;
                    let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
                    for stmt in body {
                        self.stmt(stmt, &mut env);
                    }
                    self.keep(&env);
                    for d in states {
                        if let Some(value) = env.globals.get(&d.name) {
                            blocks.initial.push((d.name.clone(), value.clone()));
                        }
                    }
                    for n in self.held.keys() {
                        if let Some(value) = env.globals.get(n) {
                            blocks.initial.push((n.clone(), attach(value, &self.vars[n].unit)));
                        }
                    }
                    for (n, v) in &self.vars {
                        if v.kind == Kind::IonState
                            && let Some(value) = env.globals.get(n)
                        {
                            blocks.initial.push((n.clone(), value.clone()));
                        }
                    }
                }
                Item::Derivative(n, _, span) | Item::Kinetic(n, _, span) if !blocks.solved.contains(n) => {
                    let n = n.clone();
                    let kind = if matches!(item, Item::Kinetic(..)) { "KINETIC" } else { "DERIVATIVE" };
                    self.unsupported(
                        *span,
                        format!("{kind} `{n}` is never solved"),
                        "no `SOLVE` in BREAKPOINT names it",
                    );
                }
                Item::Unsupported(word, span) => {
                    let message = if word == "VERBATIM" {
                        "VERBATIM (C code) cannot be translated".to_string()
                    } else if UNSUPPORTED_BLOCKS.contains(&word.as_str()) {
                        format!("the `{word}` block is not translated yet")
                    } else {
                        format!("`{word}` is not an NMODL block Sylva knows")
                    };
                    self.unsupported(*span, message, "skipped");
                }
                _ => {}
            }
        }
    }

    fn file_order(&self, name: &str) -> usize {
        self.file
            .items
            .iter()
            .filter_map(|i| if let Item::State(d) = i { Some(d) } else { None })
            .flatten()
            .position(|d| d.name == name)
            .unwrap_or(usize::MAX)
    }

    /// Records the ASSIGNED values a block computed, for the blocks after it.
    fn keep(&mut self, env: &Env) {
        for (k, v) in &env.globals {
            if self.vars.get(k).is_some_and(|v| v.kind == Kind::Assigned) {
                self.latest.insert(k.clone(), v.clone());
            }
        }
    }

    fn fresh(&mut self, base: &str) -> String {
        let base = sylva_name(base);
        let mut name = base.clone();
        let mut i = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// A value stored under `var`: a `let` unless it is a name or a number.
    fn bind(&mut self, var: &str, value: Out) -> Out {
        let trivial = value.prec == 9 && !value.text.contains(' ') || self.branch > 0;
        if trivial || value.text.len() < 2 {
            return value;
        }
        if let Some(scope) = &self.fn_scope {
            if scope.name == var {
                return value;
            }
            let n = self.fresh(var);
            let scope = self.fn_scope.as_mut().expect("in a function");
            scope.lets.push((n.clone(), value));
            return Out::atom(n);
        }
        if let Some(n) = self.let_by_def.get(&value.text) {
            return Out::atom(n.clone());
        }
        let n = self.fresh(var);
        self.let_by_def.insert(value.text.clone(), n.clone());
        self.lets.push((n.clone(), value));
        Out::atom(n)
    }
}

/// The plain value of a stored quantity expression (`1 mA/cm2 * x` back to `x`).
fn strip_out(v: &Out, unit: &str) -> Out {
    if unit == "1" {
        return v.clone();
    }
    Out { text: format!("{} / 1 {unit}", v.wrap(6)), prec: 5 }
}

/// A unit as a declaration writes it: Sylva's unit types have no parentheses, so `1/(ms*mM)`
/// is `1/ms/mM`.
fn unit_type(unit: &str) -> String {
    match unit.split_once("/(") {
        Some((num, den)) if den.ends_with(')') => format!("{num}/{}", den.trim_end_matches(')').replace('*', "/")),
        _ => unit.to_string(),
    }
}

fn ion_unit(ion: &str, name: &str, current_unit: &str) -> String {
    if name == format!("e{ion}") {
        "mV".into()
    } else if name == format!("i{ion}") {
        current_unit.into()
    } else {
        "mM".into()
    }
}
