//! Batched replicas against samples run one after another on the same device (lavapipe): every
//! sample's loss, readout and gradient, and a training's every step, are the same bits in f64
//! (events from sources scaled per sample, from cell to cell in a ring, a stimulus parameter, a
//! dense input, `examples/train/mnist.syl` on generated images); a batch larger than the
//! memory budget allows runs in parts of the most replicas that fit, with the same bits.

use std::ops::ControlFlow;

use sylva_compiler::artifact::Artifact;
use sylva_compiler::ir::Precision;

use super::memory::Memory;
use super::{GpuGradient, Settings};
use crate::gpu::tests::no_gpu;
use crate::grad::sample_tests::{dense_problem, two_cells_problem};
use crate::grad::{GradError, Input, Objective, Problem, Readout, Trainable};
use crate::train::samples::{SampleRuns, SampleSet, SampleTraining, fit_samples_on};
use crate::train::session::Session;

/// The device's gradients of `problem`'s samples, `batch` at once within `budget` bytes, or
/// `None` without an adapter outside CI.
fn on_gpu(a: &Artifact, problem: &Problem, batch: usize, budget: Option<u64>) -> Option<GpuGradient> {
    let settings = Settings { memory_budget: budget, ..Settings::new(Precision::F64) };
    match GpuGradient::for_batches(a, problem, settings, batch) {
        Ok(g) => Some(g),
        Err(GradError::Gpu(e)) if no_gpu(&e) => None,
        Err(e) => panic!("GPU gradient: {e}"),
    }
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|x| x.to_bits()).collect()
}

/// Every sample of `set`, run by `batched` and by `sequential`, gives the same bits: losses,
/// readouts, classes and gradients, and the forward runs' losses.
fn same_bits(
    problem: &Problem,
    set: &SampleSet,
    readout: &Readout,
    sequential: &mut GpuGradient,
    batched: &mut GpuGradient,
) {
    let all: Vec<usize> = (0..set.len()).collect();
    let one = sequential.gradients(problem, set, readout, &all).expect("sequential gradients");
    let many = batched.gradients(problem, set, readout, &all).expect("batched gradients");
    assert_eq!(one.len(), many.len());
    for (k, ((l1, g1), (l2, g2))) in one.iter().zip(&many).enumerate() {
        assert!(g1.gradient.iter().any(|d| *d != 0.0), "sample {k}: a gradient that sees the sample");
        assert_eq!(l1.loss.to_bits(), l2.loss.to_bits(), "sample {k}: loss {} / {}", l1.loss, l2.loss);
        assert_eq!(bits(&l1.readout), bits(&l2.readout), "sample {k}: readout");
        assert_eq!(l1.correct, l2.correct);
        assert_eq!(bits(&g1.gradient), bits(&g2.gradient), "sample {k}: {:?}\n{:?}", g1.gradient, g2.gradient);
    }
    let forward = batched.losses(problem, set, readout, &all).expect("batched losses");
    let losses: Vec<f64> = forward.iter().map(|l| l.loss).collect();
    assert_eq!(bits(&losses), bits(&one.iter().map(|(l, _)| l.loss).collect::<Vec<_>>()), "forward runs' losses");
}

/// The first `n` (at most 5) samples of the two-cell problem: its three inputs and a softmax
/// over both somata on rows 80 to 200, and that readout.
fn two_cell_samples(n: usize) -> (SampleSet, Readout) {
    let softmax = |class| Objective::CrossEntropy { class, scale: 2.0, threshold: -60.0 };
    let all = [
        (vec![1.0, 0.5, 0.3], softmax(1)),
        (vec![0.2, 1.5, 0.0], softmax(0)),
        (vec![2.0, 0.0, 0.1], softmax(1)),
        (vec![0.7, 0.9, 0.2], softmax(0)),
        (vec![1.3, 0.1, 0.05], softmax(1)),
    ];
    (set(&all[..n]), Readout { probes: vec![0, 1], rows: 80..201 })
}

/// `samples` of `problem` one at a time and `batch` at once (a last part padded).
fn batched_equals_sequential(a: &Artifact, problem: &Problem, set: &SampleSet, readout: &Readout, batch: usize) {
    let Some(mut sequential) = on_gpu(a, problem, 1, None) else { return };
    let mut batched = on_gpu(a, problem, batch, None).expect("the device opened once");
    assert_eq!((sequential.replicas(), batched.replicas()), (1, batch));
    same_bits(problem, set, readout, &mut sequential, &mut batched);
}

