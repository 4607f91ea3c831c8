//! The `sylva` command: the only place that knows about argv, files and terminals.
//!
//! Exit codes: 0 success, 1 the model has errors (or its simulation diverged), 2 usage or I/O
//! error, 70 an internal error reported as such, 130 a run stopped by Ctrl-C (128 + SIGINT, as
//! shells report it); a panic exits with 101. No input may cause 70 or 101.

mod import;
mod lsp;
mod run;
mod train;
mod train_samples;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sylva_compiler::diagnostics::Diagnostic;
use sylva_compiler::limits::Estimate;
use sylva_compiler::source::{FileId, SourceDb, Span};
use sylva_compiler::{Loader, Setting, artifact, compile, compile_with_settings, ir, render};
use sylva_runtime::gpu::{Solve, Strategy};
use sylva_runtime::output;
pub use sylva_runtime::output::read_source;

#[derive(Parser)]
#[command(name = "sylva", version, about = "Compile and simulate biophysically detailed neuron models")]
struct Cli {
    /// Colour diagnostics: auto (when writing to a terminal), always or never.
    #[arg(long, global = true, default_value = "auto")]
    color: Colour,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, ValueEnum)]
enum Colour {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Check models and report every problem.
    Check {
        #[arg(required = true)]
        files: Vec<String>,
        /// Override a top-level parameter: `--set rings=10`, `--set weight=0.05uS`.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        overrides: Vec<String>,
    },
    /// Compile a model and print an intermediate form.
    Compile {
        file: String,
        #[arg(long, value_enum, default_value = "ir")]
        emit: Emit,
        #[arg(long = "set", value_name = "NAME=VALUE")]
        overrides: Vec<String>,
        /// With `--emit wgsl`: how cells map onto the GPU (see `run --gpu-strategy`).
        #[arg(long, value_enum, default_value = "auto")]
        gpu_strategy: StrategyArg,
    },
    /// Compile and simulate a model; write trace.csv, spikes.csv and plots.
    Run {
        file: String,
        /// Output directory (default: sylva-out/<model name>).
        #[arg(short, long)]
        out: Option<PathBuf>,
        #[arg(long = "set", value_name = "NAME=VALUE")]
        overrides: Vec<String>,
        /// A YAML run file (dt, duration, parameter overrides, outputs); see docs/outputs.md.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        #[arg(long, value_enum)]
        precision: Option<PrecisionArg>,
        /// GPU only: one invocation per cell (`thread`, for networks), one workgroup per cell
        /// with a parallel Hines solve (`workgroup`, for big cells), or chosen per cell type.
        #[arg(long, value_enum)]
        gpu_strategy: Option<StrategyArg>,
        /// GPU only: invocations per workgroup for cells that run a workgroup each (default:
        /// an eighth of the cell's nodes as a power of two, 32 to 1024 as the device allows;
        /// twice that in f64 for networks that leave the GPU idle).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        gpu_workgroup_size: Option<u32>,
        /// GPU only, cells that run a workgroup each: long unbranched chains of the tree cut
        /// into pieces solved concurrently (`split`, the default: a shorter serial path, the
        /// last bits differ from the CPU's), or every chain walked by one lane (`chains`: the
        /// CPU engine's order of operations).
        #[arg(long, value_enum)]
        gpu_solve: Option<SolveArg>,
        /// Worker threads across cells (default: the threads the machine runs at once, its
        /// available parallelism); results are identical for any number. More than the machine
        /// runs at once are reduced to that, with a warning.
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Do not draw trace.svg and raster.svg.
        #[arg(long)]
        no_plots: bool,
        /// Interpret the kernels instead of compiling them (reference semantics; slow).
        #[arg(long)]
        interpret: bool,
        /// Learned values to run with: the `params.yaml` that `sylva train` writes.
        #[arg(long, value_name = "PARAMS.YAML")]
        params: Option<PathBuf>,
    },
    /// The loss of the model's `train` block and its gradient at the start values.
    Grad {
        file: String,
        /// Compare each derivative with a fourth-order central difference of the loss; fails
        /// when one differs by more than 1e-6 (relative).
        #[arg(long)]
        check: bool,
        #[arg(long = "set", value_name = "NAME=VALUE")]
        overrides: Vec<String>,
        #[command(flatten)]
        device: GradientDeviceArgs,
    },
    /// Fit the trainable parameters of the model's `train` block; write params.yaml, loss.csv
    /// and loss.svg.
    Train {
        file: String,
        /// Output directory (default: sylva-out/<model name>-train).
        #[arg(short, long)]
        out: Option<PathBuf>,
        #[arg(long = "set", value_name = "NAME=VALUE")]
        overrides: Vec<String>,
        /// Do not draw loss.svg.
        #[arg(long)]
        no_plots: bool,
        /// Start from the values of a params.yaml (a checkpoint of an earlier training).
        #[arg(long, value_name = "PARAMS.YAML")]
        resume: Option<PathBuf>,
        #[command(flatten)]
        device: GradientDeviceArgs,
    },
    /// Run the language server on stdin/stdout (for editors; see docs/editors.md).
    Lsp,
    /// Translate NMODL files (`.mod`) to Sylva, one `.syl` per mechanism (docs/nmodl.md).
    Import {
        #[arg(required = true)]
        files: Vec<String>,
        /// Output directory (default: the current directory).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

/// Where `sylva grad` and `sylva train` compute losses and gradients.
#[derive(Args)]
struct GradientDeviceArgs {
    /// Threads for the samples of a batch, or without samples for the gradient's reverse
    /// run split by cells (default: the machine's); results are identical for any number.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Where the losses and gradients are computed (default: the CPU). The GPU runs in the
    /// model's precision or `--precision`; a batch's samples at once, as replicas of the network.
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    #[arg(long, value_enum)]
    precision: Option<PrecisionArg>,
    /// GPU only: one invocation per cell (`thread`), one workgroup per cell (`workgroup`),
    /// or chosen per cell type (`auto`, the default: workgroups for big cells), forward and
    /// reverse alike (see `run --gpu-strategy`).
    #[arg(long, value_enum)]
    gpu_strategy: Option<StrategyArg>,
}

#[derive(Copy, Clone, ValueEnum)]
enum Emit {
    /// The syntax tree of the file.
    Ast,
    /// The checked intermediate representation.
    Ir,
    /// The artifact the engines run: species, placements and their stage kernels.
    Kernels,
    /// The Cranelift IR of every kernel of the CPU engine.
    Clif,
    /// The WGSL of the GPU engine (one entry point per cell type), in the model's precision.
    Wgsl,
}

#[derive(Copy, Clone, ValueEnum)]
enum BackendArg {
    Cpu,
    Gpu,
}

#[derive(Copy, Clone, ValueEnum)]
enum StrategyArg {
    Auto,
    Thread,
    Workgroup,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Auto => Strategy::Auto,
            StrategyArg::Thread => Strategy::Thread,
            StrategyArg::Workgroup => Strategy::Workgroup,
        }
    }
}

