//! Snapshots of `--emit kernels` (the artifact the engines run) for the reference examples
//! whose IR `ir.rs` snapshots (`gap_pair`: a kernel reading `v_pre`).

use sylva_tests::compile_file;

#[test]
fn kernel_snapshots_of_the_reference_examples() {
    for case in ["hh_soma", "passive_cable", "ball_and_stick", "y_tree", "syn_pair", "gap_pair"] {
        let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), &[]);
        let artifact = compilation.artifact.unwrap_or_else(|| panic!("{case} compiles"));
        insta::assert_snapshot!(format!("kernels_{case}"), sylva_compiler::artifact::print(&artifact));
    }
}

/// The one-state model of `backward_euler_*`: x' = -x/tau from x = 1, recorded every step.
fn decay_model(method: &str) -> String {
    format!(
        "density decay {{
    param tau: ms = 2 ms
    state x: 1 = 1
    x' = -x / tau{method}
}}
cell c {{
    morphology {{ section soma {{ length = 20 um, diam = 20 um, nseg = 1 }} }}
    insert decay in soma
}}
network main {{
    population cells = c[1]
    probe \"x\" = decay.x at cells[0].soma(0.5)
}}
simulation {{ dt = 0.1 ms, duration = 2 ms }}
"
    )
}

fn decay_trace(method: &str) -> Vec<f64> {
    let (db, compilation) = sylva_tests::compile_text("decay.syl", &decay_model(method), &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    let artifact = compilation.artifact.unwrap_or_else(|| panic!("{rendered}"));
    let mut sim =
        sylva_runtime::cpu::Simulation::new(&artifact, sylva_runtime::cpu::Options::default()).expect("builds");
    sim.run(|_, _| {}).expect("runs");
    sim.columns()[0].clone()
}

/// `x' = … by backward_euler` (NEURON's derivimplicit) advances a linear equation by backward
/// Euler, x <- x / (1 + dt/tau); without it, by the exact exponential update (cnexp).
#[test]
fn backward_euler_advances_a_linear_equation_by_backward_euler() {
    let (dt, tau) = (0.1_f64, 2.0_f64);
    let implicit = decay_trace(" by backward_euler");
    let exponential = decay_trace("");
    assert_eq!(implicit.len(), 21);
    for (n, (x, y)) in implicit.iter().zip(&exponential).enumerate() {
        let euler = (1.0 / (1.0 + dt / tau)).powi(n as i32);
        let exact = (-(n as f64) * dt / tau).exp();
        assert!((x - euler).abs() <= 1e-14, "step {n}: {x} against backward Euler {euler}");
        assert!((y - exact).abs() <= 1e-14, "step {n}: {y} against exp {exact}");
    }
    assert!((implicit[20] - exponential[20]).abs() > 1e-4, "the two methods differ");
}

/// Only `backward_euler` may follow `by`: anything else is a located syntax error.
#[test]
fn an_unknown_integration_method_is_a_syntax_error() {
    let (db, compilation) = sylva_tests::compile_text("decay.syl", &decay_model(" by forward_euler"), &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    assert!(compilation.has_errors(), "{rendered}");
    assert_eq!(compilation.diagnostics[0].code.as_str(), "E0101", "{rendered}");
    assert!(rendered.contains("decay.syl:4:") && rendered.contains("backward_euler"), "{rendered}");
}

/// `x` decaying from 1 and `y = 2 * x each step` from `y = 5`, both recorded every step.
fn each_step_model(y: &str) -> String {
    format!(
        "density held {{
    param tau: ms = 2 ms
    state x: 1 = 1
    state y: 1 = 5
    x' = -x / tau
    {y}
}}
cell c {{
    morphology {{ section soma {{ length = 20 um, diam = 20 um, nseg = 1 }} }}
    insert held in soma
}}
network main {{
    population cells = c[1]
    probe \"x\" = held.x at cells[0].soma(0.5)
    probe \"y\" = held.y at cells[0].soma(0.5)
}}
simulation {{ dt = 0.1 ms, duration = 2 ms }}
"
    )
}