fn set(samples: &[(Vec<f64>, Objective)]) -> SampleSet {
    SampleSet {
        values: samples.iter().map(|s| s.0.clone()).collect(),
        objectives: samples.iter().map(|s| s.1).collect(),
    }
}

/// The two-cell sample problem: sources' events scaled per sample, a stimulus amplitude set;
/// five samples in batches of three (the second padded).
#[test]
fn batched_two_cell_samples_give_the_sequential_bits() {
    let (a, problem) = two_cells_problem();
    let (samples, readout) = two_cell_samples(5);
    batched_equals_sequential(&a, &problem, &samples, &readout, 3);
}

/// A dense input: each replica's cells get their own W·x + b.
#[test]
fn batched_dense_samples_give_the_sequential_bits() {
    let (a, problem, readout, objective) = dense_problem();
    let samples = set(&[(vec![0.8, 0.3], objective), (vec![0.1, 0.9], objective), (vec![0.5, 0.5], objective)]);
    batched_equals_sequential(&a, &problem, &samples, &readout, 3);
}

/// The ringtest's ten cells with the kick scaled per sample: each replica's spikes reach only
/// its own cells (a ring's events cross from cell to cell), both weights and hh's gkbar trained.
#[test]
fn batched_ring_samples_keep_their_events_apart() {
    let mut a = crate::test_models::example_edited("examples/bench/ringtest.syl", &[], |text| {
        text.replace("    record spikes", "    record spikes\n    probe \"v2\" = v at cells[2].soma(0.5)")
    });
    a.model.simulation.duration = 8.0;
    let trainables = [
        Trainable { weights: vec![0], ..Trainable::default() },
        Trainable { weights: vec![1], ..Trainable::default() },
        crate::grad::tests::trainable(&a, "hh", "gkbar"),
    ];
    let problem = Problem::with_inputs(&a, &trainables, &[Input::Source(0)]).expect("a problem");
    let readout = Readout { probes: vec![0], rows: 160..321 };
    let mse = |target| Objective::Mse { target };
    // A kick too weak to fire cell 0, and two that start the ring at different times.
    let samples = set(&[(vec![0.05], mse(-60.0)), (vec![1.0], mse(-50.0)), (vec![3.0], mse(-40.0))]);
    batched_equals_sequential(&a, &problem, &samples, &readout, 3);
}

/// gap_pair's two coupled cells with the clamp's amplitude set per sample: each replica's
/// junction reads its own replica's voltages (the gather's slots stay within the replica), the
/// batch gives the sequential bits, and each sample's gradient is the CPU's within 1e-9.
#[test]
fn batched_gap_junction_samples_give_the_sequential_bits_and_the_cpus_gradient() {
    let a = crate::grad::tests::example("gap_pair", 8.0);
    let clamp = a.first_placement_of("iclamp").expect("the clamp");
    let amp = a.model.mechanisms[a.placements[clamp].mechanism.index()].params.iter().position(|p| p.name == "amp");
    let input = Input::Param(crate::grad::Use::all(clamp, amp.expect("amp") as u32));
    let trainables =
        [crate::grad::tests::trainable(&a, "gap_junction", "g"), crate::grad::tests::trainable(&a, "hh", "gkbar")];
    let problem = Problem::with_inputs(&a, &trainables, &[input]).expect("a problem");
    // Cell 1's voltage: the clamp drives cell 0, whose voltage reaches cell 1 through the junction.
    let readout = Readout { probes: vec![1], rows: 160..321 };
    let mse = |target| Objective::Mse { target };
    let samples = set(&[(vec![0.1], mse(-60.0)), (vec![0.3], mse(-50.0)), (vec![0.6], mse(-40.0))]);
    let Some(mut sequential) = on_gpu(&a, &problem, 1, None) else { return };
    let mut batched = on_gpu(&a, &problem, 3, None).expect("the device opened once");
    same_bits(&problem, &samples, &readout, &mut sequential, &mut batched);
    let gpu = batched.gradients(&problem, &samples, &readout, &[0, 1, 2]).expect("batched gradients");
    for (k, (_, g)) in gpu.iter().enumerate() {
        let (_, cpu) = problem.sample_gradient(&samples.values[k], &readout, samples.objectives[k]).expect("CPU");
        for (x, y) in g.gradient.iter().zip(&cpu.gradient) {
            let error = (x - y).abs() / x.abs().max(y.abs()).max(1e-300);
            assert!(error <= 1e-9, "sample {k}: GPU {x:e}, CPU {y:e} ({error:.1e})");
        }
    }
}

