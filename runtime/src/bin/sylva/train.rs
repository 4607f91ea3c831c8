//! `sylva grad` (the loss of a model's `train` block and its exact gradient, checked against
//! central differences with `--check`), `sylva train` (the fit, with params.yaml, loss.csv and
//! loss.svg) and the `--params` of `sylva run` (learned values written back into the model).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sylva_compiler::artifact::Artifact;
use sylva_compiler::ir::Precision;
use sylva_compiler::source::Span;
use sylva_compiler::units::parse_unit;
use sylva_runtime::gpu;
use sylva_runtime::grad::GradError;
use sylva_runtime::output::{self, OutputError, ParamEntry, TrainedValue, TrainingRecord};
use sylva_runtime::train::lbfgs::Converged;
use sylva_runtime::train::samples;
use sylva_runtime::train::session::{self, Session, SessionError, Shown};
use sylva_runtime::train::{Cpu, Fit, Transform};

use crate::{Compiled, Failure, compile_located, report_at, report_coded};

/// The largest relative difference between a derivative and its central difference that
/// `grad --check` accepts.
const CHECK_TOLERANCE: f64 = 1e-6;

/// What `grad --check` accepts of a gradient the GPU computed in f32 (the bound for f32
/// against f64: about 1e-5 on the reference models).
const F32_CHECK_TOLERANCE: f64 = 1e-3;

/// Where `sylva grad` computes the gradient: the CPU, or the GPU in a precision (default: the
/// model's) with a strategy (`--gpu-strategy`, default: the engine's choice per cell type).
#[derive(Copy, Clone)]
pub enum Device {
    Cpu,
    Gpu(Option<Precision>, gpu::Strategy),
}

impl Device {
    /// The GPU gradient's settings (`None` on the CPU), in the model's `precision` unless one
    /// was asked for.
    fn gpu_settings(self, precision: Precision) -> Option<gpu::grad::Settings> {
        let Device::Gpu(asked, strategy) = self else { return None };
        let options = gpu::Options { strategy, ..gpu::Options::default() };
        Some(gpu::grad::Settings { options, ..gpu::grad::Settings::new(asked.unwrap_or(precision)) })
    }
}

/// The session of the model's `train block`, its target files read from disk (paths as the
/// compiler resolved them: relative to the model file, so to the current directory as SWC
/// files are); what is wrong is reported at the model's text.
fn session(
    file: &str,
    overrides: &[String],
    resume: Option<&Path>,
    colour: bool,
) -> Result<(Compiled, Session), Failure> {
    let mut compiled = compile_located(file, overrides, None, colour)?;
    let layers = match resume {
        Some(path) => resume_from(&mut compiled.artifact, path)?,
        None => Vec::new(),
    };
    let at = |span: Span, message: &str, notes: &[String]| {
        report_at(&compiled.db, span, message, notes, colour);
        Failure::Model
    };
    let result = Session::new(&compiled.artifact, &mut |path| output::read_data(path));
    let session = match result {
        Ok(session) => session,
        Err(SessionError::NoTraining) => {
            let start = Span { file: compiled.root, start: 0, end: 0 };
            let notes = ["help: add a `train` block: its trainables, targets and optimizer (docs/training.md)".into()];
            return Err(at(start, &format!("`{file}` has no `train` block"), &notes));
        }
        Err(SessionError::Target { span, message }) => return Err(at(span, &message, &[])),
        Err(SessionError::Start { span, message }) => return Err(at(span, &message, &[])),
        Err(SessionError::Data { span, message }) => {
            report_coded(&compiled.db, span, Some("E0711"), &message, &[], colour);
            return Err(Failure::Model);
        }
        Err(SessionError::Grad(e)) => return Err(grad_failure(&compiled.artifact, e)),
    };
    let mut session = session;
    if let Some(path) = resume {
        resume_layers(&mut session, &compiled.artifact.model, path, &layers)?;
    }
    Ok((compiled, session))
}

