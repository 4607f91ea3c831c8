//! The reverse run: per checkpointed segment, the states recomputed forward, then every step's
//! stages undone in the reverse order of `schedule::STEP`, each by its adjoint, from the
//! partials of a replay of the step ([`Schedule::Replay`]), the advance kernels' from the
//! recomputation where it kept them ([`Schedule::Tapes`]). The recomputation and the replay run
//! the compiled kernels (`kernels::Machine`), and so do the adjoints' partials, a block at a
//! time. A run split by cells (`split`) does all this for each part's cells.

use std::ops::Range;

use sylva_compiler::ir::expr::IonVar;
use sylva_compiler::ir::kernel::{Kernel, Stage as KernelStage, Target};

use super::GradError;
use super::cable::CableGradient;
use super::cotangent::Cotangents;
use super::forward::{Run, Snapshot};
use super::kernels::{Cells, Code, Machine};
use super::split::{self, CellEvents};
use crate::host::{DueEvent, time_of};
use crate::plan::schedule::{INIT, InitStage, STEP, Stage};
use crate::plan::solve::solve_tree;
use crate::plan::{Plan, nernst_factor};

/// The gradients of the per-instance parameters (per block, per parameter, per instance), of
/// the connection rules' weights and of the cable's coefficients.
pub(crate) type Gradients = (Vec<Vec<Vec<f64>>>, Vec<f64>, CableGradient);

/// How the reverse run gets each step's partials and tape.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) enum Schedule {
    /// The segment's states are recomputed, then each step is replayed from its state just
    /// before its adjoint (its partials, what the adjoint reads): memory of one step's partials.
    Replay,
    /// The segment is recomputed with the advance kernels fused with their partials, keeping
    /// every step's, then each step is replayed but its advance: memory of a segment's advance
    /// partials, for one advance kernel pass less (the costliest: rates and their derivatives).
    Tapes,
}

/// The reverse run of `run` (made by `forward::run` with checkpoints) with the loss's per-row
/// derivatives `rows`, its steps on up to `threads` threads by cells (`split`).
pub(super) fn run(
    plan: &Plan,
    code: &Code,
    run: &Run,
    rows: &[Vec<f64>],
    connections: usize,
    schedule: Schedule,
    threads: usize,
) -> Result<Gradients, GradError> {
    let parts = split::cells(plan, code, threads);
    let undone = split::each(parts, |cells| undo_steps(plan, code, run, rows, schedule, cells));
    let (cot, event_weights) = split::merge(plan, undone);
    let weights = split::weights(code, run, &event_weights, connections);
    Ok(undo_init(plan, code, cot, &rows[0], weights))
}

/// Undoes every step of `run` at `cells`: their cotangents at the first step's start, and the
/// cotangent of the weight of each of their events (by its index in the run).
fn undo_steps(
    plan: &Plan,
    code: &Code,
    run: &Run,
    rows: &[Vec<f64>],
    schedule: Schedule,
    cells: Cells,
) -> (Cotangents, Vec<f64>) {
    let events = CellEvents::of(run, &cells);
    let mut m = Machine::of_cells(plan.clone(), code, cells);
    let mut reverse = Reverse::new(code, Cotangents::zeros(plan), events, &m);
    // One buffer per step of the longest segment, reused by every segment.
    let mut segment = Segment { states: Vec::new(), advance: Vec::new() };
    for (c, (start, checkpoint)) in run.checkpoints.iter().enumerate().rev() {
        let end = run.checkpoints.get(c + 1).map_or(run.steps, |(s, _)| *s);
        checkpoint.restore(&mut m.plan, &m.cells);
        match schedule {
            Schedule::Replay => reverse.segment_by_replay(&mut m, run, rows, *start..end, &mut segment.states),
            Schedule::Tapes => reverse.segment_keeping_advance_partials(&mut m, run, rows, *start..end, &mut segment),
        }
    }
    (reverse.cot, reverse.event_weights)
}

/// Undoes initialisation from the cotangents `cot` at the start of the first step (the CPU's
/// reverse run's or the GPU's) and the loss's derivatives at row 0; returns the gradients.
pub(crate) fn undo_init(plan: &Plan, code: &Code, cot: Cotangents, row: &[f64], weights: Vec<f64>) -> Gradients {
    let mut m = Machine::new(plan.clone(), code, true);
    let mut reverse = Reverse::new(code, cot, CellEvents::none(), &m);
    reverse.cot.add_row(plan, row);
    reverse.init(&mut m);
    (reverse.cot.params, weights, reverse.cot.cable)
}

