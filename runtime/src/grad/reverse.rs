//! The reverse run: per checkpointed segment, the states recomputed forward, then every step's
//! stages undone in the reverse order of `schedule::STEP`, each by its adjoint. The
//! recomputation and the replay run the compiled kernels (`kernels::Machine`), and so do the
//! adjoints' partials, a block at a time.

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
type Gradients = (Vec<Vec<Vec<f64>>>, Vec<f64>, CableGradient);

/// The reverse run of `run` (made by `forward::run` with checkpoints) with the loss's per-row
/// derivatives `rows`.
pub(super) fn run(
    plan: &Plan,
    code: &Code,
    run: &Run,
    rows: &[Vec<f64>],
    connections: usize,
) -> Result<Gradients, GradError> {
    let mut m = Machine::new(plan.clone(), code, true);
    let dt = plan.dt;
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
    // The segment's states and the one after it (one buffer per state of the longest segment,
    // reused by every segment).
    let mut states: Vec<Snapshot> = Vec::new();
    for (c, (start, checkpoint)) in run.checkpoints.iter().enumerate().rev() {
        let end = run.checkpoints.get(c + 1).map_or(run.steps, |(s, _)| *s);
        // The segment's states, recomputed from its checkpoint.
        checkpoint.restore(&mut m.plan);
        for n in *start..=end {
            match states.get_mut((n - start) as usize) {
                Some(state) => state.copy_from(&m.plan),
                None => states.push(Snapshot::take(&m.plan, &run.saved)),
            }
            if n < end {
                m.step(&run.events[n as usize], time_of(dt, n));
            }
        }
        for n in (*start..end).rev() {
            reverse.cot.add_row(plan, &rows[n as usize + 1]);
            let i = (n - start) as usize;
            states[i].restore(&mut m.plan);
            reverse.step(&mut m, &run.events[n as usize], time_of(dt, n), states[i + 1].v());
        }
    }
    reverse.cot.add_row(plan, &rows[0]);
    reverse.init(&mut Machine::new(plan.clone(), code, true));
    Ok((cot.params, weights, cot.cable))
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
        replay(m, events, t, &mut tape, v_after);
        for stage in STEP.into_iter().rev() {
            match stage {
                Stage::Record | Stage::Detect => {}
                Stage::Advance => {
                    for b in (0..m.plan.blocks.len()).rev() {
                        tape.advance[b].restore(&mut m.plan, b);
                        self.block(m, b, KernelStage::Advance);
                    }
                }
                Stage::Solve => self.solve(&mut m.plan, &tape),
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
        self.tape = tape;
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
/// advance kernels). The solve is not run again: its result is `v_after`, the voltages of the
/// recomputed state after the step, which the same kernels and solve gave.
fn replay(m: &mut Machine, events: &[DueEvent], t: f64, tape: &mut StepTape, v_after: &[f64]) {
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
                m.plan.nodes.v.copy_from_slice(v_after);
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