/// A gradient that could not be computed: the model's fault (a divergence, something the adjoint
/// does not cover yet) as exit 1.
pub(crate) fn grad_failure(artifact: &Artifact, e: GradError) -> Failure {
    match e {
        GradError::Diverged(b) => eprintln!("{}", crate::run::describe_blowup(&artifact.model, &b)),
        GradError::Gpu(e) => return crate::run::gpu_failure(e),
        e => eprintln!("error: {e}"),
    }
    Failure::Model
}

/// `x` with 6 significant digits.
pub(crate) fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let rounded: f64 = format!("{x:.5e}").parse().unwrap_or(x);
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) { format!("{rounded}") } else { format!("{rounded:e}") }
}

pub fn grad(file: &str, overrides: &[String], check: bool, device: Device, colour: bool) -> Result<(), Failure> {
    let started = Instant::now();
    let (compiled, mut session) = session(file, overrides, None, colour)?;
    let artifact = &compiled.artifact;
    let steps = artifact.model.simulation.steps() as u64;
    let first = session.samples.as_ref().map(samples::first_batch).unwrap_or_default();
    let settings = device.gpu_settings(artifact.model.simulation.precision);
    let (loss, gradient, what) = match (&session.samples, settings) {
        (_, Some(settings)) => {
            let shown = if settings.precision == Precision::F32 { "f32" } else { "f64" };
            gpu_gradient(artifact, &session, &first, settings)
                .map(|(loss, gradient, what)| (loss, gradient, format!("{what}, on the GPU in {shown}")))
        }
        (Some(data), None) => samples::batch_loss_and_gradient(&mut Cpu, &session.problem, data, &first)
            .map(|(l, g)| (l, g, format!("the mean over the first {} samples", first.len()))),
        (None, None) => {
            session.problem.gradient(&session.loss, None).map(|g| (g.loss, g.gradient, saved_every(g.checkpoint_every)))
        }
    }
    .map_err(|e| grad_failure(artifact, e))?;
    let f32 = settings.is_some_and(|s| s.precision == Precision::F32);
    let tolerance = if f32 { F32_CHECK_TOLERANCE } else { CHECK_TOLERANCE };
    println!(
        "{file}: loss {} at the start values ({} trainables, {steps} steps, {what}; {:.3} s)",
        number(loss),
        session.names.len(),
        started.elapsed().as_secs_f64()
    );
    let values = session.problem.values();
    // The derivative per unit shown: the internal one times the internal units per shown unit.
    let width = session.names.iter().map(|n| n.name.chars().count()).max().unwrap_or(0).max(9);
    let header = if check { "  central difference  relative error" } else { "" };
    println!("  {:width$}  {:>13} {:8}  {:>13}{header}", "trainable", "value", "unit", "dL/dθ");
    let mut worst: f64 = 0.0;
    // A derivative that is exactly 0 (a value no readout sees) has a difference of the loss's
    // rounding: errors are measured against 1e-8 of the largest derivative at least.
    let floor = 1e-8 * gradient.iter().fold(1e-300f64, |m, g| m.max(g.abs()));
    for (i, (shown, &x)) in session.names.iter().zip(&values).enumerate() {
        let derivative = gradient[i] * shown.scale;
        let mut line = format!(
            "  {:width$}  {:>13} {:8}  {:>13}",
            shown.name,
            number(x / shown.scale),
            shown.unit,
            format!("{:.6e}", derivative)
        );
        if check {
            // 1e-3 of the value, or of its transform's scale when it is 0 (a dense input's bias).
            let h = match (x, session.transforms[i]) {
                (0.0, Transform::Scaled { scale }) => 1e-3 * scale,
                (0.0, _) => 1e-3,
                _ => 1e-3 * x.abs(),
            };
            let mut at = |d: f64| {
                let mut shifted = values.clone();
                shifted[i] = x + d;
                session.problem.set_values(&shifted);
                match &session.samples {
                    Some(data) => samples::batch_loss(&mut Cpu, &session.problem, data, &first),
                    None => session.problem.loss(&session.loss),
                }
            };
            let fd = (|| -> Result<f64, GradError> {
                Ok((-at(2.0 * h)? + 8.0 * at(h)? - 8.0 * at(-h)? + at(-2.0 * h)?) / (12.0 * h))
            })()
            .map_err(|e| grad_failure(artifact, e))?;
            session.problem.set_values(&values);
            // The difference's own noise: the loss's rounding over a run, amplified by 1/h.
            let noise = 1e-10 * loss.abs() / h;
            let error = (gradient[i] - fd).abs() / gradient[i].abs().max(fd.abs()).max(floor).max(noise);
            worst = worst.max(error);
            line += &format!("  {:>18}  {error:>14.1e}", format!("{:.6e}", fd * shown.scale));
        }
        println!("{line}");
    }
    if check {
        let verdict = if worst <= tolerance { "ok" } else { "FAILED" };
        println!(
            "  largest relative error {worst:.1e} (tolerance {tolerance:.0e}): {verdict}; {:.3} s in all",
            started.elapsed().as_secs_f64()
        );
        if worst > tolerance {
            eprintln!(
                "error: the gradient differs from the central differences of the loss by {worst:.1e} (relative), \
                 more than {tolerance:.0e}\n  help: this is a bug in Sylva's adjoint if the loss is smooth here; \
                 please report it with the model"
            );
            return Err(Failure::Model);
        }
    }
    Ok(())
}