#[derive(Copy, Clone, ValueEnum)]
enum SolveArg {
    Split,
    Chains,
}

#[derive(Copy, Clone, ValueEnum)]
enum PrecisionArg {
    F64,
    F32,
}

/// Where `sylva grad` and `sylva train` compute gradients: the CPU (f64 only), or the GPU.
impl GradientDeviceArgs {
    /// The device asked for; f32 and a GPU strategy need `--backend gpu`.
    fn device(&self) -> Result<train::Device, Failure> {
        let precision = self.precision.map(|p| match p {
            PrecisionArg::F64 => ir::Precision::F64,
            PrecisionArg::F32 => ir::Precision::F32,
        });
        match (self.backend, precision, self.gpu_strategy) {
            (Some(BackendArg::Gpu), _, strategy) => {
                Ok(train::Device::Gpu(precision, strategy.map_or(Strategy::Auto, Strategy::from)))
            }
            (_, Some(ir::Precision::F32), _) => Err(Failure::Usage(
                "the CPU computes gradients in f64 (it is the reference); use `--backend gpu` for f32".into(),
            )),
            (_, _, Some(_)) => Err(Failure::Usage("`--gpu-strategy` needs `--backend gpu`".into())),
            _ => Ok(train::Device::Cpu),
        }
    }
}

