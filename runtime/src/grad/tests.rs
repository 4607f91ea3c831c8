//! Gradients against central differences of Sylva's own loss (f64), on the reference models:
//! every partial of every stage, the transposed solve, Nernst, concentrations, kinetic
//! schemes and events are on these paths.

use sylva_compiler::artifact::{Artifact, Placement};

use super::*;
use crate::test_models;

pub(crate) fn example(name: &str, duration: f64) -> Artifact {
    let mut artifact = test_models::example(&format!("examples/neuron/{name}.syl"), &[]);
    artifact.model.simulation.duration = duration;
    artifact
}

/// The loss's and the gradient's bits, for comparisons that must be exact.
fn bits(g: &Gradient) -> (u64, Vec<u64>) {
    (g.loss.to_bits(), g.gradient.iter().map(|x| x.to_bits()).collect())
}

/// Parameter `param` of the first placement of mechanism `mechanism`.
pub(crate) fn trainable(a: &Artifact, mechanism: &str, param: &str) -> Trainable {
    let block = a.first_placement_of(mechanism).unwrap_or_else(|| panic!("{mechanism} is placed"));
    let m = &a.model.mechanisms[a.placements[block].mechanism.index()];
    let param = m.params.iter().position(|p| p.name == param).unwrap_or_else(|| panic!("{mechanism}.{param}")) as u32;
    Trainable { uses: vec![Use::all(block, param)], ..Trainable::default() }
}

/// The probes' traces with every trainable scaled by `factor`: targets the loss pulls toward.
pub(crate) fn targets(problem: &mut Problem, factor: f64) -> Loss {
    let values = problem.values();
    problem.set_values(&values.iter().map(|x| x * factor).collect::<Vec<_>>());
    let run = forward::run(&problem.plan, &problem.code, problem.steps, None).expect("runs");
    problem.set_values(&values);
    let targets = (0..problem.plan.probes.len())
        .map(|probe| Target {
            probe,
            values: run.rows.iter().map(|row| row[probe] / problem.plan.probe_scales[probe]).collect(),
        })
        .collect();
    Loss { targets }
}

/// The largest relative error of the adjoint gradient against central differences,
/// checkpointing every `k` steps. The differences are of fourth order, (−L(x+2h) + 8L(x+h) −
/// 8L(x−h) + L(x−2h))/12h with h = 1e-3 of each value (truncation of order h⁴): a second-order difference small enough
/// to be exact to 1e-6 loses that much to the rounding of L itself in the cells whose gradients
/// are small against the loss (ca_sk's calcium decay: 5e-5 at h = 1e-6, converging as h grows).
fn worst_error(problem: &mut Problem, loss: &Loss, k: Option<u64>) -> f64 {
    let g = problem.gradient(loss, k).expect("gradient");
    let values = problem.values();
    let mut worst: f64 = 0.0;
    for (i, &x) in values.iter().enumerate() {
        // A parameter at zero (a reversal of 0 mV) steps by 1e-3 of its unit.
        let h = if x == 0.0 { 1e-3 } else { 1e-3 * x.abs() };
        let at = |problem: &mut Problem, d: f64| {
            let mut shifted = values.clone();
            shifted[i] = x + d;
            problem.set_values(&shifted);
            problem.loss(loss).expect("loss")
        };
        let fd =
            (-at(problem, 2.0 * h) + 8.0 * at(problem, h) - 8.0 * at(problem, -h) + at(problem, -2.0 * h)) / (12.0 * h);
        problem.set_values(&values);
        let error = (g.gradient[i] - fd).abs() / g.gradient[i].abs().max(fd.abs()).max(1e-300);
        eprintln!(
            "parameter {i}: adjoint {:.12e}, central difference {fd:.12e}, relative error {error:.1e}",
            g.gradient[i]
        );
        worst = worst.max(error);
    }
    worst
}

fn check(name: &str, duration: f64, params: &[(&str, &str)], bound: f64) {
    check_with(name, duration, params, bound, None);
}

