//! Gradients of sample losses against central differences: inputs that scale a source's events
//! (with the weight trained) and that set a stimulus parameter, a softmax cross-entropy over
//! two readouts, a logistic one, and a squared error.

use super::*;
use crate::test_models;
use sylva_compiler::artifact::Artifact;

/// Two cells, each with a synapse driven by its own source and a clamp on the first: the
/// readouts are the two somata's mean voltages.
const TWO_CELLS: &str = r#"
import hh
import pas
import iclamp
import exp2syn

cell neuron {
    morphology {
        section soma { length = 20 um, diam = 20 um, nseg = 1 }
        section dend at soma(1) { length = 100 um, diam = 1 um, nseg = 3 }
    }
    insert hh in soma
    insert pas in dend { g = 1e-4 S/cm2, e = -65 mV }
    synapse syn = exp2syn at dend(0.5) { tau1 = 0.5 ms, tau2 = 3 ms, e = 0 mV }
}

network main {
    population cells = neuron[2]
    source in_a = spikes(1 ms, 2 ms)
    source in_b = spikes(1.5 ms)
    connect exc_a = in_a -> cells[0].syn { weight = 0.002 uS, delay = 0 ms }
    connect exc_b = in_b -> cells[1].syn { weight = 0.003 uS, delay = 0.5 ms }
    stimulus clamp = iclamp at cells[0].soma(0.5) { del = 1 ms, dur = 3 ms, amp = 0.02 nA }
    probe "v0" = v at cells[0].soma(0.5)
    probe "v1" = v at cells[1].soma(0.5)
}

simulation { dt = 0.025 ms, duration = 5 ms, temperature = 6.3 degC }
"#;

fn problem() -> Problem {
    two_cells_problem().1
}

/// The problem of `TWO_CELLS`: both sources' events scaled and the clamp's amplitude set by a
/// sample, both weights and hh's parameter 1 trained.
pub(crate) fn two_cells_problem() -> (Artifact, Problem) {
    let artifact = test_models::compiled("two_cells.syl", TWO_CELLS);
    let clamp = artifact.placements.iter().position(a_stimulus).expect("the clamp is placed");
    let amp = artifact.model.mechanisms[artifact.placements[clamp].mechanism.index()]
        .params
        .iter()
        .position(|p| p.name == "amp")
        .expect("amp") as u32;
    let hh = artifact.first_placement_of("hh").expect("hh");
    let trainables = [
        Trainable { weights: vec![0], ..Trainable::default() },
        Trainable { weights: vec![1], ..Trainable::default() },
        Trainable { uses: vec![Use::all(hh, 1)], ..Trainable::default() },
    ];
    let inputs = [Input::Source(0), Input::Source(1), Input::Param(Use::all(clamp, amp))];
    let problem = Problem::with_inputs(&artifact, &trainables, &inputs).expect("a problem");
    (artifact, problem)
}

fn a_stimulus(p: &sylva_compiler::artifact::PlacementKernels) -> bool {
    matches!(p.placement, sylva_compiler::artifact::Placement::Stimulus(_))
}

/// The largest relative error of one sample's gradient against 4th-order central differences.
fn worst_error(problem: &mut Problem, values: &[f64], readout: &Readout, objective: Objective) -> f64 {
    let (loss, g) = problem.sample_gradient(values, readout, objective).expect("gradient");
    assert!(loss.loss.is_finite() && loss.loss > 0.0, "{loss:?}");
    let x0 = problem.values();
    let mut worst: f64 = 0.0;
    for (i, &x) in x0.iter().enumerate() {
        let h = 1e-3 * x.abs();
        let mut at = |d: f64| {
            let mut shifted = x0.clone();
            shifted[i] = x + d;
            problem.set_values(&shifted);
            problem.sample_loss(values, readout, objective).expect("loss").loss
        };
        let fd = (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h);
        problem.set_values(&x0);
        let d = g.gradient[i];
        // A weight of the other cell's source has no effect on a readout of one cell: its
        // adjoint is 0 and its difference the loss's rounding (2e-10, against 1e3 to 6e4 of the
        // others), so errors are relative to 1e-8 of the largest derivative at least.
        let floor = 1e-8 * g.gradient.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        worst = worst.max((d - fd).abs() / d.abs().max(fd.abs()).max(floor));
    }
    worst
}

#[test]
fn sample_gradients_agree_with_central_differences() {
    let mut p = problem();
    let readout = Readout { probes: vec![0, 1], rows: 80..201 };
    // Inputs: in_a at 1.5 × its weight, in_b at 0.7 ×, the clamp at 0.03 nA.
    let values = [1.5, 0.7, 0.03];
    let softmax = Objective::CrossEntropy { class: 1, scale: 2.0, threshold: -60.0 };
    let (_, g) = p.sample_gradient(&values, &readout, softmax).expect("gradient");
    assert!(g.gradient.iter().all(|d| *d != 0.0), "every parameter moves a readout: {g:?}");
    let worst = worst_error(&mut p, &values, &readout, softmax);
    assert!(worst < 1e-6, "softmax cross-entropy: {worst:e}");
    let one = Readout { probes: vec![0], rows: 40..201 };
    let logistic = Objective::CrossEntropy { class: 0, scale: 1.0, threshold: -64.0 };
    let worst = worst_error(&mut p, &values, &one, logistic);
    assert!(worst < 1e-6, "logistic cross-entropy: {worst:e}");
    let worst = worst_error(&mut p, &values, &one, Objective::Mse { target: -50.0 });
    assert!(worst < 1e-6, "squared error: {worst:e}");
}

