//! Training on samples: epochs of shuffled batches; the samples of a batch run where a
//! [`SampleRuns`] runs them (the CPU's: on the threads of the current rayon pool; the GPU's:
//! at once on the device, as replicas of the network), and their gradients are summed in the
//! batch's order, so the result is the same, bit for bit, for any number of threads.

use std::ops::ControlFlow;

use rayon::prelude::*;

use super::optimizer::{self, Optimizer};
use super::transform::Transform;
use super::{Cpu, free_gradient, free_values, lbfgs_refused, values_of};
use crate::grad::{GradError, Gradient, Objective, Problem, Readout, SampleLoss};
use crate::plan::events::Rng;

/// Samples ready to run: per sample, the value of each input (internal units) and what its
/// readout is compared with.
#[derive(Clone, Debug, Default)]
pub struct SampleSet {
    pub values: Vec<Vec<f64>>,
    pub objectives: Vec<Objective>,
}

impl SampleSet {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// What a training on samples runs.
#[derive(Clone, Debug)]
pub struct SampleTraining {
    pub train: SampleSet,
    pub test: Option<SampleSet>,
    pub readout: Readout,
    pub epochs: u32,
    pub batch: u32,
    pub seed: u64,
}

/// Where a training on samples runs its samples' forward and reverse runs.
pub trait SampleRuns {
    /// The loss and gradient of each sample `indices` of `set`, in that order.
    fn gradients(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<(SampleLoss, Gradient)>, GradError>;

    /// The loss of each sample `indices` of `set` (forward runs), in that order.
    fn losses(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<SampleLoss>, GradError>;
}

/// The CPU's: the samples in parallel on the current rayon pool.
impl SampleRuns for Cpu {
    fn gradients(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<(SampleLoss, Gradient)>, GradError> {
        indices.par_iter().map(|&i| problem.sample_gradient(&set.values[i], readout, set.objectives[i])).collect()
    }

    fn losses(
        &mut self,
        problem: &Problem,
        set: &SampleSet,
        readout: &Readout,
        indices: &[usize],
    ) -> Result<Vec<SampleLoss>, GradError> {
        indices.par_iter().map(|&i| problem.sample_loss(&set.values[i], readout, set.objectives[i])).collect()
    }
}

/// The mean loss over samples and the fraction classified right (cross-entropy only).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Score {
    pub loss: f64,
    pub accuracy: Option<f64>,
}

/// After an epoch (0: before training): the training samples' score (for epochs ≥ 1, the mean
/// over the epoch's batches, each at the values before its step) and the test samples' at the
/// values after it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct EpochReport {
    pub epoch: u32,
    pub train: Score,
    pub test: Option<Score>,
}

/// Where a training on samples is.
#[derive(Clone, Debug)]
pub enum Progress {
    Batch {
        epoch: u32,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    /// An epoch's scores and the values after it (a checkpoint).
    Epoch {
        report: EpochReport,
        values: Vec<f64>,
    },
}

/// What a training on samples did.
#[derive(Clone, Debug)]
pub struct SampleFit {
    pub epochs: Vec<EpochReport>,
    /// The loss of every batch, in order.
    pub batch_losses: Vec<f64>,
    pub values: Vec<f64>,
    pub stopped: bool,
}

/// Runs the epochs from the problem's current values on the CPU; `progress` may stop after any
/// batch.
pub fn fit_samples(
    problem: &mut Problem,
    data: &SampleTraining,
    transforms: &[Transform],
    optimizer: Optimizer,
    progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<SampleFit, GradError> {
    fit_samples_on(&mut Cpu, problem, data, transforms, optimizer, progress)
}

/// Runs the epochs from the problem's current values, the samples run by `runs`; `progress`
/// may stop after any batch.
pub fn fit_samples_on(
    runs: &mut dyn SampleRuns,
    problem: &mut Problem,
    data: &SampleTraining,
    transforms: &[Transform],
    optimizer: Optimizer,
    mut progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<SampleFit, GradError> {
    let mut u = free_values(problem, transforms);
    let mut state = optimizer::State::new(optimizer, u.len()).map_err(lbfgs_refused)?;
    let mut rng = Rng::new(data.seed);
    let train = score(runs, problem, data, &data.train)?;
    let start = EpochReport { epoch: 0, train, test: test_score(runs, problem, data)? };
    let mut fit = SampleFit { epochs: vec![start], batch_losses: Vec::new(), values: Vec::new(), stopped: false };
    let _ = progress(Progress::Epoch { report: start, values: problem.values() });
    let batch = data.batch.max(1) as usize;
    'epochs: for epoch in 1..=data.epochs {
        let order = shuffled(data.train.len(), &mut rng);
        let batches = order.len().div_ceil(batch);
        let mut losses = Vec::with_capacity(order.len());
        for (b, chunk) in order.chunks(batch).enumerate() {
            let (results, gradient) = batch_gradient(runs, problem, data, chunk)?;
            let free = free_gradient(&gradient, &u, transforms);
            state.step(&mut u, &free);
            problem.set_values(&values_of(&u, transforms));
            let loss = results.iter().map(|r| r.loss).sum::<f64>() / results.len() as f64;
            fit.batch_losses.push(loss);
            losses.extend(results);
            let flow = progress(Progress::Batch { epoch, batch: b + 1, batches, loss });
            if flow.is_break() {
                fit.stopped = epoch < data.epochs || b + 1 < batches;
                break 'epochs;
            }
        }
        let report = EpochReport { epoch, train: mean_score(&losses), test: test_score(runs, problem, data)? };
        fit.epochs.push(report);
        if progress(Progress::Epoch { report, values: problem.values() }).is_break() {
            fit.stopped = epoch < data.epochs;
            break;
        }
    }
    fit.values = problem.values();
    Ok(fit)
}

/// The samples `chunk` of the training set, run by `runs`: their losses and the mean of their
/// gradients, summed in the chunk's order.
fn batch_gradient(
    runs: &mut dyn SampleRuns,
    problem: &Problem,
    data: &SampleTraining,
    chunk: &[usize],
) -> Result<(Vec<SampleLoss>, Vec<f64>), GradError> {
    let results = runs.gradients(problem, &data.train, &data.readout, chunk)?;
    let mut sum = vec![0.0; results.first().map_or(0, |(_, g)| g.gradient.len())];
    let mut losses = Vec::with_capacity(results.len());
    for (loss, g) in results {
        for (s, d) in sum.iter_mut().zip(&g.gradient) {
            *s += d;
        }
        losses.push(loss);
    }
    let n = chunk.len() as f64;
    Ok((losses, sum.into_iter().map(|s| s / n).collect()))
}

fn test_score(runs: &mut dyn SampleRuns, problem: &Problem, data: &SampleTraining) -> Result<Option<Score>, GradError> {
    data.test.as_ref().map(|set| score(runs, problem, data, set)).transpose()
}

/// The score of every sample of `set` at the problem's values (forward runs by `runs`).
pub fn score(
    runs: &mut dyn SampleRuns,
    problem: &Problem,
    data: &SampleTraining,
    set: &SampleSet,
) -> Result<Score, GradError> {
    let all: Vec<usize> = (0..set.len()).collect();
    Ok(mean_score(&runs.losses(problem, set, &data.readout, &all)?))
}

fn mean_score(losses: &[SampleLoss]) -> Score {
    let n = losses.len().max(1) as f64;
    let loss = losses.iter().map(|l| l.loss).sum::<f64>() / n;
    let right: Option<Vec<bool>> = losses.iter().map(|l| l.correct).collect();
    Score { loss, accuracy: right.map(|r| r.iter().filter(|c| **c).count() as f64 / n) }
}

/// 0 … n−1 in a random order (Fisher–Yates).
fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.uniform() * (i + 1) as f64) as usize;
        order.swap(i, j.min(i));
    }
    order
}

/// The first samples of the training set (up to a batch, in file order): what `sylva grad`
/// differentiates on a block with samples.
pub fn first_batch(data: &SampleTraining) -> Vec<usize> {
    (0..data.train.len().min(data.batch.max(1) as usize)).collect()
}

/// The mean loss of the training samples `indices` and its gradient, the samples run by `runs`.
pub fn batch_loss_and_gradient(
    runs: &mut dyn SampleRuns,
    problem: &Problem,
    data: &SampleTraining,
    indices: &[usize],
) -> Result<(f64, Vec<f64>), GradError> {
    let (losses, gradient) = batch_gradient(runs, problem, data, indices)?;
    Ok((mean_score(&losses).loss, gradient))
}

/// The mean loss of the training samples `indices` (forward runs by `runs`).
pub fn batch_loss(
    runs: &mut dyn SampleRuns,
    problem: &Problem,
    data: &SampleTraining,
    indices: &[usize],
) -> Result<f64, GradError> {
    Ok(mean_score(&runs.losses(problem, &data.train, &data.readout, indices)?).loss)
}
