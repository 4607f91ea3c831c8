//! Windows of steps. Where every connection's delay spans at least two steps and no mechanism
//! reads another cell's voltage, the events of the next `n` steps (`n` up to the shortest
//! delay in steps) are all queued before those steps start: a spike's events arrive a delay
//! after it. So each chunk of cells runs the `n` steps on its own — its events, its per-cell
//! stages, its voltage check, its detectors and its probes — and the threads meet once per
//! window instead of once per step (a ringtest step of 10,000 compartments is 0.1 ms on two
//! threads, and the meeting a visible share of it).
//!
//! Afterwards the host gets the rows, the spikes in (step, detector) order and so the events
//! queued in the order of a step-by-step run: the results are the same bit for bit. A chunk
//! whose voltages go bad stops at that step; the window then ends before it, as a
//! step-by-step run does, and the report names the cell a step-by-step run names.

use std::sync::Mutex;

use super::CpuEngine;
use crate::cpu::compiled::{Chunk, Shared};
use crate::host::{Host, blowup, time_of};
use crate::plan::events::steps_within;
use crate::plan::{Detector, Plan, ProbeSource};
use crate::simulation::RunError;

/// The longest window, in steps (also without connections: the rows of a window wait in
/// memory until it ends).
const LONGEST: u64 = 256;

/// Which chunk owns which detectors and probes, found when the engine is built.
pub(super) struct Windows {
    /// Per chunk: its detectors (indices into the plan's).
    detectors: Vec<Vec<usize>>,
    /// Per chunk: its probes and the address each reads.
    probes: Vec<Vec<(usize, ProbeAddress)>>,
    /// Probes of values that never change (parameters): read from the plan per window.
    constant_probes: Vec<usize>,
}

/// The address of the value a probe reads (arrays of the plan never resize).
#[derive(Copy, Clone)]
struct ProbeAddress(*const f64);

/// An event of the window: delivered at the start of step `step` of the window.
struct WindowEvent {
    step: u64,
    block: usize,
    instance: usize,
    weight: f64,
}

/// What one chunk did in a window.
#[derive(Default)]
struct Outcome {
    /// The window step after which its voltages were bad (it stopped there).
    bad: Option<u64>,
    /// (window step, detector) of its threshold crossings.
    spikes: Vec<(u64, usize)>,
}

/// The rows of a window: steps × probes, written by the chunks (each its own probes' cells).
#[derive(Copy, Clone)]
struct Rows(*mut f64);

// SAFETY: chunks write disjoint elements of the rows (their own probes' columns), the probes'
// addresses are read only by the chunk that owns the value, and the buffers outlive the team's
// job.
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}
unsafe impl Send for ProbeAddress {}
unsafe impl Sync for ProbeAddress {}

/// The steps of a window with connections of delay at least `min_delay` (infinite: none), or
/// `None` below two.
pub(super) fn window_steps(min_delay: f64, dt: f64) -> Option<u64> {
    Some(steps_within(min_delay, dt, LONGEST)).filter(|&steps| steps >= 2)
}

/// The chunk that holds instance `instance` of block `block`.
fn chunk_of_instance(chunks: &[Chunk], block: usize, instance: usize) -> usize {
    chunks.partition_point(|c| c.instances[block].end <= instance)
}

