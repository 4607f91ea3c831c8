//! The CPU engine: the plan's arrays stepped in place, by compiled kernels (Cranelift, per
//! chunk of whole cells in parallel) or by the reference interpreter. Runs the stages of
//! [`schedule::STEP`] in order.

mod window;

use std::sync::atomic::{AtomicBool, Ordering};

use sylva_compiler::artifact::Artifact;

use super::compiled::{self, Chunk, CompiledBlock, Shared};
use super::jit::JitError;
use super::team::Team;
use crate::host::Host;
use crate::host::blowup;
use crate::plan::schedule::{self, Stage};
use crate::plan::{Detector, Plan};
use crate::simulation::{Engine, RunError};

/// How to run.
#[derive(Copy, Clone, Debug)]
pub struct Options {
    /// Worker threads across cells (1: the calling thread only).
    pub threads: usize,
    /// Interpret the kernels instead of compiling them (the reference semantics; slow).
    pub interpret: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { threads: 1, interpret: false }
    }
}

/// Nodes per chunk, at most about, where windows may run: about 600 KB of arrays at ~150 bytes
/// per node, well inside a 2 MB L2 cache.
const WINDOW_CHUNK_NODES: usize = 4000;

/// Steps between progress reports.
const STRIDE: u64 = 256;

pub struct CpuEngine {
    plan: Plan,
    /// `None` when interpreting.
    compiled: Option<Vec<CompiledBlock>>,
    chunks: Vec<Chunk>,
    /// The per-cell stages in passes that every chunk finishes before the next (several when
    /// a mechanism reads another cell's voltage).
    passes: Vec<Vec<Stage>>,
    team: Option<Team>,
    /// Why the run is serial although several threads were asked for.
    team_error: Option<String>,
    threads_asked: usize,
    /// Whether each detector's voltage was at or above threshold at the last check (atomic:
    /// in windows, each chunk's task updates its own detectors').
    above: Vec<AtomicBool>,
    /// The windows of steps the chunks run on their own, where the model allows them.
    windows: Option<window::Windows>,
    /// Per species: no kernel or probe reads its current, so the compiled kernels skip it.
    unread_currents: Vec<bool>,
}

/// A run on the CPU.
pub type Simulation = crate::Simulation<CpuEngine>;

impl crate::Simulation<CpuEngine> {
    /// Builds the simulation; a JIT failure is an internal error.
    pub fn new(artifact: &Artifact, options: Options) -> Result<Simulation, JitError> {
        let mut plan = Plan::new(artifact);
        let mut host = Host::new(&mut plan, artifact.model.simulation.steps() as u64);
        let engine = CpuEngine::new(plan, options)?;
        host.record(0.0, engine.probe_values());
        Ok(crate::Simulation::from_parts(engine, host))
    }
}

