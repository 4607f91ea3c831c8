//! The step schedule (NEURON's fixed step, `docs/ARCHITECTURE.md`): events, currents at
//! v(t) with model time at the step midpoint, the Hines solve, states with the new voltage,
//! recording and threshold detection.

use std::ops::ControlFlow;

use sylva_compiler::ir::Model;
use sylva_compiler::ir::kernel::{Kernel, Kernels};

use super::build::{self, Built, ProbeSource};
use super::compiled::{self, Arrays, Chunk, CompiledBlock, IonPointers, Shared};
use super::events::{self, Queue, Target, Wiring};
use super::jit::JitError;
use super::slots::SCALAR_COUNT;

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

/// The node a divergence report names, when some voltage is non-finite or above 1e6 mV: among
/// the bad nodes with membrane (where mechanisms are), or all bad nodes when none has any, the
/// first non-finite one, else the largest |v|.
pub(crate) fn worst_node(v: &[f64], area: &[f64]) -> Option<usize> {
    let bad = |n: usize| !v[n].is_finite() || v[n].abs() > 1e6;
    let membrane: Vec<usize> = (0..v.len()).filter(|&n| area[n] > 0.0 && bad(n)).collect();
    let candidates = if membrane.is_empty() { (0..v.len()).filter(|&n| bad(n)).collect() } else { membrane };
    candidates
        .iter()
        .copied()
        .find(|&n| !v[n].is_finite())
        .or_else(|| candidates.iter().copied().max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs())))
}

#[cfg(test)]
thread_local! {
    /// Set by a test to make the pool's threads fail to start.
    static REFUSE_THREADS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A pool of `threads` workers for the chunks of cells.
fn worker_pool(threads: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    let builder = rayon::ThreadPoolBuilder::new().num_threads(threads);
    #[cfg(test)]
    if REFUSE_THREADS.get() {
        return builder.spawn_handler(|_| Err(std::io::Error::other("refused by the test"))).build();
    }
    builder.build()
}

/// A stopped run: which quantity went bad, where and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Blowup {
    pub step: u64,
    pub time: f64,
    pub gid: u32,
    /// The node within its cell.
    pub node: usize,
    pub value: f64,
    /// The mechanisms at that node, with a state that is not finite when there is one.
    pub suspects: Vec<(u32, Option<u32>)>,
}

pub struct Simulation {
    built: Built,
    /// `None` when interpreting.
    compiled: Option<Vec<CompiledBlock>>,
    chunks: Vec<Chunk>,
    pool: Option<rayon::ThreadPool>,
    /// Why the run is serial although several threads were asked for.
    pool_error: Option<String>,
    wiring: Wiring,
    queue: Queue,
    dt: f64,
    celsius: f64,
    step: u64,
    steps: u64,
    /// Whether each detector's voltage was at or above threshold at the last check.
    above: Vec<bool>,
    pub spikes: Vec<(u32, f64)>,
    pub times: Vec<f64>,
    pub columns: Vec<Vec<f64>>,
}

