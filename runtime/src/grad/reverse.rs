//! The reverse run: per checkpointed segment, the states recomputed forward, then every step's
//! stages undone in the reverse order of `schedule::STEP`, each by its adjoint, from the
//! partials of a replay of the step ([`Schedule::Replay`]) or from those the recomputation kept
//! ([`Schedule::Tapes`]). The recomputation and the replay run the compiled kernels
//! (`kernels::Machine`), and so do the adjoints' partials, a block at a time.

use std::ops::Range;

use sylva_compiler::ir::expr::IonVar;
use sylva_compiler::ir::kernel::{Kernel, Stage as KernelStage, Target};

use super::GradError;
use super::cable::CableGradient;
use super::cotangent::Cotangents;
use super::forward::{Run, Snapshot};
use super::kernels::{Code, Machine};
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
    /// The segment's states are recomputed, then each step is replayed from its state with the
    /// fused kernels just before its adjoint: memory of one step's partials.
    Replay,
    /// The segment is recomputed once with the fused kernels, keeping every step's partials and
    /// tape, then undone from them: one forward pass less, memory of a segment's partials.
    Tapes,
}

/// The reverse run of `run` (made by `forward::run` with checkpoints) with the loss's per-row
/// derivatives `rows`.
pub(super) fn run(
    plan: &Plan,
    code: &Code,
    run: &Run,
    rows: &[Vec<f64>],
    connections: usize,
    schedule: Schedule,
) -> Result<Gradients, GradError> {
    let mut m = Machine::new(plan.clone(), code, true);
    let mut cot = Cotangents::zeros(plan);
    let mut weights = vec![0.0; connections];
    let mut reverse = Reverse {
        code,
        cot: &mut cot,
        written: Vec::new(),
        weights: &mut weights,
        tape: StepTape::new(&m.plan),
        solve: SolveScratch { mu: vec![0.0; plan.nodes.v.len()], diagonal: vec![0.0; plan.nodes.v.len()] },
    };
    // One buffer per step of the longest segment, reused by every segment.
    let mut segment = Segment { states: Vec::new(), tapes: Vec::new() };
    for (c, (start, checkpoint)) in run.checkpoints.iter().enumerate().rev() {
        let end = run.checkpoints.get(c + 1).map_or(run.steps, |(s, _)| *s);
        checkpoint.restore(&mut m.plan);
        match schedule {
            Schedule::Replay => reverse.segment_by_replay(&mut m, run, rows, *start..end, &mut segment.states),
            Schedule::Tapes => reverse.segment_from_tapes(&mut m, run, rows, *start..end, &mut segment),
        }
    }
    reverse.cot.add_row(plan, &rows[0]);
    reverse.init(&mut Machine::new(plan.clone(), code, true));
    Ok((cot.params, weights, cot.cable))
}

/// Undoes initialisation from the cotangents `cot` at the end of a reverse run (made
/// elsewhere: the GPU's) and the loss's derivatives at row 0; returns the gradients.
pub(crate) fn undo_init(plan: &Plan, code: &Code, mut cot: Cotangents, row: &[f64], weights: Vec<f64>) -> Gradients {
    cot.add_row(plan, row);
    let mut reverse = Reverse {
        code,
        cot: &mut cot,
        written: Vec::new(),
        weights: &mut [],
        tape: StepTape::empty(),
        solve: SolveScratch { mu: Vec::new(), diagonal: Vec::new() },
    };
    reverse.init(&mut Machine::new(plan.clone(), code, true));
    (cot.params, weights, cot.cable)
}

/// Per block, per partial, per instance (see `kernels::Machine::partials`).
type Partials = Vec<Vec<Vec<f64>>>;

/// A segment's recomputed states (and the one after it) and, with [`Schedule::Tapes`], each
/// step's tape and partials.
struct Segment {
    states: Vec<Snapshot>,
    tapes: Vec<(StepTape, Partials)>,
}

/// The bytes [`Schedule::Tapes`] keeps per step beyond [`Schedule::Replay`]: the partials of
/// the current and advance kernels and the step's tape.
pub(super) fn tape_bytes(plan: &Plan, code: &Code) -> usize {
    let values = |b: &crate::plan::Block| b.states.len() * b.len();
    let partials: usize = plan.blocks.iter().zip(&code.adjoints).map(|(b, a)| a.width() * b.len()).sum();
    let tape = (plan.ions.len() + 2) * plan.nodes.v.len() + plan.blocks.iter().map(values).sum::<usize>();
    8 * (partials + tape)
}