/// The loss and gradient `sylva grad --backend gpu` shows (over the first samples of a block
/// with samples), and what they are.
fn gpu_gradient(
    artifact: &Artifact,
    session: &Session,
    first: &[usize],
    settings: gpu::grad::Settings,
) -> Result<(f64, Vec<f64>, String), GradError> {
    let mut on_gpu = open_gpu_gradient(artifact, session, settings)?;
    match &session.samples {
        Some(data) => {
            let (loss, gradient) = samples::batch_loss_and_gradient(&mut on_gpu, &session.problem, data, first)?;
            let at_once = on_gpu.replicas();
            Ok((loss, gradient, format!("the mean over the first {} samples, {at_once} at once", first.len())))
        }
        None => {
            let g = on_gpu.gradient(&session.problem, &session.loss)?;
            Ok((g.loss, g.gradient, saved_every(g.checkpoint_every)))
        }
    }
}

/// The device's code and buffers for the session's gradients: for a block with samples, a
/// batch's samples at once (as many as fit the device).
fn open_gpu_gradient(
    artifact: &Artifact,
    session: &Session,
    settings: gpu::grad::Settings,
) -> Result<gpu::grad::GpuGradient, GradError> {
    match &session.samples {
        Some(data) => {
            let batch = (data.batch as usize).min(data.train.len()).max(1);
            gpu::grad::GpuGradient::for_batches(artifact, &session.problem, settings, batch)
        }
        None => gpu::grad::GpuGradient::new(artifact, &session.problem, settings),
    }
}

/// What `sylva train` is asked for.
pub struct TrainArgs<'a> {
    pub file: &'a str,
    pub out: Option<&'a Path>,
    pub overrides: &'a [String],
    /// A `params.yaml` whose values are the start values.
    pub resume: Option<&'a Path>,
    pub plots: bool,
    pub colour: bool,
    /// Where the losses and gradients are computed.
    pub device: Device,
}