/// Per block, per partial, per instance (see `kernels::Machine::partials`).
type Partials = Vec<Vec<Vec<f64>>>;

/// A segment's recomputed states (and the one after it) and, with [`Schedule::Tapes`], each
/// step's partials of the advance kernels.
struct Segment {
    states: Vec<Snapshot>,
    advance: Vec<Partials>,
}

/// The bytes [`Schedule::Tapes`] keeps per step beyond [`Schedule::Replay`]: the partials of
/// the advance kernels.
pub(super) fn tape_bytes(plan: &Plan, code: &Code) -> usize {
    let partials = |(b, a): (&crate::plan::Block, &super::kernels::BlockAdjoints)| {
        a.of(KernelStage::Advance).map_or(0, |s| s.adjoint.partials.len()) * b.len()
    };
    8 * plan.blocks.iter().zip(&code.adjoints).map(partials).sum::<usize>()
}

struct Reverse<'a> {
    code: &'a Code,
    cot: Cotangents,
    /// Scratch for a kernel's writes' cotangents.
    written: Vec<f64>,
    /// The events at the cells undone, per step.
    events: CellEvents,
    /// Per event of the run (by index), the cotangent of its weight where undone here.
    event_weights: Vec<f64>,
    /// What the replay of the step being undone overwrote (its arrays reused step after step).
    tape: StepTape,
    solve: SolveScratch,
}

impl<'a> Reverse<'a> {
    /// A reverse run from the cotangents `cot` of the events `events`, with scratch for `m`.
    fn new(code: &'a Code, cot: Cotangents, events: CellEvents, m: &Machine) -> Reverse<'a> {
        let n = m.plan.nodes.v.len();
        Reverse {
            code,
            cot,
            written: Vec::new(),
            event_weights: vec![0.0; events.in_run],
            events,
            tape: StepTape::new(&m.plan),
            solve: SolveScratch { mu: vec![0.0; n], diagonal: vec![0.0; n] },
        }
    }

    /// Undoes the steps `range` from the checkpoint in the machine: recomputes the segment's
    /// states, then replays each step from its state just before undoing it.
    fn segment_by_replay(
        &mut self,
        m: &mut Machine,
        run: &Run,
        rows: &[Vec<f64>],
        range: Range<u64>,
        states: &mut Vec<Snapshot>,
    ) {
        let (start, dt) = (range.start, m.plan.dt);
        for n in range.start..=range.end {
            keep_state(states, (n - start) as usize, m, &run.saved);
            if n < range.end {
                m.step(&self.events.steps[n as usize], time_of(dt, n));
            }
        }
        for n in range.rev() {
            self.cot.add_row(&m.plan, &rows[n as usize + 1]);
            let i = (n - start) as usize;
            states[i].restore(&mut m.plan, &m.cells);
            self.step(m, n as usize, time_of(dt, n), states[i + 1].v(&m.cells), false);
        }
    }

    /// Undoes the steps `range` from the checkpoint in the machine: recomputes the segment's
    /// states with the advance kernels fused with their partials, keeping those, then replays
    /// each step but its advance from its state just before undoing it.
    fn segment_keeping_advance_partials(
        &mut self,
        m: &mut Machine,
        run: &Run,
        rows: &[Vec<f64>],
        range: Range<u64>,
        segment: &mut Segment,
    ) {
        let (start, dt) = (range.start, m.plan.dt);
        for n in range.start..=range.end {
            let i = (n - start) as usize;
            keep_state(&mut segment.states, i, m, &run.saved);
            if n == range.end {
                break;
            }
            if segment.advance.len() == i {
                segment.advance.push(m.advance_partials_like());
            }
            m.swap_advance_partials(&mut segment.advance[i]);
            m.step_keeping_advance_partials(&self.events.steps[n as usize], time_of(dt, n));
            m.swap_advance_partials(&mut segment.advance[i]);
        }
        for n in range.rev() {
            self.cot.add_row(&m.plan, &rows[n as usize + 1]);
            let i = (n - start) as usize;
            segment.states[i].restore(&mut m.plan, &m.cells);
            m.swap_advance_partials(&mut segment.advance[i]);
            self.step(m, n as usize, time_of(dt, n), segment.states[i + 1].v(&m.cells), true);
            m.swap_advance_partials(&mut segment.advance[i]);
        }
    }
}

/// Saves the state of the machine's cells into `states[i]`, reusing its arrays (`i` at most
/// `states.len()`).
fn keep_state(states: &mut Vec<Snapshot>, i: usize, m: &Machine, saved: &[(usize, IonVar)]) {
    match states.get_mut(i) {
        Some(state) => state.copy_from(&m.plan, &m.cells),
        None => states.push(Snapshot::take(&m.plan, saved, &m.cells)),
    }
}

/// The transposed solve's arrays, reused step after step.
struct SolveScratch {
    mu: Vec<f64>,
    diagonal: Vec<f64>,
}

/// What a stage overwrote, to put back before its adjoint reads the values its kernels read.
#[derive(Default)]
struct StepTape {
    /// Per event: the target instance's states before it.
    events: Vec<Vec<f64>>,
    reversals: Vec<Vec<f64>>,
    /// The current kernels' diagonal (before C/dt and the axial terms).
    diagonal: Vec<f64>,
    v_before_solve: Vec<f64>,
    /// Per block: what its advance kernel overwrote.
    advance: Vec<Overwritten>,
    /// Whether the replay ran the advance kernels (else it computed their partials alone and
    /// `advance` is stale).
    advanced: bool,
}

impl Reverse<'_> {
    /// Undoes step `n` (from time `t`, ending with the voltages `v_after`; with
    /// `advance_kept`, the machine holds its advance kernels' partials); the machine's plan
    /// holds the state at its start and is left there.
    fn step(&mut self, m: &mut Machine, n: usize, t: f64, v_after: &[f64], advance_kept: bool) {
        let mut tape = std::mem::take(&mut self.tape);
        replay(m, &self.events.steps[n], t, &mut tape, v_after, advance_kept);
        self.undo(m, n, t, &tape);
        self.tape = tape;
    }