struct Reverse<'a> {
    code: &'a Code,
    cot: &'a mut Cotangents,
    /// Scratch for a kernel's writes' cotangents.
    written: Vec<f64>,
    /// Per connection rule, the gradient of its weight (the events it sent).
    weights: &'a mut [f64],
    /// What the replay of the step being undone overwrote (its arrays reused step after step).
    tape: StepTape,
    solve: SolveScratch,
}

impl Reverse<'_> {
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
            keep_state(states, (n - start) as usize, &m.plan, &run.saved);
            if n < range.end {
                m.step(&run.events[n as usize], time_of(dt, n));
            }
        }
        for n in range.rev() {
            self.cot.add_row(&m.plan, &rows[n as usize + 1]);
            let i = (n - start) as usize;
            states[i].restore(&mut m.plan);
            self.step(m, &run.events[n as usize], time_of(dt, n), states[i + 1].v());
        }
    }

    /// Undoes the steps `range` from the checkpoint in the machine: recomputes the segment with
    /// the fused kernels, keeping every step's tape and partials and the state after it, then
    /// undoes the steps from them.
    fn segment_from_tapes(
        &mut self,
        m: &mut Machine,
        run: &Run,
        rows: &[Vec<f64>],
        range: Range<u64>,
        segment: &mut Segment,
    ) {
        let (start, dt) = (range.start, m.plan.dt);
        for n in range.clone() {
            let i = (n - start) as usize;
            if segment.tapes.len() == i {
                segment.tapes.push((StepTape::new(&m.plan), m.partials_like()));
            }
            let (tape, partials) = &mut segment.tapes[i];
            m.swap_partials(partials);
            replay(m, &run.events[n as usize], time_of(dt, n), tape, None);
            m.swap_partials(partials);
            keep_state(&mut segment.states, i, &m.plan, &run.saved);
        }
        for n in range.rev() {
            self.cot.add_row(&m.plan, &rows[n as usize + 1]);
            let i = (n - start) as usize;
            // The state after the step, as its replay left it.
            segment.states[i].restore(&mut m.plan);
            let (tape, partials) = &mut segment.tapes[i];
            m.swap_partials(partials);
            self.undo(m, &run.events[n as usize], time_of(dt, n), tape);
            m.swap_partials(partials);
        }
    }
}

/// Saves the plan's state into `states[i]`, reusing its arrays (`i` at most `states.len()`).
fn keep_state(states: &mut Vec<Snapshot>, i: usize, plan: &Plan, saved: &[(usize, IonVar)]) {
    match states.get_mut(i) {
        Some(state) => state.copy_from(plan),
        None => states.push(Snapshot::take(plan, saved)),
    }
}

/// The transposed solve's arrays, reused step after step.
struct SolveScratch {
    mu: Vec<f64>,
    diagonal: Vec<f64>,
}

/// What a stage overwrote, to put back before its adjoint reads the values its kernels read.
struct StepTape {
    /// Per event: the target instance's states before it.
    events: Vec<Vec<f64>>,
    reversals: Vec<Vec<f64>>,
    /// The current kernels' diagonal (before C/dt and the axial terms).
    diagonal: Vec<f64>,
    v_before_solve: Vec<f64>,
    /// Per block: what its advance kernel overwrote.
    advance: Vec<Overwritten>,
}