fn check_with(name: &str, duration: f64, params: &[(&str, &str)], bound: f64, k: Option<u64>) {
    let a = example(name, duration);
    let trainables: Vec<Trainable> = params.iter().map(|(m, p)| trainable(&a, m, p)).collect();
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    let loss = targets(&mut problem, 1.05);
    let worst = worst_error(&mut problem, &loss, k);
    assert!(worst <= bound, "{name}: relative error {worst:.1e} above {bound:.0e}");
}

#[test]
fn hh_soma_densities() {
    check("hh_soma", 10.0, &[("hh", "gnabar"), ("hh", "gkbar"), ("hh", "gl"), ("hh", "el")], 1e-6);
}

#[test]
fn ball_and_stick_soma_and_dendrite() {
    check("ball_and_stick", 8.0, &[("hh", "gnabar"), ("pas", "g"), ("pas", "e")], 1e-6);
}

#[test]
fn syn_pair_synapse_through_its_events() {
    // Cell 0 spikes near 7 ms; its event reaches cell 1's synapse 1 ms later.
    check("syn_pair", 14.0, &[("exp2syn", "tau1"), ("exp2syn", "tau2"), ("exp2syn", "e"), ("pas", "g")], 1e-6);
}

#[test]
fn syn_pair_connection_weight_through_its_events() {
    // The weight of cell 0's connection to cell 1, with the synapse's decay: the event kernel's
    // partial in the weight, summed over the events the connection delivered.
    let a = example("syn_pair", 14.0);
    let weight = Trainable { weights: vec![0], ..Trainable::default() };
    let trainables = [weight, trainable(&a, "exp2syn", "tau2")];
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    let loss = targets(&mut problem, 1.05);
    let worst = worst_error(&mut problem, &loss, None);
    assert!(worst <= 1e-6, "syn_pair weight: relative error {worst:.1e}");
    assert!(Problem::new(&a, &[Trainable { weights: vec![7], ..Trainable::default() }]).is_err());
}

/// The graded synapse's conductance and two of its kinetic parameters, and the presynaptic
/// cell's sodium density, with the loss on the postsynaptic cell's probes only: the driver's
/// gnabar reaches the loss only through `v_pre`, so its gradient is the cotangent that crosses
/// to the presynaptic cell (in the current kernel at v(t) and in the advance kernel at v(t + dt)).
#[test]
fn graded_synapse_through_the_presynaptic_voltage() {
    // gid 0 spikes at 6.65 ms; its release opens s over the next few milliseconds.
    let a = example("graded_pair", 10.0);
    let params = [("graded_syn", "g"), ("graded_syn", "alpha"), ("graded_syn", "v_th"), ("hh", "gnabar")];
    let trainables: Vec<Trainable> = params.iter().map(|(m, p)| trainable(&a, m, p)).collect();
    let driver = &a.placements[trainables[3].uses[0].block];
    assert!(matches!(driver.placement, Placement::Density { cell, .. } if cell.index() == 0), "the driver's hh");
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    let mut loss = targets(&mut problem, 1.05);
    let postsynaptic = |label: &str| label.starts_with("cell1_") && label.ends_with("_v") || label.ends_with("x0.5");
    loss.targets.retain(|t| postsynaptic(&a.model.network.probes[t.probe].label));
    assert_eq!(loss.targets.len(), 2, "cell 1's soma and dendrite voltages");
    let worst = worst_error(&mut problem, &loss, None);
    assert!(worst <= 1e-6, "graded_pair: relative error {worst:.1e}");
}

/// The gap junction's conductance (both sides share it) and a density of the coupled cells:
/// each side's current reads the other cell's voltage.
#[test]
fn gap_junction_conductance() {
    check("gap_pair", 10.0, &[("gap_junction", "g"), ("hh", "gkbar")], 1e-6);
}

#[test]
fn kinetic_scheme() {
    check("kinetic_k", 8.0, &[("kinetic_k", "gkbar"), ("hh", "gnabar")], 1e-6);
}