    /// Undoes step `n` (from time `t`) from its `tape`, the partials in the machine and its
    /// plan as the replay of the step left it; leaves the plan at the step's start.
    fn undo(&mut self, m: &mut Machine, n: usize, t: f64, tape: &StepTape) {
        for stage in STEP.into_iter().rev() {
            match stage {
                Stage::Record | Stage::Detect => {}
                Stage::Advance => {
                    for b in (0..m.plan.blocks.len()).rev() {
                        if tape.advanced {
                            tape.advance[b].restore(&mut m.plan, b);
                        }
                        self.block(m, b, KernelStage::Advance);
                    }
                }
                Stage::Solve => self.solve(m, tape),
                Stage::Currents => {
                    self.currents(m);
                    self.cot.clear_accumulators();
                }
                Stage::Reversals => {
                    self.reversals(&m.plan, m.cells.nodes.clone());
                    let nodes = m.cells.nodes.clone();
                    for (ion, saved) in m.plan.ions.iter_mut().zip(&tape.reversals) {
                        ion.reversal[nodes.clone()].copy_from_slice(&saved[nodes.clone()]);
                    }
                }
                Stage::DeliverEvents => self.events(m, n, &tape.events, t),
            }
        }
    }

    /// Undoes initialisation (`schedule::INIT`) on the machine's uninitialised plan.
    fn init(&mut self, m: &mut Machine) {
        let p = &mut m.plan;
        let overwritten = p.blocks.iter().map(|b| Overwritten::before(p, b, &b.kernels.init)).collect::<Vec<_>>();
        p.interpret(|k| &k.init, 0.0);
        p.update_reversals();
        // Nothing after initialisation reads the initial accumulators: only stored values have
        // cotangents at row 0.
        self.cot.clear_accumulators();
        for stage in INIT.into_iter().rev() {
            match stage {
                InitStage::DetectorFlags => {}
                InitStage::Currents => {
                    for b in 0..m.plan.blocks.len() {
                        m.compute_partials(b, KernelStage::Current, 0.0, None);
                    }
                    self.currents(m);
                    self.cot.clear_accumulators();
                }
                InitStage::Reversals => self.reversals(&m.plan, m.cells.nodes.clone()),
                InitStage::InitKernels => {
                    for b in (0..m.plan.blocks.len()).rev() {
                        overwritten[b].restore(&mut m.plan, b);
                        m.compute_partials(b, KernelStage::Init, 0.0, None);
                        self.block(m, b, KernelStage::Init);
                    }
                }
            }
        }
    }

    /// The adjoint of the current stage, from the partials in the machine.
    fn currents(&mut self, m: &Machine) {
        for b in (0..m.plan.blocks.len()).rev() {
            self.block(m, b, KernelStage::Current);
        }
    }

