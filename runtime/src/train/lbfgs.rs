//! L-BFGS (Nocedal & Wright, *Numerical Optimization*, 2nd ed., algorithms 7.4, 3.5 and 3.6):
//! a quasi-Newton direction from the last `memory` pairs of steps and gradient changes (the
//! two-loop recursion), and a line search that ends on a point satisfying the strong Wolfe
//! conditions. It works on the free values of `transform`, where the densities are logarithms.
//! Deterministic: the same losses and gradients give the same steps, bit for bit.

use std::collections::VecDeque;

/// The settings of `optimizer = lbfgs { … }` (docs/training.md).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Options {
    /// How many (step, gradient change) pairs make the Hessian's approximation.
    pub memory: usize,
    /// Stop when every component of the gradient (in the free values) is at most this.
    pub gradient_tolerance: f64,
    /// Stop when an iteration lowers the loss by at most this fraction of it.
    pub loss_tolerance: f64,
}

/// The loss and its gradient at a point; a loss that is not finite (a run that diverged) makes
/// the line search step back.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub loss: f64,
    pub gradient: Vec<f64>,
}

impl Evaluation {
    /// The value of a point where the model cannot be run.
    pub fn diverged(n: usize) -> Evaluation {
        Evaluation { loss: f64::INFINITY, gradient: vec![f64::NAN; n] }
    }
}

/// Why the minimiser stopped before its iterations were done.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Converged {
    /// The gradient's largest component is within `gradient_tolerance`.
    Gradient,
    /// The last iteration lowered the loss by at most `loss_tolerance` of it.
    Loss,
    /// No point along the direction lowers the loss (it is at its rounding), or the gradient is
    /// not finite.
    LineSearch,
}

/// The sufficient-decrease and curvature constants of the strong Wolfe conditions. A curvature
/// constant of 0.1 (not the usual 0.9) makes the line search nearly exact, which costs an
/// evaluation or two an iteration and saves many iterations on ill-conditioned losses (a 1e6
/// quadratic: 170 evaluations against 2,000 and more with 0.9).
const C1: f64 = 1e-4;
const C2: f64 = 0.1;
/// The largest change of any free value the first trial of a line search makes (0.1 is a 10 %
/// change of a density): a quasi-Newton step from a poor model of the Hessian can be huge.
const FIRST_STEP: f64 = 0.1;
const MAX_STEP: f64 = 1.0;
/// Evaluations a line search may use before it gives up.
const MAX_EVALUATIONS: usize = 30;

/// An L-BFGS minimisation in progress: the current point, its evaluation and the history.
pub struct Minimizer {
    options: Options,
    /// (s, y, 1/yᵀs), oldest first.
    history: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    pub point: Vec<f64>,
    pub at: Evaluation,
    /// Evaluations made so far, the first one included.
    pub evaluations: u64,
}

impl Minimizer {
    /// Starts at `point`, whose evaluation is `at`.
    pub fn new(options: Options, point: Vec<f64>, at: Evaluation) -> Minimizer {
        Minimizer { options, history: VecDeque::new(), point, at, evaluations: 1 }
    }

    /// Whether the current point already meets the gradient tolerance.
    pub fn gradient_converged(&self) -> bool {
        norm_inf(&self.at.gradient) <= self.options.gradient_tolerance
    }

    /// One iteration: a direction, a line search along it, the history updated. Returns why it
    /// stopped, if it did (the point is then the best one found).
    pub fn iterate<E>(
        &mut self,
        evaluate: &mut impl FnMut(&[f64]) -> Result<Evaluation, E>,
    ) -> Result<Option<Converged>, E> {
        if self.gradient_converged() {
            return Ok(Some(Converged::Gradient));
        }
        if self.at.gradient.iter().any(|g| !g.is_finite()) {
            // Nothing to search along; the point is as good as the loss can tell.
            return Ok(Some(Converged::LineSearch));
        }
        let mut direction = self.direction();
        if dot(&direction, &self.at.gradient) >= 0.0 {
            // Not a descent direction (rounding in a poor approximation): start afresh.
            self.history.clear();
            direction = self.at.gradient.iter().map(|g| -g).collect();
        }
        let first = if self.history.is_empty() { FIRST_STEP } else { MAX_STEP };
        let trial = (first / norm_inf(&direction)).min(1.0);
        let search = LineSearch { origin: &self.point, direction: &direction, at: &self.at };
        let (found, evaluations) = search.run(trial, evaluate)?;
        self.evaluations += evaluations;
        let Some((step, next)) = found else { return Ok(Some(Converged::LineSearch)) };
        let previous = self.at.loss;
        self.remember(&direction, step, &next);
        let decrease = (previous - self.at.loss) / previous.abs();
        if self.gradient_converged() {
            return Ok(Some(Converged::Gradient));
        }
        Ok((decrease <= self.options.loss_tolerance).then_some(Converged::Loss))
    }