/// Reads model, import and SWC files from disk.
struct FsLoader;

impl Loader for FsLoader {
    fn read(&mut self, path: &str) -> Result<String, String> {
        read_source(path)
    }
}

/// Why a command failed.
pub enum Failure {
    /// The model has errors (already printed), or its simulation diverged: exit 1.
    Model,
    /// Usage or I/O: exit 2.
    Usage(String),
    /// A bug in Sylva: exit 70.
    Internal(String),
    /// Ctrl-C stopped the run; the message says where: exit 130.
    Interrupted(String),
}

fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let colour = match cli.color {
        Colour::Auto => std::io::stderr().is_terminal(),
        Colour::Always => true,
        Colour::Never => false,
    };
    let result = match &cli.command {
        Command::Check { files, overrides } => check(files, overrides, colour),
        Command::Compile { file, emit, overrides, gpu_strategy } => {
            compile_and_emit(file, *emit, overrides, (*gpu_strategy).into(), colour)
        }
        Command::Run {
            file,
            out,
            overrides,
            config,
            backend,
            precision,
            gpu_strategy,
            gpu_workgroup_size,
            gpu_solve,
            threads,
            no_plots,
            interpret,
            params,
        } => run::run(&run::RunArgs {
            file,
            out: out.as_deref(),
            overrides,
            config: config.as_deref(),
            backend: backend.map(|b| match b {
                BackendArg::Cpu => ir::Backend::Cpu,
                BackendArg::Gpu => ir::Backend::Gpu,
            }),
            precision: precision.map(|p| match p {
                PrecisionArg::F64 => ir::Precision::F64,
                PrecisionArg::F32 => ir::Precision::F32,
            }),
            gpu_strategy: gpu_strategy.map(Strategy::from),
            gpu_workgroup_size: *gpu_workgroup_size,
            gpu_solve: gpu_solve.map(|s| match s {
                SolveArg::Split => Solve::Split,
                SolveArg::Chains => Solve::Chains,
            }),
            threads: threads.map_or_else(available_threads, worker_threads),
            plots: !no_plots,
            interpret: *interpret,
            params: params.as_deref(),
            colour,
        }),
        Command::Grad { file, check, overrides, device: asked } => asked
            .device()
            .and_then(|device| with_pool(asked.threads, || train::grad(file, overrides, *check, device, colour))),
        Command::Train { file, out, overrides, no_plots, resume, device: asked } => asked.device().and_then(|device| {
            let args = train::TrainArgs {
                file,
                out: out.as_deref(),
                overrides,
                resume: resume.as_deref(),
                plots: !no_plots,
                colour,
                device,
            };
            with_pool(asked.threads, || train::train(&args))
        }),
        Command::Lsp => lsp::serve(),
        Command::Import { files, out } => import::import(files, out.as_deref(), colour),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Model) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Internal(message)) => {
            eprintln!(
                "internal error: {message}\nThis is a bug in Sylva; please report it with the model that caused it."
            );
            ExitCode::from(70)
        }
        Err(Failure::Interrupted(message)) => {
            eprintln!("{message}");
            ExitCode::from(130)
        }
    }
}

