//! `sylva compile --emit ir`: the IR as readable text. Expressions are printed in SSA form,
//! only those reachable from the mechanism's roots, renumbered in order of first use, so the
//! dump is stable and reviewable. Quantities are shown in their display units.

use std::collections::HashMap;
use std::fmt::Write;

use super::expr::{Builtin, Expr, ExprArena, ExprId, IonVar};
use super::*;

pub fn print(model: &Model) -> String {
    let mut out = String::new();
    for p in &model.params {
        let _ = writeln!(out, "param {} = {}", p.name, quantity(p.value, p.dim));
    }
    for (i, m) in model.mechanisms.iter().enumerate() {
        mechanism(&mut out, MechId(i as u32), m);
    }
    for (i, c) in model.cells.iter().enumerate() {
        cell(&mut out, model, CellId(i as u32), c);
    }
    network(&mut out, model);
    let s = &model.simulation;
    let _ = writeln!(
        out,
        "simulation dt = {} ms, duration = {} ms, temperature = {} degC, backend = {:?}, precision = {:?}",
        s.dt, s.duration, s.celsius, s.backend, s.precision
    );
    if let Some(t) = &model.training {
        training(&mut out, model, t);
    }
    out
}

/// The `train` block: each trainable with where it goes, its start value and range, the
/// targets with their files and columns, then the settings.
fn training(out: &mut String, model: &Model, t: &Training) {
    let _ = writeln!(
        out,
        "
train {}",
        t.name
    );
    for tr in &t.trainables {
        let (mech, place) = match &tr.param {
            TrainedParam::Density { cell, instance, param, nodes, profile } => {
                let d = &model.cells[cell.index()].density[instance.index()];
                let scaled = if profile.is_some() { " (the amplitude of a profile)" } else { "" };
                (d.mechanism, format!("{cell} density {} {param} on nodes {}{scaled}", instance.0, compress(nodes)))
            }
            TrainedParam::Capacitance { cell, nodes } | TrainedParam::AxialResistivity { cell, nodes, .. } => {
                let what = if matches!(tr.param, TrainedParam::Capacitance { .. }) { "cm" } else { "Ra" };
                let _ = writeln!(
                    out,
                    "  trainable {:?} = {cell} {what} on nodes {}, init {}",
                    tr.name,
                    compress(nodes),
                    quantity(tr.init, tr.dim)
                );
                continue;
            }
            TrainedParam::Synapse { cell, synapse, param } => {
                let s = &model.cells[cell.index()].synapses[synapse.index()];
                (s.mechanism, format!("{cell} synapse {} {param}", synapse.0))
            }
            TrainedParam::Stimulus { stimulus, param } => {
                (model.network.stimuli[stimulus.index()].mechanism, format!("{stimulus} {param}"))
            }
            TrainedParam::Weight { connection } => {
                let _ = writeln!(
                    out,
                    "  trainable {:?} = weight of connection {connection}, init {}",
                    tr.name,
                    quantity(tr.init, tr.dim)
                );
                continue;
            }
        };
        let bound = |x: f64| if x.is_infinite() { format!("{x}") } else { quantity(x, tr.dim) };
        let _ = writeln!(
            out,
            "  trainable {:?} = {place} ({} {}), init {} in [{}, {}]",
            tr.name,
            mech,
            model.mechanisms[mech.index()].name,
            quantity(tr.init, tr.dim),
            bound(tr.min),
            bound(tr.max)
        );
    }
    for g in &t.targets {
        let label = &model.network.probes[g.probe.index()].label;
        let _ = writeln!(out, "  target {} {label:?} from {:?} column {:?}", g.probe, g.path, g.column);
    }
    if let Some(d) = &t.data {
        data(out, model, d);
    }
    let _ =
        writeln!(out, "  loss {:?}, optimizer {:?}, iterations {}, seed {}", t.loss, t.optimizer, t.iterations, t.seed);
}

fn quantity(value: f64, dim: crate::units::Dimension) -> String {
    let unit = dim.display_unit();
    let shown = number(value / dim.display_scale());
    if unit == "1" { shown } else { format!("{shown} {unit}") }
}

/// A number with at most 12 significant digits, so unit conversions do not show their last bit.
fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let text = format!("{x:.11e}");
    let parsed: f64 = text.parse().unwrap_or(x);
    format!("{parsed}")
}