impl Windows {
    /// The routes of `plan`'s detectors and probes to `chunks`, or `None` where a mechanism
    /// reads another cell's voltage (`passes` > 1): the engine then runs step by step.
    pub(super) fn new(plan: &Plan, chunks: &[Chunk], passes: usize) -> Option<Windows> {
        if passes != 1 {
            return None;
        }
        let chunk_of_node = |node: usize| chunks.partition_point(|c| c.nodes.end <= node);
        let chunk_of_instance = |block: usize, i: usize| chunk_of_instance(chunks, block, i);
        let mut detectors = vec![Vec::new(); chunks.len()];
        for (d, detector) in plan.detectors.iter().enumerate() {
            detectors[chunk_of_node(detector.node)].push(d);
        }
        let mut probes = vec![Vec::new(); chunks.len()];
        let mut constant_probes = Vec::new();
        for (p, probe) in plan.probes.iter().enumerate() {
            let (chunk, address) = match *probe {
                ProbeSource::Voltage(n) => (chunk_of_node(n), &plan.nodes.v[n]),
                ProbeSource::Ion { species, var, node } => (chunk_of_node(node), &plan.ions[species].get(var)[node]),
                ProbeSource::State { block, state, instance } => {
                    (chunk_of_instance(block, instance), &plan.blocks[block].states[state][instance])
                }
                ProbeSource::Current { block, slot, instance } => {
                    (chunk_of_instance(block, instance), &plan.blocks[block].currents[slot].1[instance])
                }
                ProbeSource::Derived { block, slot, instance } => {
                    (chunk_of_instance(block, instance), &plan.blocks[block].derived[slot].1[instance])
                }
                ProbeSource::Param { .. } => {
                    constant_probes.push(p);
                    continue;
                }
            };
            probes[chunk].push((p, ProbeAddress(std::ptr::from_ref(address))));
        }
        Some(Windows { detectors, probes, constant_probes })
    }
}

impl CpuEngine {
    /// Runs the next `n` steps (at most the window's) as one window.
    pub(super) fn run_window(&mut self, host: &mut Host, n: u64) -> Result<(), RunError> {
        let step0 = host.step();
        let events = self.window_events(host, step0, n);
        let probes = self.plan.probes.len();
        let mut rows = vec![0.0; n as usize * probes];
        let windows = self.windows.as_ref().expect("a windowed engine");
        for &p in &windows.constant_probes {
            let value = self.plan.probe_value(&self.plan.probes[p]);
            rows.iter_mut().skip(p).step_by(probes).for_each(|r| *r = value);
        }
        let outcomes: Vec<Mutex<Outcome>> = self.chunks.iter().map(|_| Mutex::default()).collect();
        let (dt, celsius) = (self.plan.dt, self.plan.celsius);
        let window = ChunkWindow { step0, n, dt, celsius, probes, rows: Rows(rows.as_mut_ptr()) };
        {
            let p = &mut self.plan;
            let compiled = self.compiled.as_deref().expect("compiled");
            let shared =
                Shared::new((&mut p.nodes, &mut p.ions, &p.species), &p.cable, compiled, &self.unread_currents);
            let (chunks, detectors, above) = (&self.chunks, &p.detectors, &self.above);
            let stages = &self.passes[0];
            let run = |c: usize| {
                let mine = Mine { events: &events[c], detectors: &windows.detectors[c], probes: &windows.probes[c] };
                // SAFETY: the chunk's task is the only one touching its cells; see `ChunkWindow::run`.
                let outcome = unsafe { window.run(&shared, &chunks[c], stages, &mine, (detectors, above)) };
                *outcomes[c].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = outcome;
            };
            match &self.team {
                Some(team) => team.run(chunks.len(), &run),
                None => (0..chunks.len()).for_each(run),
            }
        }
        let outcomes: Vec<Outcome> =
            outcomes.into_iter().map(|o| o.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)).collect();
        self.hand_over(host, (step0, n), &rows, &outcomes)
    }

    /// Hands the host the window's rows and spikes up to the first step that left a voltage
    /// bad (all `n` steps when none did), then that step's report.
    fn hand_over(
        &self,
        host: &mut Host,
        (step0, n): (u64, u64),
        rows: &[f64],
        outcomes: &[Outcome],
    ) -> Result<(), RunError> {
        let (dt, probes) = (self.plan.dt, self.plan.probes.len());
        let done = outcomes.iter().filter_map(|o| o.bad).min().unwrap_or(n);
        for s in 0..done as usize {
            host.record(time_of(dt, step0 + s as u64 + 1), rows[s * probes..(s + 1) * probes].iter().copied());
        }
        let mut spikes: Vec<(u64, usize)> =
            outcomes.iter().flat_map(|o| o.spikes.iter().copied()).filter(|&(s, _)| s < done).collect();
        spikes.sort_unstable();
        let window_end = time_of(dt, step0 + n - 1) + dt / 2.0;
        for (s, d) in spikes {
            let earliest = host.spike(self.plan.detectors[d].gid, time_of(dt, step0 + s + 1));
            assert!(earliest > window_end, "an event at {earliest} ms falls inside the window just run");
        }
        host.finish_steps(done);
        if done < n {
            return Err(RunError::Diverged(self.window_blowup(outcomes, done, step0)));
        }
        Ok(())
    }

    /// The events due in the `n` steps from `step0`, per chunk, in delivery order.
    fn window_events(&self, host: &mut Host, step0: u64, n: u64) -> Vec<Vec<WindowEvent>> {
        let mut events: Vec<Vec<WindowEvent>> = self.chunks.iter().map(|_| Vec::new()).collect();
        for step in 0..n {
            while let Some(e) = host.pop_due(step0 + step) {
                let (block, instance) = (e.block as usize, e.instance as usize);
                let chunk = chunk_of_instance(&self.chunks, block, instance);
                events[chunk].push(WindowEvent { step, block, instance, weight: e.weight });
            }
        }
        events
    }

    /// The report of the step `done` of the window, among the chunks that stopped there (the
    /// others ran on; a step-by-step run would have found them good at that step).
    fn window_blowup(&self, outcomes: &[Outcome], done: u64, step0: u64) -> blowup::Blowup {
        let mut v = vec![0.0; self.plan.nodes.v.len()];
        for (chunk, outcome) in self.chunks.iter().zip(outcomes) {
            if outcome.bad == Some(done) {
                v[chunk.nodes.clone()].copy_from_slice(&self.plan.nodes.v[chunk.nodes.clone()]);
            }
        }
        let step = step0 + done + 1;
        blowup::of_plan_voltages(&self.plan, &v, step, time_of(self.plan.dt, step))
            .expect("a chunk that stopped has a bad voltage")
    }
}