    /// Moves to `point + step·direction`, evaluated as `next`, and keeps the pair (s, y) when
    /// its curvature is positive (the strong Wolfe conditions guarantee it up to rounding).
    fn remember(&mut self, direction: &[f64], step: f64, next: &Evaluation) {
        let s: Vec<f64> = direction.iter().map(|d| step * d).collect();
        let y: Vec<f64> = next.gradient.iter().zip(&self.at.gradient).map(|(a, b)| a - b).collect();
        let curvature = dot(&s, &y);
        if curvature > f64::EPSILON * dot(&y, &y) {
            if self.history.len() == self.options.memory {
                self.history.pop_front();
            }
            self.history.push_back((s, y, 1.0 / curvature));
        }
        for (p, d) in self.point.iter_mut().zip(direction) {
            *p += step * d;
        }
        self.at = next.clone();
    }

    /// −H·g by the two-loop recursion, H₀ = (sᵀy / yᵀy)·I from the newest pair.
    fn direction(&self) -> Vec<f64> {
        let mut q: Vec<f64> = self.at.gradient.iter().map(|g| -g).collect();
        let mut alphas = Vec::with_capacity(self.history.len());
        for (s, y, rho) in self.history.iter().rev() {
            let alpha = rho * dot(s, &q);
            axpy(&mut q, -alpha, y);
            alphas.push(alpha);
        }
        if let Some((s, y, _)) = self.history.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|x| *x *= gamma);
        }
        for ((s, y, rho), alpha) in self.history.iter().zip(alphas.into_iter().rev()) {
            let beta = rho * dot(y, &q);
            axpy(&mut q, alpha - beta, s);
        }
        q
    }
}

/// φ(α) = L(origin + α·direction), from φ(0) = `at`.
struct LineSearch<'a> {
    origin: &'a [f64],
    direction: &'a [f64],
    at: &'a Evaluation,
}

/// A trial step: α, φ(α), φ'(α) and the whole evaluation.
#[derive(Clone)]
struct Trial {
    step: f64,
    loss: f64,
    slope: f64,
    evaluation: Evaluation,
}

type Found = Option<(f64, Evaluation)>;