impl CpuEngine {
    /// The engine that steps `plan`'s arrays from their initial state.
    pub fn new(mut plan: Plan, options: Options) -> Result<CpuEngine, JitError> {
        // The compiled steps sum currents into these without clearing them first (every step's
        // solve leaves them zero): clear what the initialisation's solve left.
        plan.nodes.rhs.fill(0.0);
        plan.nodes.diagonal.fill(0.0);
        let unread_currents = compiled::unread_currents(&plan);
        let compiled = if options.interpret {
            None
        } else {
            let p = &mut plan;
            Some(
                p.blocks
                    .iter_mut()
                    .map(|block| compiled::compile_block(block, &mut p.nodes, &mut p.ions, &unread_currents))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let asked = options.threads.max(1);
        let passes = schedule::per_cell_passes(plan.blocks.iter().any(|b| !b.pre_node.is_empty()));
        // Four chunks per thread balance the threads; where windows may run (one pass), chunks
        // of at most about `WINDOW_CHUNK_NODES` keep their arrays in the core's cache for the
        // whole window (ringtest 1e5 on one thread: 10 % faster in 25 chunks than in one).
        let balanced = if asked == 1 { 1 } else { asked * 4 };
        let cached = if passes.len() == 1 { plan.nodes.v.len() / WINDOW_CHUNK_NODES } else { 1 };
        let chunks = compiled::chunks(&plan, balanced.max(cached));
        // A thread without a chunk of cells only waits for the others at every pass: one cell on
        // 8 threads ran 1.6 times slower than on one (docs/performance.md).
        let threads = asked.min(chunks.len());
        // Without the team the run is serial and gives the same bits, only slower: a warning,
        // not an error.
        let (team, team_error) = match (threads > 1 && !options.interpret).then(|| Team::new(threads)) {
            Some(Err(e)) => (None, Some(e.to_string())),
            built => (built.and_then(Result::ok), None),
        };
        let above = std::mem::take(&mut plan.above).into_iter().map(AtomicBool::new).collect();
        let windows = compiled.is_some().then(|| window::Windows::new(&plan, &chunks, passes.len())).flatten();
        Ok(CpuEngine {
            plan,
            compiled,
            chunks,
            passes,
            team,
            team_error,
            threads_asked: asked,
            above,
            windows,
            unread_currents,
        })
    }

    /// The threads the run uses: 1 when interpreting or when the team of threads could not be
    /// started.
    pub fn threads(&self) -> usize {
        self.team.as_ref().map_or(1, Team::size)
    }

    /// Why the run is serial although several threads were asked for (the system refused
    /// the team's threads).
    pub fn team_error(&self) -> Option<&str> {
        self.team_error.as_deref()
    }

    /// One step of the schedule, from the host's current step.
    fn step(&mut self, host: &mut Host) -> Result<(), RunError> {
        let step = host.step();
        let t = host.time_of(step);
        let mid = t + self.plan.dt / 2.0;
        let t_next = host.time_of(step + 1);
        // The compiled step runs every per-cell stage per chunk of cells, in schedule order,
        // and tells whether the chunks' voltages are all good.
        let mut compiled_good = None;
        for stage in schedule::STEP {
            match stage {
                Stage::DeliverEvents => self.deliver_events(host, step, t),
                _ if stage.is_per_cell() && self.compiled.is_some() => {
                    if compiled_good.is_none() {
                        compiled_good = Some(self.step_compiled(mid));
                    }
                }
                Stage::Reversals | Stage::Currents | Stage::Solve | Stage::Advance => {
                    self.plan.interpret_stage(stage, &[], t)
                }
                Stage::Detect => {
                    // A diverged step is reported before its spikes and its row.
                    if compiled_good != Some(true) {
                        self.check_finite(step + 1, t_next)?;
                    }
                    self.detect(host, t_next);
                }
                Stage::Record => host.record(t_next, self.probe_values()),
            }
        }
        host.finish_steps(1);
        Ok(())
    }

    fn deliver_events(&mut self, host: &mut Host, step: u64, t: f64) {
        while let Some(e) = host.pop_due(step) {
            match &self.compiled {
                // SAFETY: the instance is in range; no kernel runs meanwhile.
                Some(compiled) => unsafe {
                    compiled[e.block as usize].deliver(e.instance as usize, e.weight, &self.plan.scalars(t))
                },
                None => self.plan.interpret_event(e.block, e.instance, e.weight, t),
            }
        }
    }

    /// The per-cell passes of a step; whether every voltage is good after them (each chunk
    /// checks its own while they are in its cache).
    fn step_compiled(&mut self, mid: f64) -> bool {
        let scalars = self.plan.scalars(mid);
        let celsius = self.plan.celsius;
        let p = &mut self.plan;
        let compiled = self.compiled.as_deref().expect("compiled");
        let shared = Shared::new((&mut p.nodes, &mut p.ions, &p.species), &p.cable, compiled, &self.unread_currents);
        let chunks = &self.chunks;
        let good = AtomicBool::new(true);
        for (k, stages) in self.passes.iter().enumerate() {
            let last = k + 1 == self.passes.len();
            let run = |chunk: &Chunk| {
                // SAFETY: chunks cover disjoint whole cells and write only their own nodes;
                // `v_pre` reads other cells' voltage only in passes that no chunk writes it in.
                unsafe { shared.step_chunk(chunk, stages, &scalars, celsius) };
                // SAFETY: the chunk's own nodes, after its kernels.
                if last && !unsafe { shared.voltages_good(chunk) } {
                    good.store(false, Ordering::Relaxed);
                }
            };
            match &self.team {
                Some(team) => team.run(chunks.len(), &|c| run(&chunks[c])),
                None => chunks.iter().for_each(run),
            }
        }
        good.into_inner()
    }

    /// The divergence report of the first cell with a bad voltage, after step `step`.
    fn check_finite(&self, step: u64, time: f64) -> Result<(), RunError> {
        blowup::of_plan(&self.plan, step, time).map_or(Ok(()), |b| Err(RunError::Diverged(b)))
    }

    fn probe_values(&self) -> impl Iterator<Item = f64> + '_ {
        self.plan.probes.iter().map(|probe| self.plan.probe_value(probe))
    }

    /// Upward threshold crossings at the grid point, as NEURON's NetCon reports them.
    fn detect(&mut self, host: &mut Host, t: f64) {
        for (d, above) in self.plan.detectors.iter().zip(&self.above) {
            if crossed(d, self.plan.nodes.v[d.node], above) {
                host.spike(d.gid, t);
            }
        }
    }
}

/// Whether the detector's voltage, now `v`, crossed its threshold upwards since the last check
/// (`above`: whether it was at or above then; updated).
fn crossed(detector: &Detector, v: f64, above: &AtomicBool) -> bool {
    let now = v >= detector.threshold;
    !above.swap(now, Ordering::Relaxed) && now
}

impl Engine for CpuEngine {
    fn advance(&mut self, host: &mut Host, steps: u64) -> Result<(), RunError> {
        let mut left = steps.min(host.steps_left());
        match self.windows.as_ref().and_then(|_| window::window_steps(host.min_delay(), self.plan.dt)) {
            Some(window) => {
                while left > 0 {
                    let n = left.min(window);
                    self.run_window(host, n)?;
                    left -= n;
                }
            }
            None => (0..left).try_for_each(|_| self.step(host))?,
        }
        Ok(())
    }

