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
    let hh = a.first_placement_of("hh").expect("hh");
    let m = &a.model.mechanisms[a.placements[hh].mechanism.index()];
    let names = ["gnabar", "gkbar", "gl", "el"];
    let trainables: Vec<Trainable> = names
        .iter()
        .map(|n| Trainable {
            uses: vec![Use::all(hh, m.params.iter().position(|p| p.name == *n).expect("hh param") as u32)],
            ..Trainable::default()
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

/// `examples/train/fit_hh.syl` with its target trace made by its own model (the true values),
/// 8 ms of it.
fn fit_hh() -> (sylva_compiler::artifact::Artifact, String) {
    fit_hh_edited(8.0, |text| text)
}

/// `examples/train/fit_hh.syl`, its text changed by `edit`, cut to `ms`, and the target trace of
/// its own model.
fn fit_hh_edited(ms: f64, edit: impl FnOnce(String) -> String) -> (sylva_compiler::artifact::Artifact, String) {
    let mut a = test_models::example_edited("examples/train/fit_hh.syl", &[], edit);
    a.model.simulation.duration = ms;
    let mut sim = crate::cpu::Simulation::new(&a, crate::cpu::Options::default()).expect("builds");
    sim.run(|_, _| {}).expect("runs");
    let mut csv = String::from("t,soma_v\n");
    for (t, v) in sim.times().iter().zip(&sim.columns()[0]) {
        csv += &format!("{},{}\n", crate::output::format_number(*t), crate::output::format_number(*v));
    }
    (a, csv)
}

#[test]
fn a_train_block_becomes_a_session_that_lowers_its_loss() {
    let (a, csv) = fit_hh();
    let mut session = session::Session::new(&a, &mut |path| {
        assert!(path.ends_with("fit_hh_target.csv"), "{path}");
        Ok(csv.clone().into_bytes())
    })
    .expect("a session");
    assert_eq!(session.names.iter().map(|n| n.name.as_str()).collect::<Vec<_>>()[0], "hh.gnabar in soma");
    assert_eq!(session.names[0].unit, "S/cm2");
    session.iterations = 30;
    let fit = session.fit(|_, _| ControlFlow::Continue(())).expect("fits");
    assert!(fit.losses.last().unwrap() < &(0.5 * fit.losses[0]), "{:?}", fit.losses);
}

/// `fit_hh.syl` with `optimizer = lbfgs` (its 20 ms: two spikes): every trainable recovered
/// within 1e-4 (relative) from 30–50 % off, in the same bits on a second run.
#[test]
fn lbfgs_recovers_the_hh_fit_to_1e_4() {
    let (a, csv) = fit_hh_edited(20.0, |text| text.replace("adam { learning_rate = 0.02 }", "lbfgs"));
    let training = a.model.training.as_ref().expect("train block");
    let trainables: Vec<Trainable> = training.trainables.iter().map(|t| session::trainable(&a, &t.param)).collect();
    let truth = Problem::new(&a, &trainables).expect("differentiable").values();
    let run = || {
        let mut session = session::Session::new(&a, &mut |_| Ok(csv.clone().into_bytes())).expect("a session");
        assert!(matches!(session.optimizer, Optimizer::Lbfgs(_)));
        session.iterations = 200;
        session.fit(|_, _| ControlFlow::Continue(())).expect("fits")
    };
    let fit = run();
    eprintln!(
        "{} iterations, {} gradients, {:?}: loss {:.3e} -> {:.3e}",
        fit.losses.len() - 1,
        fit.evaluations,
        fit.converged,
        fit.losses[0],
        fit.losses.last().unwrap()
    );
    for (got, want) in fit.values.iter().zip(&truth) {
        assert!((got / want - 1.0).abs() <= 1e-4, "{got} vs {want} ({:.1e})", got / want - 1.0);
    }
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&run().values), bits(&fit.values));
}

#[test]
fn learned_values_written_back_give_the_trained_model() {
    let (a, csv) = fit_hh();
    let session = session::Session::new(&a, &mut |_| Ok(csv.clone().into_bytes())).expect("a session");
    assert_applied_values_give_the_sessions_trace(&a, &session);
    assert!(session::apply(&mut a.model.clone(), &[("hh.nothing".into(), 1.0)]).is_err());
}

#[test]
fn a_target_file_that_does_not_fit_is_located() {
    let (a, csv) = fit_hh();
    let training = a.model.training.as_ref().expect("train block");
    let column_span = training.targets[0].column_span;
    let renamed = csv.replacen("soma_v", "v", 1);
    match session::Session::new(&a, &mut |_| Ok(renamed.clone().into_bytes())) {
        Err(session::SessionError::Target { span, message }) => {
            assert_eq!(span, column_span);
            assert!(message.contains("no column `soma_v`"), "{message}");
        }
        other => panic!("{:?}", other.err()),
    }
    let short: String = csv.lines().take(10).map(|l| format!("{l}\n")).collect();
    let err = session::Session::new(&a, &mut |_| Ok(short.clone().into_bytes())).err().expect("refused");
    assert!(err.to_string().contains("9 rows for the run's 321 times"), "{err}");
    let err = session::Session::new(&a, &mut |_| Err("no such file".into())).err().expect("refused");
    assert!(err.to_string().contains("cannot read target file"), "{err}");
}

