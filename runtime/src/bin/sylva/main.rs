//! The `sylva` command: the only place that knows about argv, files and terminals.
//!
//! Exit codes: 0 success, 1 the model has errors, 2 usage or I/O error; anything else is an
//! internal error (a panic exits with 101), which no input may cause.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile, ir, render};

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
    },
}

#[derive(Copy, Clone, ValueEnum)]
enum Emit {
    /// The syntax tree of the file.
    Ast,
    /// The checked intermediate representation.
    Ir,
}

/// Reads model, import and SWC files from disk.
struct FsLoader;

impl Loader for FsLoader {
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// A user-facing failure before compiling (usage or I/O): exit code 2.
struct UsageError(String);

fn main() -> ExitCode {
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
        Command::Compile { file, emit, overrides } => compile_and_emit(file, *emit, overrides, colour),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn load_root(db: &mut SourceDb, file: &str) -> Result<sylva_compiler::source::FileId, UsageError> {
    let text = std::fs::read(file).map_err(|e| UsageError(format!("cannot read `{file}`: {e}")))?;
    let text = String::from_utf8(text).map_err(|_| UsageError(format!("`{file}` is not UTF-8 text")))?;
    let name = Path::new(file).to_string_lossy().replace('\\', "/");
    Ok(db.add(name, text))
}

/// Prints diagnostics and a summary line; returns whether there were errors.
fn report(db: &SourceDb, diagnostics: &[sylva_compiler::diagnostics::Diagnostic], colour: bool) -> bool {
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

fn check(files: &[String], overrides: &[String], colour: bool) -> Result<ExitCode, UsageError> {
    let mut failed = false;
    for file in files {
        let mut db = SourceDb::new();
        let root = load_root(&mut db, file)?;
        let compilation = compile(&mut db, root, &mut FsLoader, overrides);
        failed |= report(&db, &compilation.diagnostics, colour);
        if !compilation.has_errors() {
            println!("{file}: ok{}", summary(compilation.model.as_ref()));
        }
    }
    Ok(ExitCode::from(u8::from(failed)))
}

fn summary(model: Option<&ir::Model>) -> String {
    let Some(model) = model else { return String::new() };
    let cells = model.cell_count();
    if cells == 0 {
        return format!(" ({} mechanisms)", model.mechanisms.len());
    }
    let compartments: u64 = model
        .network
        .populations
        .iter()
        .map(|p| {
            let cell = &model.cells[p.cell.index()];
            let membrane = cell.tree.nodes.iter().filter(|n| n.area_um2 > 0.0).count() as u64;
            membrane * u64::from(p.count)
        })
        .sum();
    format!(" ({cells} cells, {compartments} compartments, {} probes)", model.network.probes.len())
}

fn compile_and_emit(file: &str, emit: Emit, overrides: &[String], colour: bool) -> Result<ExitCode, UsageError> {
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
            if let Some(model) = &compilation.model {
                let _ = stdout.write_all(ir::print(model).as_bytes());
            }
        }
    }
    Ok(ExitCode::from(u8::from(failed)))
}
