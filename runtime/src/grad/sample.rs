//! Samples: the values a sample gives its inputs (stimulus parameters, or scales of a source's
//! events), and the loss of a readout (a statistic of probes over a window of rows) against the
//! sample's label.

use std::ops::Range;

use super::linear::{LinearReadout, softmax_cross_entropy};
use super::{GradError, Gradient, ParamGradients, Problem, RowLoss, Use};
use crate::plan::{Plan, ProbeSource};

/// What the values of a sample set (one value each, a dense input `features` values).
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Every event of artificial source `s` carries its connection's weight times the value.
    Source(usize),
    /// A parameter (in internal units), on every instance of the use.
    Param(Use),
    /// A trained projection: instance `instances.start + i` of the block gets Σⱼ Wᵢⱼ xⱼ + bᵢ.
    Dense(Dense),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dense {
    pub block: usize,
    pub param: u32,
    pub instances: Range<usize>,
    pub features: usize,
}

impl Dense {
    /// Its trained values: W (instances × features, row-major), then b.
    pub fn weights(&self) -> usize {
        self.instances.len() * (self.features + 1)
    }
}

impl Input {
    /// The sample values it takes.
    pub fn width(&self) -> usize {
        match self {
            Input::Dense(d) => d.features,
            Input::Source(_) | Input::Param(_) => 1,
        }
    }
}

/// The mean of each probe over the recorded rows `rows` (internal units).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readout {
    pub probes: Vec<usize>,
    pub rows: Range<usize>,
}

/// What a readout is compared with.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Objective {
    /// (r − target)², one probe.
    Mse { target: f64 },
    /// Cross-entropy of class `class` with logits (r − threshold)/scale: with one probe a
    /// logistic (classes 0 and 1), with several a softmax over them.
    CrossEntropy { class: usize, scale: f64, threshold: f64 },
}

/// The forward and reverse runs of a batch's sample plans, each with the scales its connection
/// rules' events carry their weight times and the objective of its rows: per sample, the
/// gradient of the loss its objective gives, with the per-instance parameters' derivatives.
pub(crate) type BatchRun<'r> =
    dyn FnMut(&[Plan], &[Vec<f64>], &mut [Box<RowLoss<'_>>]) -> Result<Vec<(Gradient, ParamGradients)>, GradError> + 'r;

/// The forward runs of a batch's sample plans: each one's recorded rows.
pub(crate) type BatchRows<'r> = dyn FnMut(&[Plan]) -> Result<Vec<Vec<Vec<f64>>>, GradError> + 'r;

/// A sample of a batch: its values (one per input, internal units) and what its readout is
/// compared with.
pub(crate) type SampleOf<'v> = (&'v [f64], Objective);

/// A sample's loss, its readout and whether it is classified right (cross-entropy only).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleLoss {
    pub loss: f64,
    pub readout: Vec<f64>,
    pub correct: Option<bool>,
}

impl Problem {
    /// The plan with a sample's `values` (one per input, internal units) applied.
    fn sample_plan(&self, values: &[f64]) -> Result<Plan, GradError> {
        let width: usize = self.inputs.iter().map(Input::width).sum();
        if values.len() != width {
            return Err(GradError::Loss(format!("{} values for inputs of {width}", values.len())));
        }
        let mut plan = self.plan.clone();
        let mut source_scale = vec![1.0; self.rule_source.iter().flatten().max().map_or(0, |m| m + 1)];
        let mut dense = self.dense.iter();
        for (input, x) in self.inputs.iter().zip(split(values, &self.inputs)) {
            match input {
                Input::Source(s) => {
                    if let Some(scale) = source_scale.get_mut(*s) {
                        *scale = x[0];
                    }
                }
                Input::Param(u) => {
                    let instances: Vec<usize> = u.instances(&plan).collect();
                    let array = unfolded(&mut plan, u.block, u.param);
                    for i in instances {
                        array[i] = x[0];
                    }
                }
                Input::Dense(d) => {
                    let weights = dense.next().expect("one per dense input");
                    let (w, b) = weights.split_at(d.instances.len() * d.features);
                    let array = unfolded(&mut plan, d.block, d.param);
                    for (k, i) in d.instances.clone().enumerate() {
                        let row = &w[k * d.features..(k + 1) * d.features];
                        array[i] = b[k] + row.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
                    }
                }
            }
        }
        for (_, target) in &mut plan.source_events {
            if let Some(s) = self.rule_source[target.connection as usize] {
                target.weight *= source_scale[s];
            }
        }
        Ok(plan)
    }

    /// Per connection rule, what a sample's `values` scale its events' weights by.
    fn rule_scales(&self, values: &[f64]) -> Vec<f64> {
        let per_input: Vec<&[f64]> = split(values, &self.inputs).collect();
        self.rule_source
            .iter()
            .map(|source| {
                let input = self.inputs.iter().position(|i| source.is_some_and(|s| *i == Input::Source(s)));
                input.map_or(1.0, |k| per_input[k][0])
            })
            .collect()
    }