/// `examples/train/fit_pyramidal.syl` (its text changed by `edit`) cut to its first `ms`
/// milliseconds, and its target file cut to the same rows.
fn fit_pyramidal(ms: f64, edit: impl FnOnce(String) -> String) -> (sylva_compiler::artifact::Artifact, String) {
    let mut a = test_models::example_edited("examples/train/fit_pyramidal.syl", &[], edit);
    a.model.simulation.duration = ms;
    let rows = a.model.simulation.steps() as usize + 1;
    let path = test_models::repo().join("examples/train/fit_pyramidal_target.csv");
    let text = std::fs::read_to_string(path).expect("the shipped target");
    (a, text.lines().take(rows + 1).map(|l| format!("{l}\n")).collect())
}

/// The pyramidal fit (its first 10 ms: the hyperpolarising step opens Ih from 5 ms): eleven
/// trainables, the Ih amplitude among them, each started 50 % off, fitted by L-BFGS; its target
/// is the model's own trace; and the gradient at the start agrees with central differences.
#[test]
fn the_pyramidal_fit_starts_half_off_its_own_trace() {
    let (a, csv) = fit_pyramidal(10.0, |text| text);
    let training = a.model.training.as_ref().expect("train block");
    let trainables: Vec<Trainable> = training.trainables.iter().map(|t| session::trainable(&a, &t.param)).collect();
    assert!(trainables.len() >= 10 && trainables.iter().any(|t| t.uses[0].profile.is_some()));
    let truth = Problem::new(&a, &trainables).expect("differentiable");
    for (t, x) in training.trainables.iter().zip(truth.values()) {
        assert!(((t.init / x - 1.0).abs() - 0.5).abs() < 1e-9, "{}: starts at {} for {x}", t.name, t.init);
    }
    let mut session = session::Session::new(&a, &mut |_| Ok(csv.clone().into_bytes())).expect("a session");
    assert!(matches!(session.optimizer, Optimizer::Lbfgs(_)));
    let own = truth.trace().expect("runs");
    for (r, (want, got)) in session.loss.targets[0].values.iter().zip(&own[0]).enumerate() {
        assert!((want - got).abs() < 1e-9, "row {r}: target {want}, model {got}");
    }
    // The Ih amplitude, the soma's gnabar and pas.g everywhere: the gradient against
    // fourth-order central differences with h = 1e-3 of each value.
    let g = session.problem.gradient(&session.loss, None).expect("gradient");
    let start = session.problem.values();
    for name in ["ih.gIhbar in apic", "hh.gnabar in soma", "pas.g in all"] {
        let i = session.names.iter().position(|n| n.name == name).expect("trained");
        let h = 1e-3 * start[i];
        let mut at = |d: f64| {
            let mut shifted = start.clone();
            shifted[i] += d;
            session.problem.set_values(&shifted);
            session.problem.loss(&session.loss).expect("loss")
        };
        let fd = (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h);
        let error = (g.gradient[i] - fd).abs() / g.gradient[i].abs().max(fd.abs());
        assert!(error < 1e-6, "{name}: adjoint {} vs {fd} ({error:.1e})", g.gradient[i]);
    }
    session.problem.set_values(&start);
}

/// Learned values of a distance amplitude, `cm` and `Ra` written back into the model give the
/// session's own run, bit for bit.
#[test]
fn learned_profiles_and_cable_values_written_back_give_the_trained_model() {
    let (a, csv) = fit_pyramidal(3.0, |text| {
        let extra = "    trainable cm in dend { init = 1.2 uF/cm2 }\n    trainable Ra in apic { init = 80 ohm*cm }\n";
        text.replace("    seed = 1\n", extra)
    });
    let session = session::Session::new(&a, &mut |_| Ok(csv.clone().into_bytes())).expect("a session");
    assert_applied_values_give_the_sessions_trace(&a, &session);
}

/// The session's values written into the model (`session::apply`) make a model whose run is the
/// session's trace, bit for bit.
fn assert_applied_values_give_the_sessions_trace(a: &sylva_compiler::artifact::Artifact, session: &session::Session) {
    let named: Vec<(String, f64)> =
        session.names.iter().map(|n| n.name.clone()).zip(session.problem.values()).collect();
    let mut model = a.model.clone();
    session::apply(&mut model, &named).expect("applies");
    let applied = sylva_compiler::artifact::Artifact::new(model);
    let mut sim = crate::cpu::Simulation::new(&applied, crate::cpu::Options::default()).expect("builds");
    sim.run(|_, _| {}).expect("runs");
    assert_eq!(sim.columns()[0], session.problem.trace().expect("runs")[0]);
}
