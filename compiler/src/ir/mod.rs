//! The intermediate representation: what the back ends consume. Arenas with typed handles
//! and spans; every value in internal units; every cross-reference points at an entity that
//! exists (checked once by [`validate`], after which back ends index without checks).
//!
//! * Kinetics: per [`Mechanism`], an expression DAG ([`expr::ExprArena`]), parameters,
//!   states with their dynamics (exact exponential update, general ODE or kinetic scheme),
//!   currents with their symbolic conductance dI/dv, the event handler and initial values.
//! * Topology: per [`Cell`], the compartment tree as a parent array (parent before child).
//! * Placement: mechanisms on nodes with their parameter values.
//! * Network: populations, connection rules, spike sources, stimuli, probes.

pub mod adjoint;
pub mod expr;
pub mod kernel;
pub mod math;
mod print;
pub mod reduce;
mod validate;
mod validate_error;

pub use print::print;
pub(crate) use print::{Ssa, builtin_name, ion_name};
pub use validate::{ValidationError, validate};

use crate::morph::CableTree;
use crate::source::Span;
use crate::units::Dimension;
use expr::{ExprArena, ExprId, IonVar};

/// A typed id: a `u32` newtype with `.index()` and a `Display` prefix (`mech3`). Other compiler
/// modules declare their handles the same way.
///
/// Every cross-reference between entities of the model is a handle of the index space it points
/// into: a mechanism's own members ([`ParamId`], [`StateId`], [`CurrentId`], [`DerivedId`],
/// [`IonUseId`]), a cell type's ([`DensityId`], [`SynapseId`], [`CellSpeciesId`]) and the
/// network's ([`PopulationId`], [`SourceId`], [`StimulusId`]); the artifact adds the resolved
/// `SpeciesId` and `PlacementId`.
///
/// The boundary is the kernel instruction set: the leaves of the expression DAG
/// (`Expr::Param`, `Expr::State`, `Expr::Ion`), `kernel::Target`, `kernel::Stored`,
/// `artifact::Leaf`, `adjoint::Wrt` and `Artifact::specialize`'s constant parameters keep bare
/// `u32` operands (a parameter, state, current, derived value or ion use of the kernel's own
/// mechanism). They are operands of the hash-consed DAG that every back end pattern-matches on
/// and mirrors in its own slot types; the model converts with `.0` where it lowers to them
/// (`check`, `ir::kernel`) and with the constructor where it reads them back. Node indices
/// within a cell's tree, gids, cell ranges' bounds and counts stay `u32` as well: positions and
/// numbers computed with arithmetic, not references to an entity. The printers (`--emit ir`,
/// `--emit kernels`) keep the forms they had before these ids were typed.
macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}
pub(crate) use handle;

handle!(
    /// A mechanism of [`Model::mechanisms`].
    MechId,
    "mech"
);
handle!(
    /// A cell type of [`Model::cells`].
    CellId,
    "cell"
);
handle!(
    /// A parameter of [`Mechanism::params`] (`Expr::Param` holds its index).
    ParamId,
    "param"
);
handle!(
    /// A state of [`Mechanism::states`] (`Expr::State` and `kernel::Target::State` hold its
    /// index).
    StateId,
    "state"
);
handle!(
    /// A current of [`Mechanism::currents`].
    CurrentId,
    "current"
);
handle!(
    /// A derived value of [`Mechanism::derived`].
    DerivedId,
    "derived"
);
handle!(
    /// An ion use of [`Mechanism::ions`] (`Expr::Ion` and the ion targets of
    /// `kernel::Target` hold its index); not a species: `Artifact::ion_species` maps it to one.
    IonUseId,
    "ion"
);
handle!(
    /// A density instance of [`Cell::density`].
    DensityId,
    "density"
);
handle!(
    /// A synapse of [`Cell::synapses`].
    SynapseId,
    "synapse"
);
handle!(
    /// A species declaration of [`Cell::species`] (the cell's own, not the artifact's
    /// resolved `SpeciesId`).
    CellSpeciesId,
    "cell_species"
);
handle!(
    /// A population of [`Network::populations`].
    PopulationId,
    "population"
);
handle!(
    /// A spike source of [`Network::sources`].
    SourceId,
    "source"
);
handle!(
    /// A stimulus of [`Network::stimuli`].
    StimulusId,
    "stimulus"
);