    /// The vector–Jacobian product of block `b`'s `stage` kernel, instance by instance in
    /// reverse, from the partials in the machine (computed at the values the kernel read).
    fn block(&mut self, m: &Machine, b: usize, stage: KernelStage) {
        let vjp = &self.code.adjoints[b].of(stage).expect("an adjoint per kernel").vjp;
        let instances = m.cells.instances[b].clone();
        self.cot.vjp_block(&m.plan, b, vjp, m.partials(b, stage), instances, &mut self.written);
    }

    /// v' = v + M⁻¹(rhs − A v) with M = diag(d + C/dt) + A (A: the axial Laplacian,
    /// symmetric): μ = M⁻¹ λ_v', then λ_rhs = μ, λ_d = −μ ⊙ Δv, λ_v += −A μ.
    fn solve(&mut self, m: &mut Machine, tape: &StepTape) {
        let (p, nodes) = (&mut m.plan, m.cells.nodes.clone());
        let cable = &p.cable;
        let SolveScratch { mu, diagonal } = &mut self.solve;
        diagonal[nodes.clone()].copy_from_slice(&tape.diagonal[nodes.clone()]);
        for i in nodes.clone() {
            diagonal[i] += cable.capacitance_dt[i];
            let parent = cable.parent[i];
            if parent != u32::MAX {
                diagonal[i] += cable.axial[i];
                diagonal[parent as usize] += cable.axial[i];
            }
        }
        mu[nodes.clone()].copy_from_slice(&self.cot.v[nodes.clone()]);
        solve_tree(mu, diagonal, cable, 0, nodes.clone());
        for i in nodes.clone() {
            let dv = p.nodes.v[i] - tape.v_before_solve[i];
            self.cot.rhs[i] += mu[i];
            self.cot.diagonal[i] -= mu[i] * dv;
            let parent = cable.parent[i];
            if parent != u32::MAX {
                // rhs_i += g (v_p − v_i), rhs_p −= g (v_p − v_i).
                let flow = cable.axial[i] * (mu[i] - mu[parent as usize]);
                self.cot.v[parent as usize] += flow;
                self.cot.v[i] -= flow;
            }
        }
        self.cot.cable.add_solve(cable, nodes.clone(), mu, &p.nodes.v, &tape.v_before_solve);
        p.nodes.v[nodes.clone()].copy_from_slice(&tape.v_before_solve[nodes]);
    }

    /// e = (RT/zF) ln(c_o/c_i) where a species follows Nernst (and c_i > 0).
    fn reversals(&mut self, p: &Plan, nodes: Range<usize>) {
        for (s, species) in p.species.iter().enumerate() {
            if !species.nernst {
                continue;
            }
            let k = nernst_factor(species.charge, p.celsius);
            let (ion, cot) = (&p.ions[s], &mut self.cot.ions[s]);
            for n in nodes.clone() {
                let d = std::mem::take(&mut cot.reversal[n]);
                if ion.inside[n] > 0.0 && d != 0.0 {
                    cot.inside[n] -= d * k / ion.inside[n];
                    cot.outside[n] += d * k / ion.outside[n];
                }
            }
        }
    }

    /// Undoes the events of step `n` at the machine's cells (`before`: their targets' states
    /// before each), keeping the cotangent of each one's weight.
    fn events(&mut self, m: &mut Machine, n: usize, before: &[Vec<f64>], t: f64) {
        let (events, ids) = (&self.events.steps[n], &self.events.ids[n]);
        for ((e, states), &id) in events.iter().zip(before).zip(ids).rev() {
            let (b, instance) = (e.block as usize, e.instance as usize);
            for (s, x) in m.plan.blocks[b].states.iter_mut().zip(states) {
                s[instance] = *x;
            }
            let Some(adjoint) = self.code.adjoints[b].of(KernelStage::Event) else { continue };
            m.compute_partials(b, KernelStage::Event, t, Some((instance, e.weight)));
            let partials = m.partials(b, KernelStage::Event);
            self.event_weights[id] =
                self.cot.vjp(&m.plan, b, &adjoint.vjp, partials, instance..instance + 1, &mut self.written);
        }
    }
}

impl StepTape {
    /// A tape with arrays sized for `p`.
    fn new(p: &Plan) -> StepTape {
        StepTape {
            events: Vec::new(),
            reversals: p.ions.iter().map(|i| i.reversal.clone()).collect(),
            diagonal: p.nodes.diagonal.clone(),
            v_before_solve: p.nodes.v.clone(),
            advance: p.blocks.iter().map(|b| Overwritten::before(p, b, &b.kernels.advance)).collect(),
            advanced: true,
        }
    }
}