pub fn train(args: &TrainArgs<'_>) -> Result<(), Failure> {
    let TrainArgs { file, out, overrides, resume, plots, colour, device } = *args;
    let started = Instant::now();
    let (compiled, mut session) = session(file, overrides, resume, colour)?;
    let artifact = &compiled.artifact;
    // The device's code and buffers, made once for every iteration or sample.
    let mut on_gpu = device
        .gpu_settings(artifact.model.simulation.precision)
        .map(|settings| open_gpu_gradient(artifact, &session, settings))
        .transpose()
        .map_err(|e| grad_failure(artifact, e))?;
    let out_dir: PathBuf = match out {
        Some(dir) => dir.to_path_buf(),
        None => {
            let stem = Path::new(file).file_stem().unwrap_or_default().to_string_lossy();
            Path::new("sylva-out").join(format!("{stem}-train"))
        }
    };
    // The first Ctrl-C stops the fit at the end of its iteration, whose outputs are still
    // written; a second one stops the writing too (nothing written then).
    static STOP_FIT: AtomicBool = AtomicBool::new(false);
    static STOP_WRITING: AtomicBool = AtomicBool::new(false);
    ctrlc::set_handler(|| {
        if STOP_FIT.swap(true, Ordering::Relaxed) {
            STOP_WRITING.store(true, Ordering::Relaxed);
        }
    })
    .map_err(|e| Failure::Internal(format!("cannot handle Ctrl-C: {e}")))?;
    let _lock = output::prepare_dir(&out_dir).map_err(|e| Failure::Usage(e.to_string()))?;
    if session.samples.is_some() {
        let stops = crate::train_samples::Stops { fit: &STOP_FIT, writing: &STOP_WRITING };
        return crate::train_samples::train(file, &out_dir, &compiled, &mut session, plots, on_gpu.as_mut(), stops);
    }

    let start = session.problem.values();
    let iterations = session.iterations;
    let fit_started = Instant::now();
    let progress = ProgressBar::with_draw_target(Some(iterations), ProgressDrawTarget::hidden());
    progress.set_style(
        ProgressStyle::with_template("{bar:40} iteration {pos}/{len} loss {msg} eta {eta}").expect("valid template"),
    );
    let report = |iteration, loss| {
        // Only fits longer than about a second show a bar.
        if progress.is_hidden() && fit_started.elapsed() > Duration::from_secs(1) && iteration < iterations {
            progress.set_draw_target(ProgressDrawTarget::stderr());
        }
        progress.set_position(iteration);
        progress.set_message(number(loss));
        if STOP_FIT.load(Ordering::Relaxed) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    };
    let fit = match &mut on_gpu {
        Some(gpu) => session.fit_on(gpu, report),
        None => session.fit(report),
    };
    progress.finish_and_clear();
    let fit = fit.map_err(|e| grad_failure(artifact, e))?;
    let fit_time = fit_started.elapsed();

    let record = TrainingRecord {
        model: file.to_owned(),
        params: shown_values(&session.names, &fit.values, &start),
        losses: fit.losses.clone(),
        iterations,
        epochs: Vec::new(),
        converged: fit.converged.map(convergence),
    };
    let done = record.done();
    let files = output::write_training(&out_dir, &record, plots, &STOP_WRITING).map_err(|e| match e {
        OutputError::Interrupted => Failure::Interrupted(format!(
            "interrupted at iteration {done} of {iterations}, while writing the outputs; nothing written (`{}` \
             keeps what it had)",
            out_dir.display()
        )),
        e => Failure::Usage(e.to_string()),
    })?;

    let first = fit.losses.first().copied().unwrap_or(f64::NAN);
    let last = fit.losses.last().copied().unwrap_or(f64::NAN);
    let place = if on_gpu.is_some() { " on the GPU" } else { "" };
    println!(
        "{file}: {done} iterations{}, loss {} -> {}; trained{place} in {:.3} s ({:.1} ms an iteration); {:.3} s in all",
        evaluations_and_convergence(&fit),
        number(first),
        number(last),
        fit_time.as_secs_f64(),
        1e3 * fit_time.as_secs_f64() / done.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    let width = record.params.iter().map(|p| p.name.chars().count()).max().unwrap_or(0);
    for p in &record.params {
        println!("  {:width$}  {:>12} {}  (start {})", p.name, number(p.value), p.unit, number(p.start));
    }
    println!("  wrote {}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    if fit.stopped {
        return Err(Failure::Interrupted(format!("stopped at iteration {done} of {iterations} (Ctrl-C)")));
    }
    Ok(())
}

/// ` (N gradients; converged: …)` when the fit computed more gradients than it made iterations
/// (L-BFGS's line search) or stopped on a tolerance.
fn evaluations_and_convergence(fit: &Fit) -> String {
    let mut notes = Vec::new();
    if fit.evaluations + 1 != fit.losses.len() as u64 {
        notes.push(format!("{} gradients", fit.evaluations));
    }
    if let Some(reason) = fit.converged {
        notes.push(format!("converged: {}", convergence(reason)));
    }
    if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) }
}