/// `y = e each step` stores e at every step, computed from the states before the step (as the
/// right-hand sides of equations are), and keeps its initial value until the first step.
#[test]
fn each_step_stores_the_value_from_the_states_before_the_step() {
    let (db, compilation) = sylva_tests::compile_text("held.syl", &each_step_model("y = 2 * x each step"), &[]);
    let artifact =
        compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let mut sim =
        sylva_runtime::cpu::Simulation::new(&artifact, sylva_runtime::cpu::Options::default()).expect("builds");
    sim.run(|_, _| {}).expect("runs");
    let (x, y) = (&sim.columns()[0], &sim.columns()[1]);
    assert_eq!(y.len(), 21);
    assert_eq!(y[0], 5.0, "the initial value until the first step");
    for n in 1..y.len() {
        assert_eq!(y[n], 2.0 * x[n - 1], "step {n}: twice x before the step");
    }
}

/// `each step` sets a state only, once; assigning a state without it says how to write it.
#[test]
fn each_step_of_a_non_state_or_twice_is_located() {
    for (member, code, words) in [
        ("z = 2 * x each step", "E0404", "`z` is not a state"),
        ("x = 2 * x each step", "E0408", "more than one equation"),
        ("y = 2 * x", "E0404", "`y = … each step`"),
    ] {
        let (db, compilation) = sylva_tests::compile_text("held.syl", &each_step_model(member), &[]);
        let rendered = sylva_tests::render(&db, &compilation.diagnostics);
        assert!(compilation.has_errors(), "{member}: {rendered}");
        let found = compilation.diagnostics.iter().find(|d| d.code.as_str() == code);
        assert!(found.is_some(), "{member}: {rendered}");
        assert!(rendered.contains("held.syl:6:") && rendered.contains(words), "{member}: {rendered}");
    }
}

/// The conductance of `i = e by secant` is NEURON's (I(v + 0.001 mV) − I(v)) / 0.001 mV; without
/// it, dI/dv. For I = g·exp(v/10 mV)·1 mV the two differ by the factor (e^0.0001 − 1)/0.0001.
#[test]
fn by_secant_gives_neurons_conductance() {
    use sylva_compiler::ir::expr::{Builtin, Expr};
    for (method, factor) in [(" by secant", (1e-4_f64.exp() - 1.0) / 1e-4), ("", 1.0)] {
        let source = format!(
            "density expo {{\n    current i\n    param g: S/cm2 = 0.001\n    i = g * exp(v / 10 mV) * 1 mV{method}\n}}\n"
        );
        let (db, compilation) = sylva_tests::compile_text("expo.syl", &source, &[]);
        let model =
            compilation.model().unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
        let m = model.mechanisms.iter().find(|m| m.name == "expo").expect("expo");
        let current = &m.currents[0];
        let leaf = |e: Expr| match e {
            Expr::Builtin(Builtin::V) => -30.0,
            Expr::Param(_) => 1.0,
            _ => panic!("unexpected leaf {e:?}"),
        };
        let (value, conductance) = (m.exprs.eval(current.value, &leaf), m.exprs.eval(current.conductance, &leaf));
        let expected = value / 10.0 * factor;
        assert!((conductance - expected).abs() <= 1e-9 * expected.abs(), "{method}: {conductance} against {expected}");
    }
}

/// A two-state scheme a <-> b (kf, kb) with a conserved total of 1, recorded at t = 0.
fn two_state(reaction: &str) -> String {
    format!(
        "density pair {{
    state a: 1 = 1
    state b: 1
    kinetic steady_state {{
        {reaction}
        conserve a + b = 1
    }}
}}
cell c {{
    morphology {{ section soma {{ length = 20 um, diam = 20 um, nseg = 1 }} }}
    insert pair in soma
}}
network main {{
    population cells = c[1]
    probe \"a\" = pair.a at cells[0].soma(0.5)
}}
simulation {{ dt = 0.1 ms, duration = 0.1 ms }}
"
    )
}

