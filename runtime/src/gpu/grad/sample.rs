//! Samples on the GPU: each sample's plan (its inputs' values set by the CPU's code) runs
//! forward and in reverse on the device of one [`GpuGradient`]; the readout's loss, its rows'
//! derivatives and the dense inputs' gradients are the CPU's code (`grad::sample`). A batch's
//! samples run one after another, in the batch's order, so its sum is the CPU's.

use super::GpuGradient;
use crate::grad::{GradError, Gradient, Objective, Problem, Readout, SampleLoss};
use crate::train::samples::{SampleRuns, SampleSet};

impl GpuGradient {
    /// The loss of one sample (`values`: one per input, internal units) and its gradient.
    pub fn sample_gradient(
        &mut self,
        problem: &Problem,
        values: &[f64],
        readout: &Readout,
        objective: Objective,
    ) -> Result<(SampleLoss, Gradient), GradError> {
        problem.sample_gradient_with(values, readout, objective, &mut |plan, rule_scales, loss| {
            self.gradient_of(problem, plan, rule_scales, loss)
        })
    }

    /// The loss of a forward run of one sample.
    pub fn sample_loss(
        &mut self,
        problem: &Problem,
        values: &[f64],
        readout: &Readout,
        objective: Objective,
    ) -> Result<SampleLoss, GradError> {
        problem.sample_loss_with(values, readout, objective, &mut |plan| Ok(self.forward(plan, false)?.rows))
    }
}

impl SampleRuns for GpuGradient {
    fn gradients(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<(SampleLoss, Gradient)>, GradError> {
        indices.iter().map(|&i| self.sample_gradient(problem, &set.values[i], readout, set.objectives[i])).collect()
    }

    fn losses(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<SampleLoss>, GradError> {
        indices.iter().map(|&i| self.sample_loss(problem, &set.values[i], readout, set.objectives[i])).collect()
    }
}
