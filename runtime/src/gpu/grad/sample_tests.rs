//! Samples on the GPU against the CPU, on lavapipe: a sample's loss and gradient (events scaled
//! by a sample, a stimulus parameter set, a dense input into per-cell amplitudes), f64 within
//! 1e-9 relative and f32 within 1e-3; and a training's batch losses and learned values.

use std::ops::ControlFlow;

use sylva_compiler::artifact::Artifact;
use sylva_compiler::ir::Precision;

use super::{GpuGradient, Settings};
use crate::gpu::tests::no_gpu;
use crate::grad::sample_tests::{dense_problem, two_cells_problem};
use crate::grad::{GradError, Objective, Problem, Readout};
use crate::train::samples::{SampleFit, SampleSet, SampleTraining, fit_samples, fit_samples_on};
use crate::train::{Optimizer, Transform};

/// The device's gradient of `problem`, or `None` without an adapter outside CI.
fn on_gpu(a: &Artifact, problem: &Problem, precision: Precision) -> Option<GpuGradient> {
    match GpuGradient::new(a, problem, Settings::new(precision)) {
        Ok(g) => Some(g),
        Err(GradError::Gpu(e)) if no_gpu(&e) => None,
        Err(e) => panic!("GPU gradient: {e}"),
    }
}

/// The largest relative difference between two lists, entry by entry.
fn worst(gpu: &[f64], cpu: &[f64]) -> f64 {
    assert_eq!(gpu.len(), cpu.len());
    let relative = |(g, c): (&f64, &f64)| (g - c).abs() / g.abs().max(c.abs()).max(1e-300);
    gpu.iter().zip(cpu).map(relative).fold(0.0, f64::max)
}

/// Every sample's loss, readout and gradient on the GPU equal the CPU's within `bound`.
fn samples_agree(
    a: &Artifact,
    problem: &Problem,
    samples: &[(Vec<f64>, Objective)],
    readout: &Readout,
    bound: f64,
    precision: Precision,
) {
    let Some(mut gpu) = on_gpu(a, problem, precision) else { return };
    for (values, objective) in samples {
        let (cpu_loss, cpu) = problem.sample_gradient(values, readout, *objective).expect("CPU gradient");
        let (gpu_loss, g) = gpu.sample_gradient(problem, values, readout, *objective).expect("GPU gradient");
        assert!(cpu.gradient.iter().any(|d| *d != 0.0), "a gradient that sees the sample: {:?}", cpu.gradient);
        let loss = worst(&[gpu_loss.loss], &[cpu_loss.loss]);
        assert!(loss <= bound, "loss: GPU {} CPU {} ({loss:.1e})", gpu_loss.loss, cpu_loss.loss);
        assert!(worst(&gpu_loss.readout, &cpu_loss.readout) <= bound, "{gpu_loss:?} / {cpu_loss:?}");
        assert_eq!(gpu_loss.correct, cpu_loss.correct);
        let error = worst(&g.gradient, &cpu.gradient);
        assert!(error <= bound, "sample {values:?}: GPU {:?}\nCPU {:?} ({error:.1e})", g.gradient, cpu.gradient);
        let forward = gpu.sample_loss(problem, values, readout, *objective).expect("GPU loss");
        assert_eq!(forward.loss, gpu_loss.loss, "a forward run's loss is the gradient's");
    }
}

/// Sources' events scaled per sample (their weights trained), a stimulus amplitude set.
fn two_cells_agree(precision: Precision, bound: f64) {
    let (a, problem) = two_cells_problem();
    let readout = Readout { probes: vec![0, 1], rows: 80..201 };
    let softmax = |class| Objective::CrossEntropy { class, scale: 2.0, threshold: -60.0 };
    let samples =
        [(vec![1.0, 0.5, 0.3], softmax(1)), (vec![0.2, 1.5, 0.0], softmax(0)), (vec![2.0, 0.0, 0.1], softmax(1))];
    samples_agree(&a, &problem, &samples, &readout, bound, precision);
}

/// A dense input: each cell's amplitude W·x + b, different from cell to cell.
fn dense_agree(precision: Precision, bound: f64) {
    let (a, problem, readout, objective) = dense_problem();
    let samples = [(vec![0.8, 0.3], objective), (vec![0.1, 0.9], objective), (vec![0.5, 0.5], objective)];
    samples_agree(&a, &problem, &samples, &readout, bound, precision);
}

#[test]
fn gpu_sample_gradients_f64_equal_the_cpus() {
    two_cells_agree(Precision::F64, 1e-9);
    dense_agree(Precision::F64, 1e-9);
}

#[test]
fn gpu_sample_gradients_f32_are_near_the_cpus() {
    two_cells_agree(Precision::F32, 1e-3);
    dense_agree(Precision::F32, 1e-3);
}

/// Six samples of the dense problem (classes 0 to 2 by the larger feature), batches of 2.
fn dense_training() -> SampleTraining {
    let features = [[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [0.8, 0.3], [0.2, 0.7], [0.6, 0.4]];
    let objective = |class| Objective::CrossEntropy { class, scale: 3.0, threshold: -60.0 };
    let train = SampleSet {
        values: features.iter().map(|f| f.to_vec()).collect(),
        objectives: (0..features.len()).map(|k| objective(k % 3)).collect(),
    };
    let readout = Readout { probes: vec![0, 1, 2], rows: 80..241 };
    SampleTraining { train, test: None, readout, epochs: 1, batch: 2, seed: 3 }
}

/// A training's every batch loss and learned values on the GPU (precision), the CPU's alongside.
fn trainings(precision: Precision) -> Option<(SampleFit, SampleFit)> {
    let (a, mut problem, _, _) = dense_problem();
    let data = dense_training();
    let transforms = vec![Transform::Scaled { scale: 0.01 }; problem.values().len()];
    let adam = Optimizer::Adam { learning_rate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
    let start = problem.values();
    let mut gpu = on_gpu(&a, &problem, precision)?;
    let on_device = fit_samples_on(&mut gpu, &mut problem, &data, &transforms, adam, |_| ControlFlow::Continue(()));
    problem.set_values(&start);
    let on_cpu = fit_samples(&mut problem, &data, &transforms, adam, |_| ControlFlow::Continue(()));
    Some((on_device.expect("GPU training"), on_cpu.expect("CPU training")))
}

#[test]
fn gpu_training_on_samples_follows_the_cpu() {
    let Some((gpu, cpu)) = trainings(Precision::F64) else { return };
    assert_eq!(gpu.batch_losses.len(), 3, "three batches");
    assert!(worst(&gpu.batch_losses, &cpu.batch_losses) <= 1e-9, "{:?} / {:?}", gpu.batch_losses, cpu.batch_losses);
    assert!(worst(&gpu.values, &cpu.values) <= 1e-9, "{:?} / {:?}", gpu.values, cpu.values);
    assert_ne!(gpu.values, dense_problem().1.values(), "the values moved");
    let Some((gpu, cpu)) = trainings(Precision::F32) else { return };
    assert!(worst(&gpu.batch_losses, &cpu.batch_losses) <= 1e-3, "{:?} / {:?}", gpu.batch_losses, cpu.batch_losses);
}
