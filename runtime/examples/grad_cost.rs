//! The cost of a gradient against a forward run (issue 11's benchmark; results in
//! docs/training.md): the ringtest at `rings` × 970 compartments over its 100 ms, with every hh
//! density (per group of compartments sharing a value) and both connection weights trainable;
//! the loss: every soma's voltage against the trace of the model with its parameters 5 % off.
//!
//! usage: cargo run --release -p sylva-runtime --example grad_cost -- MODE [RINGS [THREADS]]
//!   MODE: `forward` (the CPU engine, compiled kernels, one thread), `loss` (the gradient's own
//!   forward run, compiled), `gradient` (forward with checkpoints + reverse, each step
//!   replayed), `gradient-tapes` (the reverse keeps a segment's advance partials from its
//!   recomputation instead of computing them again in each replay: faster, more memory).
//!   THREADS (default 1): the gradient's reverse run split by cells on that many threads (its
//!   forward run stays on one). On the GPU: `forward-gpu[-f32][-workgroup]` (the GPU engine)
//!   and `gradient-gpu[-f32][-workgroup]` (three gradients on the GPU), one invocation per cell
//!   or, with `-workgroup`, one workgroup per cell (forward and reverse).
//! Prints the wall and CPU time of the mode (CPU time: less sensitive to a loaded machine); run
//! each under `/usr/bin/time -f %M` for its peak memory.

use std::time::Instant;

use sylva_compiler::artifact::Artifact;
use sylva_compiler::ir::Precision;
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile};
use sylva_runtime::gpu;
use sylva_runtime::grad::{Loss, Problem, Target, Trainable, Use};
use sylva_runtime::plan::Plan;

struct Files;

