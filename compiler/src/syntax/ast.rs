//! The syntax tree: what the parser produces, with a span on every node. It knows nothing about
//! names, units or meaning; `crate::check` gives it that.

use crate::source::Span;

/// An identifier as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A documentation comment (`///` lines before a declaration), joined by newlines.
pub type Doc = Option<String>;

/// One parsed file. Items that failed to parse are absent; the parser reported them.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
    /// The names of items that did not parse: they exist, but what they use is unknown, so the
    /// checker neither reports them missing nor warns that imports or definitions are unused.
    pub broken: Vec<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Import(Import),
    Param(Param),
    Function(Function),
    Mechanism(Mechanism),
    Species(Species),
    Morphology(Morphology),
    Cell(Cell),
    Network(Network),
    Simulation(Simulation),
    Train(Train),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub target: ImportTarget,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImportTarget {
    /// `import hh`: a standard-library module.
    Std(Ident),
    /// `import "dir/file.syl"`: a file relative to the importing one.
    File(StringLit),
}

#[derive(Clone, Debug, PartialEq)]
pub struct StringLit {
    /// The value, escapes resolved.
    pub value: String,
    pub span: Span,
}

/// A unit as written in a type position (`S/cm2`, `1`, `1/ms`, `mM`): the text is parsed by
/// `crate::units`.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitExpr {
    pub text: String,
    pub span: Span,
}

/// `param name: unit = default in [lo, hi]` (top level or in a mechanism).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub doc: Doc,
    pub name: Ident,
    pub unit: Option<UnitExpr>,
    pub default: Expr,
    pub range: Option<Range>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub lo: Expr,
    pub hi: Expr,
    pub span: Span,
}

/// `fn name(x: mV, y: mV) -> mV { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub doc: Doc,
    pub name: Ident,
    pub params: Vec<FnParam>,
    pub result: Option<UnitExpr>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnParam {
    pub name: Ident,
    pub unit: UnitExpr,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MechanismKind {
    /// `density name { … }`: membrane density (channels, leaks, ion dynamics).
    Density,
    /// `point name { … }`: a point process (synapses, electrodes).
    Point,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mechanism {
    pub doc: Doc,
    pub kind: MechanismKind,
    pub name: Ident,
    pub members: Vec<Member>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    Param(Param),
    State(State),
    Gate(Gate),
    Let(Let),
    /// `x' = expr`.
    Ode(Ode),
    Ion(IonUse),
    /// `current il`: declares a non-specific current.
    Current(Ident),
    /// `ina = expr`, `electrode current i = expr` or `x = expr each step`.
    Assign(Assign),
    Kinetic(Kinetic),
    OnEvent(OnEvent),
    Initial(Initial),
    Function(Function),
}

/// `state name: unit` or `state name: unit = init`.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub doc: Doc,
    pub name: Ident,
    pub unit: UnitExpr,
    pub init: Option<Expr>,
    pub span: Span,
}

/// `gate m { alpha = …, beta = …, q10 = … }` or `gate m { inf = …, tau = … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    pub doc: Doc,
    pub name: Ident,
    pub props: Vec<Property>,
    pub span: Span,
}

/// `let name = expr` (a derived value, or a local inside a block).
#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub doc: Doc,
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ode {
    pub state: Ident,
    pub rhs: Expr,
    /// `x' = … by backward_euler`: backward Euler even when the equation is linear in `x`.
    pub backward_euler: bool,
    pub span: Span,
}