impl Reverse<'_> {
    /// Undoes step `n` (from time `t`, ending with the voltages `v_after`); the machine's plan
    /// holds the state at its start and is left there.
    fn step(&mut self, m: &mut Machine, events: &[DueEvent], t: f64, v_after: &[f64]) {
        let mut tape = std::mem::replace(&mut self.tape, StepTape::empty());
        replay(m, events, t, &mut tape, Some(v_after));
        self.undo(m, events, t, &tape);
        self.tape = tape;
    }

    /// Undoes step `n` (from time `t`) from its `tape`, the partials in the machine and its
    /// plan as the replay of the step left it; leaves the plan at the step's start.
    fn undo(&mut self, m: &mut Machine, events: &[DueEvent], t: f64, tape: &StepTape) {
        for stage in STEP.into_iter().rev() {
            match stage {
                Stage::Record | Stage::Detect => {}
                Stage::Advance => {
                    for b in (0..m.plan.blocks.len()).rev() {
                        tape.advance[b].restore(&mut m.plan, b);
                        self.block(m, b, KernelStage::Advance);
                    }
                }
                Stage::Solve => self.solve(&mut m.plan, tape),
                Stage::Currents => {
                    self.currents(m);
                    self.cot.clear_accumulators();
                }
                Stage::Reversals => {
                    self.reversals(&m.plan);
                    for (ion, saved) in m.plan.ions.iter_mut().zip(&tape.reversals) {
                        ion.reversal.copy_from_slice(saved);
                    }
                }
                Stage::DeliverEvents => self.events(m, events, &tape.events, t),
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
                InitStage::Reversals => self.reversals(&m.plan),
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
        self.cot.vjp_block(&m.plan, b, vjp, m.partials(b, stage), &mut self.written);
    }

    /// v' = v + M⁻¹(rhs − A v) with M = diag(d + C/dt) + A (A: the axial Laplacian,
    /// symmetric): μ = M⁻¹ λ_v', then λ_rhs = μ, λ_d = −μ ⊙ Δv, λ_v += −A μ.
    fn solve(&mut self, p: &mut Plan, tape: &StepTape) {
        let n = p.nodes.v.len();
        let cable = &p.cable;
        let SolveScratch { mu, diagonal } = &mut self.solve;
        diagonal.copy_from_slice(&tape.diagonal);
        for i in 0..n {
            diagonal[i] += cable.capacitance_dt[i];
            let parent = cable.parent[i];
            if parent != u32::MAX {
                diagonal[i] += cable.axial[i];
                diagonal[parent as usize] += cable.axial[i];
            }
        }
        mu.copy_from_slice(&self.cot.v);
        solve_tree(mu, diagonal, cable, 0, 0..n);
        for i in 0..n {
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
        self.cot.cable.add_solve(cable, mu, &p.nodes.v, &tape.v_before_solve);
        p.nodes.v.copy_from_slice(&tape.v_before_solve);
    }

    /// e = (RT/zF) ln(c_o/c_i) where a species follows Nernst (and c_i > 0).
    fn reversals(&mut self, p: &Plan) {
        for (s, species) in p.species.iter().enumerate() {
            if !species.nernst {
                continue;
            }
            let k = nernst_factor(species.charge, p.celsius);
            let (ion, cot) = (&p.ions[s], &mut self.cot.ions[s]);
            for n in 0..ion.reversal.len() {
                let d = std::mem::take(&mut cot.reversal[n]);
                if ion.inside[n] > 0.0 && d != 0.0 {
                    cot.inside[n] -= d * k / ion.inside[n];
                    cot.outside[n] += d * k / ion.outside[n];
                }
            }
        }
    }

    fn events(&mut self, m: &mut Machine, events: &[DueEvent], before: &[Vec<f64>], t: f64) {
        for (e, states) in events.iter().zip(before).rev() {
            let (b, instance) = (e.block as usize, e.instance as usize);
            for (s, x) in m.plan.blocks[b].states.iter_mut().zip(states) {
                s[instance] = *x;
            }
            let Some(adjoint) = self.code.adjoints[b].of(KernelStage::Event) else { continue };
            m.compute_partials(b, KernelStage::Event, t, Some((instance, e.weight)));
            let partials = m.partials(b, KernelStage::Event);
            self.weights[e.connection as usize] +=
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
        }
    }

    /// A placeholder while the reverse run holds the tape.
    fn empty() -> StepTape {
        StepTape {
            events: Vec::new(),
            reversals: Vec::new(),
            diagonal: Vec::new(),
            v_before_solve: Vec::new(),
            advance: Vec::new(),
        }
    }
}

/// Runs step `n` forward from the state in the machine's plan, keeping in `tape` what its
/// adjoint needs (what each stage overwrote; the machine keeps the partials of the current and
/// advance kernels). Given `v_after`, the voltages of the recomputed state after the step (which
/// the same kernels and solve gave), the solve is not run again.
fn replay(m: &mut Machine, events: &[DueEvent], t: f64, tape: &mut StepTape, v_after: Option<&[f64]>) {
    let mid = t + m.plan.dt / 2.0;
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
                    saved.copy_from_slice(&ion.reversal);
                }
            }
            Stage::Solve => {
                tape.v_before_solve.copy_from_slice(&m.plan.nodes.v);
                match v_after {
                    Some(v) => m.plan.nodes.v.copy_from_slice(v),
                    None => m.stage(stage, events, t),
                }
            }
            Stage::Currents => {
                m.currents_and_partials(mid);
                tape.diagonal.copy_from_slice(&m.plan.nodes.diagonal);
            }
            Stage::Advance => {
                for (b, overwritten) in tape.advance.iter_mut().enumerate() {
                    let p = &m.plan;
                    overwritten.save(p, &p.blocks[b], &p.blocks[b].kernels.advance);
                    m.advance_and_partials(b, mid);
                }
            }
            Stage::Detect | Stage::Record => {}
        }
        if stage == Stage::Reversals {
            m.stage(stage, events, t);
        }
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