/// Why L-BFGS ended, in words.
fn convergence(reason: Converged) -> &'static str {
    match reason {
        Converged::Gradient => "gradient within its tolerance",
        Converged::Loss => "loss change within its tolerance",
        Converged::LineSearch => "no lower loss along the search direction",
    }
}

/// The learned and start values of the trainables, in their shown units.
pub(crate) fn shown_values(names: &[Shown], values: &[f64], start: &[f64]) -> Vec<TrainedValue> {
    names
        .iter()
        .zip(values)
        .zip(start)
        .map(|((shown, value), start)| TrainedValue {
            name: shown.name.clone(),
            value: value / shown.scale,
            unit: shown.unit.clone(),
            start: start / shown.scale,
        })
        .collect()
}

/// The model with the learned values of a `params.yaml` (`sylva run --params`): each value, in
/// the unit beside it (the parameter's display unit without one), converted to internal units
/// and written into the model's trainable of that name.
pub fn with_params(artifact: Artifact, path: &Path) -> Result<Artifact, Failure> {
    let mut model = artifact.model;
    let (values, others) = learned_values(&model, path, "--params")?;
    if let Some(entry) = others.first() {
        return Err(not_a_trainable(&model, path, entry));
    }
    session::apply(&mut model, &values).map_err(|e| Failure::Usage(format!("--params `{}`: {e}", path.display())))?;
    Ok(Artifact::new(model))
}

/// `sylva train --resume PARAMS.yaml`: the values of the file become the trainables' start
/// values (those it leaves out keep theirs); returns the entries that name no trainable, for
/// [`resume_layers`].
fn resume_from(artifact: &mut Artifact, path: &Path) -> Result<Vec<ParamEntry>, Failure> {
    let (values, others) = learned_values(&artifact.model, path, "--resume")?;
    let training = artifact.model.training.as_mut().expect("checked by learned_values");
    for (name, value) in values {
        if let Some(t) = training.trainables.iter_mut().find(|t| t.name == name) {
            t.init = value;
        }
    }
    Ok(others)
}

/// The rest of `--resume`: values of a dense input's W and b and of a linear readout's V and c,
/// named as `params.yaml` names them (`pixel3 -> hidden[0].drive.amp`), set in the session.
fn resume_layers(
    session: &mut Session,
    model: &sylva_compiler::ir::Model,
    path: &Path,
    entries: &[ParamEntry],
) -> Result<(), Failure> {
    let at = |line: usize, message: String| Failure::Usage(format!("{}:{line}: {message}", path.display()));
    let mut values = session.problem.values();
    let mut seen = vec![false; values.len()];
    for entry in entries {
        let Some(i) = session.names.iter().position(|n| n.name == entry.name) else {
            return Err(not_a_trainable(model, path, entry));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(at(entry.line, format!("`{}` is given twice", entry.name)));
        }
        let shown = &session.names[i];
        let scale = match &entry.unit {
            None => shown.scale,
            Some(unit) => {
                let u =
                    parse_unit(unit).map_err(|e| at(entry.line, format!("`{}`: unit `{unit}`: {e}", entry.name)))?;
                let expected = parse_unit(&shown.unit).map(|e| e.dim).ok();
                if expected != Some(u.dim) {
                    return Err(at(
                        entry.line,
                        format!("`{}`: unit `{unit}` is not a unit of {}", entry.name, shown.unit),
                    ));
                }
                u.scale
            }
        };
        values[i] = entry.value * scale;
        if !values[i].is_finite() {
            return Err(at(entry.line, format!("`{}` is not a finite number", entry.name)));
        }
    }
    session.problem.set_values(&values);
    Ok(())
}