/// `ion ca { read eca, cai, write ica }`.
#[derive(Clone, Debug, PartialEq)]
pub struct IonUse {
    pub ion: Ident,
    pub reads: Vec<Ident>,
    pub writes: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Assign {
    /// `electrode current i = …`: injected, positive depolarizing.
    pub electrode: bool,
    /// `x = … each step`: a state set to the value at every step (`Dynamics::Assign`).
    pub each_step: bool,
    /// `i = … by secant`: the conductance is NEURON's secant (I(v + 0.001 mV) − I(v)) / 0.001 mV.
    pub secant: bool,
    pub target: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Kinetic {
    pub reactions: Vec<Reaction>,
    pub conserves: Vec<Conserve>,
    /// `kinetic steady_state { … }`: the scheme starts at its steady state.
    pub steady_state: bool,
    pub span: Span,
}

/// `a + 2 b <-> c (forward, backward)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reaction {
    pub lhs: Vec<Reactant>,
    pub rhs: Vec<Reactant>,
    pub forward: Expr,
    pub backward: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reactant {
    /// Stoichiometric coefficient, 1 when not written.
    pub count: u32,
    pub state: Ident,
    pub span: Span,
}

/// `conserve c1 + c2 + o = 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conserve {
    pub states: Vec<Ident>,
    pub total: Expr,
    pub span: Span,
}

/// `on event(w: uS) { A += w * factor }`.
#[derive(Clone, Debug, PartialEq)]
pub struct OnEvent {
    pub weight: Ident,
    pub unit: UnitExpr,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `initial { A = 0 uS, B = 0 uS }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Initial {
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub target: Ident,
    pub op: AssignOp,
    pub value: Expr,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
}

/// `species ca { charge = 2, reversal = nernst, inside = 5e-5 mM, outside = 2 mM }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Species {
    pub doc: Doc,
    pub name: Ident,
    pub props: Vec<Property>,
    pub span: Span,
}

/// `key = value`, used by gates, sections, placements, simulation settings and more.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `morphology name { … }`, `morphology name = swc("f.swc") { … }`, or an inline
/// `morphology { … }` in a cell (then `name` is `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Morphology {
    pub doc: Doc,
    pub name: Option<Ident>,
    pub body: MorphologyBody,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MorphologyBody {
    Tree(Vec<MorphologyMember>),
    /// An SWC file, with the edits applied to its sections in the order written.
    Swc {
        path: StringLit,
        props: Vec<Property>,
        regions: Vec<RegionDef>,
        edits: Vec<SwcEdit>,
    },
}

/// A change to an SWC morphology's sections, as published models make after loading one.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // Few of them per file; boxing would only add noise.
pub enum SwcEdit {
    /// `delete axon + dend[3]`: these regions or sections and every section attached below them.
    Delete { names: Vec<Ident>, span: Span },
    /// `section axon[0] at soma(0.5) { length = 30 um, diam = 1 um }`: a section added.
    Add(Section),
}

#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // Few of them per file; boxing would only add noise.
pub enum MorphologyMember {
    Section(Section),
    Region(RegionDef),
}

/// `section dend at soma(1) { length = 500 um, diam = 1 um, nseg = 21 }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub doc: Doc,
    pub name: Ident,
    pub parent: Option<Location>,
    pub props: Vec<Property>,
    pub span: Span,
}

/// `region basal = dend1 + dend2`.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionDef {
    pub name: Ident,
    pub parts: Vec<Ident>,
    pub span: Span,
}

/// `section(x)`; `x` is `None` when written as a bare section name (a parent defaults to 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub section: Ident,
    pub x: Option<Expr>,
    /// `section(distance = d)`: where along the section or region, by path distance from the
    /// root's middle, instead of `x`.
    pub distance: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub doc: Doc,
    pub name: Ident,
    pub members: Vec<CellMember>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CellMember {
    /// `morphology = name`.
    MorphologyRef(Ident),
    /// An inline `morphology { … }`.
    Morphology(Morphology),
    /// `cm = 1 uF/cm2`, `Ra = …`, `v_init = …`, or `cm in dend = …` (then `region` is set).
    Property {
        prop: Property,
        region: Option<Ident>,
    },
    /// `insert hh in soma { gnabar = 0.1 S/cm2 }`.
    Insert(Insert),
    Species(Species),
    /// `synapse syn = exp2syn at soma(0.5) { tau1 = 0.5 ms }`.
    Synapse(Placement),
    /// `detector at soma(0.5) threshold -20 mV`.
    Detector(Detector),
    /// `distance from apic[0](0)`: the origin of `distance` in this cell.
    DistanceOrigin(Location),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Insert {
    pub mechanism: Ident,
    /// The regions it covers (`in axon + dend + apic`: their union), at least one.
    pub regions: Vec<Ident>,
    pub props: Vec<Property>,
    pub span: Span,
}

/// A named point process at one location (`synapse` in a cell).
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub name: Ident,
    pub mechanism: Ident,
    pub at: Location,
    pub props: Vec<Property>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Detector {
    pub at: Location,
    pub threshold: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub doc: Doc,
    pub name: Ident,
    pub members: Vec<NetworkMember>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NetworkMember {
    Population(Population),
    Connect(Connect),
    Source(SpikeSource),
    Stimulus(Stimulus),
    Probe(Probe),
    /// `record spikes`.
    RecordSpikes(Span),
}

/// `population cells = ringcell[rings * 10]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    pub name: Ident,
    pub cell: Ident,
    pub count: Expr,
    pub span: Span,
}

/// `pop`, `pop[i]`, `pop[a .. b]`, `pop[a .. b by s]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub name: Ident,
    pub index: Option<Index>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Index {
    One(Expr),
    Range { start: Expr, end: Expr, step: Option<Expr> },
}

/// `connect cells -> cells.syn ring(10) { weight = 0.05 uS, delay = 1 ms }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Connect {
    /// `connect NAME = …`: names the rule (its weight can be trained).
    pub name: Option<Ident>,
    pub source: Selection,
    pub target: Selection,
    pub synapse: Ident,
    pub rule: Option<Call>,
    pub props: Vec<Property>,
    pub span: Span,
}

