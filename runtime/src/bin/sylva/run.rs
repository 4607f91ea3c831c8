//! `sylva run`: compile, simulate, write traces, spikes and plots, print a summary.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sylva_compiler::ir::{self, Backend, Precision};
use sylva_compiler::limits::{self, Estimate};
use sylva_runtime::cpu::{self, Options};
use sylva_runtime::gpu::{self, GpuError, GpuSimulation, Solve, Strategy};
use sylva_runtime::host::blowup::Blowup;
use sylva_runtime::output::{self, OutputError, Recording};
use sylva_runtime::{Engine, RunError, Simulation};

use crate::{Failure, compile_root};

pub struct RunArgs<'a> {
    pub file: &'a str,
    pub out: Option<&'a Path>,
    pub overrides: &'a [String],
    pub config: Option<&'a Path>,
    pub backend: Option<Backend>,
    pub precision: Option<Precision>,
    pub gpu_strategy: Option<Strategy>,
    pub gpu_workgroup_size: Option<u32>,
    pub gpu_solve: Option<Solve>,
    pub threads: usize,
    pub plots: bool,
    pub interpret: bool,
    /// A `params.yaml` of learned values (`sylva train`).
    pub params: Option<&'a Path>,
    pub colour: bool,
}

pub fn run(args: &RunArgs<'_>) -> Result<(), Failure> {
    let started = Instant::now();
    let (text, config) = match args.config {
        Some(path) => {
            let (text, config) = output::load_config(path).map_err(|e| Failure::Usage(e.to_string()))?;
            (text, Some(config))
        }
        None => (String::new(), None),
    };
    let run_file = args.config.zip(config.as_ref()).map(|(path, c)| (path, text.as_str(), c.set.as_slice()));
    let mut artifact = compile_root(args.file, args.overrides, run_file, args.colour)?;
    if let Some(path) = args.params {
        artifact = crate::train::with_params(artifact, path)?;
    }
    // The run file and the flags choose the engine, dt and duration; the compiled kernels fold
    // dt in only when the plan specialises them.
    let model = &mut artifact.model;
    let mut strategy = Strategy::Auto;
    if let Some(c) = &config {
        let sim = &mut model.simulation;
        sim.dt = c.dt.unwrap_or(sim.dt);
        sim.duration = c.duration.unwrap_or(sim.duration);
        sim.backend = c.backend.unwrap_or(sim.backend);
        sim.precision = c.precision.unwrap_or(sim.precision);
        strategy = c.gpu_strategy.unwrap_or(strategy);
    }
    if let Some(s) = args.gpu_strategy {
        strategy = s;
    }
    if let Some(b) = args.backend {
        model.simulation.backend = b;
    }
    if let Some(p) = args.precision {
        model.simulation.precision = p;
    }
    let model = &artifact.model;
    if model.cell_count() == 0 {
        return Err(Failure::Usage(format!("`{}` has no network to simulate", args.file)));
    }
    // The compiler checked the model's own `dt` and `duration`, not the run file's.
    let estimate = Estimate::of(model);
    if let Some(excess) = estimate.excesses().first() {
        let sim = &model.simulation;
        return Err(Failure::Usage(format!(
            "{} (duration {} ms, dt {} ms)",
            excess.describe(),
            limits::number(sim.duration),
            limits::number(sim.dt)
        )));
    }
    fits_in_memory("the run", &estimate)?;
    if model.simulation.backend == Backend::Cpu && model.simulation.precision == Precision::F32 {
        return Err(Failure::Usage(
            "the CPU engine computes in f64 (it is the reference); use `--backend gpu` for f32".into(),
        ));
    }
    let plots = args.plots && config.as_ref().and_then(|c| c.plots).unwrap_or(true);
    let out_dir: PathBuf = match (args.out, config.as_ref().and_then(|c| c.output.clone())) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(dir)) => dir,
        (None, None) => Path::new("sylva-out").join(Path::new(args.file).file_stem().unwrap_or_default()),
    };
    // From here on Ctrl-C stops the run at its next progress report or write instead of
    // killing it, so that it can say where it stopped and remove its temporaries. (Before,
    // there is nothing to clean up.) The handler is set once, before the lock file holds our
    // pid, which tells a test that the handler is in place.
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed))
        .map_err(|e| Failure::Internal(format!("cannot handle Ctrl-C: {e}")))?;
    // Fail before a long run, not after it; the lock keeps other runs out until we are done.
    let _lock = output::prepare_dir(&out_dir).map_err(|e| Failure::Usage(e.to_string()))?;

    let mut sim: Simulation<Box<dyn Engine>> = match model.simulation.backend {
        Backend::Cpu => {
            let options = Options { threads: args.threads, interpret: args.interpret };
            let sim = cpu::Simulation::new(&artifact, options);
            sim.map_err(|e| Failure::Internal(format!("code generation failed: {e}")))?.boxed()
        }
        Backend::Gpu => {
            let solve = args.gpu_solve.unwrap_or_default();
            let options = gpu::Options { strategy, lanes: args.gpu_workgroup_size, solve, ..gpu::Options::default() };
            let sim = GpuSimulation::with_options(&artifact, model.simulation.precision, options);
            sim.map_err(gpu_failure)?.boxed()
        }
    };
    let sim_description = sim.engine().describe();
    let traffic = sim.engine().storage_bytes_per_step();
    let steps = sim.steps();
    let compiled_at = Instant::now();
    let progress = ProgressBar::with_draw_target(Some(sim.steps()), ProgressDrawTarget::hidden());
    progress.set_style(ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} eta {eta}").expect("valid template"));
    let result = sim.run_while(|step, steps| {
        // Only runs longer than about a second show a bar.
        if progress.is_hidden() && compiled_at.elapsed() > Duration::from_secs(1) && step < steps {
            progress.set_draw_target(ProgressDrawTarget::stderr());
        }
        progress.set_position(step);
        if INTERRUPTED.load(Ordering::Relaxed) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    progress.finish_and_clear();
    let run_time = compiled_at.elapsed();
    let interrupted = |t: f64, when: &str| {
        Failure::Interrupted(format!(
            "interrupted at t = {} ms of {} ms{when}; nothing written (`{}` keeps what it had)",
            output::format_number(t),
            output::format_number(model.simulation.duration),
            out_dir.display()
        ))
    };
    let time_reached = |sim: &Simulation<Box<dyn Engine>>| sim.times().last().copied().unwrap_or(0.0);
    if result.map_err(|e| run_failure(model, e))?.is_break() {
        return Err(interrupted(time_reached(&sim), ""));
    }

    let end = time_reached(&sim);
    let recorded = sim.into_recording();
    let (times, columns, spikes) = (recorded.times, recorded.columns, recorded.spikes);
    let spike_count = spikes.len();
    let engine = sim_description;
    let recording = Recording {
        labels: model.network.probes.iter().map(|p| p.label.clone()).collect(),
        times,
        columns,
        spikes,
        units: model.network.probes.iter().map(|p| p.dim.display_unit()).collect(),
    };
    let files = output::write_all(&out_dir, &recording, plots, &INTERRUPTED).map_err(|e| match e {
        OutputError::Interrupted => interrupted(end, ", while writing the outputs"),
        e => Failure::Usage(e.to_string()),
    })?;

    let compartments = membrane_compartments(model);
    println!(
        "{}: {} cells, {compartments} compartments, {steps} steps of {} ms",
        args.file,
        model.cell_count(),
        model.simulation.dt
    );
    let rate = compartments as f64 * steps as f64 / run_time.as_secs_f64().max(1e-9);
    // The GPU's least storage traffic: its bandwidth against the device's copy roofline.
    let bandwidth = traffic.map_or(String::new(), |bytes| {
        let per = bytes as f64 / compartments.max(1) as f64;
        format!("; at least {per:.0} B of storage traffic per compartment-step, {:.3} TB/s", per * rate / 1e12)
    });
    println!(
        "  {} spikes; simulated in {:.3} s ({:.3e} compartment-steps/s, {engine}); {:.3} s in all{bandwidth}",
        spike_count,
        run_time.as_secs_f64(),
        rate,
        started.elapsed().as_secs_f64()
    );
    let mut written = vec![files.trace_csv, files.spikes_csv];
    written.extend(files.plots);
    println!("  wrote {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(())
}

/// Refuses, before anything is allocated, what needs more memory than the machine has free.
pub fn fits_in_memory(what: &str, estimate: &Estimate) -> Result<(), Failure> {
    let Some(available) = available_memory() else { return Ok(()) };
    let needed = estimate.bytes();
    if needed <= available {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "{what} needs at least {} of memory ({} compartments, {} recorded values, {} source spikes), \
         more than the {} available",
        limits::bytes(needed),
        limits::count(estimate.compartments),
        limits::count(estimate.trace_samples),
        limits::count(estimate.source_spikes),
        limits::bytes(available)
    )))
}

