//! The cost of a batch of samples on the GPU (issue 12's batched replicas; results in
//! docs/training.md, "Batched replicas on the GPU"): the mean loss and gradient of the first
//! batch of a model with samples (`examples/train/mnist.syl`, `mnist_large.syl`) on generated
//! 28 × 28 images, the batch's samples run one after another (one replica) and all at once (B
//! replicas, as `sylva train --backend gpu` runs them), each timed after its device, pipelines
//! and buffers are set up; the two must give the same bits in f64.
//!
//! usage: cargo run --release -p sylva-runtime --example batch_cost -- MODEL [f64|f32 [--at-once] [NAME=VALUE …]]
//!   MODEL: a model with samples whose inputs are `pixel*` (e.g. examples/train/mnist.syl);
//!   --at-once: only all at once (one at a time takes minutes for mnist_large.syl);
//!   NAME=VALUE: `--set` overrides (e.g. n_hidden=16). Run from the repository's root.

use std::time::Instant;

use sylva_compiler::artifact::Artifact;
use sylva_compiler::ir::Precision;
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile};
use sylva_runtime::gpu::grad::{GpuGradient, Settings};
use sylva_runtime::plan::events::Rng;
use sylva_runtime::train::samples::{SampleTraining, batch_loss_and_gradient, first_batch};
use sylva_runtime::train::session::Session;

struct Files;

impl Loader for Files {
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

fn compiled(path: &str, overrides: &[String]) -> Artifact {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut db = SourceDb::new();
    let root = db.add(path, &text);
    let c = compile(&mut db, root, &mut Files, overrides);
    c.artifact.unwrap_or_else(|| panic!("{path} has errors: {:?}", c.diagnostics))
}

/// `count` generated 28 × 28 images (random pixels, labels 0 to 9 in turn) as IDX files:
/// (images, labels).
fn generated_images(count: u32) -> (Vec<u8>, Vec<u8>) {
    let idx = |magic: u32, dims: &[u32], data: &[u8]| {
        let mut out = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend(data);
        out
    };
    let mut rng = Rng::new(7);
    let pixels: Vec<u8> = (0..count * 784).map(|_| (rng.uniform() * 256.0) as u8).collect();
    let labels: Vec<u8> = (0..count).map(|k| (k % 10) as u8).collect();
    (idx(0x803, &[count, 28, 28], &pixels), idx(0x801, &[count], &labels))
}

/// The first batch's mean loss and gradient with `replicas` samples at once (at most the
/// batch): the set-up's and each of two runs' seconds printed; the last gradient returned.
fn timed(a: &Artifact, session: &Session, data: &SampleTraining, precision: Precision, replicas: usize) -> Vec<f64> {
    let first = first_batch(data);
    let t0 = Instant::now();
    let mut device =
        GpuGradient::for_batches(a, &session.problem, Settings::new(precision), replicas).expect("a GPU gradient");
    let at_once = device.replicas();
    println!("{at_once} at once: set up in {:.3} s", t0.elapsed().as_secs_f64());
    let mut last = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        let (loss, gradient) =
            batch_loss_and_gradient(&mut device, &session.problem, data, &first).expect("a batch's gradient");
        let seconds = t.elapsed().as_secs_f64();
        println!(
            "{at_once} at once: a batch of {} in {seconds:.3} s ({:.1} ms a sample), loss {loss}",
            first.len(),
            1e3 * seconds / first.len() as f64
        );
        last = gradient;
    }
    last
}

fn main() {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| "examples/train/mnist.syl".into());
    let precision = match args.next().as_deref() {
        Some("f32") => Precision::F32,
        _ => Precision::F64,
    };
    let (flags, overrides): (Vec<String>, Vec<String>) = args.partition(|a| a == "--at-once");
    let at_once_only = !flags.is_empty();
    let a = compiled(&model, &overrides);
    let batch = a.model.training.as_ref().and_then(|t| t.data.as_ref()).map_or(16, |d| d.batch.max(1));
    let (images, labels) = generated_images(batch);
    let mut read = |path: &str| Ok(if path.contains("labels") { labels.clone() } else { images.clone() });
    let session = Session::new(&a, &mut read).unwrap_or_else(|e| panic!("{model}: {e:?}"));
    let data = session.samples.clone().expect("a model with samples");
    let all = timed(&a, &session, &data, precision, batch as usize);
    if at_once_only {
        return;
    }
    let one = timed(&a, &session, &data, precision, 1);
    let same = one.iter().zip(&all).all(|(x, y)| x.to_bits() == y.to_bits());
    let worst = one.iter().zip(&all).map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-300)).fold(0.0, f64::max);
    println!("one at a time and all at once: the same bits: {same} (largest relative difference {worst:.1e})");
}
