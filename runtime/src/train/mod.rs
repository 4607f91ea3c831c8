//! Fitting trainable parameters by gradient descent on the exact gradient (`grad`): each
//! parameter moves as a free value through its range's transform, one optimiser step per
//! gradient.

pub mod data;
pub mod optimizer;
pub mod sample_session;
pub mod samples;
pub mod session;
pub mod transform;

use std::ops::ControlFlow;

use crate::grad::{GradError, Loss, Problem};
pub use optimizer::Optimizer;
pub use transform::Transform;

/// What a fit did: the loss before every step and after the last one, and the final values.
#[derive(Clone, Debug)]
pub struct Fit {
    pub losses: Vec<f64>,
    pub values: Vec<f64>,
    /// Whether `progress` stopped the fit before its iterations were done.
    pub stopped: bool,
}

/// Runs `iterations` optimiser steps from the problem's current values, calling
/// `progress(iteration, loss)` after each; it may stop the fit early with `Break`. The problem
/// is left at the final values.
pub fn fit(
    problem: &mut Problem,
    loss: &Loss,
    transforms: &[Transform],
    optimizer: Optimizer,
    iterations: u64,
    mut progress: impl FnMut(u64, f64) -> ControlFlow<()>,
) -> Result<Fit, GradError> {
    let mut u: Vec<f64> = problem.values().iter().zip(transforms).map(|(x, t)| t.free(*x)).collect();
    let mut state = optimizer::State::new(optimizer, u.len());
    let mut losses = Vec::new();
    let mut stopped = false;
    for iteration in 1..=iterations {
        let g = problem.gradient(loss, None)?;
        losses.push(g.loss);
        let free_gradient: Vec<f64> =
            g.gradient.iter().zip(&u).zip(transforms).map(|((d, x), t)| d * t.slope(*x)).collect();
        state.step(&mut u, &free_gradient);
        problem.set_values(&u.iter().zip(transforms).map(|(x, t)| t.value(*x)).collect::<Vec<_>>());
        if progress(iteration, g.loss).is_break() {
            stopped = iteration < iterations;
            break;
        }
    }
    losses.push(problem.loss(loss)?);
    Ok(Fit { losses, values: problem.values(), stopped })
}

#[cfg(test)]
mod tests;