/// The memory available to a new process (bytes), where the system says (Linux).
fn available_memory() -> Option<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: f64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024.0)
}

/// Compartments with membrane (NEURON's segments).
pub fn membrane_compartments(model: &ir::Model) -> u64 {
    model
        .network
        .populations
        .iter()
        .map(|p| limits::cell_compartments(&model.cells[p.cell.index()].tree) as u64 * u64::from(p.count))
        .sum()
}

pub fn describe_blowup(model: &ir::Model, b: &Blowup) -> String {
    let (population, index) = model.locate_gid(b.gid).expect("gid of the run");
    let cell = &model.cells[population.cell.index()];
    let node = &cell.tree.nodes[b.node];
    let mut text = format!(
        "error: the simulation diverged: v = {} mV in cell `{}[{index}]` (gid {}) at `{}({:.4})`, t = {} ms (step {})",
        significant(b.value),
        population.name,
        b.gid,
        cell.section_names[node.section as usize],
        node.x,
        significant(b.time),
        b.step
    );
    for (m, s) in &b.suspects {
        let mechanism = &model.mechanisms[*m as usize];
        match s {
            Some(s) => text.push_str(&format!(
                "\n  note: state `{}` of mechanism `{}` is not finite there",
                mechanism.states[*s as usize].name, mechanism.name
            )),
            None => text.push_str(&format!("\n  note: mechanism `{}` is inserted there", mechanism.name)),
        }
    }
    text.push_str("\n  help: a smaller `dt`, or check the parameters of the mechanisms at that location");
    text
}

/// `x` rounded to 6 significant digits, as [`limits::number`] writes it (`-65.0312`, `2.2e6`):
/// the voltage that diverged can be 1e300, which `{}` prints with all of its 301 digits.
fn significant(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let rounded: f64 = format!("{x:.5e}").parse().expect("a number");
    limits::number(rounded)
}

/// A stopped run as the exit code it deserves: the model (diverged), or the GPU.
fn run_failure(model: &ir::Model, e: RunError) -> Failure {
    match e {
        RunError::Diverged(b) => {
            eprintln!("{}", describe_blowup(model, &b));
            Failure::Model
        }
        RunError::Gpu(e) => gpu_failure(e),
    }
}

/// A GPU error as the exit code it deserves: the machine or the model, or a bug.
pub(crate) fn gpu_failure(e: GpuError) -> Failure {
    match e {
        GpuError::NoAdapter | GpuError::NoF64 { .. } | GpuError::Unsupported(_) => Failure::Usage(e.to_string()),
        GpuError::Shader(_) | GpuError::Device(_) | GpuError::SpikeOverflow { .. } | GpuError::Internal(_) => {
            Failure::Internal(e.to_string())
        }
    }
}
