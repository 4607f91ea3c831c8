//! `sylva train` on a `train` block with samples: epochs of batches with a progress bar (epoch,
//! batch, loss), then params.yaml, loss.csv (a row per epoch: training and test loss and
//! accuracy) and loss.svg.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sylva_runtime::gpu::grad::GpuGradient;
use sylva_runtime::output::{self, EpochRow, OutputError, TrainingRecord};
use sylva_runtime::train::Cpu;
use sylva_runtime::train::samples::{EpochReport, Progress, SampleRuns, Score, fit_samples_on};
use sylva_runtime::train::session::Session;

use crate::train::{grad_failure, number, shown_values};
use crate::{Compiled, Failure};

/// What stops a training: the first Ctrl-C the fit, a second one the writing too.
pub struct Stops<'a> {
    pub fit: &'a AtomicBool,
    pub writing: &'a AtomicBool,
}

/// Trains on the samples of the session, on the GPU where `on_gpu` is given (a batch's samples
/// at once there, as replicas of the network), else on the CPU's threads.
pub fn train(
    file: &str,
    out_dir: &Path,
    compiled: &Compiled,
    session: &mut Session,
    plots: bool,
    on_gpu: Option<&mut GpuGradient>,
    stops: Stops<'_>,
) -> Result<(), Failure> {
    let Stops { fit: stop_fit, writing: stop_writing } = stops;
    let place = on_gpu.as_ref().map_or(String::new(), |g| format!(" on the GPU, {} samples at once", g.replicas()));
    let runs: &mut dyn SampleRuns = match on_gpu {
        Some(gpu) => gpu,
        None => &mut Cpu,
    };
    let data = session.samples.clone().expect("a block with samples");
    let start = session.problem.values();
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(Some(u64::from(data.epochs)), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} eta {eta}").expect("valid template"));
    let names = session.names.clone();
    let record_of = |values: &[f64], epochs: &[EpochReport]| TrainingRecord {
        model: file.to_owned(),
        params: shown_values(&names, values, &start),
        losses: epochs.iter().map(|e| e.train.loss).collect(),
        iterations: u64::from(data.epochs),
        epochs: epochs.iter().map(row).collect(),
        converged: None,
    };
    let mut reports = Vec::new();
    let mut checkpoint_error = None;
    let fit = fit_samples_on(runs, &mut session.problem, &data, &session.transforms, session.optimizer, |p| {
        match p {
            Progress::Batch { epoch, batch, batches, loss } => {
                bar.set_message(format!("batch {batch}/{batches} loss {}", number(loss)));
                bar.set_position(u64::from(epoch - 1));
            }
            Progress::Epoch { report, values } => {
                bar.set_position(u64::from(report.epoch));
                bar.println(summary(&report));
                reports.push(report);
                // A checkpoint: params.yaml and loss.csv so far, written atomically.
                let never = AtomicBool::new(false);
                if let Err(e) = output::write_training(out_dir, &record_of(&values, &reports), false, &never) {
                    checkpoint_error = Some(e.to_string());
                    return ControlFlow::Break(());
                }
            }
        }
        if stop_fit.load(Ordering::Relaxed) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    bar.finish_and_clear();
    let fit = fit.map_err(|e| grad_failure(&compiled.artifact, e))?;
    if let Some(e) = checkpoint_error {
        return Err(Failure::Usage(format!("cannot write a checkpoint: {e}")));
    }
    let record = record_of(&fit.values, &fit.epochs);
    let done = record.done();
    let files = output::write_training(out_dir, &record, plots, stop_writing).map_err(|e| match e {
        OutputError::Interrupted => Failure::Interrupted(format!(
            "interrupted in epoch {} of {}, while writing the outputs; nothing written",
            done + 1,
            data.epochs
        )),
        e => Failure::Usage(e.to_string()),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{file}: {done} epochs of {} samples (batches of {}){place}, {:.3} s ({:.1} ms a sample)",
        data.train.len(),
        data.batch,
        seconds,
        1e3 * seconds / (done.max(1) * data.train.len().max(1)) as f64
    );
    if let Some(last) = fit.epochs.last() {
        println!("  {}", summary(last));
    }
    println!("  wrote {}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    if fit.stopped {
        return Err(Failure::Interrupted(format!("stopped in epoch {} of {} (Ctrl-C)", done + 1, data.epochs)));
    }
    Ok(())
}

fn row(e: &EpochReport) -> EpochRow {
    EpochRow {
        epoch: e.epoch,
        train_loss: e.train.loss,
        train_accuracy: e.train.accuracy,
        test_loss: e.test.map(|t| t.loss),
        test_accuracy: e.test.and_then(|t| t.accuracy),
    }
}

/// `epoch 3: train loss 0.41, accuracy 75 %; test loss 0.52, accuracy 70 %`.
fn summary(e: &EpochReport) -> String {
    let score = |s: &Score| match s.accuracy {
        Some(a) => format!("loss {}, accuracy {:.1} %", number(s.loss), 100.0 * a),
        None => format!("loss {}", number(s.loss)),
    };
    let test = e.test.map(|t| format!("; test {}", score(&t))).unwrap_or_default();
    format!("epoch {}: train {}{test}", e.epoch, score(&e.train))
}