/// A whole checked model.
#[derive(Clone, Debug)]
pub struct Model {
    pub mechanisms: Vec<Mechanism>,
    pub cells: Vec<Cell>,
    pub network: Network,
    pub simulation: Simulation,
    /// Top-level parameters after `--set` overrides, in internal units.
    pub params: Vec<GlobalParam>,
    /// The `train` block, if the model has one: what a training run fits, to what.
    pub training: Option<Training>,
}

#[derive(Clone, Debug)]
pub struct GlobalParam {
    pub name: String,
    pub value: f64,
    pub dim: Dimension,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MechanismKind {
    Density,
    Point,
}

#[derive(Clone, Debug)]
pub struct Mechanism {
    pub name: String,
    pub kind: MechanismKind,
    pub doc: Option<String>,
    pub span: Span,
    pub exprs: ExprArena,
    pub params: Vec<Param>,
    pub states: Vec<State>,
    /// Derived values (`let`), already inlined where used; kept for probes and hover.
    pub derived: Vec<Derived>,
    pub ions: Vec<IonUse>,
    pub currents: Vec<Current>,
    pub kinetic: Option<KineticScheme>,
    pub event: Option<EventHandler>,
}

impl Mechanism {
    /// Whether the mechanism reads `v_pre`: a graded synapse or gap junction, connected to a
    /// presynaptic cell's voltage instead of its spikes.
    pub fn reads_pre_voltage(&self) -> bool {
        self.exprs.iter().any(|(_, e)| e == expr::Expr::Builtin(expr::Builtin::VPre))
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub dim: Dimension,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct State {
    pub name: String,
    pub dim: Dimension,
    /// The value at initialisation (may read `v`, parameters, ions and other states'
    /// initial values already substituted).
    pub init: ExprId,
    pub dynamics: Dynamics,
    /// Set when the state is an ion concentration this mechanism writes (`cai`).
    pub writes_ion: Option<(IonUseId, IonVar)>,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Dynamics {
    /// `x' = (inf - x) / tau`, advanced exactly over a step with the new voltage (NEURON's
    /// cnexp): `x <- inf + (x - inf) * exp(-dt / tau)`.
    Exponential { inf: ExprId, tau: ExprId },
    /// A nonlinear ODE `x' = rhs`, advanced by one backward-Euler Newton step.
    Ode { rhs: ExprId },
    /// `x = value each step`: set to `value` by every step's state update (with the new
    /// voltage and the states before the update); whatever reads `x` reads the stored value,
    /// so a current's dI/dv holds it fixed (NEURON's ASSIGNED computed in a DERIVATIVE block).
    Assign { value: ExprId },
    /// Part of the mechanism's kinetic scheme.
    Kinetic,
    /// Changed only by events and initialisation.
    Constant,
}

#[derive(Clone, Debug)]
pub struct Derived {
    pub name: String,
    pub dim: Dimension,
    pub value: ExprId,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct IonUse {
    pub species: String,
    pub reads: Vec<IonVar>,
    pub writes: Vec<IonVar>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Current {
    pub name: String,
    /// The ion use this current belongs to, `None` for a non-specific current.
    pub ion: Option<IonUseId>,
    /// Outward current (density mechanisms: nA/µm²; point mechanisms: nA). Electrode
    /// currents are stored as written (injected, positive depolarizing).
    pub value: ExprId,
    /// d(value)/dv, derived symbolically, or with `by secant` NEURON's secant
    /// (value(v + 0.001 mV) − value(v)) / 0.001 mV.
    pub conductance: ExprId,
    pub electrode: bool,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct KineticScheme {
    /// The states of the scheme, in declaration order.
    pub states: Vec<StateId>,
    pub reactions: Vec<Reaction>,
    /// `sum of states = total`, over disjoint sets of states; each replaces the equation of its
    /// last state (in scheme order) in the backward Euler system.
    pub conserve: Vec<(Vec<StateId>, ExprId)>,
    /// `kinetic steady_state`: at initialisation, after the initial values, one backward Euler
    /// step of [`STEADY_STATE_DT`] ms (NEURON's `SOLVE … STEADYSTATE sparse`); linear schemes only.
    pub steady_state: bool,
    pub span: Span,
}

/// The time step, in ms, of the backward Euler step that brings a `kinetic steady_state` scheme
/// to its steady state (NEURON's `ss_dt` in scopmath's `_ss_sparse`).
pub const STEADY_STATE_DT: f64 = 1e9;

#[derive(Clone, Debug)]
pub struct Reaction {
    /// (state, stoichiometric count) on each side.
    pub lhs: Vec<(StateId, u32)>,
    pub rhs: Vec<(StateId, u32)>,
    pub forward: ExprId,
    pub backward: ExprId,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct EventHandler {
    pub weight_dim: Dimension,
    /// New values of states, all computed from the values before the event.
    pub assigns: Vec<(StateId, ExprId)>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Species {
    pub name: String,
    pub charge: i32,
    /// `None` means the Nernst potential from the concentrations.
    pub reversal: Option<f64>,
    pub inside: f64,
    pub outside: f64,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Cell {
    pub name: String,
    pub span: Span,
    pub tree: CableTree,
    pub section_names: Vec<String>,
    /// Specific capacitance per node (internal units, nF/µm²).
    pub cm: Vec<f64>,
    pub v_init: f64,
    pub species: Vec<Species>,
    /// In the order every stage runs them: insertion order, except that a mechanism writing a
    /// concentration comes before those on its nodes that read it.
    pub density: Vec<DensityInstance>,
    pub synapses: Vec<PointInstance>,
    pub detector: Option<Detector>,
}

#[derive(Clone, Debug)]
pub struct DensityInstance {
    pub mechanism: MechId,
    /// Nodes with membrane, ascending.
    pub nodes: Vec<u32>,
    /// One entry per mechanism parameter.
    pub params: Vec<ParamValue>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Uniform(f64),
    /// One value per node of the instance.
    PerNode(Vec<f64>),
}

#[derive(Clone, Debug)]
pub struct PointInstance {
    pub name: String,
    pub mechanism: MechId,
    pub node: u32,
    pub params: Vec<f64>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Detector {
    pub node: u32,
    pub threshold: f64,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct Network {
    pub name: String,
    pub populations: Vec<Population>,
    pub sources: Vec<SpikeSource>,
    pub connections: Vec<Connection>,
    /// Connections to point mechanisms reading `v_pre`: no events, the presynaptic voltage.
    pub continuous: Vec<ContinuousConnection>,
    pub stimuli: Vec<Stimulus>,
    pub probes: Vec<Probe>,
    pub record_spikes: bool,
}

#[derive(Clone, Debug)]
pub struct Population {
    pub name: String,
    pub cell: CellId,
    pub first_gid: u32,
    pub count: u32,
    pub span: Span,
}

/// Cells `start, start + step, …` (below `end`) of a population.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CellRange {
    pub population: PopulationId,
    pub start: u32,
    pub end: u32,
    pub step: u32,
}

impl CellRange {
    pub fn len(&self) -> u32 {
        if self.end <= self.start { 0 } else { (self.end - self.start).div_ceil(self.step) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + use<> {
        (self.start..self.end).step_by(self.step as usize)
    }
}

#[derive(Clone, Debug)]
pub struct SpikeSource {
    pub name: String,
    pub kind: SourceKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourceKind {
    Times(Vec<f64>),
    Regular { start: f64, interval: f64, stop: f64 },
    Poisson { rate: f64, seed: u64, start: f64, stop: f64 },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Presynaptic {
    Cells(CellRange),
    Source(SourceId),
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Rule {
    OneToOne,
    AllToAll,
    /// Cell i to cell i + 1 within consecutive groups of `n` (wrapping in the group).
    Ring(u32),
    Random {
        p: f64,
        seed: u64,
    },
}

#[derive(Clone, Debug)]
pub struct Connection {
    /// `connect NAME = …`, when named.
    pub name: Option<String>,
    pub source: Presynaptic,
    pub target: CellRange,
    /// A synapse of the target cell type (`Cell::synapses`).
    pub synapse: SynapseId,
    pub rule: Rule,
    pub weight: f64,
    pub delay: f64,
    pub span: Span,
}

/// `connect pre -> post.syn RULE` to a synapse whose mechanism reads `v_pre`: every target
/// cell's synapse reads the voltage at its one presynaptic cell's detector node. The rule gives
/// each target at most one source (checked: E0611).
#[derive(Clone, Debug)]
pub struct ContinuousConnection {
    pub source: CellRange,
    pub target: CellRange,
    /// A synapse of the target cell type whose mechanism reads `v_pre`.
    pub synapse: SynapseId,
    /// `OneToOne`, `Ring(n)` or `AllToAll` from a single cell.
    pub rule: Rule,
    pub span: Span,
}

impl ContinuousConnection {
    /// (presynaptic gid, postsynaptic gid) of every pair, in target order.
    pub fn pairs<'a>(&self, network: &'a Network) -> impl Iterator<Item = (u32, u32)> + use<'a> {
        let gid = move |r: CellRange, k: u32| network.populations[r.population.index()].first_gid + k;
        let (source, target, rule) = (self.source, self.target, self.rule);
        let sources: Vec<u32> = source.iter().collect();
        target.iter().enumerate().map(move |(ti, k)| {
            let si = match rule {
                Rule::Ring(n) => {
                    let (group, n) = (ti / n as usize, n as usize);
                    group * n + (ti % n + n - 1) % n
                }
                Rule::AllToAll => 0,
                // `Random` is refused for continuous connections (E0611).
                Rule::OneToOne | Rule::Random { .. } => ti,
            };
            (gid(source, sources[si]), gid(target, k))
        })
    }
}

#[derive(Clone, Debug)]
pub struct Stimulus {
    pub name: String,
    pub mechanism: MechId,
    pub gid: u32,
    pub node: u32,
    pub params: Vec<f64>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub label: String,
    pub gid: u32,
    pub target: ProbeTarget,
    /// The dimension of the quantity: outputs show it in `dim.display_unit()` (mV, mA/cm2,
    /// nA, uS, mM, …), not in internal units.
    pub dim: Dimension,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProbeTarget {
    Voltage {
        node: u32,
    },
    /// A variable of density instance `instance` of the cell, at `node`.
    Density {
        instance: DensityId,
        node: u32,
        var: Var,
    },
    Synapse {
        index: SynapseId,
        var: Var,
    },
    Stimulus {
        index: StimulusId,
        var: Var,
    },
    /// An ion variable at `node` (`eca`, `cai`, `cao`, `ica`): species `species` of the cell.
    Ion {
        species: CellSpeciesId,
        var: IonVar,
        node: u32,
    },
}

/// A readable quantity of a mechanism.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Var {
    State(StateId),
    Derived(DerivedId),
    Param(ParamId),
    Current(CurrentId),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    Gpu,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

#[derive(Clone, Debug)]
pub struct Simulation {
    pub dt: f64,
    pub duration: f64,
    /// The temperature in °C, at least [`ABSOLUTE_ZERO_CELSIUS`].
    pub celsius: f64,
    pub backend: Backend,
    pub precision: Precision,
}

impl Simulation {
    /// Time steps of the run, as every engine counts them; a float, so that an absurd `dt`
    /// gives an absurd count to refuse (`limits`), not an overflow.
    pub fn steps(&self) -> f64 {
        (self.duration / self.dt).round()
    }
}

handle!(
    /// A probe of [`Network::probes`].
    ProbeId,
    "probe"
);

/// A `train` block: parameters to fit (each one shared value) and the target traces of
/// probes they are fitted to. The compiler reads no data: the runtime reads each target's CSV
/// file and reports a missing file or column at the target's spans.
#[derive(Clone, Debug)]
pub struct Training {
    pub name: String,
    pub span: Span,
    pub trainables: Vec<Trainable>,
    pub targets: Vec<Target>,
    pub loss: Loss,
    pub optimizer: Optimizer,
    /// Optimizer steps, at least 1.
    pub iterations: u32,
    /// For whatever randomness a training run uses (default 1).
    pub seed: u64,
    /// Samples, epochs and batches; `None`: one run fitted to `targets`.
    pub data: Option<Data>,
}

/// One trained value, shared by every place [`TrainedParam`] lists.
#[derive(Clone, Debug)]
pub struct Trainable {
    /// The parameter as written (`hh.gnabar in soma`, `cells.syn.tau2`, `clamp.amp`).
    pub name: String,
    pub param: TrainedParam,
    /// The dimension of the parameter (internal units).
    pub dim: Dimension,
    /// The start value (internal units): `init`, or the model's value.
    pub init: f64,
    /// The parameter's declared range `[min, max]` (may be infinite), containing `init`.
    pub min: f64,
    pub max: f64,
    pub doc: Option<String>,
    pub span: Span,
}

/// Where a trained value goes.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainedParam {
    /// Parameter `param` of density instance `instance` of cell type `cell`, on `nodes` (the
    /// instance's nodes in the trainable's regions; ascending, not empty, each one of the
    /// instance's nodes). Other nodes of the instance keep their values. With a `profile` (a
    /// value set by an expression of `distance`), the trained value is the expression's
    /// amplitude and node `nodes[k]` has `profile[k]` times it.
    Density { cell: CellId, instance: DensityId, param: ParamId, nodes: Vec<u32>, profile: Option<Vec<f64>> },
    /// The specific capacitance `cm` of cell type `cell` at `nodes` (segment centres,
    /// ascending, not empty): every cell of the type.
    Capacitance { cell: CellId, nodes: Vec<u32> },
    /// The axial resistivity `Ra` of cell type `cell` in some of its sections: `nodes` are the
    /// nodes whose resistance to their parent lies in those sections (ascending, not empty), and
    /// that resistance is `resistance[k]` times the trained value (MΩ per ohm·cm in internal
    /// units). Every cell of the type.
    AxialResistivity { cell: CellId, nodes: Vec<u32>, resistance: Vec<f64> },
    /// Parameter `param` of synapse `synapse` of cell type `cell`: every cell of the type.
    Synapse { cell: CellId, synapse: SynapseId, param: ParamId },
    /// Parameter `param` of a stimulus.
    Stimulus { stimulus: StimulusId, param: ParamId },
    /// The weight of a named `connect` rule (index into `Network::connections`): every
    /// connection it makes.
    Weight { connection: u32 },
}

/// `target "label" from "file.csv" column "name"`: the probe's trace is compared with the
/// column of the file (its time grid is the file's first column; see docs/language.md).
#[derive(Clone, Debug)]
pub struct Target {
    pub probe: ProbeId,
    /// The file's path, resolved relative to the model file as written (as SWC paths are).
    pub path: String,
    /// The column: the one named, or the probe's label.
    pub column: String,
    pub span: Span,
    /// The file's string literal, for an error about the file.
    pub path_span: Span,
    /// The column's string literal, or the label's when no column is named.
    pub column_span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Loss {
    /// Without data: the mean over targets of the mean squared difference over the time
    /// points. With data: the squared difference of the readout and the sample's label.
    Mse,
    /// With data: the cross-entropy of the sample's class, with logits (r − threshold)/scale
    /// (internal units of the readout) — one readout: a logistic with classes 0 and 1;
    /// several: a softmax over them, the label their index.
    CrossEntropy {
        scale: f64,
        threshold: f64,
        /// `classes = N`: the logits are a trained linear map of the normalised readout (N
        /// logits from any number of probes); without it, the normalised readout itself.
        classes: Option<u32>,
    },
}

/// Samples for training: each one sets the inputs and gives the label the readout is
/// compared with; trained by epochs of batches.
#[derive(Clone, Debug)]
pub struct Data {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub inputs: Vec<Input>,
    pub readout: Readout,
    /// The label's column (`label = "y"`; `label` for MNIST).
    pub label: String,
    pub label_span: Span,
    pub epochs: u32,
    /// Samples per optimiser step.
    pub batch: u32,
}

/// A dataset's files (paths resolved relative to the model file).
#[derive(Clone, Debug, PartialEq)]
pub enum DataFormat {
    /// A CSV table with a header: one sample per row.
    Table { path: String },
    /// MNIST IDX images and labels (gzip or not): columns `label` and `pixel0` … (values in [0, 1]).
    Mnist { images: String, labels: String },
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub format: DataFormat,
    /// The file strings, for an error about a file.
    pub file_spans: Vec<Span>,
    pub span: Span,
}

/// A column of the samples driving the model.
#[derive(Clone, Debug)]
pub struct Input {
    pub column: String,
    pub to: InputTarget,
    pub span: Span,
    pub column_span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum InputTarget {
    /// Every event of the source carries its connection's weight times the column's value.
    Source(SourceId),
    /// The stimulus's parameter is the column's value in the parameter's display unit (`scale`:
    /// internal units per display unit).
    Stimulus { stimulus: StimulusId, param: ParamId, scale: f64 },
    /// A trained dense projection: on cell i of the population, the synapse's parameter is
    /// Σⱼ Wᵢⱼ xⱼ + bᵢ over the input's columns xⱼ (the columns whose names start with the
    /// pattern before its `*`, in file order). W starts uniform in ±init/√(columns), b at 0
    /// (internal units of the parameter).
    Dense { population: PopulationId, synapse: SynapseId, param: ParamId, init: f64 },
}

/// A statistic of probes over a time window: one value per probe.
#[derive(Clone, Debug)]
pub struct Readout {
    pub statistic: Statistic,
    pub probes: Vec<ProbeId>,
    /// The window [from, to] in ms: the recorded times inside it.
    pub from: f64,
    pub to: f64,
    /// The probes' dimension (one for all).
    pub dim: Dimension,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Statistic {
    Mean,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Optimizer {
    Adam {
        learning_rate: f64,
        beta1: f64,
        beta2: f64,
        epsilon: f64,
    },
    Sgd {
        learning_rate: f64,
    },
    /// L-BFGS with a strong Wolfe line search; for fits to target traces only.
    Lbfgs {
        memory: u32,
        gradient_tolerance: f64,
        loss_tolerance: f64,
    },
}

/// Absolute zero in °C: no temperature is below it.
pub const ABSOLUTE_ZERO_CELSIUS: f64 = -273.15;

impl Model {
    /// Total number of cells in the network.
    pub fn cell_count(&self) -> u32 {
        self.network.populations.iter().map(|p| p.count).sum()
    }

    /// The population and index within it of a gid.
    pub fn locate_gid(&self, gid: u32) -> Option<(&Population, u32)> {
        self.network
            .populations
            .iter()
            .find(|p| gid >= p.first_gid && gid < p.first_gid + p.count)
            .map(|p| (p, gid - p.first_gid))
    }
}
