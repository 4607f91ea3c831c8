//! The device memory a gradient needs beyond its run's buffers, checked before the forward run:
//! the checkpoints (⌈N/K⌉ states, one more for coupled cells) and the reverse run's per-cell
//! scratch. Both grow with the cells, so a batch of B replicas needs B times one replica's; a
//! batch that does not fit is split into the most replicas that do (`docs/training.md`,
//! "Batched replicas on the GPU").

use super::super::GpuError;
use super::super::builder::Prec;
use super::layout::GradLayout;

/// The checkpoints and scratch of a gradient's device memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Memory {
    pub segments: u64,
    /// Bytes of one checkpoint (a state of every cell).
    pub state: u64,
    /// Bytes of the reverse run's per-cell scratch.
    pub scratch: u64,
    pub k: u64,
    /// Cells coupled through `v_pre` save their state after every step (K = 1).
    pub coupled: bool,
}

/// What the device and the settings allow.
pub(super) struct Limits<'a> {
    pub budget: Option<u64>,
    /// Bytes one storage binding may hold.
    pub binding: u64,
    pub adapter: &'a str,
    pub prec: Prec,
}

impl Memory {
    /// The memory of `grad` for a run of `steps` steps saved every `k`.
    pub fn of(grad: &GradLayout, steps: u64, k: u64, prec: Prec) -> Memory {
        let b = prec.bytes();
        Memory {
            segments: steps.div_ceil(k).max(1) + u64::from(grad.coupled),
            state: u64::from(grad.state_len) * b,
            scratch: grad.work_len * b,
            k,
            coupled: grad.coupled,
        }
    }

    /// The memory of `n` replicas of this one.
    pub fn times(self, n: u64) -> Memory {
        Memory { state: self.state * n, scratch: self.scratch * n, ..self }
    }

    pub fn checkpoints(&self) -> u64 {
        self.segments * self.state
    }

    /// Why it does not fit, with the figures (`None`: it fits).
    pub fn refusal(&self, limits: &Limits<'_>) -> Option<String> {
        let Memory { segments, state, scratch, k, coupled } = *self;
        let checkpoints = self.checkpoints();
        if let Some(budget) = limits.budget.filter(|b| checkpoints + scratch > *b) {
            return Some(format!(
                "the gradient needs {} bytes of device memory beyond the run's ({checkpoints} for {segments} \
                 checkpoints of {state} bytes, {scratch} for the reverse run's per-cell scratch), more than its budget \
                 of {budget} bytes",
                checkpoints + scratch
            ));
        }
        let (binding, adapter) = (limits.binding, limits.adapter);
        if checkpoints > binding {
            let help = if coupled {
                "cells coupled through `v_pre` save it after every step: a shorter run fits"
            } else {
                "save the state less often (a larger checkpoint spacing)"
            };
            return Some(format!(
                "the checkpoints need {checkpoints} bytes ({segments} states of {state} bytes), more than the \
                 {binding} bytes '{adapter}' binds; {help}"
            ));
        }
        if scratch > binding || scratch / limits.prec.bytes() > u64::from(u32::MAX) {
            return Some(format!(
                "the reverse run needs {scratch} bytes of per-cell scratch ({k} states of {state} bytes, the \
                 partials and the solve's tape), more than the {binding} bytes '{adapter}' binds; save the state \
                 more often"
            ));
        }
        None
    }

    /// The most replicas of this one, at most `batch`, that fit; refused with this one's
    /// figures when not even one does.
    pub fn replicas_that_fit(self, batch: usize, limits: &Limits<'_>) -> Result<usize, GpuError> {
        if let Some(why) = self.refusal(limits) {
            return Err(GpuError::Unsupported(why));
        }
        let fits = |n: usize| self.times(n as u64).refusal(limits).is_none();
        Ok((1..=batch.max(1)).rev().find(|&n| fits(n)).unwrap_or(1))
    }
}
