//! Gradients of a simulation's loss with respect to its trainable parameters: the discrete
//! adjoint of the CPU schedule (`docs/training.md`). The forward run steps with the compiled
//! kernels (bit for bit the interpreter, `kernels`); the reverse run replays each step from a
//! checkpointed state and runs the adjoint of every stage in reverse order, with the adjoint
//! kernels the compiler derives (`ir::adjoint`, their partials compiled too) and the transposed
//! Hines solve. The result is
//! the gradient of what Sylva computes, to rounding, so central differences of Sylva's own
//! loss agree with it.
//!
//! Held fixed: spike times. A threshold crossing is a step function of the state, so the
//! events a run delivers (which instance, which step, which weight) are replayed as they
//! happened; gradients flow through the event kernels' effect on the synaptic states and
//! through everything continuous.
//!
//! Memory: the state is saved every K steps (default ⌈√N⌉) and each segment's K states are
//! recomputed in reverse: about (N/K + K) states, 2√N at the default. Within a tape budget
//! ([`Problem::keep_tapes_within`]) a segment's advance partials are kept instead of computed
//! again for each step: one pass of the advance kernels less, for more memory. The reverse run
//! may split by cells onto threads ([`Problem::set_threads`]), with the same bits.

mod cable;
pub(crate) mod cotangent;
pub(crate) mod forward;
pub(crate) mod kernels;
mod linear;
mod live;
pub(crate) mod reverse;
mod sample;
#[cfg(test)]
pub(crate) mod sample_tests;
mod split;
#[cfg(test)]
pub(crate) mod tests;

use sylva_compiler::artifact::{Artifact, Placement};

use crate::host::blowup::Blowup;
use crate::plan::{Plan, ProbeSource};
pub use cable::{CableProperty, CableUse};
pub use linear::LinearReadout;
pub(crate) use sample::SampleOf;
pub use sample::{Dense, Input, Objective, Readout, SampleLoss};

/// A trainable parameter: one value shared by every [`Use`] (a mechanism's parameter in some
/// regions of a cell type, a synapse's parameter on every cell of a type, a stimulus's), by
/// every [`CableUse`] (`cm` or `Ra` of a cell type's nodes) and by the weight of every
/// connection rule in `weights` (indices of the model's `connect` rules).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trainable {
    pub uses: Vec<Use>,
    pub weights: Vec<u32>,
    pub cable: Vec<CableUse>,
}

/// Parameter `param` of plan block (placement) `block`, at the instances `positions` within
/// each cell (a density mechanism's compartments in a region), or at all its instances. With a
/// `profile` (one factor per position), the trained value is an amplitude and the instance at
/// `positions[k]` has `profile[k]` times it.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub block: usize,
    pub param: u32,
    pub positions: Option<Vec<u32>>,
    pub profile: Option<Vec<f64>>,
}

impl Use {
    /// Every instance of the block.
    pub fn all(block: usize, param: u32) -> Use {
        Use { block, param, positions: None, profile: None }
    }

    /// The instances at `positions` within each cell of the block.
    pub fn at(block: usize, param: u32, positions: Vec<u32>) -> Use {
        Use { block, param, positions: Some(positions), profile: None }
    }

    /// The block's instances this use covers.
    fn instances<'a>(&'a self, plan: &'a Plan) -> impl Iterator<Item = usize> + 'a {
        self.scaled_instances(plan).map(|(i, _)| i)
    }

    /// The block's instances this use covers, each with its factor of the trained value.
    fn scaled_instances<'a>(&'a self, plan: &'a Plan) -> impl Iterator<Item = (usize, f64)> + 'a {
        let block = &plan.blocks[self.block];
        (0..block.len()).filter_map(move |i| {
            let Some(positions) = &self.positions else { return Some((i, 1.0)) };
            let k = positions.iter().position(|p| *p == (i % block.per_cell) as u32)?;
            Some((i, self.profile.as_ref().map_or(1.0, |f| f[k])))
        })
    }
}

/// A probe column's target trace (displayed units, one value per recorded row).
#[derive(Clone, Debug)]
pub struct Target {
    pub probe: usize,
    pub values: Vec<f64>,
}

/// The loss: the mean over targets of the mean squared difference between the probe's column and its
/// target.
#[derive(Clone, Debug)]
pub struct Loss {
    pub targets: Vec<Target>,
}