#[test]
fn calcium_concentration_and_nernst() {
    // K = 5 over 320 steps: segments of several checkpoints.
    let params = [("ca_hva", "gCa_HVAbar"), ("sk", "gSK_E2bar"), ("cadyn", "gamma"), ("cadyn", "decay")];
    check_with("ca_sk", 8.0, &params, 1e-6, Some(5));
}

#[test]
fn checkpoint_spacing_does_not_change_the_gradient() {
    let a = example("hh_soma", 6.0);
    let trainables = [trainable(&a, "hh", "gnabar"), trainable(&a, "hh", "gl")];
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    let loss = targets(&mut problem, 1.1);
    let every_step = problem.gradient(&loss, Some(1)).expect("gradient");
    for k in [7, 240, 10_000] {
        let g = problem.gradient(&loss, Some(k)).expect("gradient");
        assert_eq!(g.gradient, every_step.gradient, "K = {k}");
        assert_eq!(g.loss, every_step.loss);
    }
}

#[test]
fn a_loss_that_does_not_fit_is_refused() {
    let a = example("hh_soma", 1.0);
    let problem = Problem::new(&a, &[trainable(&a, "hh", "gl")]).expect("differentiable");
    let short = Loss { targets: vec![Target { probe: 0, values: vec![0.0; 3] }] };
    assert!(matches!(problem.gradient(&short, None), Err(GradError::Loss(_))));
    let missing = Loss { targets: vec![Target { probe: 9, values: Vec::new() }] };
    assert!(matches!(problem.loss(&missing), Err(GradError::Loss(_))));
}

/// Parameters of the CA1 pyramidal per region: a parameter whose value differs between regions
/// (hh's densities: soma, then dendrites and apical tree) is trained as one value per group of
/// compartments sharing a value; thirteen parameters in all.
#[test]
fn pyramidal_parameters_per_region() {
    // The clamp moved from 10 ms to 1 ms, so that 6 ms see it start and the calcium rise.
    let mut a = test_models::example_edited("examples/neuron/pyramidal.syl", &[], |text| {
        text.replace("del = 10 ms", "del = 1 ms")
    });
    a.model.simulation.duration = 6.0;
    let plan = crate::plan::Plan::uninitialized(&a, &[]);
    let mut trainables = Vec::new();
    let params = [
        ("pas", "g"),
        ("pas", "e"),
        ("hh", "gnabar"),
        ("hh", "gkbar"),
        ("hh", "gl"),
        ("hh", "el"),
        ("cadyn", "gamma"),
        ("cadyn", "decay"),
        ("ca_hva", "gCa_HVAbar"),
        ("sk", "gSK_E2bar"),
        ("ih", "ehcn"),
    ];
    for (mechanism, param) in params {
        let Trainable { uses, .. } = trainable(&a, mechanism, param);
        let (block, param) = (uses[0].block, uses[0].param);
        let b = &plan.blocks[block];
        // Positions within the cell grouped by the parameter's value there.
        let mut groups: Vec<(f64, Vec<u32>)> = Vec::new();
        for k in 0..b.per_cell {
            let x = b.param_value(param, k);
            match groups.iter_mut().find(|(y, _)| *y == x) {
                Some((_, positions)) => positions.push(k as u32),
                None => groups.push((x, vec![k as u32])),
            }
        }
        // A conductance of zero (hh's leak in the dendrites) has no scale for a difference step.
        for (_, positions) in groups.into_iter().filter(|(x, _)| *x != 0.0) {
            trainables.push(Trainable { uses: vec![Use::at(block, param, positions)], ..Trainable::default() });
        }
    }
    assert!(trainables.len() >= 13, "{} trainables", trainables.len());
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    let loss = targets(&mut problem, 1.05);
    let worst = worst_error(&mut problem, &loss, None);
    assert!(worst <= 1e-6, "pyramidal: relative error {worst:.1e}");
}

#[test]
fn a_parameter_that_varies_along_the_cell_is_refused() {
    let a = example("pyramidal", 1.0);
    // gIhbar grows with the distance from the soma: no one value covers the apical tree.
    let ih = trainable(&a, "ih", "gIhbar");
    assert!(matches!(Problem::new(&a, &[ih]), Err(GradError::NotDifferentiable(_))));
}