pub(crate) fn builtin_name(b: Builtin) -> &'static str {
    match b {
        Builtin::V => "v",
        Builtin::VPre => "v_pre",
        Builtin::T => "t",
        Builtin::Dt => "dt",
        Builtin::Celsius => "celsius",
        Builtin::Area => "area",
        Builtin::Diam => "diam",
    }
}

/// An ion variable as the language writes it (`ion.eca`, `ion.cai`, `ion.cao`, `ion.ica`).
pub(crate) fn ion_name(species: &str, var: IonVar) -> String {
    match var {
        IonVar::Reversal => format!("ion.e{species}"),
        IonVar::Inside => format!("ion.{species}i"),
        IonVar::Outside => format!("ion.{species}o"),
        IonVar::Current => format!("ion.i{species}"),
    }
}

/// Renumbers reachable expressions (also used by `--emit kernels`).
pub(crate) struct Ssa<'a> {
    arena: &'a ExprArena,
    names: HashMap<ExprId, usize>,
    /// One line per expression named so far, in order of first use.
    pub(crate) lines: Vec<String>,
    mech: &'a Mechanism,
}

impl<'a> Ssa<'a> {
    pub(crate) fn new(arena: &'a ExprArena, mech: &'a Mechanism) -> Ssa<'a> {
        Ssa { arena, names: HashMap::new(), lines: Vec::new(), mech }
    }

    /// The name of an expression: a constant, a leaf, or `%n` after its line.
    pub(crate) fn name(&mut self, id: ExprId) -> String {
        if let Some(c) = self.arena.constant(id) {
            return format!("{c:?}");
        }
        if let Some(n) = self.names.get(&id) {
            return format!("%{n}");
        }
        let e = self.arena.get(id);
        let text = match e {
            Expr::Const(c) => format!("{c:?}"),
            Expr::Param(i) => return format!("param.{}", self.mech.params[i as usize].name),
            Expr::State(i) => return format!("state.{}", self.mech.states[i as usize].name),
            Expr::Builtin(b) => return builtin_name(b).to_string(),
            Expr::Ion(i, var) => {
                return ion_name(&self.mech.ions[i as usize].species, var);
            }
            Expr::Weight => return "weight".to_string(),
            Expr::Unary(op, a) => {
                let a = self.name(a);
                format!("{} {a}", op.name())
            }
            Expr::Binary(op, a, b) => {
                let a = self.name(a);
                let b = self.name(b);
                format!("{} {a}, {b}", op.name())
            }
            Expr::Powi(a, n) => {
                let a = self.name(a);
                format!("powi {a}, {n}")
            }
            Expr::Select(c, a, b) => {
                let c = self.name(c);
                let a = self.name(a);
                let b = self.name(b);
                format!("select {c}, {a}, {b}")
            }
        };
        let n = self.lines.len();
        self.lines.push(format!("    %{n} = {text}"));
        self.names.insert(id, n);
        format!("%{n}")
    }
}

