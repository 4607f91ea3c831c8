//! Fitting recovers parameters from the model's own trace.

use super::*;
use crate::grad::{Target, Trainable, Use};
use crate::test_models;

/// hh_soma's four hh parameters started 30 % off (el 10 % off, as it is a potential), fitted to
/// the somatic voltage of the true model over 10 ms (one spike) with Adam: each within 1 %
/// (measured: 0.1–0.4 % after 1,000 steps).
#[test]
fn hh_densities_are_recovered_from_the_somatic_voltage() {
    let mut a = test_models::example("examples/neuron/hh_soma.syl", &[]);
    a.model.simulation.duration = 10.0;
    let hh = a.placements.iter().position(|p| a.model.mechanisms[p.mechanism.index()].name == "hh").expect("hh");
    let m = &a.model.mechanisms[a.placements[hh].mechanism.index()];
    let names = ["gnabar", "gkbar", "gl", "el"];
    let trainables: Vec<Trainable> = names
        .iter()
        .map(|n| Trainable {
            uses: vec![Use::all(hh, m.params.iter().position(|p| p.name == *n).expect("hh param") as u32)],
        })
        .collect();
    let transforms: Vec<Transform> = names
        .iter()
        .map(|n| {
            let p = m.params.iter().find(|p| p.name == *n).expect("hh param");
            Transform::for_range(p.min, p.max, p.default).expect("inside")
        })
        .collect();
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    let truth = problem.values();
    let target = problem.trace().expect("runs");
    let loss = Loss { targets: vec![Target { probe: 0, values: target[0].clone() }] };
    let start: Vec<f64> = truth.iter().zip([1.3, 0.7, 1.3, 1.1]).map(|(x, f)| x * f).collect();
    problem.set_values(&start);
    let optimizer = Optimizer::Adam { learning_rate: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
    let fit = fit(&mut problem, &loss, &transforms, optimizer, 1000, |_, _| ControlFlow::Continue(())).expect("fits");
    eprintln!("loss {:.3e} -> {:.3e}", fit.losses[0], fit.losses.last().unwrap());
    for ((name, got), want) in names.iter().zip(&fit.values).zip(&truth) {
        let error = (got - want).abs() / want.abs();
        eprintln!("{name}: {got:.6e} (true {want:.6e}, {error:.1e})");
        assert!(error < 0.01, "{name}: {got} vs {want}");
    }
}