/// What a chunk's task reads of the window.
struct Mine<'a> {
    events: &'a [WindowEvent],
    detectors: &'a [usize],
    probes: &'a [(usize, ProbeAddress)],
}

/// The window every chunk runs: `n` steps from `step0`, rows of `probes` values.
struct ChunkWindow {
    step0: u64,
    n: u64,
    dt: f64,
    celsius: f64,
    probes: usize,
    rows: Rows,
}

impl ChunkWindow {
    /// The window's steps on one chunk; stops after a step that leaves a voltage bad.
    ///
    /// # Safety
    /// No other thread touches the chunk's cells (their nodes, instances, detectors' states
    /// and probes' values) meanwhile; `shared` holds the engine's arrays.
    unsafe fn run(
        &self,
        shared: &Shared,
        chunk: &Chunk,
        stages: &[crate::plan::schedule::Stage],
        mine: &Mine,
        (detectors, above): (&[Detector], &[std::sync::atomic::AtomicBool]),
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let mut events = mine.events.iter().peekable();
        for s in 0..self.n {
            let t = time_of(self.dt, self.step0 + s);
            let at_start = [t, self.dt, self.celsius];
            while let Some(e) = events.next_if(|e| e.step == s) {
                // SAFETY: the event's instance is in this chunk (`window_events`).
                unsafe { shared.blocks[e.block].deliver(e.instance, e.weight, &at_start) };
            }
            let mid = [t + self.dt / 2.0, self.dt, self.celsius];
            // SAFETY: forwarded from the caller.
            unsafe { shared.step_chunk(chunk, stages, &mid, self.celsius) };
            // SAFETY: as above.
            if !unsafe { shared.voltages_good(chunk) } {
                outcome.bad = Some(s);
                return outcome;
            }
            for &d in mine.detectors {
                // SAFETY: the detector's node is in this chunk.
                let v = unsafe { *shared.arrays.v.add(detectors[d].node) };
                if super::crossed(&detectors[d], v, &above[d]) {
                    outcome.spikes.push((s, d));
                }
            }
            for &(p, ProbeAddress(value)) in mine.probes {
                // SAFETY: the value is this chunk's; the row element is this probe's.
                unsafe { *self.rows.0.add(s as usize * self.probes + p) = *value };
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Options, Simulation};
    use crate::host::Recording;
    use crate::test_models::compiled;

    /// A ring of six cells (delay 1 ms: windows of 40 steps), kicked at 1 ms, with probes of a
    /// voltage, a state, an ion current, a derived value, a parameter and a synapse.
    const RING: &str = "import hh\nimport exp2syn\n\n\
        cell c {\n    morphology {\n        section soma { length = 20 um, diam = 20 um }\n        \
        section dend at soma(1) { length = 100 um, diam = 1 um, nseg = 5 }\n    }\n    \
        insert hh in soma\n    insert hh in dend { gnabar = 0.012 S/cm2 }\n    \
        synapse syn = exp2syn at soma(0.5) { tau1 = 0.5 ms, tau2 = 2 ms, e = 0 mV }\n    \
        detector at soma(0.5) threshold -20 mV\n}\n\n\
        network n {\n    population cells = c[6]\n    \
        connect cells -> cells.syn ring(6) { weight = 0.05 uS, delay = 1 ms }\n    \
        source kick = spikes(1 ms)\n    connect kick -> cells[0].syn { weight = 0.05 uS, delay = 0 ms }\n    \
        record spikes\n    probe \"v2\" = v at cells[2].dend(0.5)\n    probe \"m1\" = hh.m at cells[1].soma(0.5)\n    \
        probe \"ina0\" = hh.ina at cells[0].soma(0.5)\n    probe \"g2\" = cells[2].syn.g\n    \
        probe \"gnabar\" = hh.gnabar at cells[1].dend(0.9)\n}\n\n\
        simulation { dt = 0.025 ms, duration = 30 ms }\n";

    /// The recording of a run, and its error (the divergence's step, cell and report).
    fn recording(text: &str, options: Options) -> (Recording, Option<(u64, String)>) {
        let mut sim = Simulation::new(&compiled("window.syl", text), options).expect("builds");
        let windowed = sim.engine().windows.is_some();
        assert_eq!(windowed, !options.interpret, "the compiled engine runs windows here");
        let error = match sim.run(|_, _| {}) {
            Ok(()) => None,
            Err(RunError::Diverged(b)) => Some((b.step, format!("{b:?}"))),
            Err(e) => panic!("{e}"),
        };
        (sim.into_recording(), error)
    }

    #[test]
    fn windows_give_the_step_by_step_recording_bit_for_bit() {
        assert_eq!(window_steps(1.0, 0.025), Some(40));
        let (reference, error) = recording(RING, Options { threads: 1, interpret: true });
        assert_eq!(error, None);
        assert!(reference.spikes.len() >= 12, "the ring goes round twice: {:?}", reference.spikes);
        for threads in [1, 3] {
            let (windowed, error) = recording(RING, Options { threads, interpret: false });
            assert!(windowed == reference && error.is_none(), "{threads} threads");
        }
    }

    const BLAST: &str = "stimulus blast = iclamp at cells[1].soma(0.5) { del = 7.5 ms, dur = 10 ms, amp = 1e12 nA }";

    /// A cell whose voltage runs away in the middle of a window (a huge current from 7.5 ms
    /// on): the same report, rows and spikes as a step-by-step run.
    #[test]
    fn a_divergence_inside_a_window_is_reported_as_step_by_step() {
        let text = RING
            .replace("import hh\n", "import hh\nimport iclamp\n")
            .replace("network n {", &format!("network n {{\n    {BLAST}"))
            .replace("duration = 30 ms", "duration = 20 ms");
        let reference = recording(&text, Options { threads: 1, interpret: true });
        let step = reference.1.as_ref().expect("diverges").0;
        assert!(!step.is_multiple_of(40) && step > 300, "inside a window, after the blast: step {step}");
        for threads in [1, 3] {
            assert!(recording(&text, Options { threads, interpret: false }) == reference, "{threads} threads");
        }
    }

    #[test]
    fn short_delays_and_coupled_cells_run_step_by_step() {
        assert_eq!(window_steps(0.025, 0.025), None);
        assert_eq!(window_steps(0.05, 0.025), Some(2));
        assert_eq!(window_steps(f64::INFINITY, 0.025), Some(LONGEST));
        assert_eq!(window_steps(1e9, 0.025), Some(LONGEST));
        // A gap junction reads the other cell's voltage within a step: no windows.
        let coupled = crate::test_models::example("examples/neuron/gap_pair.syl", &[]);
        let sim = Simulation::new(&coupled, Options { threads: 2, interpret: false }).expect("builds");
        assert!(sim.engine().windows.is_none(), "coupled cells run step by step");
    }
}