/// The loss is the mean over its targets (docs/language.md, `loss = mse`): the same target twice
/// gives the same loss and gradient as once.
#[test]
fn the_loss_is_the_mean_over_its_targets() {
    let a = example("hh_soma", 3.0);
    let mut problem = Problem::new(&a, &[trainable(&a, "hh", "gl")]).expect("differentiable");
    let once = targets(&mut problem, 1.1);
    let twice = Loss { targets: vec![once.targets[0].clone(), once.targets[0].clone()] };
    let (g1, g2) =
        (problem.gradient(&once, None).expect("gradient"), problem.gradient(&twice, None).expect("gradient"));
    assert!(g1.loss > 0.0);
    assert!((g1.loss - g2.loss).abs() <= 1e-15 * g1.loss, "{} vs {}", g1.loss, g2.loss);
    assert!((g1.gradient[0] - g2.gradient[0]).abs() <= 1e-12 * g1.gradient[0].abs());
}

/// The compiled kernels (the step's and the adjoints' partials) give the interpreter's loss and
/// gradient bit for bit, through events and weights, `v_pre`, gap junctions, kinetic schemes,
/// concentrations and Nernst, with segments of several checkpoints.
#[test]
fn the_compiled_gradient_is_the_interpreted_one_bit_for_bit() {
    type Case<'a> = (&'a str, f64, &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        ("syn_pair", 14.0, &[("exp2syn", "tau1"), ("exp2syn", "e"), ("pas", "g")]),
        ("graded_pair", 10.0, &[("graded_syn", "g"), ("graded_syn", "alpha"), ("hh", "gnabar")]),
        ("gap_pair", 10.0, &[("gap_junction", "g"), ("hh", "gkbar")]),
        ("kinetic_k", 8.0, &[("kinetic_k", "gkbar"), ("hh", "gnabar")]),
        ("ca_sk", 8.0, &[("ca_hva", "gCa_HVAbar"), ("sk", "gSK_E2bar"), ("cadyn", "gamma"), ("cadyn", "decay")]),
    ];
    for (name, duration, params) in cases {
        let a = example(name, duration);
        let mut trainables: Vec<Trainable> = params.iter().map(|(m, p)| trainable(&a, m, p)).collect();
        if name == "syn_pair" {
            trainables.push(Trainable { weights: vec![0], ..Trainable::default() });
        }
        let mut problem = Problem::new(&a, &trainables).expect("differentiable");
        let loss = targets(&mut problem, 1.05);
        let compiled = problem.gradient(&loss, Some(7)).expect("gradient");
        assert!(compiled.gradient.iter().all(|g| *g != 0.0), "{name}: {:?}", compiled.gradient);
        problem.interpret();
        let interpreted = problem.gradient(&loss, Some(7)).expect("gradient");
        assert_eq!(bits(&compiled), bits(&interpreted), "{name}");
    }
}

/// The vector–Jacobian products of blocks whose instances each have a node of their own run
/// array by array over all instances; that adds to every cotangent in the order the product
/// instance by instance does, so the gradient has the same bits: densities over a dendrite,
/// concentrations and Nernst at the nodes, a synapse's events.
#[test]
fn the_products_over_whole_blocks_give_the_bits_of_instance_by_instance() {
    type Case<'a> = (&'a str, f64, &'a [(&'a str, &'a str)]);
    let cases: [Case; 3] = [
        ("ball_and_stick", 8.0, &[("hh", "gnabar"), ("pas", "g"), ("pas", "e")]),
        ("ca_sk", 8.0, &[("ca_hva", "gCa_HVAbar"), ("cadyn", "gamma"), ("cadyn", "decay")]),
        ("syn_pair", 14.0, &[("exp2syn", "tau1"), ("pas", "g")]),
    ];
    for (name, duration, params) in cases {
        let a = example(name, duration);
        let trainables: Vec<Trainable> = params.iter().map(|(m, p)| trainable(&a, m, p)).collect();
        let mut problem = Problem::new(&a, &trainables).expect("differentiable");
        let loss = targets(&mut problem, 1.05);
        let whole_blocks = problem.gradient(&loss, Some(7)).expect("gradient");
        assert!(whole_blocks.gradient.iter().all(|g| *g != 0.0), "{name}: {:?}", whole_blocks.gradient);
        problem.code.instance_by_instance();
        let one_by_one = problem.gradient(&loss, Some(7)).expect("gradient");
        assert_eq!(bits(&whole_blocks), bits(&one_by_one), "{name}");
    }
}

