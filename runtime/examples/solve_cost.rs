//! The Hines solve's cost per node (issue 14; results in docs/performance.md): the ringtest's
//! cells (97-node trees, all of one shape) and the l5pc cell (one 1,689-node tree), solved as
//! one chunk the way the CPU engine solves it, with same-shape cells in SIMD lanes (`lanes`)
//! and without (`side-by-side`, four cells' scalar chains interleaved), alternately.
//!
//! usage: cargo run --release -p sylva-runtime --example solve_cost -- [RINGS [ROUNDS]]
//! Prints per model and arrangement the median over ROUNDS (default 15) of the time per node
//! and solve, each round the mean over enough solves to take about 50 ms. Times are the
//! thread's CPU time, not wall time, so that other work on a shared machine counts less.

use std::ops::Range;
use std::time::Duration;

use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile};
use sylva_runtime::plan::Plan;
use sylva_runtime::plan::solve::{SolveCells, solve_cells};

struct Files;

impl Loader for Files {
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

fn plan(path: &str, sets: &[String]) -> Plan {
    let text = std::fs::read_to_string(path).expect("run from the repository's root");
    let mut db = SourceDb::new();
    let root = db.add(path, &text);
    let c = compile(&mut db, root, &mut Files, sets);
    Plan::new(&c.artifact.unwrap_or_else(|| panic!("{:?}", c.diagnostics)))
}

/// The node range of every cell of `plan`.
fn cells(plan: &Plan) -> Vec<Range<usize>> {
    let total = plan.nodes.v.len();
    let ends = plan.cell_offset.iter().skip(1).copied().chain([total]);
    plan.cell_offset.iter().zip(ends).map(|(&start, end)| start..end).collect()
}

/// The mean time of one solve of all nodes over about 50 ms of solves. Each solve starts from
/// the same values (the copies are timed too, the same for every arrangement).
fn time_solves(plan: &Plan, cells: &SolveCells) -> Duration {
    let n = plan.nodes.v.len();
    let v0 = plan.nodes.v.clone();
    let rhs0: Vec<f64> = (0..n).map(|i| 0.01 * (i * 13 % 19) as f64 - 0.07).collect();
    let diagonal0: Vec<f64> = (0..n).map(|i| 0.05 + 0.002 * (i % 5) as f64).collect();
    let (mut v, mut rhs, mut diagonal) = (v0.clone(), rhs0.clone(), diagonal0.clone());
    let mut solve = || {
        v.copy_from_slice(&v0);
        rhs.copy_from_slice(&rhs0);
        diagonal.copy_from_slice(&diagonal0);
        solve_cells(&mut v, &mut rhs, &mut diagonal, &plan.cable, 0, cells);
    };
    let warm = thread_cpu_time();
    solve();
    let count = (0.05 / (thread_cpu_time() - warm).as_secs_f64()).clamp(1.0, 1e6) as u32;
    let start = thread_cpu_time();
    for _ in 0..count {
        solve();
    }
    (thread_cpu_time() - start) / count
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(status, 0, "clock_gettime");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rings: u32 = args.first().map_or(10, |a| a.parse().expect("RINGS"));
    let rounds: usize = args.get(1).map_or(15, |a| a.parse().expect("ROUNDS"));
    let models = [
        (format!("ringtest, {rings} rings"), plan("examples/bench/ringtest.syl", &[format!("rings={rings}")])),
        ("l5pc".to_string(), plan("examples/bench/l5pc.syl", &[])),
    ];
    for (name, plan) in &models {
        let cells = cells(plan);
        let arrangements = [
            ("side-by-side", SolveCells::side_by_side(&plan.cable, &cells)),
            ("lanes", SolveCells::new(&plan.cable, &cells)),
        ];
        let mut times = vec![Vec::new(); arrangements.len()];
        for _ in 0..rounds {
            for (times, (_, arranged)) in times.iter_mut().zip(&arrangements) {
                times.push(time_solves(plan, arranged));
            }
        }
        let nodes = plan.nodes.v.len();
        println!("{name}: {} cells, {nodes} nodes", cells.len());
        for (times, (label, arranged)) in times.into_iter().zip(&arrangements) {
            let per_node = median(times).as_secs_f64() * 1e9 / nodes as f64;
            println!(
                "  {label:>12}: {per_node:.2} ns per node and solve ({} groups in lanes)",
                arranged.laned_groups()
            );
        }
    }
}