impl Loader for Files {
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

fn ringtest(rings: u32) -> Artifact {
    let path = "examples/bench/ringtest.syl";
    let text = std::fs::read_to_string(path).expect("run from the repository's root");
    // A probe on every soma, so that the loss sees every cell.
    let probes: String = (0..rings * 10).map(|c| format!("    probe \"v{c}\" = v at cells[{c}].soma(0.5)\n")).collect();
    let at = text.find("network ring").expect("network");
    let end = at + text[at..].find("\n}").expect("end of network");
    let text = format!("{}\n{probes}{}", &text[..end], &text[end..]);
    let mut db = SourceDb::new();
    let root = db.add(path, &text);
    let c = compile(&mut db, root, &mut Files, &[format!("rings={rings}")]);
    c.artifact.unwrap_or_else(|| panic!("{:?}", c.diagnostics))
}

/// Every hh parameter, one trainable per group of compartments sharing a value, and both
/// connection rules' weights.
fn trainables(a: &Artifact) -> Vec<Trainable> {
    let plan = Plan::new(a);
    let hh = a.first_placement_of("hh").expect("hh");
    let mechanism = &a.model.mechanisms[a.placements[hh].mechanism.index()];
    let block = &plan.blocks[hh];
    let mut out = Vec::new();
    for param in 0..mechanism.params.len() as u32 {
        let mut groups: Vec<(f64, Vec<u32>)> = Vec::new();
        for k in 0..block.per_cell {
            let x = block.param_value(param, k);
            match groups.iter_mut().find(|(y, _)| *y == x) {
                Some((_, positions)) => positions.push(k as u32),
                None => groups.push((x, vec![k as u32])),
            }
        }
        for (_, positions) in groups.into_iter().filter(|(x, _)| *x != 0.0) {
            out.push(Trainable { uses: vec![Use::at(hh, param, positions)], ..Trainable::default() });
        }
    }
    for rule in 0..a.model.network.connections.len() as u32 {
        out.push(Trainable { weights: vec![rule], ..Trainable::default() });
    }
    out
}

/// The problem of every trainable, and the loss toward the trace of the model with every
/// trained value 5 % larger.
fn problem_and_loss(a: &Artifact, trainables: &[Trainable], threads: usize) -> (Problem, Loss) {
    let mut problem = Problem::new(a, trainables).expect("differentiable");
    problem.set_threads(threads);
    let values = problem.values();
    problem.set_values(&values.iter().map(|x| x * 1.05).collect::<Vec<_>>());
    let trace = problem.trace().expect("runs");
    problem.set_values(&values);
    let loss =
        Loss { targets: trace.into_iter().enumerate().map(|(probe, values)| Target { probe, values }).collect() };
    (problem, loss)
}

fn precision_of(mode: &str) -> Precision {
    if mode.contains("-f32") { Precision::F32 } else { Precision::F64 }
}

/// A GPU mode's options: one workgroup per cell with `-workgroup`, else one invocation per cell.
fn options_of(mode: &str) -> gpu::Options {
    let strategy = if mode.ends_with("-workgroup") { gpu::Strategy::Workgroup } else { gpu::Strategy::Thread };
    gpu::Options { strategy, ..gpu::Options::default() }
}

/// Three gradients on the GPU, each timed after the device, its pipelines and buffers are set
/// up; in f64 (up to 2e4 compartments), the largest relative difference of the last from the
/// CPU's gradient.
fn gpu_gradients(a: &Artifact, trainables: &[Trainable], mode: &str, threads: usize) {
    let (problem, loss) = problem_and_loss(a, trainables, threads);
    let precision = precision_of(mode);
    let t0 = Instant::now();
    let settings = gpu::grad::Settings { options: options_of(mode), ..gpu::grad::Settings::new(precision) };
    let mut device = gpu::grad::GpuGradient::new(a, &problem, settings).expect("a GPU");
    println!("{mode}: set up in {:.3} s", t0.elapsed().as_secs_f64());
    let mut last = None;
    for _ in 0..3 {
        let t = Instant::now();
        let g = device.gradient(&problem, &loss).expect("gradient");
        println!("{mode}: loss {}, K = {}: {:.3} s", g.loss, g.checkpoint_every, t.elapsed().as_secs_f64());
        last = Some(g);
    }
    // The CPU's gradient takes minutes beyond 1e4 compartments on one thread.
    let compartments = Plan::new(a).nodes.v.len();
    if precision == Precision::F64 && compartments <= 20_000 {
        let (gpu, t) = (last.expect("three gradients"), Instant::now());
        let cpu = problem.gradient(&loss, None).expect("CPU gradient");
        let worst =
            gpu.gradient.iter().zip(&cpu.gradient).map(|(g, c)| (g - c).abs() / g.abs().max(c.abs()).max(1e-300));
        println!(
            "{mode}: largest relative difference from the CPU's gradient {:.1e} over {} trainables (CPU gradient {:.3} s)",
            worst.fold(0.0, f64::max),
            trainables.len(),
            t.elapsed().as_secs_f64()
        );
    }
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (Linux; in units of
/// USER_HZ, 100 per second on Linux's user ABI).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

/// Whether `mode` is `base` with the optional `-f32` and `-workgroup`.
fn is_gpu_mode(mode: &str, base: &str) -> bool {
    let rest = mode.strip_prefix(base);
    let rest = rest.map(|r| r.strip_prefix("-f32").unwrap_or(r));
    rest.is_some_and(|r| r.is_empty() || r == "-workgroup")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "gradient".into());
    let rings: u32 = args.next().map_or(1, |r| r.parse().expect("a number of rings"));
    let threads: usize = args.next().map_or(1, |t| t.parse().expect("a number of threads"));
    let a = ringtest(rings);
    let trainables = trainables(&a);
    let compartments: usize = Plan::new(&a).nodes.v.len();
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    match mode.as_str() {
        "forward" => {
            let mut sim =
                sylva_runtime::cpu::Simulation::new(&a, sylva_runtime::cpu::Options::default()).expect("builds");
            sim.run(|_, _| {}).expect("runs");
        }
        "loss" | "gradient" | "gradient-tapes" => {
            let (mut problem, loss) = problem_and_loss(&a, &trainables, threads);
            let (t1, cpu1) = (Instant::now(), cpu_seconds());
            if mode == "loss" {
                println!("loss {}", problem.loss(&loss).expect("runs"));
            } else {
                if mode == "gradient-tapes" {
                    problem.keep_tapes_within(usize::MAX);
                }
                let g = problem.gradient(&loss, None).expect("gradient");
                println!(
                    "loss {}, K = {}, tapes kept: {}, |gradient|_inf {:e}",
                    g.loss,
                    g.checkpoint_every,
                    g.kept_tapes,
                    g.gradient.iter().fold(0.0f64, |m, x| m.max(x.abs()))
                );
            }
            println!(
                "{mode}: {} trainables, {compartments} nodes: {:.3} s, CPU {:.3} s (target made in {:.3} s)",
                trainables.len(),
                t1.elapsed().as_secs_f64(),
                cpu_seconds() - cpu1,
                (t1 - t0).as_secs_f64()
            );
            return;
        }
        m if is_gpu_mode(m, "forward-gpu") => {
            let mut sim = gpu::GpuSimulation::with_options(&a, precision_of(m), options_of(m)).expect("a GPU");
            sim.run(|_, _| {}).expect("runs");
        }
        m if is_gpu_mode(m, "gradient-gpu") => return gpu_gradients(&a, &trainables, m, threads),
        _ => panic!(
            "mode: forward, loss, gradient, gradient-tapes, forward-gpu[-f32][-workgroup] or \
             gradient-gpu[-f32][-workgroup]"
        ),
    }
    println!("{mode}: {compartments} nodes: {:.3} s, CPU {:.3} s", t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
}