/// `--threads`, at most what the machine runs at once: more never run faster (the step is
/// bound by computation) and each costs a stack (`--threads 100000` spawned them all).
fn worker_threads(asked: usize) -> usize {
    let available = available_threads();
    if asked > available {
        eprintln!("warning: --threads {asked}: using {available}, the threads this machine runs at once");
    }
    asked.clamp(1, available)
}

/// Output into a pipe whose reader has gone (`sylva grad … | head -1`) ends the process as it
/// ends other Unix tools, by SIGPIPE, instead of a panic in `println!` (Rust ignores SIGPIPE).
fn end_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; restores the
    // default disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The threads the machine runs at once: `--threads`'s default.
fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs `f` on a rayon pool of `--threads` threads (default: the machine's).
fn with_pool(threads: Option<usize>, f: impl FnOnce() -> Result<(), Failure> + Send) -> Result<(), Failure> {
    let n = threads.map_or_else(available_threads, worker_threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Failure::Internal(format!("cannot start {n} threads: {e}")))?;
    pool.install(f)
}

fn load_root(db: &mut SourceDb, file: &str) -> Result<FileId, Failure> {
    let text = read_source(file).map_err(|e| Failure::Usage(format!("cannot read `{file}`: {e}")))?;
    let name = Path::new(file).to_string_lossy().replace('\\', "/");
    Ok(db.add(name, text))
}

/// Prints diagnostics and a summary line; returns whether there were errors.
fn report(db: &SourceDb, diagnostics: &[Diagnostic], colour: bool) -> bool {
    let text = render::render(db, diagnostics, colour);
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        let _ = writeln!(
            stderr,
            "error: could not compile: {errors} error{}, {warnings} warning{}",
            plural(errors),
            plural(warnings)
        );
    }
    errors > 0
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Compiles `file` with `--set` overrides and, for `sylva run`, a run file's (path, text,
/// `set` entries), so that a bad entry is reported where it is written.
pub fn compile_root(
    file: &str,
    overrides: &[String],
    run_file: Option<(&Path, &str, &[output::Setting])>,
    colour: bool,
) -> Result<artifact::Artifact, Failure> {
    compile_located(file, overrides, run_file, colour).map(|c| c.artifact)
}

/// A compiled model with its sources, to locate what the runtime finds wrong in them.
pub struct Compiled {
    pub db: SourceDb,
    pub root: FileId,
    pub artifact: artifact::Artifact,
}

/// [`compile_root`], keeping the sources.
pub fn compile_located(
    file: &str,
    overrides: &[String],
    run_file: Option<(&Path, &str, &[output::Setting])>,
    colour: bool,
) -> Result<Compiled, Failure> {
    let mut db = SourceDb::new();
    let root = load_root(&mut db, file)?;
    let mut settings = Vec::new();
    if let Some((path, text, set)) = run_file {
        let id = db.add(path.display().to_string(), text.to_owned());
        let span = |r: &std::ops::Range<usize>| Span { file: id, start: r.start as u32, end: r.end as u32 };
        settings.extend(set.iter().map(|s| Setting {
            name: s.name.clone(),
            value: s.value.clone(),
            name_span: span(&s.name_at),
            value_span: span(&s.value_at),
        }));
    }
    let compilation = compile_with_settings(&mut db, root, &mut FsLoader, overrides, &settings);
    report(&db, &compilation.diagnostics, colour);
    let artifact = compilation.artifact.ok_or(Failure::Model)?;
    Ok(Compiled { db, root, artifact })
}

/// Prints an error the runtime found in a model, at `span`, as the compiler's diagnostics look
/// (without a code: codes are the compiler's), with `notes` under it.
pub fn report_at(db: &SourceDb, span: Span, message: &str, notes: &[String], colour: bool) {
    report_coded(db, span, None, message, notes, colour);
}

/// [`report_at`] with a diagnostic code (`E0711`), documented in docs/diagnostics/.
pub fn report_coded(db: &SourceDb, span: Span, code: Option<&str>, message: &str, notes: &[String], colour: bool) {
    use codespan_reporting::diagnostic as cs;
    use codespan_reporting::term::{self, termcolor};
    let mut diagnostic = cs::Diagnostic::error();
    if let Some(code) = code {
        diagnostic = diagnostic.with_code(code);
    }
    let diagnostic = diagnostic
        .with_message(message)
        .with_labels(vec![cs::Label::primary(span.file, span.range())])
        .with_notes(notes.to_vec());
    let mut buffer = if colour { termcolor::Buffer::ansi() } else { termcolor::Buffer::no_color() };
    let text = match term::emit_to_write_style(&mut buffer, &term::Config::default(), db, &diagnostic) {
        Ok(()) => String::from_utf8_lossy(buffer.as_slice()).into_owned(),
        Err(_) => {
            let file = db.get(span.file);
            let (line, col) = file.line_col(span.start as usize);
            let code = code.map(|c| format!("[{c}]")).unwrap_or_default();
            format!("error{code}: {message}\n  --> {}:{line}:{col}\n", file.name)
        }
    };
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn check(files: &[String], overrides: &[String], colour: bool) -> Result<(), Failure> {
    let mut failed = false;
    for file in files {
        match compile_root(file, overrides, None, colour) {
            Ok(artifact) => println!("{file}: ok{}", summary(&artifact.model)),
            Err(Failure::Model) => failed = true,
            Err(other) => return Err(other),
        }
    }
    if failed { Err(Failure::Model) } else { Ok(()) }
}

fn summary(model: &ir::Model) -> String {
    let cells = model.cell_count();
    if cells == 0 {
        return format!(" ({} mechanisms)", model.mechanisms.len());
    }
    format!(
        " ({cells} cells, {} compartments, {} probes)",
        run::membrane_compartments(model),
        model.network.probes.len()
    )
}

fn compile_and_emit(
    file: &str,
    emit: Emit,
    overrides: &[String],
    strategy: Strategy,
    colour: bool,
) -> Result<(), Failure> {
    let mut db = SourceDb::new();
    let root = load_root(&mut db, file)?;
    let compilation = compile(&mut db, root, &mut FsLoader, overrides);
    let failed = report(&db, &compilation.diagnostics, colour);
    let mut stdout = std::io::stdout().lock();
    match emit {
        Emit::Ast => {
            let parsed = compilation.files.iter().find(|(f, _)| *f == root).map(|(_, a)| a);
            let _ = writeln!(stdout, "{parsed:#?}");
        }
        Emit::Ir => {
            if let Some(model) = compilation.model() {
                let _ = stdout.write_all(ir::print(model).as_bytes());
            }
        }
        Emit::Kernels => {
            if let Some(artifact) = &compilation.artifact {
                let _ = stdout.write_all(artifact::print(artifact).as_bytes());
            }
        }
        Emit::Wgsl => {
            if let Some(artifact) = &compilation.artifact {
                let model = &artifact.model;
                // The GPU's code is generated from a built model, which records nothing.
                run::fits_in_memory("code generation", &Estimate { trace_samples: 0.0, ..Estimate::of(model) })?;
                let text =
                    sylva_runtime::gpu::wgsl(artifact, model.simulation.precision, strategy).map_err(|e| match e {
                        sylva_runtime::gpu::GpuError::Unsupported(_) => Failure::Usage(e.to_string()),
                        _ => Failure::Internal(format!("code generation failed: {e}")),
                    })?;
                let _ = stdout.write_all(text.as_bytes());
            }
        }
        Emit::Clif => {
            if let Some(artifact) = &compilation.artifact {
                let text = sylva_runtime::cpu::clif_text(artifact)
                    .map_err(|e| Failure::Internal(format!("code generation failed: {e}")))?;
                let _ = stdout.write_all(text.as_bytes());
            }
        }
    }
    if failed { Err(Failure::Model) } else { Ok(()) }
}