impl LineSearch<'_> {
    /// Algorithm 3.5: steps that grow from `first` (by cubic extrapolation) until one satisfies the strong Wolfe
    /// conditions or brackets such a step, then [`Self::zoom`]. Returns the step and its
    /// evaluation (or the best decrease seen, when the search runs out of evaluations; `None`
    /// when nothing lowered the loss) and the evaluations used.
    fn run<E>(
        &self,
        first: f64,
        evaluate: &mut impl FnMut(&[f64]) -> Result<Evaluation, E>,
    ) -> Result<(Found, u64), E> {
        let slope0 = dot(&self.at.gradient, self.direction);
        let mut previous = Trial { step: 0.0, loss: self.at.loss, slope: slope0, evaluation: self.at.clone() };
        let mut step = first;
        let mut best: Option<Trial> = None;
        for evaluations in 1..=MAX_EVALUATIONS as u64 {
            let trial = self.trial(step, evaluate)?;
            keep_best(&mut best, &trial, self.at.loss);
            if !self.decreases(&trial) || (evaluations > 1 && trial.loss >= previous.loss) {
                return self.zoom(previous, trial, evaluations, best, evaluate);
            }
            if trial.slope.abs() <= -C2 * slope0 {
                return Ok((Some((trial.step, trial.evaluation)), evaluations));
            }
            if trial.slope >= 0.0 {
                return self.zoom(trial, previous, evaluations, best, evaluate);
            }
            step = extrapolate(&previous, &trial);
            previous = trial;
        }
        Ok((best.map(|t| (t.step, t.evaluation)), MAX_EVALUATIONS as u64))
    }

    /// Algorithm 3.6: shrinks the bracket [lo, hi] (lo the lower loss of the two, satisfying
    /// sufficient decrease) by safeguarded cubic interpolation until a step satisfies the strong
    /// Wolfe conditions.
    fn zoom<E>(
        &self,
        mut lo: Trial,
        mut hi: Trial,
        mut evaluations: u64,
        mut best: Option<Trial>,
        evaluate: &mut impl FnMut(&[f64]) -> Result<Evaluation, E>,
    ) -> Result<(Found, u64), E> {
        let slope0 = dot(&self.at.gradient, self.direction);
        while evaluations < MAX_EVALUATIONS as u64 && (hi.step - lo.step).abs() > f64::EPSILON * lo.step.abs() {
            let trial = self.trial(interpolate(&lo, &hi), evaluate)?;
            evaluations += 1;
            keep_best(&mut best, &trial, self.at.loss);
            if !self.decreases(&trial) || trial.loss >= lo.loss {
                hi = trial;
                continue;
            }
            if trial.slope.abs() <= -C2 * slope0 {
                return Ok((Some((trial.step, trial.evaluation)), evaluations));
            }
            if trial.slope * (hi.step - lo.step) >= 0.0 {
                hi = lo;
            }
            lo = trial;
        }
        Ok((best.map(|t| (t.step, t.evaluation)), evaluations))
    }

    fn trial<E>(&self, step: f64, evaluate: &mut impl FnMut(&[f64]) -> Result<Evaluation, E>) -> Result<Trial, E> {
        let point: Vec<f64> = self.origin.iter().zip(self.direction).map(|(x, d)| x + step * d).collect();
        let evaluation = evaluate(&point)?;
        let slope = dot(&evaluation.gradient, self.direction);
        Ok(Trial { step, loss: evaluation.loss, slope, evaluation })
    }

    /// The sufficient-decrease (Armijo) condition; false for a loss that is not finite.
    fn decreases(&self, t: &Trial) -> bool {
        let slope0 = dot(&self.at.gradient, self.direction);
        t.loss.is_finite() && t.slope.is_finite() && t.loss <= self.at.loss + C1 * t.step * slope0
    }
}

/// Keeps the trial with the lowest loss below `start`'s.
fn keep_best(best: &mut Option<Trial>, trial: &Trial, start: f64) {
    let lower = best.as_ref().map_or(start, |b| b.loss);
    if trial.loss < lower && trial.slope.is_finite() {
        *best = Some(trial.clone());
    }
}

/// The minimiser of the cubic through (lo, hi)'s losses and slopes, kept inside the middle 80 %
/// of the bracket; the bisection where the cubic has none or `hi` is not finite.
fn interpolate(lo: &Trial, hi: &Trial) -> f64 {
    let (a, b) = (lo.step, hi.step);
    let bisection = 0.5 * (a + b);
    if !(hi.loss.is_finite() && hi.slope.is_finite()) {
        return bisection;
    }
    let (low, high) = (a.min(b), a.max(b));
    let margin = 0.1 * (high - low);
    cubic_minimiser(lo, hi).map_or(bisection, |step| step.clamp(low + margin, high - margin))
}

/// The next trial beyond `trial` while the loss still falls there: the cubic's minimiser
/// through `previous` and `trial`, kept within 1.1 to 10 times `trial`'s step (10 times where
/// the cubic has no minimiser).
fn extrapolate(previous: &Trial, trial: &Trial) -> f64 {
    let (low, high) = (1.1 * trial.step, 10.0 * trial.step);
    cubic_minimiser(previous, trial).map_or(high, |step| if step > trial.step { step.clamp(low, high) } else { high })
}

/// The minimiser of the cubic with the losses and slopes of `a` and `b` (Nocedal & Wright,
/// eq. 3.59), if it has one.
fn cubic_minimiser(a: &Trial, b: &Trial) -> Option<f64> {
    let d1 = a.slope + b.slope - 3.0 * (a.loss - b.loss) / (a.step - b.step);
    let root = d1 * d1 - a.slope * b.slope;
    if root < 0.0 {
        return None;
    }
    let d2 = (b.step - a.step).signum() * root.sqrt();
    let step = b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2);
    step.is_finite().then_some(step)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

fn norm_inf(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[cfg(test)]
mod tests;