    fn stride(&self) -> u64 {
        STRIDE
    }

    fn describe(&self) -> String {
        let used = self.threads();
        let mut text = format!("CPU, {used} thread{}", if used == 1 { "" } else { "s" });
        if let Some(e) = &self.team_error {
            text += &format!(" (warning: {} asked for, but the thread pool failed: {e})", self.threads_asked);
        } else if self.chunks.len() < self.threads_asked {
            text += &format!(" of {} asked for: one per chunk of cells", self.threads_asked);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::compiled;

    const MODEL: &str = "import hh\n\ncell c {\n    morphology { section soma { length = 20 um, diam = 20 um } }\n    \
                         insert hh in soma\n}\n\nnetwork n {\n    population p = c[4]\n}\n\n\
                         simulation { dt = 0.025 ms, duration = 1 ms }\n";

    /// Parameter values placed on a soma and a dendrite, probed: `g` differs between nodes (a
    /// per-instance parameter), `e` does not (a constant of the block);
    /// dt = 0.03 ms, whose inverse is not a whole number.
    const PLACED: &str = "import pas\n\ncell c {\n    morphology {\n        section soma { length = 20 um, diam = 20 um }\n        \
                          section dend at soma(1) { length = 100 um, diam = 2 um, nseg = 5 }\n    }\n    \
                          insert pas in soma { g = 1e-3 S/cm2 }\n    \
                          insert pas in dend { g = 1e-4 S/cm2 * (1 + distance / 100 um) }\n}\n\n\
                          network n {\n    population p = c[1]\n    probe \"g_soma\" = pas.g at p[0].soma(0.5)\n    \
                          probe \"g_dend\" = pas.g at p[0].dend(0.9)\n    \
                          probe \"e_dend\" = pas.e at p[0].dend(0.9)\n}\n\n\
                          simulation { dt = 0.03 ms, duration = 0.3 ms }\n";

    /// 13 alike cells in 3 chunks: every chunk holds whole groups of four (none is split, which
    /// would leave cells to the slower lone solve), the one cell left over goes to the last;
    /// in 12, one or two cells each.
    #[test]
    fn chunks_keep_the_solve_groups_whole() {
        let model = MODEL.replace("c[4]", "c[13]");
        let plan = Plan::new(&compiled("chunks.syl", &model));
        let chunks = compiled::chunks(&plan, 3);
        let cells_of = |c: &Chunk| c.nodes.len() / (plan.nodes.v.len() / 13);
        assert_eq!(chunks.iter().map(cells_of).collect::<Vec<_>>(), [4, 4, 5]);
        assert_eq!(chunks.iter().map(|c| c.cells.laned_groups()).collect::<Vec<_>>(), [1, 1, 1]);
        // Fewer groups than chunks asked for: cut between cells (threads for few big cells).
        assert_eq!(compiled::chunks(&plan, 12).len(), 12);
    }

    #[test]
    fn parameter_probes_read_the_placed_values() {
        let mut sim = Simulation::new(&compiled("placed.syl", PLACED), Options::default()).expect("builds");
        sim.run(|_, _| {}).expect("runs");
        // In S/cm2; dend(0.9) is 10 um + 90 um from the soma's centre.
        assert!(sim.columns()[0].iter().all(|g| *g == 1e-3), "{:?}", sim.columns()[0]);
        assert!(sim.columns()[1].iter().all(|g| (g - 2e-4).abs() <= 1e-18), "{:?}", sim.columns()[1]);
        assert!(sim.columns()[2].iter().all(|e| *e == -70.0), "{:?}", sim.columns()[2]);
    }

    /// hh's sodium and potassium currents: nothing reads them in `MODEL` (the compiled
    /// kernels skip them); a probe records `ina` in `probed` (the compiled run then records
    /// what the interpreter does, and it is not zero), while `ik` stays unread.
    #[test]
    fn ion_currents_are_skipped_only_where_nothing_reads_them() {
        let unread = compiled::unread_currents(&Plan::new(&compiled("pool.syl", MODEL)));
        assert_eq!(unread, [true, true]);
        let probed =
            MODEL.replace("population p = c[4]", "population p = c[4]\n    probe \"ina\" = ina at p[1].soma(0.5)");
        let artifact = compiled("probed.syl", &probed);
        let plan = Plan::new(&artifact);
        let na = plan.species.iter().position(|s| s.name == "na").expect("hh uses na");
        let unread = compiled::unread_currents(&plan);
        assert!(!unread[na] && unread[1 - na], "{unread:?}");
        let run = |interpret: bool| {
            let mut sim = Simulation::new(&artifact, Options { interpret, ..Options::default() }).expect("builds");
            sim.run(|_, _| {}).expect("runs");
            sim.columns()[0].clone()
        };
        let (jit, interpreted) = (run(false), run(true));
        assert!(jit.iter().skip(1).all(|i| *i != 0.0), "{jit:?}");
        assert_eq!(jit, interpreted);
    }

    #[test]
    fn grid_times_are_exact() {
        // 1/dt whole: n / (1/dt), so 284 steps of 0.025 ms are 7.1 ms to the last bit.
        let sim = Simulation::new(&compiled("pool.syl", MODEL), Options::default()).expect("builds");
        assert_eq!(sim.time_of(284), 7.1);
        assert_eq!(sim.time_of(40), 1.0);
        // Otherwise n * dt.
        let mut sim = Simulation::new(&compiled("placed.syl", PLACED), Options::default()).expect("builds");
        assert_eq!(sim.time_of(7), 7.0 * 0.03);
        sim.run(|_, _| {}).expect("runs");
        let expected: Vec<f64> = (0..=10).map(|n| f64::from(n) * 0.03).collect();
        assert_eq!(sim.times(), expected);
    }

    #[test]
    fn a_team_that_cannot_start_is_reported() {
        let model = compiled("pool.syl", MODEL);
        let options = Options { threads: 3, interpret: false };
        let sim = Simulation::new(&model, options).expect("builds");
        assert_eq!((sim.engine().threads(), sim.engine().team_error()), (3, None));
        crate::cpu::team::REFUSE_THREADS.set(true);
        let serial = Simulation::new(&model, options);
        crate::cpu::team::REFUSE_THREADS.set(false);
        let serial = serial.expect("builds");
        let serial = serial.engine();
        assert_eq!(serial.threads(), 1);
        assert!(serial.team_error().is_some_and(|e| e.contains("refused by the test")), "{:?}", serial.team_error());
        assert!(serial.describe().contains("3 asked for, but the thread pool failed"), "{}", serial.describe());
    }

    #[test]
    fn threads_beyond_the_cells_are_not_started() {
        let one_cell = MODEL.replace("population p = c[4]", "population p = c[1]");
        let sim = Simulation::new(&compiled("one.syl", &one_cell), Options { threads: 3, interpret: false });
        let sim = sim.expect("builds");
        assert_eq!(sim.engine().threads(), 1);
        assert_eq!(sim.engine().describe(), "CPU, 1 thread of 3 asked for: one per chunk of cells");
    }

    /// `--emit wgsl` and the GPU's host side build a simulation they never run: building it
    /// must not reserve the trace of a long run (it did: 16 GB for 10⁹ steps).
    #[test]
    fn the_trace_is_reserved_by_the_run_not_the_build() {
        let long = MODEL
            .replace("duration = 1 ms", "duration = 1e7 ms")
            .replace("population p = c[4]", "population p = c[1]\n    probe \"v\" = v at p[0].soma(0.5)");
        let mut model = compiled("long.syl", &long);
        let sim = Simulation::new(&model, Options::default()).expect("builds");
        assert_eq!(sim.steps(), 400_000_000);
        let recording = sim.host.recording();
        assert!(recording.times.capacity() < 1000 && recording.columns[0].capacity() < 1000);
        model.model.simulation.duration = 1.0;
        let mut sim = Simulation::new(&model, Options::default()).expect("builds");
        sim.run(|_, _| {}).expect("runs");
        assert_eq!(sim.times().len(), 41);
    }
}