/// `kinetic steady_state` starts at the scheme's steady state, kb/(kf + kb) for a, to the
/// relative 1/(rate × 1e9 ms) of NEURON's one backward Euler step of 1e9 ms.
#[test]
fn a_steady_state_scheme_starts_at_its_steady_state() {
    let (db, compilation) = sylva_tests::compile_text("pair.syl", &two_state("a <-> b (0.3 / ms, 0.1 / ms)"), &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    let artifact = compilation.artifact.unwrap_or_else(|| panic!("{rendered}"));
    let mut sim =
        sylva_runtime::cpu::Simulation::new(&artifact, sylva_runtime::cpu::Options::default()).expect("builds");
    sim.run(|_, _| {}).expect("runs");
    let a0 = sim.columns()[0][0];
    assert!((a0 - 0.25).abs() <= 1e-8, "a starts at {a0}, not 0.25");
}

/// Two `conserve`s in one scheme: each replaces the equation of its own last state (with one
/// row for the whole scheme, a + b = 1 replaced d's equation and the system was singular), so
/// both totals hold and a follows backward Euler, a + dt (kb (1 − a) − kf a) at the new a.
#[test]
fn a_scheme_keeps_two_conserved_totals() {
    let source = "density pairs {
    state a: 1 = 1
    state b: 1
    state c: 1 = 2
    state d: 1
    kinetic {
        a <-> b (0.3 / ms, 0.1 / ms)
        c <-> d (0.2 / ms, 0.4 / ms)
        conserve a + b = 1
        conserve c + d = 2
    }
}
cell cl {
    morphology { section soma { length = 20 um, diam = 20 um, nseg = 1 } }
    insert pairs in soma
}
network main {
    population cells = cl[1]
    probe \"a\" = pairs.a at cells[0].soma(0.5)
    probe \"b\" = pairs.b at cells[0].soma(0.5)
    probe \"c\" = pairs.c at cells[0].soma(0.5)
    probe \"d\" = pairs.d at cells[0].soma(0.5)
}
simulation { dt = 0.1 ms, duration = 2 ms }
";
    let (db, compilation) = sylva_tests::compile_text("pairs.syl", source, &[]);
    let artifact =
        compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let mut sim =
        sylva_runtime::cpu::Simulation::new(&artifact, sylva_runtime::cpu::Options::default()).expect("builds");
    sim.run(|_, _| {}).expect("runs");
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| sim.columns()[i].clone());
    let mut euler = 1.0_f64;
    for n in 0..a.len() {
        assert!((a[n] + b[n] - 1.0).abs() <= 1e-14 && (c[n] + d[n] - 2.0).abs() <= 1e-14, "step {n}");
        assert!((a[n] - euler).abs() <= 1e-14, "step {n}: a = {} against backward Euler {euler}", a[n]);
        euler = (euler + 0.1 * 0.1) / (1.0 + 0.1 * 0.4);
    }
    assert!((c[20] - 2.0).abs() > 0.1, "c moved");
}

/// A nonlinear scheme cannot start at its steady state by one step: a located error.
#[test]
fn a_nonlinear_steady_state_scheme_is_refused() {
    let (db, compilation) = sylva_tests::compile_text("pair.syl", &two_state("2 a <-> b (0.3 / ms, 0.1 / ms)"), &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    assert!(compilation.has_errors(), "{rendered}");
    assert!(rendered.contains("pair.syl:5:9") && rendered.contains("must be linear"), "{rendered}");
}

/// `ir::reduce` on hh's advance kernel as the engines run it (dt and the temperature folded):
/// the three rate exps of slope −1/10 share one exp, and exp(−(v+65)/20) is
/// exp(−(v+65)/80)^4 (two squarings); the divisions by constants became products and −dt/tau
/// needs no division, leaving 6 exps (3 rates, 3 exp(−dt/tau)) and 6 divisions (2 vtrap
/// quotients, beta_h, 3 steady states) per instance, from 9 and 20.
#[test]
fn hh_advance_computes_six_exps_and_six_divisions() {
    use sylva_compiler::ir::expr::{BinaryOp, Expr, UnaryOp};
    let (_, compilation) = compile_file("examples/neuron/hh_soma.syl", &[]);
    let artifact = compilation.artifact.expect("hh_soma compiles");
    let hh = artifact.first_placement_of("hh").expect("an hh placement");
    let kernels = artifact.specialize(sylva_compiler::artifact::PlacementId(hh as u32), &[], 0.025, 6.3);
    let count = |what: fn(&Expr) -> bool| kernels.advance.exprs.iter().filter(|(_, e)| what(e)).count();
    assert_eq!(count(|e| matches!(e, Expr::Unary(UnaryOp::Exp, _))), 6);
    assert_eq!(count(|e| matches!(e, Expr::Binary(BinaryOp::Mul, x, y) if x == y)), 2, "e², e⁴");
    assert_eq!(count(|e| matches!(e, Expr::Binary(BinaryOp::Div, ..))), 6);
}