/// Replays step `n` from the state in the machine's plan for its adjoint, keeping in `tape`
/// what that needs (what each stage overwrote; the machine keeps the partials of the current
/// and advance kernels). `v_after`: the voltages of the machine's cells in the recomputed state
/// after the step (which the same kernels and solve gave), so that the solve is not run again;
/// the current kernels make only the writes the adjoint reads; the advance kernels, where no
/// other reads what one writes, compute only their partials (the recomputed state after the
/// step holds what they would write), and nothing where the machine holds their partials
/// already (`advance_kept`).
fn replay(m: &mut Machine, events: &[DueEvent], t: f64, tape: &mut StepTape, v_after: &[f64], advance_kept: bool) {
    let (mid, nodes) = (t + m.plan.dt / 2.0, m.cells.nodes.clone());
    tape.events.clear();
    for stage in STEP {
        match stage {
            Stage::DeliverEvents => {
                for e in events {
                    let (b, instance) = (e.block as usize, e.instance as usize);
                    tape.events.push(m.plan.blocks[b].states.iter().map(|s| s[instance]).collect());
                    m.event(e, t);
                }
            }
            Stage::Reversals => {
                for (saved, ion) in tape.reversals.iter_mut().zip(&m.plan.ions) {
                    saved[nodes.clone()].copy_from_slice(&ion.reversal[nodes.clone()]);
                }
                m.stage(stage, events, t);
            }
            Stage::Solve => {
                tape.v_before_solve[nodes.clone()].copy_from_slice(&m.plan.nodes.v[nodes.clone()]);
                m.plan.nodes.v[nodes.clone()].copy_from_slice(v_after);
            }
            Stage::Currents => {
                m.replay_currents(mid);
                tape.diagonal[nodes.clone()].copy_from_slice(&m.plan.nodes.diagonal[nodes.clone()]);
            }
            Stage::Advance => replay_advance(m, tape, mid, advance_kept),
            Stage::Detect | Stage::Record => {}
        }
    }
}

/// The advance stage of [`replay`].
fn replay_advance(m: &mut Machine, tape: &mut StepTape, mid: f64, advance_kept: bool) {
    tape.advanced = !advance_kept && !m.advance_partials_alone();
    if advance_kept {
        return;
    }
    for (b, overwritten) in tape.advance.iter_mut().enumerate() {
        if !tape.advanced {
            m.compute_partials(b, KernelStage::Advance, mid, None);
            continue;
        }
        let p = &m.plan;
        overwritten.save(p, &p.blocks[b], &p.blocks[b].kernels.advance);
        m.advance_and_partials(b, mid);
    }
}

/// The values a block's kernel stores into (its states, the concentrations at its nodes),
/// saved before it runs.
struct Overwritten {
    states: Vec<Vec<f64>>,
    /// (species, inside?, node, value).
    concentrations: Vec<(usize, bool, usize, f64)>,
}

impl Overwritten {
    fn before(p: &Plan, block: &crate::plan::Block, kernel: &Kernel) -> Overwritten {
        let mut overwritten = Overwritten { states: block.states.clone(), concentrations: Vec::new() };
        overwritten.save_concentrations(p, block, kernel);
        overwritten
    }

    /// Saves again, into the arrays of an earlier save of the same block.
    fn save(&mut self, p: &Plan, block: &crate::plan::Block, kernel: &Kernel) {
        for (saved, state) in self.states.iter_mut().zip(&block.states) {
            saved.copy_from_slice(state);
        }
        self.save_concentrations(p, block, kernel);
    }

    fn save_concentrations(&mut self, p: &Plan, block: &crate::plan::Block, kernel: &Kernel) {
        self.concentrations.clear();
        for w in &kernel.writes {
            if let Target::IonConcentration(u, var) = w.target {
                let s = block.species[u as usize];
                let inside = var == sylva_compiler::ir::expr::IonVar::Inside;
                for &node in &block.node_index {
                    self.concentrations.push((s, inside, node as usize, p.ions[s].get(var)[node as usize]));
                }
            }
        }
    }

    fn restore(&self, p: &mut Plan, b: usize) {
        // In place: compiled kernels hold pointers to these arrays.
        for (state, saved) in p.blocks[b].states.iter_mut().zip(&self.states) {
            state.copy_from_slice(saved);
        }
        for &(s, inside, node, value) in self.concentrations.iter().rev() {
            let ion = &mut p.ions[s];
            if inside { ion.inside[node] = value } else { ion.outside[node] = value }
        }
    }
}