/// The error for a `params.yaml` entry that names none of the model's trainables (nor, with
/// samples, a value of a dense input or readout layer).
fn not_a_trainable(model: &sylva_compiler::ir::Model, path: &Path, entry: &ParamEntry) -> Failure {
    let training = model.training.as_ref();
    let names: Vec<String> = training.iter().flat_map(|t| &t.trainables).map(|t| format!("`{}`", t.name)).collect();
    let layers = if training.is_some_and(|t| t.data.is_some()) {
        "; nor a value of its dense inputs or readout layer, named as in params.yaml"
    } else {
        ""
    };
    Failure::Usage(format!(
        "{}:{}: the model's `train` block has no trainable `{}` (its trainables: {}){layers}",
        path.display(),
        entry.line,
        entry.name,
        names.join(", ")
    ))
}

/// (trainable name, value in internal units) pairs.
type NamedValues = Vec<(String, f64)>;

/// The entries of a `params.yaml` as (trainable name, value in internal units), each checked
/// against the model's `train` block: once, a unit of its dimension, in its range; and, apart,
/// the entries that name no trainable.
fn learned_values(
    model: &sylva_compiler::ir::Model,
    path: &Path,
    option: &str,
) -> Result<(NamedValues, Vec<ParamEntry>), Failure> {
    let entries = output::load_params(path).map_err(|e| Failure::Usage(e.to_string()))?;
    let Some(training) = &model.training else {
        return Err(Failure::Usage(format!(
            "{option} `{}`: the model has no `train` block to say which parameters the values are for",
            path.display()
        )));
    };
    let at = |line: usize, message: String| Failure::Usage(format!("{}:{line}: {message}", path.display()));
    let mut values: Vec<(String, f64)> = Vec::new();
    let mut others = Vec::new();
    for entry in entries {
        let Some(t) = training.trainables.iter().find(|t| t.name == entry.name) else {
            others.push(entry);
            continue;
        };
        if values.iter().any(|(name, _)| *name == entry.name) {
            return Err(at(entry.line, format!("`{}` is given twice", entry.name)));
        }
        let scale = match &entry.unit {
            None => t.dim.display_scale(),
            Some(unit) => {
                let u =
                    parse_unit(unit).map_err(|e| at(entry.line, format!("`{}`: unit `{unit}`: {e}", entry.name)))?;
                if u.dim != t.dim {
                    return Err(at(
                        entry.line,
                        format!(
                            "`{}`: unit `{unit}` is not a unit of the parameter's {}",
                            entry.name,
                            t.dim.display_unit()
                        ),
                    ));
                }
                u.scale
            }
        };
        let value = entry.value * scale;
        if !(value.is_finite() && t.min <= value && value <= t.max) {
            return Err(at(
                entry.line,
                format!(
                    "`{}` = {} {}: outside the parameter's range [{}, {}]",
                    entry.name,
                    number(entry.value),
                    entry.unit.clone().unwrap_or_else(|| t.dim.display_unit()),
                    number(t.min / t.dim.display_scale()),
                    number(t.max / t.dim.display_scale())
                ),
            ));
        }
        values.push((entry.name.clone(), value));
    }
    Ok((values, others))
}

/// How often the gradient's forward run saved the state, as the summary line says it.
fn saved_every(k: u64) -> String {
    if k == 1 { "a state saved after every step".into() } else { format!("a state saved every {k} steps") }
}
