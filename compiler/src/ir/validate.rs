//! The one gate before the back ends. It checks that every handle and index in the model
//! points at something that exists and that arenas only refer backwards, so back ends may
//! index without checks. A failure here is a compiler bug, never a user error.
//!
//! Every IR struct is destructured without `..`, so a new field cannot be forgotten here;
//! fields that need no check are bound to `_name` with the reason.

use super::expr::{Expr, ExprId};
use super::*;

pub use super::validate_error::ValidationError;

/// Returns every broken invariant found.
pub fn validate(model: &Model) -> Result<(), Vec<ValidationError>> {
    let Model { mechanisms, cells, network, simulation, params: _params, training: train } = model;
    // `_params`: top-level parameters are already substituted; nothing refers to them.
    let mut errors = Vec::new();
    for (m, mech) in mechanisms.iter().enumerate() {
        mechanism(&mut errors, MechId(m as u32), mech);
    }
    for (c, c_data) in cells.iter().enumerate() {
        cell(&mut errors, model, CellId(c as u32), c_data);
    }
    self::network(&mut errors, model, network);
    let Simulation { dt, duration, celsius, backend: _backend, precision: _precision } = simulation;
    // `_backend`, `_precision`: any value is a valid choice.
    if !(*dt > 0.0 && dt.is_finite() && *duration >= 0.0) {
        errors.push(ValidationError::SimulationTime);
    }
    if *celsius < ABSOLUTE_ZERO_CELSIUS {
        errors.push(ValidationError::BelowAbsoluteZero);
    }
    if let Some(t) = train {
        training(&mut errors, model, t);
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn mechanism(errors: &mut Vec<ValidationError>, m: MechId, mech: &Mechanism) {
    use ValidationError as E;
    let Mechanism {
        name,
        kind,
        doc: _doc, // text for hover only
        span: _span,
        exprs,
        params,
        states,
        derived,
        ions,
        currents,
        kinetic,
        event,
    } = mech;
    let n = exprs.len() as u32;
    let expr_ok = |id: ExprId| id.0 < n;
    for (id, e) in exprs.iter() {
        for operand in e.operands().filter(|op| *op >= id) {
            errors.push(E::OperandNotBefore { mech: m, mech_name: name.clone(), expr: id, operand });
        }
        let leaf_ok = match e {
            Expr::Param(i) => (i as usize) < params.len(),
            Expr::State(i) => (i as usize) < states.len(),
            Expr::Ion(i, _) => (i as usize) < ions.len(),
            Expr::Const(_)
            | Expr::Builtin(_)
            | Expr::Weight
            | Expr::Unary(..)
            | Expr::Binary(..)
            | Expr::Powi(..)
            | Expr::Select(..) => true,
        };
        if !leaf_ok {
            errors.push(E::MissingLeaf { mech: m, mech_name: name.clone(), expr: id });
        }
    }
    // Parameters hold only values: nothing to point at.
    for Param { name: _, dim: _, default: _, min: _, max: _, doc: _, span: _ } in params {}
    for (i, state) in states.iter().enumerate() {
        let State { name, dim: _dim, init, dynamics, writes_ion, doc: _doc, span: _span } = state;
        let state = i as u32;
        if !expr_ok(*init) {
            errors.push(E::StateInitOutOfRange { mech: m, state, name: name.clone() });
        }
        let ids: Vec<ExprId> = match *dynamics {
            Dynamics::Exponential { inf, tau } => vec![inf, tau],
            Dynamics::Ode { rhs } => vec![rhs],
            Dynamics::Assign { value } => vec![value],
            Dynamics::Kinetic | Dynamics::Constant => vec![],
        };
        if !ids.into_iter().all(expr_ok) {
            errors.push(E::StateDynamicsOutOfRange { mech: m, state, name: name.clone() });
        }
        if writes_ion.is_some_and(|(ion, _)| ion.index() >= ions.len()) {
            errors.push(E::StateWritesMissingIon { mech: m, state, name: name.clone() });
        }
    }
    for (i, Derived { name, dim: _dim, value, span: _span }) in derived.iter().enumerate() {
        if !expr_ok(*value) {
            errors.push(E::DerivedOutOfRange { mech: m, derived: i as u32, name: name.clone() });
        }
    }
    // Ion uses name a species by text; the artifact maps them (`artifact::validate`).
    for IonUse { species: _, reads: _, writes: _, span: _ } in ions {}
    for (i, c) in currents.iter().enumerate() {
        let Current { name, ion, value, conductance, electrode: _electrode, span: _span } = c;
        let current = i as u32;
        if !(expr_ok(*value) && expr_ok(*conductance)) {
            errors.push(E::CurrentOutOfRange { mech: m, current, name: name.clone() });
        }
        if ion.is_some_and(|u| u.index() >= ions.len()) {
            errors.push(E::CurrentMissingIon { mech: m, current, name: name.clone() });
        }
    }
    if let Some(k) = kinetic {
        kinetic_scheme(errors, m, states, k, &expr_ok);
    }
    if let Some(EventHandler { weight_dim: _weight_dim, assigns, span: _span }) = event {
        if *kind != MechanismKind::Point {
            errors.push(E::EventOnDensity { mech: m });
        }
        if !assigns.iter().all(|(s, v)| s.index() < states.len() && expr_ok(*v)) {
            errors.push(E::EventAssignmentOutOfRange { mech: m });
        }
    }
}

fn kinetic_scheme(
    errors: &mut Vec<ValidationError>,
    m: MechId,
    all_states: &[State],
    scheme: &KineticScheme,
    expr_ok: &dyn Fn(ExprId) -> bool,
) {
    use ValidationError as E;
    let KineticScheme { states, reactions, conserve, steady_state: _, span: _span } = scheme;
    for &s in states {
        if !all_states.get(s.index()).is_some_and(|st| st.dynamics == Dynamics::Kinetic) {
            errors.push(E::NotAKineticState { mech: m, state: s.0 });
        }
    }
    for (i, Reaction { lhs, rhs, forward, backward, span: _span }) in reactions.iter().enumerate() {
        let reaction = i as u32;
        if !(expr_ok(*forward) && expr_ok(*backward)) {
            errors.push(E::ReactionRateOutOfRange { mech: m, reaction });
        }
        if !lhs.iter().chain(rhs).all(|(s, _)| states.contains(s)) {
            errors.push(E::ReactionOutsideScheme { mech: m, reaction });
        }
    }
    if conserve.iter().any(|(members, total)| !(expr_ok(*total) && members.iter().all(|s| states.contains(s)))) {
        errors.push(E::ConserveOutOfRange { mech: m });
    }
}

fn cell(errors: &mut Vec<ValidationError>, model: &Model, c: CellId, cell: &Cell) {
    use ValidationError as E;
    let Cell {
        name: _name,
        span: _span,
        tree,
        section_names: _section_names, // labels for outputs
        cm,
        v_init: _v_init,
        species,
        density,
        synapses,
        detector,
    } = cell;
    // Declared species hold values only; mechanisms name species by text.
    for Species { name: _, charge: _, reversal: _, inside: _, outside: _, span: _ } in species {}
    let nodes = tree.nodes.len() as u32;
    for (i, node) in tree.nodes.iter().enumerate() {
        let node_index = i as u32;
        if node.parent.is_none() != (i == 0) {
            errors.push(E::NodeRootMismatch { cell: c, node: node_index });
        }
        if node.parent.is_some_and(|p| p as usize >= i) {
            errors.push(E::NodeParentAfter { cell: c, node: node_index });
        }
    }
    if cm.len() != nodes as usize {
        errors.push(E::CmLength { cell: c, entries: cm.len(), nodes });
    }
    let mechanism = |id: MechId| model.mechanisms.get(id.index());
    let params_of = |id: MechId| mechanism(id).map_or(0, |m| m.params.len());
    for (k, d) in density.iter().enumerate() {
        let DensityInstance { mechanism: mech, nodes: on, params } = d;
        let instance = k as u32;
        let mut report = |broken: bool, error: fn(CellId, u32) -> ValidationError| {
            if broken {
                errors.push(error(c, instance));
            }
        };
        report(mechanism(*mech).map(|m| m.kind) != Some(MechanismKind::Density), E::DensityNotDensity);
        report(!on.windows(2).all(|w| w[0] < w[1]), E::DensityNodesNotAscending);
        report(
            !on.iter().all(|&n| n < nodes && tree.nodes[n as usize].area_um2 > 0.0),
            E::DensityOnNodeWithoutMembrane,
        );
        report(params.len() != params_of(*mech), E::DensityParamCount);
        let per_node_ok = params.iter().all(|p| match p {
            ParamValue::Uniform(_) => true,
            ParamValue::PerNode(v) => v.len() == on.len(),
        });
        report(!per_node_ok, E::DensityPerNodeLength);
    }
    for (k, s) in synapses.iter().enumerate() {
        let PointInstance { name, mechanism: mech, node, params, span: _span } = s;
        let synapse = k as u32;
        if !(mechanism(*mech).map(|m| m.kind) == Some(MechanismKind::Point) && *node < nodes) {
            errors.push(E::SynapseInvalid { cell: c, synapse, name: name.clone() });
        }
        if params.len() != params_of(*mech) {
            errors.push(E::SynapseParamCount { cell: c, synapse, name: name.clone() });
        }
    }
    if let Some(Detector { node, threshold, span: _span }) = detector {
        if *node >= nodes {
            errors.push(E::DetectorNode { cell: c });
        }
        if !threshold.is_finite() {
            errors.push(E::DetectorThreshold { cell: c });
        }
    }
}

fn network(errors: &mut Vec<ValidationError>, model: &Model, net: &Network) {
    use ValidationError as E;
    let Network {
        name: _name,
        populations,
        sources,
        connections,
        continuous,
        stimuli,
        probes,
        record_spikes: _record_spikes,
    } = net;
    let mut gid = 0u32;
    for (i, Population { name, cell, first_gid, count, span: _span }) in populations.iter().enumerate() {
        if !(*first_gid == gid && cell.index() < model.cells.len()) {
            errors.push(E::Population { population: i as u32, name: name.clone() });
        }
        gid = gid.saturating_add(*count);
    }
    // Spike sources hold times and rates only.
    for SpikeSource { name: _, kind: _, span: _ } in sources {}
    let range_ok = |r: &CellRange| {
        let CellRange { population, start, end, step } = *r;
        populations.get(population.index()).is_some_and(|p| start <= end && end <= p.count && step > 0)
    };
    for (i, conn) in connections.iter().enumerate() {
        let Connection { name: _name, source, target, synapse, rule: _rule, weight: _weight, delay, span: _span } =
            conn;
        let connection = i as u32;
        match source {
            Presynaptic::Cells(r) if !range_ok(r) => errors.push(E::ConnectionSourceRange { connection }),
            Presynaptic::Source(s) if s.index() >= sources.len() => {
                errors.push(E::ConnectionMissingSource { connection })
            }
            Presynaptic::Cells(_) | Presynaptic::Source(_) => {}
        }
        if !range_ok(target) {
            errors.push(E::ConnectionTargetRange { connection });
        } else {
            let cell = &model.cells[populations[target.population.index()].cell.index()];
            if synapse.index() >= cell.synapses.len() {
                errors.push(E::ConnectionMissingSynapse { connection });
            }
        }
        if !(*delay >= 0.0 && delay.is_finite()) {
            errors.push(E::ConnectionDelay { connection });
        }
    }
    continuous_connections(errors, model, continuous, connections);
    let cell_of = |gid: u32| model.locate_gid(gid).map(|(p, _)| &model.cells[p.cell.index()]);
    for (i, s) in stimuli.iter().enumerate() {
        let Stimulus { name, mechanism, gid, node, params, span: _span } = s;
        let stimulus = i as u32;
        if cell_of(*gid).is_none_or(|c| (*node as usize) >= c.tree.nodes.len()) {
            errors.push(E::StimulusLocation { stimulus, name: name.clone() });
        }
        let mech = model.mechanisms.get(mechanism.index());
        if mech.map(|m| m.kind) != Some(MechanismKind::Point) {
            errors.push(E::StimulusNotPoint { stimulus, name: name.clone() });
        }
        if mech.is_some_and(|m| m.params.len() != params.len()) {
            errors.push(E::StimulusParamCount { stimulus, name: name.clone() });
        }
    }
    for (i, p) in probes.iter().enumerate() {
        let Probe { label, gid, target, dim: _dim, span: _span } = p;
        let probe = i as u32;
        let Some(cell) = cell_of(*gid) else {
            errors.push(E::ProbeWithoutCell { probe, label: label.clone() });
            continue;
        };
        if !probe_target_ok(model, cell, *gid, *target) {
            errors.push(E::ProbeTarget { probe, label: label.clone() });
        }
    }
}

/// Continuous connections go from cells with a detector to a synapse reading `v_pre`, one
/// source per target; spike connections and stimuli never use such a mechanism.
fn continuous_connections(
    errors: &mut Vec<ValidationError>,
    model: &Model,
    continuous: &[ContinuousConnection],
    connections: &[Connection],
) {
    let net = &model.network;
    let cell_of_range = |r: &CellRange| {
        net.populations
            .get(r.population.index())
            .filter(|p| r.start <= r.end && r.end <= p.count && r.step > 0)
            .map(|p| &model.cells[p.cell.index()])
    };
    let reads_pre = |cell: &Cell, s: SynapseId| {
        cell.synapses.get(s.index()).is_some_and(|syn| model.mechanisms[syn.mechanism.index()].reads_pre_voltage())
    };
    for (i, c) in continuous.iter().enumerate() {
        let ends = cell_of_range(&c.source).zip(cell_of_range(&c.target));
        let rule_ok = match c.rule {
            Rule::OneToOne => c.source.len() == c.target.len(),
            Rule::Ring(n) => n > 0 && c.source == c.target && c.target.len() % n == 0,
            Rule::AllToAll => c.source.len() == 1,
            Rule::Random { .. } => false,
        };
        let ok = ends.is_some_and(|(pre, post)| pre.detector.is_some() && reads_pre(post, c.synapse)) && rule_ok;
        if !ok {
            errors.push(ValidationError::Continuous { connection: i as u32 });
        }
    }
    for (i, c) in connections.iter().enumerate() {
        if cell_of_range(&c.target).is_some_and(|cell| reads_pre(cell, c.synapse)) {
            errors.push(ValidationError::PreVoltageMisplaced { what: format!("connection {i}") });
        }
    }
    for m in &model.mechanisms {
        if m.reads_pre_voltage() && (m.kind == MechanismKind::Density || m.event.is_some()) {
            errors.push(ValidationError::PreVoltageMisplaced { what: format!("mechanism {}", m.name) });
        }
    }
    for s in &net.stimuli {
        if model.mechanisms.get(s.mechanism.index()).is_some_and(Mechanism::reads_pre_voltage) {
            errors.push(ValidationError::PreVoltageMisplaced { what: format!("stimulus {}", s.name) });
        }
    }
}

fn probe_target_ok(model: &Model, cell: &Cell, gid: u32, target: ProbeTarget) -> bool {
    let var_ok = |m: MechId, v: Var| {
        let m = &model.mechanisms[m.index()];
        match v {
            Var::State(i) => i.index() < m.states.len(),
            Var::Derived(i) => i.index() < m.derived.len(),
            Var::Param(i) => i.index() < m.params.len(),
            Var::Current(i) => i.index() < m.currents.len(),
        }
    };
    match target {
        ProbeTarget::Voltage { node } => (node as usize) < cell.tree.nodes.len(),
        ProbeTarget::Density { instance, node, var } => cell
            .density
            .get(instance.index())
            .is_some_and(|d| d.nodes.binary_search(&node).is_ok() && var_ok(d.mechanism, var)),
        ProbeTarget::Synapse { index, var } => {
            cell.synapses.get(index.index()).is_some_and(|s| var_ok(s.mechanism, var))
        }
        ProbeTarget::Stimulus { index, var } => {
            model.network.stimuli.get(index.index()).is_some_and(|s| s.gid == gid && var_ok(s.mechanism, var))
        }
        ProbeTarget::Ion { species, node, var: _var } => {
            species.index() < cell.species.len() && (node as usize) < cell.tree.nodes.len()
        }
    }
}

fn training(errors: &mut Vec<ValidationError>, model: &Model, t: &Training) {
    use ValidationError as E;
    let Training { name: _name, span: _span, trainables, targets, loss, optimizer, iterations, seed: _seed, data } = t;
    // `_seed`: any value.
    for (i, tr) in trainables.iter().enumerate() {
        let Trainable { name, param, dim, init, min, max, doc: _doc, span: _span } = tr;
        let trainable = i as u32;
        if let TrainedParam::Weight { connection } = param {
            if *connection as usize >= model.network.connections.len() || !init.is_finite() {
                errors.push(E::TrainableTarget { trainable, name: name.clone() });
            }
            continue;
        }
        if let Some((cell, nodes, property)) = membrane_property(param) {
            let places_ok =
                model.cells.get(cell.index()).is_some_and(|c| ascending_nodes_of(nodes, c.tree.nodes.len()));
            let factors_ok = match param {
                TrainedParam::AxialResistivity { resistance, .. } => {
                    resistance.len() == nodes.len() && resistance.iter().all(|r| r.is_finite() && *r > 0.0)
                }
                _ => true,
            };
            if !places_ok || !factors_ok {
                errors.push(E::TrainableTarget { trainable, name: name.clone() });
            } else if *dim != property || !(*min..=*max).contains(init) || !init.is_finite() {
                errors.push(E::TrainableValue { trainable, name: name.clone() });
            }
            continue;
        }
        let mech = trained_mechanism(model, param);
        let Some(p) = mech.and_then(|m| m.params.get(trained_param(param).index())) else {
            errors.push(E::TrainableTarget { trainable, name: name.clone() });
            continue;
        };
        if p.dim != *dim || *min != p.min || *max != p.max || !(init.is_finite() && (*min..=*max).contains(init)) {
            errors.push(E::TrainableValue { trainable, name: name.clone() });
        }
    }
    for (i, g) in targets.iter().enumerate() {
        let Target { probe, path, column, span: _span, path_span: _path_span, column_span: _column_span } = g;
        // The spans only locate the runtime's reports.
        if probe.index() >= model.network.probes.len() || path.is_empty() || column.is_empty() {
            errors.push(E::TrainingTarget { target: i as u32 });
        }
    }
    let optimizer_ok = match *optimizer {
        Optimizer::Adam { learning_rate, beta1, beta2, epsilon } => {
            learning_rate > 0.0 && (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && epsilon > 0.0
        }
        Optimizer::Sgd { learning_rate } => learning_rate > 0.0,
        Optimizer::Lbfgs { memory, gradient_tolerance, loss_tolerance } => {
            memory >= 1 && gradient_tolerance >= 0.0 && loss_tolerance >= 0.0 && data.is_none()
        }
    };
    if !optimizer_ok || *iterations == 0 {
        errors.push(E::TrainingSettings);
    }
    let loss_ok = match *loss {
        Loss::Mse => true,
        Loss::CrossEntropy { scale, threshold, classes } => {
            scale > 0.0 && scale.is_finite() && threshold.is_finite() && classes.is_none_or(|c| c >= 2)
        }
    };
    let data_ok = match data {
        Some(d) => data_valid(model, d) && targets.is_empty(),
        None => matches!(loss, Loss::Mse),
    };
    if !loss_ok || !data_ok {
        errors.push(E::TrainingData);
    }
}

/// Every input names a source or a stimulus parameter, the readout existing probes of one
/// dimension over a window inside the run, and epochs and batch are positive.
fn data_valid(model: &Model, d: &Data) -> bool {
    let Data { train: _train, test: _test, inputs, readout, label, label_span: _span, epochs, batch } = d;
    // The datasets' paths are checked by the runtime that reads them.
    let network = &model.network;
    let input_ok = |i: &Input| match i.to {
        InputTarget::Source(s) => s.index() < network.sources.len(),
        InputTarget::Stimulus { stimulus, param, scale } => {
            let mech = network.stimuli.get(stimulus.index()).map(|s| &model.mechanisms[s.mechanism.index()]);
            mech.is_some_and(|m| param.index() < m.params.len()) && scale > 0.0
        }
        InputTarget::Dense { population, synapse, param, init } => {
            let cell = network.populations.get(population.index()).and_then(|p| model.cells.get(p.cell.index()));
            let mech =
                cell.and_then(|c| c.synapses.get(synapse.index())).map(|s| &model.mechanisms[s.mechanism.index()]);
            mech.is_some_and(|m| param.index() < m.params.len()) && init > 0.0 && i.column != "*"
        }
    };
    let Readout { statistic: _statistic, probes, from, to, dim, span: _readout_span } = readout;
    let probes_ok = !probes.is_empty()
        && probes.iter().all(|p| network.probes.get(p.index()).is_some_and(|probe| probe.dim == *dim));
    let window_ok = 0.0 <= *from && from <= to && *to <= model.simulation.duration;
    inputs.iter().all(input_ok) && probes_ok && window_ok && !label.is_empty() && *epochs > 0 && *batch > 0
}

/// The mechanism whose parameter a trainable sets, if its handles exist (and, for a density
/// parameter, its nodes are the instance's, ascending and not empty).
fn trained_mechanism<'m>(model: &'m Model, param: &TrainedParam) -> Option<&'m Mechanism> {
    let mech = match param {
        TrainedParam::Density { cell, instance, param: _, nodes, profile } => {
            let d = model.cells.get(cell.index())?.density.get(instance.index())?;
            let ok = !nodes.is_empty()
                && nodes.windows(2).all(|w| w[0] < w[1])
                && nodes.iter().all(|n| d.nodes.binary_search(n).is_ok())
                && profile
                    .as_ref()
                    .is_none_or(|f| f.len() == nodes.len() && f.iter().all(|x| x.is_finite() && *x > 0.0));
            ok.then_some(d.mechanism)?
        }
        TrainedParam::Synapse { cell, synapse, param: _ } => {
            model.cells.get(cell.index())?.synapses.get(synapse.index())?.mechanism
        }
        TrainedParam::Stimulus { stimulus, param: _ } => model.network.stimuli.get(stimulus.index())?.mechanism,
        TrainedParam::Weight { .. } | TrainedParam::Capacitance { .. } | TrainedParam::AxialResistivity { .. } => {
            return None;
        }
    };
    model.mechanisms.get(mech.index())
}

/// A trained `cm` or `Ra`: its cell type, nodes and dimension.
fn membrane_property(param: &TrainedParam) -> Option<(CellId, &[u32], Dimension)> {
    match param {
        TrainedParam::Capacitance { cell, nodes } => Some((*cell, nodes, Dimension::SPECIFIC_CAPACITANCE)),
        TrainedParam::AxialResistivity { cell, nodes, .. } => Some((*cell, nodes, Dimension::SPECIFIC_RESISTANCE)),
        _ => None,
    }
}

/// Not empty, ascending and each one of the `count` nodes of a cell.
fn ascending_nodes_of(nodes: &[u32], count: usize) -> bool {
    !nodes.is_empty() && nodes.windows(2).all(|w| w[0] < w[1]) && nodes.iter().all(|n| (*n as usize) < count)
}

fn trained_param(param: &TrainedParam) -> ParamId {
    match param {
        TrainedParam::Density { param, .. }
        | TrainedParam::Synapse { param, .. }
        | TrainedParam::Stimulus { param, .. } => *param,
        TrainedParam::Weight { .. } | TrainedParam::Capacitance { .. } | TrainedParam::AxialResistivity { .. } => {
            unreachable!("no mechanism's parameter")
        }
    }
}