    /// The derivatives of the dense inputs' W and b, from those of the parameters they set
    /// (`params`: per block, per unfolded parameter, per instance).
    fn dense_gradient(&self, values: &[f64], params: &[Vec<Vec<f64>>]) -> Vec<f64> {
        let mut out = Vec::new();
        for (input, x) in self.inputs.iter().zip(split(values, &self.inputs)) {
            let Input::Dense(d) = input else { continue };
            let slot = self.plan.blocks[d.block].params.iter().position(|(p, _)| *p == d.param).expect("unfolded");
            let g = &params[d.block][slot][d.instances.clone()];
            // ∂L/∂Wᵢⱼ = gᵢ xⱼ, row by row, then ∂L/∂bᵢ = gᵢ.
            out.extend(g.iter().flat_map(|gi| x.iter().map(move |xj| gi * xj)));
            out.extend_from_slice(g);
        }
        out
    }

    /// The loss of a forward run of one sample.
    pub fn sample_loss(
        &self,
        values: &[f64],
        readout: &Readout,
        objective: Objective,
    ) -> Result<SampleLoss, GradError> {
        let mut losses = self.sample_losses_with(&[(values, objective)], readout, &mut |plans| {
            plans.iter().map(|plan| super::forward::run(plan, &self.code, self.steps, None).map(|r| r.rows)).collect()
        })?;
        Ok(losses.remove(0))
    }