/// A source input of 0 silences the source; its weight then has no effect on the loss.
#[test]
fn a_zero_input_silences_its_source() {
    let p = problem();
    let readout = Readout { probes: vec![1], rows: 0..201 };
    let mse = Objective::Mse { target: -50.0 };
    let (_, g) = p.sample_gradient(&[1.0, 0.0, 0.0], &readout, mse).expect("gradient");
    assert_eq!(g.gradient[1], 0.0, "in_b's weight when in_b is silent");
    let silent = p.sample_loss(&[1.0, 0.0, 0.0], &readout, mse).expect("loss");
    let louder = p.sample_loss(&[1.0, 2.0, 0.0], &readout, mse).expect("loss");
    assert!(louder.readout[0] > silent.readout[0] + 0.1, "{louder:?} {silent:?}");
}

/// Classes: the logistic's class is the sign of r − threshold; the softmax's the largest logit.
#[test]
fn cross_entropy_classifies_by_the_largest_logit() {
    let p = problem();
    let readout = Readout { probes: vec![0, 1], rows: 0..201 };
    let l = |class| {
        p.sample_loss(&[1.0, 1.0, 0.0], &readout, Objective::CrossEntropy { class, scale: 1.0, threshold: 0.0 })
            .expect("loss")
    };
    let (first, second) = (l(0), l(1));
    assert_eq!(first.readout, second.readout);
    let larger = if first.readout[0] > first.readout[1] { 0 } else { 1 };
    assert_eq!((first.correct, second.correct), (Some(larger == 0), Some(larger == 1)));
    // The two losses are −log of probabilities that sum to 1.
    assert!(((-first.loss).exp() + (-second.loss).exp() - 1.0).abs() < 1e-12);
}

/// Three one-compartment cells, each driven by a clamp whose amplitude a dense input sets.
const DENSE: &str = r#"
import hh
import iclamp

cell unit {
    morphology { section soma { length = 20 um, diam = 20 um, nseg = 1 } }
    insert hh in soma
    synapse drive = iclamp at soma(0.5) { del = 1 ms, dur = 5 ms, amp = 0 nA }
}

network main {
    population hidden = unit[3]
    probe "h0" = v at hidden[0].soma(0.5)
    probe "h1" = v at hidden[1].soma(0.5)
    probe "h2" = v at hidden[2].soma(0.5)
}

simulation { dt = 0.025 ms, duration = 6 ms, temperature = 6.3 degC }
"#;

/// The problem of `DENSE`: a dense input of two features into the three cells' amplitudes, at
/// set W and b, with a softmax cross-entropy of class 2 over the three cells' mean voltages.
pub(crate) fn dense_problem() -> (Artifact, Problem, Readout, Objective) {
    let artifact = test_models::compiled("dense.syl", DENSE);
    let block = artifact
        .placements
        .iter()
        .position(|p| matches!(p.placement, sylva_compiler::artifact::Placement::Synapse { .. }))
        .expect("the drive is placed");
    let dense = Dense { block, param: 2, instances: 0..3, features: 2 };
    let amp = &artifact.model.mechanisms[artifact.placements[block].mechanism.index()].params[2];
    assert_eq!(amp.name, "amp");
    let mut p = Problem::with_inputs(&artifact, &[], &[Input::Dense(dense)]).expect("a problem");
    // W (3 × 2) and b (3), in nA.
    p.set_values(&[0.02, -0.01, 0.015, 0.03, -0.02, 0.01, 0.005, -0.004, 0.012]);
    let readout = Readout { probes: vec![0, 1, 2], rows: 80..241 };
    let objective = Objective::CrossEntropy { class: 2, scale: 3.0, threshold: -60.0 };
    (artifact, p, readout, objective)
}

/// A dense input's W and b against central differences: cell i's amplitude is Σⱼ Wᵢⱼ xⱼ + bᵢ.
#[test]
fn dense_input_gradients_agree_with_central_differences() {
    let (_, mut p, readout, objective) = dense_problem();
    let values = [0.8, 0.3];
    let (_, g) = p.sample_gradient(&values, &readout, objective).expect("gradient");
    assert_eq!(g.gradient.len(), 9);
    // b's derivative is the amplitude's; each W's is it times the feature.
    for i in 0..3 {
        let b = g.gradient[6 + i];
        assert!(b != 0.0);
        assert_eq!(g.gradient[2 * i], b * 0.8);
        assert_eq!(g.gradient[2 * i + 1], b * 0.3);
    }
    let worst = worst_error(&mut p, &values, &readout, objective);
    assert!(worst < 1e-6, "dense input: {worst:e}");
}