/// `name(args)` with positional or named arguments (`random(p = 0.1, seed = 1)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// `source kick = spikes(1 ms, 5 ms)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeSource {
    pub name: Ident,
    pub generator: Call,
    pub span: Span,
}

/// `stimulus clamp = iclamp at cells[0].soma(0.5) { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stimulus {
    pub name: Ident,
    pub mechanism: Ident,
    pub at: CellLocation,
    pub props: Vec<Property>,
    pub span: Span,
}

/// `cells[0].soma(0.5)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CellLocation {
    pub cells: Selection,
    pub at: Location,
    pub span: Span,
}

/// `probe "label" = v at cells[0].soma(0.5)`, `probe "g" = hh.m at …`,
/// `probe "i" = cells[1].syn.i`, `probe "i" = clamp.i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub label: StringLit,
    /// The quantity: its first element may carry a cell index (`cells[1]`), the rest are
    /// plain names (`syn`, `i`).
    pub head: Selection,
    pub path: Vec<Ident>,
    pub at: Option<CellLocation>,
    pub span: Span,
}

/// `simulation { dt = 0.025 ms, … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    pub props: Vec<Property>,
    pub span: Span,
}

/// `train fit { trainable …, target …, loss = mse, optimizer = adam { … }, iterations = 200 }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    pub doc: Doc,
    pub name: Ident,
    pub members: Vec<TrainMember>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrainMember {
    Trainable(Trainable),
    Target(Target),
    Input(Input),
    Readout(Readout),
    /// `data = table("xor.csv")`, `test = mnist("images", "labels")`.
    Dataset(Dataset),
    /// `label = "y"`.
    Text(TrainText),
    Setting(TrainSetting),
}

/// `input "a" -> in_a` (a spike source), `input "a" -> clamp.amp` (a stimulus parameter) or
/// `input "pixel*" -> hidden.drive.amp { init = 1 nA }` (a dense projection onto a population).
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub column: StringLit,
    /// One name (a source), two (a stimulus and its parameter) or three (a population, its
    /// synapse and the parameter).
    pub to: Vec<Ident>,
    pub props: Vec<Property>,
    pub span: Span,
}

/// `readout = mean "out0", "out1" in [5 ms, 10 ms]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Readout {
    pub statistic: Ident,
    pub probes: Vec<StringLit>,
    pub from: Expr,
    pub to: Expr,
    pub span: Span,
}

/// `data = table("xor.csv")`: a key, a format and its files.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub key: Ident,
    pub format: Ident,
    pub files: Vec<StringLit>,
    pub span: Span,
}

/// `label = "y"`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainText {
    pub key: Ident,
    pub value: StringLit,
    pub span: Span,
}

/// `trainable hh.gnabar in soma + dend { init = 0.1 S/cm2 }`, `trainable cells.syn.tau2`,
/// `trainable clamp.amp`.
#[derive(Clone, Debug, PartialEq)]
pub struct Trainable {
    pub doc: Doc,
    /// The dotted path as written (two or three names).
    pub path: Vec<Ident>,
    /// The regions after `in` (a union); empty without `in`.
    pub regions: Vec<Ident>,
    pub props: Vec<Property>,
    pub span: Span,
}

/// `target "soma_v" from "recording.csv" column "v_rec"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub label: StringLit,
    pub file: StringLit,
    pub column: Option<StringLit>,
    pub span: Span,
}

/// `key = value` in a `train` block; `optimizer = adam { learning_rate = 0.01 }` has `settings`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSetting {
    pub key: Ident,
    pub value: Expr,
    /// The `{ … }` after a name value, when written.
    pub settings: Option<Vec<Property>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `0.12 S/cm2`, `3`, `inf`. `value` is the number as written (before unit conversion).
    Number {
        value: f64,
        unit: Option<UnitExpr>,
    },
    Name(Ident),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call {
        callee: Ident,
        args: Vec<Expr>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `{ let a = …; let b = …; result }`.
    Block {
        lets: Vec<Let>,
        result: Box<Expr>,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
}