fn mechanism(out: &mut String, id: MechId, m: &Mechanism) {
    let kind = match m.kind {
        MechanismKind::Density => "density",
        MechanismKind::Point => "point",
    };
    let _ = writeln!(out, "\n{id} = {kind} {}", m.name);
    for p in &m.params {
        let range = if p.min == f64::NEG_INFINITY && p.max == f64::INFINITY {
            String::new()
        } else {
            format!(" in [{}, {}]", number(p.min / p.dim.display_scale()), number(p.max / p.dim.display_scale()))
        };
        let _ = writeln!(out, "  param {}: {} = {}{range}", p.name, p.dim.display_unit(), quantity(p.default, p.dim));
    }
    for u in &m.ions {
        let _ = writeln!(out, "  ion {} reads {:?} writes {:?}", u.species, u.reads, u.writes);
    }
    let mut ssa = Ssa::new(&m.exprs, m);
    let mut roots = Vec::new();
    for s in &m.states {
        let init = ssa.name(s.init);
        let dynamics = match s.dynamics {
            Dynamics::Exponential { inf, tau } => {
                format!("exponential inf = {}, tau = {}", ssa.name(inf), ssa.name(tau))
            }
            Dynamics::Ode { rhs } => format!("ode rhs = {}", ssa.name(rhs)),
            Dynamics::Assign { value } => format!("each step = {}", ssa.name(value)),
            Dynamics::Kinetic => "kinetic".to_string(),
            Dynamics::Constant => "constant".to_string(),
        };
        roots.push(format!("  state {}: {}, init = {init}, {dynamics}", s.name, s.dim.display_unit()));
    }
    for d in &m.derived {
        roots.push(format!("  let {}: {} = {}", d.name, d.dim.display_unit(), ssa.name(d.value)));
    }
    for c in &m.currents {
        let ion = c.ion.map_or("non-specific".to_string(), |i| format!("ion {}", m.ions[i.index()].species));
        let electrode = if c.electrode { "electrode " } else { "" };
        roots.push(format!(
            "  {electrode}current {} ({ion}) = {}, di/dv = {}",
            c.name,
            ssa.name(c.value),
            ssa.name(c.conductance)
        ));
    }
    if let Some(k) = &m.kinetic {
        for r in &k.reactions {
            let side = |list: &[(super::StateId, u32)]| {
                list.iter().map(|(s, n)| format!("{n}*{}", m.states[s.index()].name)).collect::<Vec<_>>().join(" + ")
            };
            let (f, b) = (ssa.name(r.forward), ssa.name(r.backward));
            roots.push(format!("  reaction {} <-> {} ({f}, {b})", side(&r.lhs), side(&r.rhs)));
        }
        for (states, total) in &k.conserve {
            let names: Vec<&str> = states.iter().map(|s| m.states[s.index()].name.as_str()).collect();
            roots.push(format!("  conserve {} = {}", names.join(" + "), ssa.name(*total)));
        }
        if k.steady_state {
            roots.push("  kinetic starts at its steady state".to_string());
        }
    }
    if let Some(e) = &m.event {
        for (s, v) in &e.assigns {
            roots.push(format!("  on event: {} = {}", m.states[s.index()].name, ssa.name(*v)));
        }
    }
    if !ssa.lines.is_empty() {
        let _ = writeln!(out, "  exprs:");
        for line in &ssa.lines {
            let _ = writeln!(out, "{line}");
        }
    }
    for r in roots {
        let _ = writeln!(out, "{r}");
    }
}

fn cell(out: &mut String, model: &Model, id: CellId, c: &Cell) {
    let _ = writeln!(out, "\n{id} = cell {}: {} nodes, v_init = {} mV", c.name, c.tree.nodes.len(), c.v_init);
    let _ = writeln!(out, "  node parent section(x)  area um2  ri MOhm  cm uF/cm2");
    for (i, n) in c.tree.nodes.iter().enumerate() {
        let parent = n.parent.map_or("-".to_string(), |p| p.to_string());
        let _ = writeln!(
            out,
            "  {i:>4} {parent:>6} {}({:.4})  {:.6}  {:.6}  {}",
            c.section_names[n.section as usize],
            n.x,
            n.area_um2,
            n.r_to_parent_mohm,
            c.cm[i] / 1e-5
        );
    }
    for d in &c.density {
        let m = &model.mechanisms[d.mechanism.index()];
        let params: Vec<String> = m
            .params
            .iter()
            .zip(&d.params)
            .map(|(p, v)| match v {
                ParamValue::Uniform(x) => format!("{} = {}", p.name, quantity(*x, p.dim)),
                ParamValue::PerNode(list) => format!("{} = per node ({} values)", p.name, list.len()),
            })
            .collect();
        let _ = writeln!(out, "  insert {} on nodes {:?} {{ {} }}", m.name, compress(&d.nodes), params.join(", "));
    }
    for s in &c.synapses {
        let _ =
            writeln!(out, "  synapse {} = {} at node {}", s.name, model.mechanisms[s.mechanism.index()].name, s.node);
    }
    for sp in &c.species {
        let reversal = sp.reversal.map_or("nernst".to_string(), |e| format!("{e} mV"));
        let _ = writeln!(
            out,
            "  species {} charge {} reversal {reversal} inside {} mM outside {} mM",
            sp.name, sp.charge, sp.inside, sp.outside
        );
    }
    if let Some(d) = &c.detector {
        let _ = writeln!(out, "  detector at node {} threshold {} mV", d.node, d.threshold);
    }
}

