//! L-BFGS on analytic functions whose minima are known.

use super::*;

const OPTIONS: Options = Options { memory: 10, gradient_tolerance: 1e-12, loss_tolerance: 0.0 };

/// Runs the minimiser from `start` for at most `iterations`; returns it and why it stopped.
fn minimise(
    f: impl Fn(&[f64]) -> Evaluation,
    start: &[f64],
    options: Options,
    iterations: usize,
) -> (Minimizer, Option<Converged>) {
    let mut evaluate = |x: &[f64]| Ok::<_, ()>(f(x));
    let first = f(start);
    let mut m = Minimizer::new(options, start.to_vec(), first);
    for _ in 0..iterations {
        if let Some(reason) = m.iterate(&mut evaluate).expect("no error") {
            return (m, Some(reason));
        }
    }
    (m, None)
}

/// f = (1 − x)² + 100 (y − x²)², minimum 0 at (1, 1).
fn rosenbrock(x: &[f64]) -> Evaluation {
    let (a, b) = (x[0], x[1]);
    let loss = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
    let gradient = vec![-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)];
    Evaluation { loss, gradient }
}

#[test]
fn rosenbrock_is_minimised_to_1e_8_from_its_classic_start() {
    let (m, reason) = minimise(rosenbrock, &[-1.2, 1.0], OPTIONS, 200);
    let error = m.point.iter().map(|x| (x - 1.0).abs()).fold(0.0, f64::max);
    eprintln!("{reason:?} after {} evaluations: {:?}, loss {:e}", m.evaluations, m.point, m.at.loss);
    assert!(error <= 1e-8, "{:?}", m.point);
    assert!(m.evaluations < 100, "{} evaluations", m.evaluations);
}

/// A 10-dimensional quadratic ½ Σ λᵢ (xᵢ − cᵢ)² rotated by a fixed orthogonal matrix (Givens
/// rotations), eigenvalues λ from 1 to 1e6: gradient descent would need ~1e6 steps. (The 12
/// densities of the pyramidal fit span a similar range of curvatures.)
fn ill_conditioned(x: &[f64]) -> Evaluation {
    let n = x.len();
    let rotate = |v: &mut Vec<f64>| {
        for i in 0..n - 1 {
            let (c, s) = ((0.3 + i as f64).cos(), (0.3 + i as f64).sin());
            let (a, b) = (v[i], v[i + 1]);
            v[i] = c * a - s * b;
            v[i + 1] = s * a + c * b;
        }
    };
    let centre = |i: usize| (i as f64 - 5.0) * 0.1;
    let lambda = |i: usize| 10f64.powf(6.0 * i as f64 / (n - 1) as f64);
    let mut d: Vec<f64> = x.iter().enumerate().map(|(i, v)| v - centre(i)).collect();
    rotate(&mut d);
    let loss = 0.5 * d.iter().enumerate().map(|(i, v)| lambda(i) * v * v).sum::<f64>();
    let mut g: Vec<f64> = d.iter().enumerate().map(|(i, v)| lambda(i) * v).collect();
    // The transpose of the rotation: its steps undone in reverse order.
    for i in (0..n - 1).rev() {
        let (c, s) = ((0.3 + i as f64).cos(), (0.3 + i as f64).sin());
        let (a, b) = (g[i], g[i + 1]);
        g[i] = c * a + s * b;
        g[i + 1] = -s * a + c * b;
    }
    Evaluation { loss, gradient: g }
}

#[test]
fn an_ill_conditioned_quadratic_is_minimised() {
    let (m, reason) = minimise(ill_conditioned, &[1.0; 10], OPTIONS, 200);
    let error = m.point.iter().enumerate().map(|(i, x)| (x - (i as f64 - 5.0) * 0.1).abs()).fold(0.0, f64::max);
    eprintln!("{reason:?} after {} evaluations: largest error {error:e}, loss {:e}", m.evaluations, m.at.loss);
    assert!(error <= 1e-8, "largest error {error:e}");
    assert!(m.evaluations < 60, "{} evaluations", m.evaluations);
}

#[test]
fn the_gradient_of_the_quadratic_is_its_derivative() {
    let x: Vec<f64> = (0..10).map(|i| (i as f64 * 0.37).sin()).collect();
    let g = ill_conditioned(&x).gradient;
    for i in [0, 7, 9] {
        // Central differences are exact on a quadratic but for rounding: a wide step.
        let h = 1e-2;
        let shifted = |d: f64| {
            let mut y = x.clone();
            y[i] += d;
            ill_conditioned(&y).loss
        };
        let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
        assert!((fd - g[i]).abs() <= 1e-6 * g[i].abs().max(1.0), "{i}: {fd} vs {}", g[i]);
    }
}

#[test]
fn a_point_where_the_model_diverges_makes_the_search_step_back() {
    // Rosenbrock, with every point beyond x = 1.5 unevaluable: the first quasi-Newton steps
    // overshoot there.
    let guarded = |x: &[f64]| if x[0] > 1.5 { Evaluation::diverged(2) } else { rosenbrock(x) };
    let (m, _) = minimise(guarded, &[-1.2, 1.0], OPTIONS, 200);
    assert!(m.point.iter().all(|x| (x - 1.0).abs() <= 1e-8), "{:?}", m.point);
}

#[test]
fn the_same_losses_give_the_same_bits() {
    let run = || minimise(rosenbrock, &[-1.2, 1.0], OPTIONS, 25).0.point;
    let (a, b) = (run(), run());
    assert_eq!(a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), b.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
}

#[test]
fn it_stops_on_the_loss_tolerance_and_on_the_gradient_tolerance() {
    // Along Rosenbrock's curved valley some iterations lower the loss by less than half.
    let options = Options { loss_tolerance: 0.5, gradient_tolerance: 0.0, ..OPTIONS };
    let (m, reason) = minimise(rosenbrock, &[-1.2, 1.0], options, 200);
    assert_eq!(reason, Some(Converged::Loss), "{:?} {}", m.point, m.at.loss);
    assert!(m.at.loss > 1e-6, "stopped before the minimum: {}", m.at.loss);
    let options = Options { gradient_tolerance: 1e-3, ..OPTIONS };
    let (m, reason) = minimise(rosenbrock, &[-1.2, 1.0], options, 200);
    assert_eq!(reason, Some(Converged::Gradient));
    assert!(norm_inf(&m.at.gradient) <= 1e-3);
}

#[test]
fn a_gradient_that_is_not_finite_ends_the_search() {
    let broken = |_: &[f64]| Evaluation { loss: 1.0, gradient: vec![f64::NAN, 1.0] };
    let (m, reason) = minimise(broken, &[0.5, 0.5], OPTIONS, 10);
    assert_eq!((reason, m.evaluations, m.point.as_slice()), (Some(Converged::LineSearch), 1, &[0.5, 0.5][..]));
}
