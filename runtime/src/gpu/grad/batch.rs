//! A batch on the device: the plans of up to B samples as the replicas of one plan
//! (`plan::replicas`), run forward in the engine's windows and in reverse one dispatch per
//! segment for all of them; each replica's rows go to its own objective, and the results come
//! back per replica (`host.rs`), so every sample's gradient is the one it has alone, bit for
//! bit. A batch of fewer than B samples fills the other replicas with copies of its last
//! sample, whose results are dropped (their loss's derivatives are zero).

use super::forward::{self, Forward};
use super::{GpuGradient, host, initialized};
use crate::gpu::{GpuEngine, round};
use crate::grad::{GradError, Gradient, ParamGradients, Problem, RowLoss};
use crate::plan::Plan;
use crate::plan::replicas::Replicas;

impl GpuGradient {
    /// Each plan's recorded rows (the problem's plan or its samples', at most B).
    pub(super) fn rows_of(&mut self, plans: &[Plan]) -> Result<Vec<Vec<Vec<f64>>>, GradError> {
        let (forward, replicas) = self.forward(plans, false)?;
        Ok((0..plans.len()).map(|r| replica_rows(&forward, &replicas, r)).collect())
    }

    /// The gradient of each plan's loss (`objectives`, one per plan, at most B), whose
    /// connection rules' events carry their weight times its `rule_scales`, with its
    /// per-instance parameters' derivatives: the GPU's counterpart of the CPU's
    /// `Problem::gradient_of`, for a batch at once.
    pub(super) fn gradients_of(
        &mut self,
        problem: &Problem,
        plans: &[Plan],
        rule_scales: &[Vec<f64>],
        objectives: &mut [Box<RowLoss<'_>>],
    ) -> Result<Vec<(Gradient, ParamGradients)>, GradError> {
        let (forward, replicas) = self.forward(plans, true)?;
        let mut row_cotangents = vec![Vec::new(); forward.rows.len()];
        let mut losses = Vec::with_capacity(plans.len());
        for r in 0..replicas.count {
            let (loss, cotangents) = match objectives.get_mut(r) {
                Some(objective) => objective(&replica_rows(&forward, &replicas, r))?,
                None => (0.0, vec![vec![0.0; forward.rows[0].len() / replicas.count]; forward.rows.len()]),
            };
            losses.push(loss);
            for (row, mine) in row_cotangents.iter_mut().zip(cotangents) {
                row.extend(mine);
            }
        }
        let (results, records) = self.undo_segments(&forward, &row_cotangents).map_err(GradError::Gpu)?;
        let (_, code, _) = problem.parts();
        let connections = self.artifact.model.network.connections.len();
        let run = host::Run {
            forward: &forward,
            results: &results,
            records: &records,
            row0: &row_cotangents[0],
            connections,
        };
        let gradients = host::gradients(plans, &replicas, code, &self.engine, &self.grad, &run);
        let folded = gradients.into_iter().zip(plans).zip(rule_scales).zip(losses);
        Ok(folded
            .map(|((((params, weights, cable), plan), scales), loss)| {
                let gradient = problem.fold(plan, &params, &weights, scales, &cable);
                (Gradient { loss, gradient, checkpoint_every: self.k, kept_tapes: false }, params)
            })
            .collect())
    }

    /// The forward run of `plans` (at most B, of the problem's shape) as replicas from their
    /// initial states, with `checkpoints` the state saved every K steps.
    fn forward(&mut self, plans: &[Plan], checkpoints: bool) -> Result<(Forward, Replicas), GradError> {
        if plans.is_empty() || plans.len() > self.replicas {
            return Err(GradError::Gpu(crate::gpu::GpuError::Internal(format!(
                "a batch of {} samples on replicas for {}",
                plans.len(),
                self.replicas
            ))));
        }
        let mut initial: Vec<Plan> = plans.iter().map(initialized).collect();
        let last = initial.last().expect("a plan").clone();
        initial.resize(self.replicas, last);
        let replicas = Replicas::of(&initial[0], self.replicas);
        let plan = replicas.plan(&initial);
        let prec = self.engine.prec;
        let row0: Vec<f64> = plan.probes.iter().map(|p| round(prec, plan.probe_value(p))).collect();
        let mut host = self.engine.restart(&self.artifact, plan).map_err(GradError::Gpu)?;
        let reverse = &self.reverse;
        let mut save = |engine: &GpuEngine, start: u64| {
            if checkpoints {
                reverse.save_checkpoint(&engine.gpu, start);
            }
        };
        let forward = forward::run(&mut self.engine, &mut host, row0, (self.steps, self.k), &mut save);
        // A divergence names the cell of the sample's own network.
        let forward = forward.map_err(|e| match e {
            GradError::Diverged(mut blowup) => {
                blowup.gid = replicas.local_gid(blowup.gid);
                GradError::Diverged(blowup)
            }
            e => e,
        })?;
        Ok((forward, replicas))
    }
}

/// Replica `r`'s rows of a batch's forward run.
fn replica_rows(forward: &Forward, replicas: &Replicas, r: usize) -> Vec<Vec<f64>> {
    forward.rows.iter().map(|row| replicas.row(row, r).to_vec()).collect()
}