/// `[1, 2, 3, 7]` as `1..=3, 7`.
fn compress(nodes: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        let mut j = i;
        while j + 1 < nodes.len() && nodes[j + 1] == nodes[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}..={}", nodes[i], nodes[j]) } else { nodes[i].to_string() });
        i = j + 1;
    }
    parts.join(", ")
}

// The network's references print as their indices, in the form `{:?}` gave them before they
// were typed ids (`Synapse { index: 0, var: Current(0) }`).

fn presynaptic(p: Presynaptic) -> String {
    match p {
        Presynaptic::Cells(r) => format!("Cells({})", cell_range(r)),
        Presynaptic::Source(s) => format!("Source({})", s.0),
    }
}

fn cell_range(r: CellRange) -> String {
    format!("CellRange {{ population: {}, start: {}, end: {}, step: {} }}", r.population.0, r.start, r.end, r.step)
}

fn probe_target(t: ProbeTarget) -> String {
    match t {
        ProbeTarget::Voltage { node } => format!("Voltage {{ node: {node} }}"),
        ProbeTarget::Density { instance, node, var } => {
            format!("Density {{ instance: {}, node: {node}, var: {} }}", instance.0, probe_var(var))
        }
        ProbeTarget::Synapse { index, var } => format!("Synapse {{ index: {}, var: {} }}", index.0, probe_var(var)),
        ProbeTarget::Stimulus { index, var } => format!("Stimulus {{ index: {}, var: {} }}", index.0, probe_var(var)),
        ProbeTarget::Ion { species, var, node } => {
            format!("Ion {{ species: {}, var: {var:?}, node: {node} }}", species.0)
        }
    }
}

fn probe_var(v: Var) -> String {
    match v {
        Var::State(i) => format!("State({})", i.0),
        Var::Derived(i) => format!("Derived({})", i.0),
        Var::Param(i) => format!("Param({})", i.0),
        Var::Current(i) => format!("Current({})", i.0),
    }
}

fn network(out: &mut String, model: &Model) {
    let net = &model.network;
    if net.populations.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nnetwork {}", net.name);
    for p in &net.populations {
        let _ = writeln!(
            out,
            "  population {} = {}[{}] gids {}..{}",
            p.name,
            p.cell,
            p.count,
            p.first_gid,
            p.first_gid + p.count
        );
    }
    for s in &net.sources {
        let _ = writeln!(out, "  source {} = {:?}", s.name, s.kind);
    }
    for c in &net.connections {
        let _ = writeln!(
            out,
            "  connect {} -> {} synapse {} {:?} weight {} delay {} ms",
            presynaptic(c.source),
            cell_range(c.target),
            c.synapse.0,
            c.rule,
            c.weight,
            c.delay
        );
    }
    for c in &net.continuous {
        let _ = writeln!(
            out,
            "  connect {} -> {} synapse {} {:?} continuous (v_pre)",
            cell_range(c.source),
            cell_range(c.target),
            c.synapse.0,
            c.rule
        );
    }
    for s in &net.stimuli {
        let _ = writeln!(
            out,
            "  stimulus {} = {} at gid {} node {} params {:?}",
            s.name,
            model.mechanisms[s.mechanism.index()].name,
            s.gid,
            s.node,
            s.params
        );
    }
    for p in &net.probes {
        let _ = writeln!(out, "  probe {:?} gid {} {}", p.label, p.gid, probe_target(p.target));
    }
    if net.record_spikes {
        let _ = writeln!(out, "  record spikes");
    }
}

/// The samples of a `train` block: datasets, inputs, readout, label, epochs and batch.
fn data(out: &mut String, model: &Model, d: &Data) {
    let _ = writeln!(out, "  data {:?}", d.train.format);
    if let Some(test) = &d.test {
        let _ = writeln!(out, "  test {:?}", test.format);
    }
    for i in &d.inputs {
        let _ = writeln!(out, "  input {:?} -> {:?}", i.column, i.to);
    }
    let r = &d.readout;
    let labels: Vec<&str> = r.probes.iter().map(|p| model.network.probes[p.index()].label.as_str()).collect();
    let _ = writeln!(out, "  readout {:?} of {labels:?} in [{} ms, {} ms]", r.statistic, r.from, r.to);
    let _ = writeln!(out, "  label {:?}, epochs {}, batch {}", d.label, d.epochs, d.batch);
}