/// The reverse run split by cells on 3 threads gives the bits of one thread and of the
/// interpreter, replaying each step or keeping the tapes: the ringtest's 10 cells (a probe on
/// every soma), through their events, the synapses' parameters and both connection weights.
#[test]
fn the_reverse_run_on_three_threads_gives_the_bits_of_one() {
    let probes: String = (0..10).map(|c| format!("    probe \"v{c}\" = v at cells[{c}].soma(0.5)\n")).collect();
    let mut a = test_models::example_edited("examples/bench/ringtest.syl", &[], |text| {
        text.replace("    record spikes\n", &format!("    record spikes\n{probes}"))
    });
    a.model.simulation.duration = 10.0;
    let trainables = vec![
        trainable(&a, "hh", "gkbar"),
        trainable(&a, "exp2syn", "tau2"),
        Trainable { weights: vec![0], ..Trainable::default() },
        Trainable { weights: vec![1], ..Trainable::default() },
    ];
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    let loss = targets(&mut problem, 1.05);
    assert_eq!(super::split::cells(&problem.plan, &problem.code, 3).len(), 3);
    let one = problem.gradient(&loss, Some(7)).expect("gradient");
    assert!(one.gradient.iter().all(|g| *g != 0.0), "{:?}", one.gradient);
    problem.set_threads(3);
    assert_eq!(bits(&problem.gradient(&loss, Some(7)).expect("gradient")), bits(&one), "replayed");
    problem.keep_tapes_within(usize::MAX);
    assert_eq!(bits(&problem.gradient(&loss, Some(7)).expect("gradient")), bits(&one), "tapes kept");
    problem.interpret();
    assert_eq!(bits(&problem.gradient(&loss, Some(7)).expect("gradient")), bits(&one), "interpreted");
}

/// The adjoints keep only the partials that can reach a gradient (`live`): the gradient has
/// the bits of keeping them all, and for hh the partials of i_na and i_k and those in e_na and
/// e_k are gone.
#[test]
fn leaving_out_the_partials_that_reach_nothing_keeps_the_bits() {
    type Case<'a> = (&'a str, f64, &'a [(&'a str, &'a str)]);
    let cases: [Case; 4] = [
        ("hh_soma", 6.0, &[("hh", "gnabar"), ("hh", "gl")]),
        ("syn_pair", 14.0, &[("exp2syn", "tau1"), ("pas", "g")]),
        ("graded_pair", 10.0, &[("graded_syn", "g"), ("hh", "gnabar")]),
        ("ca_sk", 8.0, &[("ca_hva", "gCa_HVAbar"), ("cadyn", "gamma"), ("cadyn", "decay")]),
    ];
    for (name, duration, params) in cases {
        let a = example(name, duration);
        let trainables: Vec<Trainable> = params.iter().map(|(m, p)| trainable(&a, m, p)).collect();
        let mut problem = Problem::new(&a, &trainables).expect("differentiable");
        let loss = targets(&mut problem, 1.05);
        let pruned = problem.gradient(&loss, Some(7)).expect("gradient");
        let widths = |code: &super::kernels::Code| code.adjoints.iter().map(|a| a.width()).sum::<usize>();
        let pruned_width = widths(&problem.code);
        problem.code = super::kernels::Code::compile(&problem.plan, super::live::Live::everything(&problem.plan))
            .expect("compiles");
        let every = problem.gradient(&loss, Some(7)).expect("gradient");
        assert_eq!(bits(&pruned), bits(&every), "{name}");
        if name == "hh_soma" {
            assert!(pruned_width < widths(&problem.code), "{name}: {pruned_width}");
        }
    }
}