#[derive(Debug)]
pub enum GradError {
    /// The forward run diverged.
    Diverged(Blowup),
    /// The loss does not fit the run (its probe or the length of its target).
    Loss(String),
    /// The model uses something the adjoint does not cover yet.
    NotDifferentiable(String),
    /// Compiling the kernels failed (an internal error).
    Jit(crate::cpu::jit::JitError),
    /// The GPU could not run the gradient (no adapter, a device error, too little memory).
    Gpu(crate::gpu::GpuError),
}

impl std::fmt::Display for GradError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GradError::Diverged(b) => write!(f, "the simulation diverged at t = {} ms (cell {})", b.time, b.gid),
            GradError::Loss(m) => write!(f, "the loss does not fit the model: {m}"),
            GradError::NotDifferentiable(m) => write!(f, "not differentiable yet: {m}"),
            GradError::Jit(e) => write!(f, "internal error: {e}"),
            GradError::Gpu(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GradError {}

/// The loss and its gradient, one entry per trainable parameter.
#[derive(Clone, Debug)]
pub struct Gradient {
    pub loss: f64,
    pub gradient: Vec<f64>,
    /// Steps between saved states.
    pub checkpoint_every: u64,
    /// Whether the reverse run kept each step's partials and tape (see [`Problem::keep_tapes_within`]).
    pub kept_tapes: bool,
}

/// A loss of recorded rows: its value and, per row, its derivative in each probe's value.
pub(crate) type RowLoss<'o> = dyn FnMut(&[Vec<f64>]) -> Result<(f64, Vec<Vec<f64>>), GradError> + 'o;

/// Per block, per unfolded parameter, per instance: the derivative of the loss.
pub(crate) type ParamGradients = Vec<Vec<Vec<f64>>>;

/// A model prepared for gradients: its plan with the trainable parameters kept as data.
pub struct Problem {
    plan: Plan,
    trainables: Vec<Trainable>,
    /// Per trainable, its value where it is only `cm` or `Ra` (unused otherwise).
    cable_values: Vec<f64>,
    steps: u64,
    /// The weight of each connection rule.
    weights: Vec<f64>,
    /// The adjoint kernels of every block, derived once, and the compiled kernels.
    code: kernels::Code,
    /// What a sample's values set (none without samples).
    inputs: Vec<Input>,
    /// The artificial source of each connection rule, if it comes from one.
    rule_source: Vec<Option<usize>>,
    /// The trained W and b of each dense input, in input order (see [`Dense::weights`]).
    dense: Vec<Vec<f64>>,
    /// A trained linear readout and its V and c (see [`LinearReadout::weights`]).
    linear: Option<(LinearReadout, Vec<f64>)>,
    /// Bytes the reverse run may spend on a segment's step tapes (see [`Problem::keep_tapes_within`]).
    tape_budget: usize,
    /// Threads of the reverse run (see [`Problem::set_threads`]).
    threads: usize,
}

impl Problem {
    pub fn new(artifact: &Artifact, trainables: &[Trainable]) -> Result<Problem, GradError> {
        Problem::with_inputs(artifact, trainables, &[])
    }

    /// A problem whose samples set `inputs` (see [`Problem::sample_gradient`]).
    pub fn with_inputs(artifact: &Artifact, trainables: &[Trainable], inputs: &[Input]) -> Result<Problem, GradError> {
        let input_params = inputs.iter().filter_map(|i| match i {
            Input::Param(u) => Some((u.block, u.param)),
            Input::Dense(d) => Some((d.block, d.param)),
            Input::Source(_) => None,
        });
        let input_count = input_params.clone().count();
        let unfolded: Vec<(usize, u32)> =
            trainables.iter().flat_map(|t| t.uses.iter().map(|u| (u.block, u.param))).chain(input_params).collect();
        for &(block, param) in &unfolded {
            let Some(placed) = artifact.placements.get(block) else {
                return Err(GradError::Loss(format!("no placement {block}")));
            };
            if param as usize >= artifact.model.mechanisms[placed.mechanism.index()].params.len() {
                return Err(GradError::Loss(format!("placement {block} has no parameter {param}")));
            }
        }
        let connections = &artifact.model.network.connections;
        if trainables.iter().any(|t| t.uses.is_empty() && t.weights.is_empty() && t.cable.is_empty()) {
            return Err(GradError::Loss("a trainable parameter with no placement or connection".into()));
        }
        if let Some(c) = trainables.iter().flat_map(|t| &t.weights).find(|c| **c as usize >= connections.len()) {
            return Err(GradError::Loss(format!("no connection rule {c}")));
        }
        let mut plan = Plan::uninitialized(artifact, &unfolded);
        // What a sample sets differs from sample to sample, and so from replica to replica of a
        // batch (`plan::replicas`): a GPU keeps it per instance. A stimulus keeps it anyway.
        for (block, param) in unfolded[unfolded.len() - input_count..].iter().copied() {
            if !matches!(plan.blocks[block].placement, Placement::Stimulus(_)) {
                plan.blocks[block].varying.push(param);
            }
        }
        for u in trainables.iter().flat_map(|t| &t.uses) {
            check_use(&plan, u)?;
        }
        let cable_values = cable::values(&plan, trainables)?;
        cotangent::check_differentiable(&plan)?;
        let sources = artifact.model.network.sources.len();
        if let Some(Input::Source(s)) = inputs.iter().find(|i| matches!(i, Input::Source(s) if *s >= sources)) {
            return Err(GradError::Loss(format!("no source {s}")));
        }
        for i in inputs {
            if let Input::Dense(d) = i
                && d.instances.end > plan.blocks[d.block].len()
            {
                return Err(GradError::Loss(format!("placement {} has no instances {:?}", d.block, d.instances)));
            }
        }
        Ok(Problem {
            code: kernels::Code::compile(&plan, live::Live::new(&plan, &unfolded)).map_err(GradError::Jit)?,
            plan,
            trainables: trainables.to_vec(),
            cable_values,
            steps: artifact.model.simulation.steps() as u64,
            weights: connections.iter().map(|c| c.weight).collect(),
            inputs: inputs.to_vec(),
            dense: inputs
                .iter()
                .filter_map(|i| match i {
                    Input::Dense(d) => Some(vec![0.0; d.weights()]),
                    _ => None,
                })
                .collect(),
            rule_source: connections
                .iter()
                .map(|c| match c.source {
                    sylva_compiler::ir::Presynaptic::Source(s) => Some(s.index()),
                    sylva_compiler::ir::Presynaptic::Cells(_) => None,
                })
                .collect(),
            linear: None,
            tape_budget: 0,
            threads: 1,
        })
    }

    /// Lets the reverse run keep every step's advance partials of a segment when they fit in
    /// `bytes` (default 0: never), instead of computing them again in each step's replay: one
    /// pass of the advance kernels less, for about (S + T)/S times the memory of a segment's
    /// states (S: a state's bytes, T: a step's advance partials; T ≈ 1.5 S for hh). Without a
    /// checkpoint spacing given, the segments are then K = ⌈√(N·S/(S+T))⌉ steps, which makes
    /// ⌈N/K⌉·S + K·(S+T) least.
    pub fn keep_tapes_within(&mut self, bytes: usize) {
        self.tape_budget = bytes;
    }

    /// Runs the reverse run of a gradient on up to `threads` threads (default 1), split by
    /// cells: the same bits for any number. Models whose cells are coupled through `v_pre`, and
    /// interpreted kernels, run on one.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// The steps between checkpoints and how the reverse run gets each step's partials: with
    /// tapes where a segment's fit in the budget, else by replay with K = ⌈√N⌉ by default.
    fn schedule(&self, checkpoint_every: Option<u64>) -> (u64, reverse::Schedule) {
        let state = forward::state_bytes(&self.plan, &forward::saved_ion_arrays(&self.plan)) as f64;
        let per_step = state + reverse::tape_bytes(&self.plan, &self.code) as f64;
        let n = self.steps as f64;
        let taped = checkpoint_every.unwrap_or_else(|| (n * state / per_step).sqrt().ceil() as u64).max(1);
        if taped as f64 * per_step <= self.tape_budget as f64 {
            return (taped, reverse::Schedule::Tapes);
        }
        (checkpoint_every.unwrap_or_else(|| n.sqrt().ceil() as u64).max(1), reverse::Schedule::Replay)
    }

    /// Runs every kernel with the interpreter from now on: the reference semantics, slow; the
    /// compiled kernels give the same bits.
    pub fn interpret(&mut self) {
        self.code = kernels::Code::interpreted(&self.plan, self.code.live.clone());
    }

    /// Adds a trained linear readout (its values start at 0; they come last in `values`).
    pub fn set_linear_readout(&mut self, shape: LinearReadout) {
        let n = shape.weights();
        self.linear = Some((shape, vec![0.0; n]));
    }

    /// The current value of each trainable parameter (its first use's), then the W and b of
    /// each dense input.
    pub fn values(&self) -> Vec<f64> {
        let trained = self.trainables.iter().zip(&self.cable_values).map(|(t, cable)| match t.uses.first() {
            Some(u) => {
                let (first, factor) = u.scaled_instances(&self.plan).next().expect("checked in new");
                self.plan.blocks[u.block].param_value(u.param, first) / factor
            }
            None if !t.cable.is_empty() => *cable,
            None => self.weights[t.weights[0] as usize],
        });
        let linear = self.linear.iter().flat_map(|(_, v)| v.iter().copied());
        trained.chain(self.dense.iter().flatten().copied()).chain(linear).collect()
    }

    /// Sets every instance of every use of each trainable parameter, then the dense inputs' W and b.
    pub fn set_values(&mut self, values: &[f64]) {
        let (values, dense) = values.split_at(self.trainables.len().min(values.len()));
        let mut rest = dense;
        for d in self.dense.iter_mut().chain(self.linear.iter_mut().map(|(_, v)| v)) {
            let (mine, after) = rest.split_at(d.len().min(rest.len()));
            d[..mine.len()].copy_from_slice(mine);
            rest = after;
        }
        let trainables = std::mem::take(&mut self.trainables);
        for ((k, t), &x) in trainables.iter().enumerate().zip(values) {
            for u in &t.uses {
                let instances: Vec<(usize, f64)> = u.scaled_instances(&self.plan).collect();
                let block = &mut self.plan.blocks[u.block];
                let (_, array) = block.params.iter_mut().find(|(p, _)| *p == u.param).expect("unfolded");
                for (i, factor) in instances {
                    array[i] = x * factor;
                }
            }
            for c in &t.cable {
                c.set(&mut self.plan, x);
                self.cable_values[k] = x;
            }
            for &c in &t.weights {
                self.set_weight(c, x);
            }
        }
        self.trainables = trainables;
    }

    /// The weight of connection rule `c`: in the wiring and in the sources' queued events.
    fn set_weight(&mut self, c: u32, x: f64) {
        self.weights[c as usize] = x;
        let wiring = &mut self.plan.wiring;
        for connection in wiring.from_cell.iter_mut().chain(&mut wiring.from_source).flatten() {
            if connection.rule == c {
                connection.weight = x;
            }
        }
        for (_, target) in &mut self.plan.source_events {
            if target.connection == c {
                target.weight = x;
            }
        }
    }

    /// The probes' columns of a forward run, in displayed units (targets from the model itself).
    pub fn trace(&self) -> Result<Vec<Vec<f64>>, GradError> {
        let run = forward::run(&self.plan, &self.code, self.steps, None)?;
        Ok((0..self.plan.probes.len())
            .map(|probe| run.rows.iter().map(|row| row[probe] / self.plan.probe_scales[probe]).collect())
            .collect())
    }

    /// The loss of a forward run.
    pub fn loss(&self, loss: &Loss) -> Result<f64, GradError> {
        let run = forward::run(&self.plan, &self.code, self.steps, None)?;
        evaluate(&self.plan, loss, &run.rows).map(|(l, _)| l)
    }

    /// The loss and its gradient; `checkpoint_every`: steps between saved states (default ⌈√N⌉).
    pub fn gradient(&self, loss: &Loss, checkpoint_every: Option<u64>) -> Result<Gradient, GradError> {
        let scales = vec![1.0; self.weights.len()];
        self.gradient_of(&self.plan, &scales, checkpoint_every, &mut |rows| evaluate(&self.plan, loss, rows))
            .map(|(g, _)| g)
    }

    /// The gradient of the loss `objective` gives of a forward run of `plan`, whose connection
    /// rules' events carry their weight times `rule_scales`.
    fn gradient_of(
        &self,
        plan: &Plan,
        rule_scales: &[f64],
        checkpoint_every: Option<u64>,
        objective: &mut RowLoss<'_>,
    ) -> Result<(Gradient, ParamGradients), GradError> {
        let (k, schedule) = self.schedule(checkpoint_every);
        let mut run = forward::run(plan, &self.code, self.steps, Some(k))?;
        let (value, row_cotangents) = objective(&run.rows)?;
        // The reverse run reads the rows' cotangents, not the rows: free them first.
        run.rows = Vec::new();
        let (params, weights, cable) =
            reverse::run(plan, &self.code, &run, &row_cotangents, self.weights.len(), schedule, self.threads)?;
        let gradient = self.fold(plan, &params, &weights, rule_scales, &cable);
        Ok((
            Gradient { loss: value, gradient, checkpoint_every: k, kept_tapes: schedule == reverse::Schedule::Tapes },
            params,
        ))
    }
}

impl Problem {
    /// Each trainable's gradient from those of the per-instance parameters, the connection
    /// rules' weights (of events that carried them times `rule_scales`) and the cable's
    /// coefficients.
    pub(crate) fn fold(
        &self,
        plan: &Plan,
        params: &ParamGradients,
        weights: &[f64],
        rule_scales: &[f64],
        cable: &cable::CableGradient,
    ) -> Vec<f64> {
        let weights: Vec<f64> = weights.iter().zip(rule_scales).map(|(g, s)| g * s).collect();
        self.trainables
            .iter()
            .zip(&self.cable_values)
            .map(|(t, &value)| {
                // Shared by every use and instance: the sum of theirs, in use and instance order.
                t.uses
                    .iter()
                    .map(|u| {
                        let slot = self.plan.blocks[u.block].params.iter().position(|(p, _)| *p == u.param);
                        let gradients = &params[u.block][slot.expect("unfolded")];
                        u.scaled_instances(&self.plan).map(|(i, factor)| gradients[i] * factor).sum::<f64>()
                    })
                    .sum::<f64>()
                    + t.weights.iter().map(|c| weights[*c as usize]).sum::<f64>()
                    + t.cable.iter().map(|c| c.gradient(plan, cable, value)).sum::<f64>()
            })
            .collect()
    }

    /// The plan (uninitialised), its compiled code and the steps of a run: what the GPU's
    /// gradient (`gpu::grad`) runs.
    pub(crate) fn parts(&self) -> (&Plan, &kernels::Code, u64) {
        (&self.plan, &self.code, self.steps)
    }

    pub(crate) fn trainables(&self) -> &[Trainable] {
        &self.trainables
    }

    /// Whether samples' inputs, dense inputs or a linear readout take part (the GPU runs such a
    /// problem's samples, not a loss over its plan's traces).
    pub(crate) fn has_inputs(&self) -> bool {
        !self.inputs.is_empty() || self.linear.is_some()
    }
}

/// Whether a use covers instances of its block and, without a profile, they share one value (a
/// profile's instances are each its factor times the amplitude).
fn check_use(plan: &Plan, u: &Use) -> Result<(), GradError> {
    let block = &plan.blocks[u.block];
    if u.profile.as_ref().is_some_and(|f| Some(f.len()) != u.positions.as_ref().map(Vec::len)) {
        return Err(GradError::Loss(format!("a profile of placement {} without one factor per position", u.block)));
    }
    let mut values = u.instances(plan).map(|i| block.param_value(u.param, i));
    let first = values.next();
    if first.is_none() {
        return Err(GradError::Loss(format!("placement {} has no instance at those positions", u.block)));
    }
    if u.profile.is_none() && values.any(|x| Some(x) != first) {
        return Err(GradError::NotDifferentiable(format!(
            "parameter {} of placement {} varies over the compartments it is shared by",
            u.param, u.block
        )));
    }
    Ok(())
}

/// The loss of recorded `rows` (internal units, per row the value of every probe) and, per row,
/// its derivative in each probe's internal-unit value.
pub(crate) fn evaluate(plan: &Plan, loss: &Loss, rows: &[Vec<f64>]) -> Result<(f64, Vec<Vec<f64>>), GradError> {
    let mut value = 0.0;
    let mut cotangents = vec![vec![0.0; plan.probes.len()]; rows.len()];
    for target in &loss.targets {
        let probe = target.probe;
        if probe >= plan.probes.len() {
            return Err(GradError::Loss(format!("no probe {probe}")));
        }
        if target.values.len() != rows.len() {
            return Err(GradError::Loss(format!(
                "the target of probe {probe} has {} values for {} rows",
                target.values.len(),
                rows.len()
            )));
        }
        if let ProbeSource::Param { .. } = plan.probes[probe] {
            return Err(GradError::NotDifferentiable(format!("probe {probe} reads a parameter")));
        }
        let scale = plan.probe_scales[probe];
        // The mean over the targets of each one's mean over the rows.
        let n = (rows.len() * loss.targets.len()) as f64;
        for (r, row) in rows.iter().enumerate() {
            let diff = row[probe] / scale - target.values[r];
            value += diff * diff / n;
            cotangents[r][probe] += 2.0 * diff / n / scale;
        }
    }
    Ok((value, cotangents))
}