impl Simulation {
    /// Builds the simulation; a JIT failure is an internal error.
    pub fn new(model: &Model, options: Options) -> Result<Simulation, JitError> {
        let sim = &model.simulation;
        let mut built = build::build(model, sim.dt, sim.celsius);
        let compiled = if options.interpret {
            None
        } else {
            let b = &mut built;
            Some(
                b.blocks
                    .iter_mut()
                    .map(|block| compiled::compile_block(block, &mut b.nodes, &mut b.ions))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let threads = options.threads.max(1);
        let chunks = compiled::chunks(&built, if threads == 1 { 1 } else { threads * 4 });
        // Without a pool the run is serial and gives the same bits, only slower: a warning,
        // not an error.
        let (pool, pool_error) = match (threads > 1 && !options.interpret).then(|| worker_pool(threads)) {
            Some(Err(e)) => (None, Some(e.to_string())),
            built => (built.and_then(Result::ok), None),
        };
        let wiring = events::wire(model);
        let steps = sim.steps() as u64;
        let mut this = Simulation {
            compiled,
            chunks,
            pool,
            pool_error,
            above: vec![false; built.detectors.len()],
            columns: vec![Vec::new(); built.probes.len()],
            built,
            wiring,
            queue: Queue::default(),
            dt: sim.dt,
            celsius: sim.celsius,
            step: 0,
            steps,
            spikes: Vec::new(),
            times: Vec::new(),
        };
        for (s, source) in model.network.sources.iter().enumerate() {
            for t in events::source_times(&source.kind, sim.duration) {
                for k in 0..this.wiring.from_source[s].len() {
                    let c = this.wiring.from_source[s][k];
                    let target = this.target(c.post_gid, c.synapse, c.weight);
                    this.queue.push(t + c.delay, target);
                }
            }
        }
        this.initialize();
        Ok(this)
    }

    /// The time of grid point `n`: `n / (1/dt)` when 1/dt is a whole number (so 284 steps of
    /// 0.025 ms are 7.1 ms, not 7.1000000000000005), otherwise `n * dt`.
    pub fn time_of(&self, n: u64) -> f64 {
        let per_ms = 1.0 / self.dt;
        if per_ms == per_ms.round() { n as f64 / per_ms } else { n as f64 * self.dt }
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The threads the run uses: 1 when interpreting or when the pool could not be built.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, rayon::ThreadPool::current_num_threads)
    }

    /// Why the run is serial although several threads were asked for (the system refused
    /// the pool's threads).
    pub fn pool_error(&self) -> Option<&str> {
        self.pool_error.as_deref()
    }

    /// The built model in its current state, the wiring and the event queue (the GPU engine
    /// starts from them just after initialisation).
    pub(crate) fn into_parts(self) -> (Built, Wiring, Queue) {
        (self.built, self.wiring, self.queue)
    }

    pub fn node_count(&self) -> usize {
        self.built.nodes.v.len()
    }

    fn target(&self, gid: u32, synapse: u32, weight: f64) -> Target {
        let (block, instance) = self.built.synapse_blocks[&(gid, synapse)];
        Target { block, instance, weight }
    }

    fn scalars(&self, t: f64) -> [f64; SCALAR_COUNT] {
        [t, self.dt, self.celsius]
    }

    /// Runs one stage over every block, serially (initialisation, and the interpreter).
    fn run_stage(
        &mut self,
        pick: fn(&Kernels) -> &Kernel,
        pick_compiled: fn(&CompiledBlock) -> &super::jit::JitKernel,
        t: f64,
    ) {
        let scalars = self.scalars(t);
        let b = &mut self.built;
        match &self.compiled {
            Some(compiled) => {
                for (block, c) in b.blocks.iter().zip(compiled) {
                    // SAFETY: the table was built from this block's arrays, which never resize.
                    unsafe { pick_compiled(c).run(c.table.as_ptr(), scalars.as_ptr(), 0, block.len()) };
                }
            }
            None => {
                for block in &mut b.blocks {
                    let kernels = std::sync::Arc::clone(&block.kernels);
                    let kernel = pick(&kernels);
                    let n = block.len();
                    block.interpret(kernel, &mut b.nodes, &mut b.ions, &scalars, 0, n);
                }
            }
        }
    }

    fn initialize(&mut self) {
        self.run_stage(|k| &k.init, |c| &c.init, 0.0);
        self.update_reversals();
        // Currents once at t = 0, so current and derived probes have a first value.
        self.clear_accumulators();
        self.run_stage(|k| &k.current, |c| &c.current, 0.0);
        for (i, d) in self.built.detectors.iter().enumerate() {
            self.above[i] = self.built.nodes.v[d.node] >= d.threshold;
        }
        self.record(0.0);
    }

    fn clear_accumulators(&mut self) {
        let b = &mut self.built;
        b.nodes.rhs.fill(0.0);
        b.nodes.diagonal.fill(0.0);
        for ion in &mut b.ions {
            ion.current.fill(0.0);
        }
    }

    fn update_reversals(&mut self) {
        let b = &mut self.built;
        for (s, (_, charge, nernst)) in b.species.iter().enumerate() {
            if !*nernst {
                continue;
            }
            let ion = &mut b.ions[s];
            for n in 0..ion.reversal.len() {
                if ion.inside[n] > 0.0 {
                    ion.reversal[n] = build::nernst(*charge, self.celsius, ion.inside[n], ion.outside[n]);
                }
            }
        }
    }

    /// Runs to the end; stops at the first non-finite voltage.
    pub fn run(&mut self, mut progress: impl FnMut(u64, u64)) -> Result<(), Blowup> {
        // `progress` never breaks, so the run always reaches the end.
        let _ = self.run_while(|step, steps| {
            progress(step, steps);
            ControlFlow::Continue(())
        })?;
        Ok(())
    }

    /// As [`Simulation::run`], calling `progress(step, steps)` every 256 steps and at the end,
    /// but returns `Break` as soon as `progress` does before the end: the recording then ends
    /// at the step reached, and a later call goes on from there.
    pub fn run_while(
        &mut self,
        mut progress: impl FnMut(u64, u64) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, Blowup> {
        // Reserved here, not in `new`: a simulation built only for its state (the GPU's host
        // side, `--emit wgsl`) records nothing.
        let left = (self.steps - self.step) as usize;
        self.times.reserve(left);
        for column in &mut self.columns {
            column.reserve(left);
        }
        while self.step < self.steps {
            self.advance_one()?;
            if self.step.is_multiple_of(256) && progress(self.step, self.steps).is_break() && self.step < self.steps {
                return Ok(ControlFlow::Break(()));
            }
        }
        // The run is complete: a `Break` now stops nothing.
        let _ = progress(self.steps, self.steps);
        Ok(ControlFlow::Continue(()))
    }

    fn advance_one(&mut self) -> Result<(), Blowup> {
        let t = self.time_of(self.step);
        // 1. Events due by the middle of the step.
        while let Some((block, instance, weight)) = self.queue.pop_due(t + self.dt / 2.0) {
            let scalars = self.scalars(t);
            let b = &mut self.built;
            match &self.compiled {
                Some(compiled) => {
                    let c = &compiled[block as usize];
                    if let Some(kernel) = &c.event {
                        // SAFETY: as in `run_stage`; the instance is in range.
                        unsafe { kernel.run_event(c.table.as_ptr(), scalars.as_ptr(), instance as usize, weight) };
                    }
                }
                None => {
                    let block = &mut b.blocks[block as usize];
                    let kernels = std::sync::Arc::clone(&block.kernels);
                    if let Some(kernel) = &kernels.event {
                        block.interpret_event(kernel, &mut b.nodes, &mut b.ions, &scalars, instance as usize, weight);
                    }
                }
            }
        }
        let mid = t + self.dt / 2.0;
        if self.compiled.is_some() {
            // 2.-4. per chunk of cells, in parallel.
            self.step_compiled(mid);
        } else {
            // 2. Nernst reversals from the concentrations (as NEURON's ion mechanisms do at the
            // start of the current phase, so a recorded eca is the one this step used), then
            // currents at v(t), model time at the midpoint.
            self.update_reversals();
            self.clear_accumulators();
            self.run_stage(|k| &k.current, |c| &c.current, mid);
            // 3. The cable equation, backward Euler: solve for the change of v.
            self.solve();
            // 4. States with the new voltage.
            self.run_stage(|k| &k.advance, |c| &c.advance, mid);
        }
        self.step += 1;
        let t_next = self.time_of(self.step);
        self.check_finite(t_next)?;
        self.record(t_next);
        self.detect(t_next);
        Ok(())
    }

    fn step_compiled(&mut self, mid: f64) {
        let scalars = self.scalars(mid);
        let celsius = self.celsius;
        let b = &mut self.built;
        let ions = b
            .ions
            .iter_mut()
            .zip(&b.species)
            .map(|(ion, (_, charge, nernst))| IonPointers {
                current: ion.current.as_mut_ptr(),
                reversal: ion.reversal.as_mut_ptr(),
                inside: ion.inside.as_ptr(),
                outside: ion.outside.as_ptr(),
                charge: *charge,
                nernst: *nernst,
            })
            .collect();
        let arrays = Arrays {
            v: b.nodes.v.as_mut_ptr(),
            rhs: b.nodes.rhs.as_mut_ptr(),
            diagonal: b.nodes.diagonal.as_mut_ptr(),
        };
        let shared = Shared { blocks: self.compiled.as_deref().expect("compiled"), ions, arrays, cable: &b.cable };
        let chunks = &self.chunks;
        // SAFETY: chunks cover disjoint whole cells; see `compiled`.
        let run = |chunk: &Chunk| unsafe { shared.step_chunk(chunk, &scalars, celsius) };
        match &self.pool {
            Some(pool) => pool.install(|| {
                use rayon::prelude::*;
                chunks.par_iter().for_each(run);
            }),
            None => chunks.iter().for_each(run),
        }
    }

    fn solve(&mut self) {
        let b = &mut self.built;
        let n = b.nodes.v.len();
        let nodes = &mut b.nodes;
        solve_range(&mut nodes.v, &mut nodes.rhs, &mut nodes.diagonal, &b.cable, 0, 0..n);
    }

    fn check_finite(&self, time: f64) -> Result<(), Blowup> {
        let v = &self.built.nodes.v;
        if let Some(node) = worst_node(v, &self.built.nodes.area) {
            let gid = self.built.cell_offset.partition_point(|&o| o <= node) as u32 - 1;
            let mut suspects = Vec::new();
            for block in &self.built.blocks {
                for (i, _) in block.node_index.iter().enumerate().filter(|(_, n)| **n as usize == node) {
                    for (s, states) in block.states.iter().enumerate() {
                        if !states[i].is_finite() && !suspects.contains(&(block.mechanism, Some(s as u32))) {
                            suspects.push((block.mechanism, Some(s as u32)));
                        }
                    }
                    if !suspects.iter().any(|(m, _)| *m == block.mechanism) {
                        suspects.push((block.mechanism, None));
                    }
                }
            }
            let local = node - self.built.cell_offset[gid as usize];
            return Err(Blowup { step: self.step, time, gid, node: local, value: v[node], suspects });
        }
        Ok(())
    }

    fn record(&mut self, t: f64) {
        self.times.push(t);
        let b = &self.built;
        for ((column, probe), scale) in self.columns.iter_mut().zip(&b.probes).zip(&b.probe_scales) {
            let value = match *probe {
                ProbeSource::Voltage(n) => b.nodes.v[n],
                ProbeSource::State { block, state, instance } => b.blocks[block].states[state][instance],
                ProbeSource::Current { block, slot, instance } => b.blocks[block].currents[slot].1[instance],
                ProbeSource::Derived { block, slot, instance } => b.blocks[block].derived[slot].1[instance],
                ProbeSource::Ion { species, var, node } => b.ions[species].get(var)[node],
                ProbeSource::Param { block, param, instance } => {
                    let blk = &b.blocks[block];
                    match blk.params.iter().find(|(p, _)| *p == param) {
                        Some((_, values)) => values[instance],
                        None => blk.constant_params.iter().find(|(p, _)| *p == param).map_or(f64::NAN, |(_, v)| *v),
                    }
                }
            };
            // Shown in the quantity's usual unit (mA/cm2 for current densities, …).
            column.push(value / scale);
        }
    }

    /// Upward threshold crossings at the grid point, as NEURON's NetCon reports them.
    fn detect(&mut self, t: f64) {
        for i in 0..self.built.detectors.len() {
            let d = &self.built.detectors[i];
            let above = self.built.nodes.v[d.node] >= d.threshold;
            if above && !self.above[i] {
                let gid = d.gid;
                self.spikes.push((gid, t));
                for k in 0..self.wiring.from_cell[gid as usize].len() {
                    let c = self.wiring.from_cell[gid as usize][k];
                    let target = self.target(c.post_gid, c.synapse, c.weight);
                    self.queue.push(t + c.delay, target);
                }
            }
            self.above[i] = above;
        }
    }
}

/// Assembles (C/dt + G + axial) Δv = rhs + axial currents for the nodes `range` (whole cells)
/// and solves it on the tree (Hines: eliminate children into parents from the last node up,
/// then substitute down), then updates v. The slices start at node `offset`, so that disjoint
/// ranges can be solved in parallel.
pub(crate) fn solve_range(
    v: &mut [f64],
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &super::build::Cable,
    offset: usize,
    range: std::ops::Range<usize>,
) {
    let local = |i: usize| i - offset;
    for i in range.clone() {
        let li = local(i);
        diagonal[li] += cable.capacitance_dt[i];
        let p = cable.parent[i];
        if p != u32::MAX {
            let (lp, g) = (local(p as usize), cable.axial[i]);
            let current = g * (v[lp] - v[li]);
            rhs[li] += current;
            rhs[lp] -= current;
            diagonal[li] += g;
            diagonal[lp] += g;
        }
    }
    for i in range.clone().rev() {
        let p = cable.parent[i];
        if p == u32::MAX {
            continue;
        }
        let g = cable.axial[i];
        let (li, lp) = (local(i), local(p as usize));
        let factor = g / diagonal[li];
        diagonal[lp] -= factor * g;
        rhs[lp] += factor * rhs[li];
    }
    // rhs becomes Δv, parents first (they have smaller indices).
    for i in range {
        let p = cable.parent[i];
        let li = local(i);
        let dv = if p == u32::MAX {
            rhs[li] / diagonal[li]
        } else {
            (rhs[li] + cable.axial[i] * rhs[local(p as usize)]) / diagonal[li]
        };
        rhs[li] = dv;
        v[li] += dv;
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

    #[test]
    fn parameter_probes_read_the_placed_values() {
        let mut sim = Simulation::new(&compiled("placed.syl", PLACED), Options::default()).expect("builds");
        sim.run(|_, _| {}).expect("runs");
        // In S/cm2; dend(0.9) is 10 um + 90 um from the soma's centre.
        assert!(sim.columns[0].iter().all(|g| *g == 1e-3), "{:?}", sim.columns[0]);
        assert!(sim.columns[1].iter().all(|g| (g - 2e-4).abs() <= 1e-18), "{:?}", sim.columns[1]);
        assert!(sim.columns[2].iter().all(|e| *e == -70.0), "{:?}", sim.columns[2]);
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
        assert_eq!(sim.times, expected);
    }

    #[test]
    fn a_pool_that_cannot_start_is_reported() {
        let model = compiled("pool.syl", MODEL);
        let options = Options { threads: 3, interpret: false };
        let sim = Simulation::new(&model, options).expect("builds");
        assert_eq!((sim.threads(), sim.pool_error()), (3, None));
        REFUSE_THREADS.set(true);
        let serial = Simulation::new(&model, options);
        REFUSE_THREADS.set(false);
        let serial = serial.expect("builds");
        assert_eq!(serial.threads(), 1);
        assert!(serial.pool_error().is_some_and(|e| e.contains("refused by the test")), "{:?}", serial.pool_error());
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
        assert!(sim.times.capacity() < 1000 && sim.columns[0].capacity() < 1000);
        model.simulation.duration = 1.0;
        let mut sim = Simulation::new(&model, Options::default()).expect("builds");
        sim.run(|_, _| {}).expect("runs");
        assert_eq!(sim.times.len(), 41);
    }
}