/// Keeping every step's partials and tape for a segment (one forward pass less) gives the bits
/// of replaying each step, at any checkpoint spacing, compiled and interpreted: through events,
/// gap junctions, concentrations and Nernst.
#[test]
fn keeping_the_tapes_gives_the_bits_of_the_replay() {
    type Case<'a> = (&'a str, f64, &'a [(&'a str, &'a str)], &'a [u64]);
    let cases: [Case; 4] = [
        ("hh_soma", 6.0, &[("hh", "gnabar"), ("hh", "gl")], &[1, 7, 240, 10_000]),
        ("syn_pair", 14.0, &[("exp2syn", "tau1"), ("pas", "g")], &[7]),
        ("gap_pair", 10.0, &[("gap_junction", "g"), ("hh", "gkbar")], &[7]),
        ("ca_sk", 8.0, &[("ca_hva", "gCa_HVAbar"), ("cadyn", "gamma"), ("cadyn", "decay")], &[7]),
    ];
    for (name, duration, params, spacings) in cases {
        let a = example(name, duration);
        let trainables: Vec<Trainable> = params.iter().map(|(m, p)| trainable(&a, m, p)).collect();
        let mut problem = Problem::new(&a, &trainables).expect("differentiable");
        let loss = targets(&mut problem, 1.05);
        let replayed = problem.gradient(&loss, Some(1)).expect("gradient");
        assert!(!replayed.kept_tapes && replayed.gradient.iter().all(|g| *g != 0.0), "{name}");
        problem.keep_tapes_within(usize::MAX);
        for interpret in [false, true] {
            if interpret {
                problem.interpret();
            }
            for &k in spacings {
                let taped = problem.gradient(&loss, Some(k)).expect("gradient");
                assert!(taped.kept_tapes, "{name}");
                assert_eq!(bits(&taped), bits(&replayed), "{name}, K = {k}, interpreted: {interpret}");
            }
        }
    }
}

/// The trainables of `path`'s `train` block (edited by `edit`), as the session builds them.
fn block_trainables(path: &str, duration: f64, edit: impl FnOnce(String) -> String) -> (Artifact, Vec<Trainable>) {
    let mut a = test_models::example_edited(path, &[], edit);
    a.model.simulation.duration = duration;
    let training = a.model.training.as_ref().expect("a train block");
    let trainables = training.trainables.iter().map(|t| crate::train::session::trainable(&a, &t.param)).collect();
    (a, trainables)
}

/// `cm` per region (the Hines diagonal's C/dt), `Ra` per region (the axial conductances), and the
/// amplitude of a density that grows with distance, next to an hh density: the solve's adjoint
/// in its matrix entries, −μ Δvᵀ on the tree's pattern, and a profile's sum of per-node
/// gradients times their factors.
#[test]
fn cm_ra_and_a_distance_profile_per_region() {
    let (a, trainables) = block_trainables("examples/neuron/ball_and_stick.syl", 8.0, |text| {
        let text = text.replace("g = 1e-3 S/cm2, e", "g = 5e-4 S/cm2 * exp(distance / 200 um), e");
        text + r#"
train fit {
    trainable pas.g in dend
    trainable cm in soma
    trainable cm in dend
    trainable Ra in soma
    trainable Ra in dend
    trainable hh.gnabar in soma
    target "soma_v" from "unread.csv"
    iterations = 1
}
"#
    });
    assert!(matches!(&trainables[0].uses[0].profile, Some(f) if f.len() == 21 && f[20] > f[0]), "a profile");
    let mut problem = Problem::new(&a, &trainables).expect("differentiable");
    assert!((problem.values()[0] - 5e-6).abs() < 1e-18, "the amplitude, 5e-4 S/cm2, in uS/um2");
    let loss = targets(&mut problem, 1.05);
    let worst = worst_error(&mut problem, &loss, None);
    assert!(worst <= 1e-6, "ball_and_stick cm, Ra, profile: relative error {worst:.1e}");
}