/// Twelve generated 4 × 4 images (class 0 bright on the left, class 1 on the right), as IDX
/// files: (images, labels).
fn generated_mnist() -> (Vec<u8>, Vec<u8>) {
    let idx = |magic: u32, dims: &[u32], data: &[u8]| {
        let mut out = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend(data);
        out
    };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for k in 0..12u8 {
        let class = k % 2;
        pixels.extend((0..16u8).map(|p| if (p % 4 < 2) == (class == 0) { 200 + 4 * k } else { 10 + k }));
        labels.push(class);
    }
    (idx(0x803, &[12, 4, 4], &pixels), idx(0x801, &[12], &labels))
}

/// `examples/train/mnist.syl` with 16 hidden cells, 3 ms per image, batches of 4, one epoch.
fn small_mnist() -> Artifact {
    let overrides = ["n_hidden=16".to_string(), "n_epochs=1".to_string()];
    crate::test_models::example_edited("examples/train/mnist.syl", &overrides, |text| {
        text.replace("duration = 10 ms", "duration = 3 ms")
            .replace("in [2 ms, 10 ms]", "in [1 ms, 3 ms]")
            .replace("batch = 16", "batch = 4")
    })
}

/// The training session of `a` on the generated images.
fn mnist_session(a: &Artifact) -> Session {
    let (images, labels) = generated_mnist();
    let mut read = |path: &str| Ok(if path.contains("labels") { labels.clone() } else { images.clone() });
    Session::new(a, &mut read).expect("a session")
}

/// A training of `mnist.syl` on generated images: every batch loss, every epoch's scores and
/// the learned values are the same bits with the batch's four samples at once as one after
/// another.
#[test]
fn batched_mnist_training_takes_the_sequential_steps() {
    let a = small_mnist();
    let train = |runs: &mut GpuGradient| {
        let mut session = mnist_session(&a);
        let data: SampleTraining = session.samples.clone().expect("samples");
        let (transforms, optimizer) = (session.transforms.clone(), session.optimizer);
        fit_samples_on(runs, &mut session.problem, &data, &transforms, optimizer, |_| ControlFlow::Continue(()))
            .expect("a training")
    };
    let start = mnist_session(&a).problem;
    let Some(mut sequential) = on_gpu(&a, &start, 1, None) else { return };
    let mut batched = on_gpu(&a, &start, 4, None).expect("the device opened once");
    let (one, many) = (train(&mut sequential), train(&mut batched));
    assert_eq!(one.batch_losses.len(), 3, "three batches of four");
    assert_eq!(bits(&one.batch_losses), bits(&many.batch_losses));
    assert_eq!(one.epochs, many.epochs, "the epochs' scores");
    assert_eq!(bits(&one.values), bits(&many.values), "the learned values");
    assert_ne!(one.values, start.values(), "the values moved");
}

/// A batch of four whose memory budget holds two replicas but not three runs as two parts of
/// two, with the bits of one sample at a time; a batch's memory is B times one replica's.
#[test]
fn a_batch_beyond_the_budget_runs_in_parts_that_fit() {
    let (a, problem) = two_cells_problem();
    let Some(mut sequential) = on_gpu(&a, &problem, 1, None) else { return };
    let one = Memory::of(&sequential.grad, sequential.steps, sequential.k, sequential.engine.prec);
    let two = one.times(2);
    let budget = two.checkpoints() + two.scratch + one.checkpoints() + one.scratch - 1;
    let mut parts = on_gpu(&a, &problem, 4, Some(budget)).expect("two replicas fit");
    assert_eq!(parts.replicas(), 2, "three replicas need more than {budget} bytes");
    assert_eq!(Memory::of(&parts.grad, parts.steps, parts.k, parts.engine.prec), two, "twice one replica's memory");
    let (samples, readout) = two_cell_samples(4);
    same_bits(&problem, &samples, &readout, &mut sequential, &mut parts);
}
