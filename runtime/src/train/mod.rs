//! Fitting trainable parameters on the exact gradient (`grad`): each parameter moves as a free
//! value through its range's transform, by first-order steps (Adam, SGD: one per gradient) or
//! by L-BFGS with a line search (`lbfgs`).

pub mod data;
pub mod lbfgs;
pub mod optimizer;
pub mod sample_session;
pub mod samples;
pub mod session;
pub mod transform;

use std::ops::ControlFlow;

use crate::grad::{GradError, Gradient, Loss, Problem};
pub use optimizer::Optimizer;
pub use transform::Transform;

/// What a fit did: the loss before every iteration and after the last one, and the final values.
#[derive(Clone, Debug)]
pub struct Fit {
    pub losses: Vec<f64>,
    pub values: Vec<f64>,
    /// Whether `progress` stopped the fit before its iterations were done.
    pub stopped: bool,
    /// Losses and gradients computed (one an iteration for Adam and SGD; L-BFGS's line
    /// search may take more).
    pub evaluations: u64,
    /// Why L-BFGS stopped before its iterations were done, if it did.
    pub converged: Option<lbfgs::Converged>,
}

/// Where a fit gets its losses and gradients.
pub trait Objective {
    fn gradient(&mut self, problem: &Problem, loss: &Loss) -> Result<Gradient, GradError>;
    fn loss(&mut self, problem: &Problem, loss: &Loss) -> Result<f64, GradError>;
}

/// The CPU's: [`Problem::gradient`] (the state saved every ⌈√N⌉ steps) and [`Problem::loss`].
pub struct Cpu;

impl Objective for Cpu {
    fn gradient(&mut self, problem: &Problem, loss: &Loss) -> Result<Gradient, GradError> {
        problem.gradient(loss, None)
    }

    fn loss(&mut self, problem: &Problem, loss: &Loss) -> Result<f64, GradError> {
        problem.loss(loss)
    }
}

/// Runs `iterations` optimiser iterations from the problem's current values, calling
/// `progress(iteration, loss)` after each; it may stop the fit early with `Break`. The problem
/// is left at the final values.
pub fn fit(
    problem: &mut Problem,
    loss: &Loss,
    transforms: &[Transform],
    optimizer: Optimizer,
    iterations: u64,
    progress: impl FnMut(u64, f64) -> ControlFlow<()>,
) -> Result<Fit, GradError> {
    fit_on(&mut Cpu, problem, loss, transforms, optimizer, iterations, progress)
}

/// [`fit`] with the losses and gradients of `objective` (the GPU's: `gpu::grad::GpuGradient`).
pub fn fit_on(
    objective: &mut dyn Objective,
    problem: &mut Problem,
    loss: &Loss,
    transforms: &[Transform],
    optimizer: Optimizer,
    iterations: u64,
    progress: impl FnMut(u64, f64) -> ControlFlow<()>,
) -> Result<Fit, GradError> {
    let run = Run { objective, loss, transforms, iterations };
    match optimizer {
        Optimizer::Lbfgs(options) => fit_lbfgs(run, problem, options, progress),
        first_order => fit_first_order(run, problem, first_order, progress),
    }
}

/// What a fit runs with.
struct Run<'a> {
    objective: &'a mut dyn Objective,
    loss: &'a Loss,
    transforms: &'a [Transform],
    iterations: u64,
}

/// Adam or SGD: one step per gradient.
fn fit_first_order(
    run: Run<'_>,
    problem: &mut Problem,
    optimizer: Optimizer,
    mut progress: impl FnMut(u64, f64) -> ControlFlow<()>,
) -> Result<Fit, GradError> {
    let Run { objective, loss, transforms, iterations } = run;
    let mut u = free_values(problem, transforms);
    let mut state = optimizer::State::new(optimizer, u.len()).map_err(lbfgs_refused)?;
    let mut losses = Vec::new();
    let mut stopped = false;
    for iteration in 1..=iterations {
        let g = objective.gradient(problem, loss)?;
        losses.push(g.loss);
        let free = free_gradient(&g.gradient, &u, transforms);
        state.step(&mut u, &free);
        problem.set_values(&values_of(&u, transforms));
        if progress(iteration, g.loss).is_break() {
            stopped = iteration < iterations;
            break;
        }
    }
    losses.push(objective.loss(problem, loss)?);
    let evaluations = losses.len() as u64 - 1;
    Ok(Fit { losses, values: problem.values(), stopped, evaluations, converged: None })
}

/// L-BFGS in the free values: a point where the run diverges counts as an infinite loss, which
/// the line search steps back from.
fn fit_lbfgs(
    run: Run<'_>,
    problem: &mut Problem,
    options: lbfgs::Options,
    mut progress: impl FnMut(u64, f64) -> ControlFlow<()>,
) -> Result<Fit, GradError> {
    let Run { objective, loss, transforms, iterations } = run;
    let start = free_values(problem, transforms);
    // The start must run: there is no earlier point for the line search to step back to.
    let first = evaluation(objective, problem, loss, transforms, &start)?;
    let mut evaluate = |u: &[f64]| {
        problem.set_values(&values_of(u, transforms));
        match evaluation(objective, problem, loss, transforms, u) {
            Err(GradError::Diverged(_)) => Ok(lbfgs::Evaluation::diverged(u.len())),
            result => result,
        }
    };
    let mut minimizer = lbfgs::Minimizer::new(options, start, first);
    let mut losses = vec![minimizer.at.loss];
    let (mut stopped, mut converged) = (false, None);
    for iteration in 1..=iterations {
        converged = minimizer.iterate(&mut evaluate)?;
        losses.push(minimizer.at.loss);
        if progress(iteration, minimizer.at.loss).is_break() {
            stopped = iteration < iterations && converged.is_none();
            break;
        }
        if converged.is_some() {
            break;
        }
    }
    problem.set_values(&values_of(&minimizer.point, transforms));
    Ok(Fit { losses, values: problem.values(), stopped, evaluations: minimizer.evaluations, converged })
}

/// The objective's loss and gradient in the free values `u` at the problem's current values.
fn evaluation(
    objective: &mut dyn Objective,
    problem: &mut Problem,
    loss: &Loss,
    transforms: &[Transform],
    u: &[f64],
) -> Result<lbfgs::Evaluation, GradError> {
    let g = objective.gradient(problem, loss)?;
    Ok(lbfgs::Evaluation { loss: g.loss, gradient: free_gradient(&g.gradient, u, transforms) })
}

/// A first-order fit asked for with L-BFGS (the checker refuses it with samples).
fn lbfgs_refused(_: optimizer::NotFirstOrder) -> GradError {
    GradError::Loss(
        "L-BFGS needs the same loss at every evaluation; batches of samples change it (use adam or sgd)".into(),
    )
}

fn free_values(problem: &Problem, transforms: &[Transform]) -> Vec<f64> {
    problem.values().iter().zip(transforms).map(|(x, t)| t.free(*x)).collect()
}

fn values_of(u: &[f64], transforms: &[Transform]) -> Vec<f64> {
    u.iter().zip(transforms).map(|(x, t)| t.value(*x)).collect()
}

/// ∂L/∂u = ∂L/∂θ · θ'(u).
fn free_gradient(gradient: &[f64], u: &[f64], transforms: &[Transform]) -> Vec<f64> {
    gradient.iter().zip(u).zip(transforms).map(|((d, x), t)| d * t.slope(*x)).collect()
}

#[cfg(test)]
mod tests;
