//! Samples on the GPU: the plans of a batch's samples (their inputs' values set by the CPU's
//! code) run forward and in reverse at once on the device of one [`GpuGradient`], as replicas
//! (`batch.rs`), [`GpuGradient::replicas`] samples at a time; the readout's loss, its rows'
//! derivatives and the dense inputs' gradients are the CPU's code (`grad::sample`). Each
//! sample's gradient is the one it has alone, and `train::samples` sums them in the batch's
//! order, so the sum is the CPU's.

use super::GpuGradient;
use crate::grad::{GradError, Gradient, Objective, Problem, Readout, SampleLoss, SampleOf};
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
        Ok(self.sample_gradients(problem, &[(values, objective)], readout)?.remove(0))
    }

    /// The loss of a forward run of one sample.
    pub fn sample_loss(
        &mut self,
        problem: &Problem,
        values: &[f64],
        readout: &Readout,
        objective: Objective,
    ) -> Result<SampleLoss, GradError> {
        Ok(self.sample_losses(problem, &[(values, objective)], readout)?.remove(0))
    }

    /// The loss and gradient of each of `samples`, [`GpuGradient::replicas`] at a time.
    fn sample_gradients(
        &mut self,
        problem: &Problem,
        samples: &[SampleOf<'_>],
        readout: &Readout,
    ) -> Result<Vec<(SampleLoss, Gradient)>, GradError> {
        let mut out = Vec::with_capacity(samples.len());
        for part in samples.chunks(self.replicas) {
            out.extend(problem.sample_gradients_with(part, readout, &mut |plans, rule_scales, objectives| {
                self.gradients_of(problem, plans, rule_scales, objectives)
            })?);
        }
        Ok(out)
    }

    /// The loss of each of `samples` (forward runs), [`GpuGradient::replicas`] at a time.
    fn sample_losses(
        &mut self,
        problem: &Problem,
        samples: &[SampleOf<'_>],
        readout: &Readout,
    ) -> Result<Vec<SampleLoss>, GradError> {
        let mut out = Vec::with_capacity(samples.len());
        for part in samples.chunks(self.replicas) {
            out.extend(problem.sample_losses_with(part, readout, &mut |plans| self.rows_of(plans))?);
        }
        Ok(out)
    }
}

/// `indices` of `set` as samples.
fn samples_of<'s>(set: &'s SampleSet, indices: &[usize]) -> Vec<SampleOf<'s>> {
    indices.iter().map(|&i| (set.values[i].as_slice(), set.objectives[i])).collect()
}

impl SampleRuns for GpuGradient {
    fn gradients(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<(SampleLoss, Gradient)>, GradError> {
        self.sample_gradients(problem, &samples_of(set, indices), readout)
    }

    fn losses(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<SampleLoss>, GradError> {
        self.sample_losses(problem, &samples_of(set, indices), readout)
    }
}
