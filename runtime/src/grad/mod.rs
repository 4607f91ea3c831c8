//! Gradients of a simulation's loss with respect to its trainable parameters: the discrete
//! adjoint of the CPU schedule (`docs/training.md`). The forward run is the interpreter's (the
//! reference semantics, bit for bit the JIT's); the reverse run replays each step from a
//! checkpointed state and runs the adjoint of every stage in reverse order, with the adjoint
//! kernels the compiler derives (`ir::adjoint`) and the transposed Hines solve. The result is
//! the gradient of what Sylva computes, to rounding, so central differences of Sylva's own
//! loss agree with it.
//!
//! Held fixed: spike times. A threshold crossing is a step function of the state, so the
//! events a run delivers (which instance, which step, which weight) are replayed as they
//! happened; gradients flow through the event kernels' effect on the synaptic states and
//! through everything continuous.
//!
//! Memory: the state is saved every K steps (default ⌈√N⌉) and each segment's K states are
//! recomputed in reverse: about (N/K + K) states, 2√N at the default.

mod cotangent;
mod forward;
mod reverse;
#[cfg(test)]
mod tests;

use sylva_compiler::artifact::Artifact;

use crate::host::blowup::Blowup;
use crate::plan::{Plan, ProbeSource};

/// A trainable parameter: parameter `param` of the mechanism of plan block (placement)
/// `block`, one value shared by all the placement's instances.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Trainable {
    pub block: usize,
    pub param: u32,
}

/// A probe column's target trace (displayed units, one value per recorded row).
#[derive(Clone, Debug)]
pub struct Target {
    pub probe: usize,
    pub values: Vec<f64>,
}

/// The loss: Σ over targets of the mean squared difference between the probe's column and its
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
}

impl std::fmt::Display for GradError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GradError::Diverged(b) => write!(f, "the simulation diverged at t = {} ms (cell {})", b.time, b.gid),
            GradError::Loss(m) => write!(f, "the loss does not fit the model: {m}"),
            GradError::NotDifferentiable(m) => write!(f, "not differentiable yet: {m}"),
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
}

/// A model prepared for gradients: its plan with the trainable parameters kept as data.
pub struct Problem {
    plan: Plan,
    trainables: Vec<Trainable>,
    steps: u64,
}

impl Problem {
    pub fn new(artifact: &Artifact, trainables: &[Trainable]) -> Result<Problem, GradError> {
        let unfolded: Vec<(usize, u32)> = trainables.iter().map(|t| (t.block, t.param)).collect();
        for t in trainables {
            let Some(block) = artifact.placements.get(t.block) else {
                return Err(GradError::Loss(format!("no placement {}", t.block)));
            };
            if t.param as usize >= artifact.model.mechanisms[block.mechanism.index()].params.len() {
                return Err(GradError::Loss(format!("placement {} has no parameter {}", t.block, t.param)));
            }
        }
        let plan = Plan::uninitialized(artifact, &unfolded);
        cotangent::check_differentiable(&plan)?;
        Ok(Problem { plan, trainables: trainables.to_vec(), steps: artifact.model.simulation.steps() as u64 })
    }

    /// The current value of each trainable parameter.
    pub fn values(&self) -> Vec<f64> {
        self.trainables.iter().map(|t| self.plan.blocks[t.block].param_value(t.param, 0)).collect()
    }

    /// Sets every instance of each trainable parameter.
    pub fn set_values(&mut self, values: &[f64]) {
        for (t, &x) in self.trainables.iter().zip(values) {
            let block = &mut self.plan.blocks[t.block];
            let (_, array) = block.params.iter_mut().find(|(p, _)| *p == t.param).expect("unfolded");
            array.fill(x);
        }
    }

    /// The loss of a forward run.
    pub fn loss(&self, loss: &Loss) -> Result<f64, GradError> {
        let run = forward::run(&self.plan, self.steps, None)?;
        evaluate(&self.plan, loss, &run.rows).map(|(l, _)| l)
    }

    /// The loss and its gradient; `checkpoint_every`: steps between saved states (default ⌈√N⌉).
    pub fn gradient(&self, loss: &Loss, checkpoint_every: Option<u64>) -> Result<Gradient, GradError> {
        let k = checkpoint_every.unwrap_or_else(|| (self.steps as f64).sqrt().ceil() as u64).max(1);
        let run = forward::run(&self.plan, self.steps, Some(k))?;
        let (value, row_cotangents) = evaluate(&self.plan, loss, &run.rows)?;
        let params = reverse::run(&self.plan, &run, &row_cotangents)?;
        let gradient = self
            .trainables
            .iter()
            .map(|t| {
                let block = &self.plan.blocks[t.block];
                let slot = block.params.iter().position(|(p, _)| *p == t.param).expect("unfolded");
                // Shared by every instance: the sum of theirs, in instance order.
                params[t.block][slot].iter().sum()
            })
            .collect();
        Ok(Gradient { loss: value, gradient, checkpoint_every: k })
    }
}

/// The loss of recorded `rows` (internal units, per row the value of every probe) and, per row,
/// its derivative in each probe's internal-unit value.
fn evaluate(plan: &Plan, loss: &Loss, rows: &[Vec<f64>]) -> Result<(f64, Vec<Vec<f64>>), GradError> {
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
        let n = rows.len() as f64;
        for (r, row) in rows.iter().enumerate() {
            let diff = row[probe] / scale - target.values[r];
            value += diff * diff / n;
            cotangents[r][probe] += 2.0 * diff / n / scale;
        }
    }
    Ok((value, cotangents))
}