    /// The loss of each sample of a batch whose plans `run` runs forward, giving each one's
    /// recorded rows (the CPU's runs, or the GPU's: `gpu::grad`).
    pub(crate) fn sample_losses_with(
        &self,
        samples: &[SampleOf<'_>],
        readout: &Readout,
        run: &mut BatchRows<'_>,
    ) -> Result<Vec<SampleLoss>, GradError> {
        let plans = self.sample_plans(samples)?;
        let rows = run(&plans)?;
        let evaluate = |((plan, rows), (_, objective)): ((&Plan, &Vec<Vec<f64>>), &SampleOf<'_>)| {
            evaluate_readout(plan, readout, *objective, rows, self.linear_map()).map(|(l, _, _)| l)
        };
        plans.iter().zip(&rows).zip(samples).map(evaluate).collect()
    }

    /// The loss of one sample and its gradient (default checkpoints).
    pub fn sample_gradient(
        &self,
        values: &[f64],
        readout: &Readout,
        objective: Objective,
    ) -> Result<(SampleLoss, Gradient), GradError> {
        let mut results =
            self.sample_gradients_with(&[(values, objective)], readout, &mut |plans, rule_scales, objectives| {
                let runs = plans.iter().zip(rule_scales).zip(objectives);
                runs.map(|((plan, scales), objective)| self.gradient_of(plan, scales, None, objective.as_mut()))
                    .collect()
            })?;
        Ok(results.remove(0))
    }

    /// The loss and gradient of each sample of a batch, with `run` the forward and reverse runs
    /// of the samples' plans (the CPU's, or the GPU's all at once: `gpu::grad`); the readouts'
    /// losses, the dense inputs' and the linear readout's gradients are this code's on both.
    pub(crate) fn sample_gradients_with(
        &self,
        samples: &[SampleOf<'_>],
        readout: &Readout,
        run: &mut BatchRun<'_>,
    ) -> Result<Vec<(SampleLoss, Gradient)>, GradError> {
        let plans = self.sample_plans(samples)?;
        let rule_scales: Vec<Vec<f64>> = samples.iter().map(|(values, _)| self.rule_scales(values)).collect();
        // Per sample, its readout's loss and the linear readout's gradient, once evaluated.
        let mut evaluated: Vec<Option<(SampleLoss, Vec<f64>)>> = vec![None; samples.len()];
        let results = {
            let mut objectives: Vec<Box<RowLoss<'_>>> = plans
                .iter()
                .zip(samples)
                .zip(evaluated.iter_mut())
                .map(|((plan, (_, objective)), slot)| {
                    Box::new(move |rows: &[Vec<f64>]| {
                        let (l, cotangents, map) =
                            evaluate_readout(plan, readout, *objective, rows, self.linear_map())?;
                        let value = l.loss;
                        *slot = Some((l, map));
                        Ok((value, cotangents))
                    }) as Box<RowLoss<'_>>
                })
                .collect();
            run(&plans, &rule_scales, &mut objectives)?
        };
        let mut out = Vec::with_capacity(samples.len());
        for (((mut gradient, params), evaluated), (values, _)) in results.into_iter().zip(evaluated).zip(samples) {
            let (loss, map_gradient) = evaluated.expect("evaluated");
            gradient.gradient.extend(self.dense_gradient(values, &params));
            gradient.gradient.extend(map_gradient);
            out.push((loss, gradient));
        }
        Ok(out)
    }

    /// The plans of a batch's samples.
    fn sample_plans(&self, samples: &[SampleOf<'_>]) -> Result<Vec<Plan>, GradError> {
        samples.iter().map(|(values, _)| self.sample_plan(values)).collect()
    }

    /// The trained linear readout and its values, if there is one.
    fn linear_map(&self) -> Option<(&LinearReadout, &[f64])> {
        self.linear.as_ref().map(|(shape, values)| (shape, values.as_slice()))
    }
}

/// A sample's values cut into each input's.
fn split<'v>(values: &'v [f64], inputs: &'v [Input]) -> impl Iterator<Item = &'v [f64]> {
    inputs.iter().scan(0, move |at, input| {
        let start = *at;
        *at += input.width();
        Some(&values[start..*at])
    })
}

/// The per-instance array of an unfolded parameter.
fn unfolded(plan: &mut Plan, block: usize, param: u32) -> &mut Vec<f64> {
    let (_, array) = plan.blocks[block].params.iter_mut().find(|(p, _)| *p == param).expect("unfolded");
    array
}

/// The readout of `rows`, its loss against `objective`, and the loss's derivative in each row's
/// probe values.
#[allow(clippy::type_complexity)]
fn evaluate_readout(
    plan: &Plan,
    readout: &Readout,
    objective: Objective,
    rows: &[Vec<f64>],
    map: Option<(&LinearReadout, &[f64])>,
) -> Result<(SampleLoss, Vec<Vec<f64>>, Vec<f64>), GradError> {
    let window = &readout.rows;
    if window.is_empty() || window.end > rows.len() {
        return Err(GradError::Loss(format!("the readout's rows {window:?} are not inside the run's {}", rows.len())));
    }
    for &p in &readout.probes {
        match plan.probes.get(p) {
            None => return Err(GradError::Loss(format!("no probe {p}"))),
            Some(ProbeSource::Param { .. }) => {
                return Err(GradError::NotDifferentiable(format!("probe {p} reads a parameter")));
            }
            Some(_) => {}
        }
    }
    let n = window.len() as f64;
    let r: Vec<f64> =
        readout.probes.iter().map(|&p| rows[window.clone()].iter().map(|row| row[p]).sum::<f64>() / n).collect();
    let (loss, d_r, correct, map_gradient) = match (map, objective) {
        (Some((shape, values)), Objective::CrossEntropy { class, scale, threshold }) => {
            let z: Vec<f64> = r.iter().map(|x| (x - threshold) / scale).collect();
            let (loss, d_z, d_map, correct) = shape.cross_entropy(values, &z, class)?;
            (loss, d_z.iter().map(|d| d / scale).collect(), Some(correct), d_map)
        }
        (Some(_), Objective::Mse { .. }) => {
            return Err(GradError::Loss("a linear readout with a squared error".into()));
        }
        (None, _) => {
            let (loss, d_r, correct) = objective_of(&r, objective)?;
            (loss, d_r, correct, Vec::new())
        }
    };
    let mut cotangents = vec![vec![0.0; plan.probes.len()]; rows.len()];
    for row in &mut cotangents[window.clone()] {
        for (&p, d) in readout.probes.iter().zip(&d_r) {
            row[p] += d / n;
        }
    }
    Ok((SampleLoss { loss, readout: r, correct }, cotangents, map_gradient))
}

/// The loss of readout `r`, its derivative in each entry, and whether the class is right.
fn objective_of(r: &[f64], objective: Objective) -> Result<(f64, Vec<f64>, Option<bool>), GradError> {
    match objective {
        Objective::Mse { target } => match r {
            [x] => Ok(((x - target).powi(2), vec![2.0 * (x - target)], None)),
            _ => Err(GradError::Loss(format!("a squared error of {} readout values (one is needed)", r.len()))),
        },
        Objective::CrossEntropy { class, scale, threshold } => {
            let z: Vec<f64> = r.iter().map(|x| (x - threshold) / scale).collect();
            match z.as_slice() {
                [] => Err(GradError::Loss("an empty readout".into())),
                [z] if class <= 1 => {
                    // −log σ(z) for class 1, −log(1 − σ(z)) for class 0: softplus(±z), stably.
                    let y = class as f64;
                    let loss = softplus(*z) - y * z;
                    let sigma = 1.0 / (1.0 + (-z).exp());
                    Ok((loss, vec![(sigma - y) / scale], Some((*z > 0.0) == (class == 1))))
                }
                _ if class < z.len() => {
                    let (loss, d_logits, correct) = softmax_cross_entropy(&z, class);
                    Ok((loss, d_logits.iter().map(|d| d / scale).collect(), Some(correct)))
                }
                _ => Err(GradError::Loss(format!("class {class} of a readout of {} values", z.len()))),
            }
        }
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}
