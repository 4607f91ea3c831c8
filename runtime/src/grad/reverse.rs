//! The reverse run: per checkpointed segment, the states recomputed forward, then every step's
//! stages undone in the reverse order of `schedule::STEP`, each by its adjoint.

use sylva_compiler::ir::adjoint::{AdjointKernel, adjoint};
use sylva_compiler::ir::kernel::{Kernel, Kernels, Target};

use super::GradError;
use super::cable::CableGradient;
use super::cotangent::Cotangents;
use super::forward::{Run, Snapshot};
use crate::host::{DueEvent, time_of};
use crate::plan::schedule::{INIT, InitStage, STEP, Stage};
use crate::plan::solve::solve_tree;
use crate::plan::{Plan, nernst_factor};

/// The adjoint of every kernel of one block.
pub(super) struct BlockAdjoints {
    init: AdjointKernel,
    current: AdjointKernel,
    advance: AdjointKernel,
    event: Option<AdjointKernel>,
}

impl BlockAdjoints {
    /// The adjoints of every block of `plan` (derived once per problem).
    pub(super) fn of_plan(plan: &Plan) -> Vec<BlockAdjoints> {
        plan.blocks.iter().map(|b| BlockAdjoints::of(&b.kernels)).collect()
    }

    fn of(k: &Kernels) -> BlockAdjoints {
        BlockAdjoints {
            init: adjoint(&k.init),
            current: adjoint(&k.current),
            advance: adjoint(&k.advance),
            event: k.event.as_ref().map(adjoint),
        }
    }
}

/// The gradients of the per-instance parameters (per block, per parameter, per instance), of
/// the connection rules' weights and of the cable's coefficients.
type Gradients = (Vec<Vec<Vec<f64>>>, Vec<f64>, CableGradient);

/// The reverse run of `run` (made by `forward::run` with checkpoints) with the loss's per-row
/// derivatives `rows`.
pub(super) fn run(
    plan: &Plan,
    adjoints: &[BlockAdjoints],
    run: &Run,
    rows: &[Vec<f64>],
    connections: usize,
) -> Result<Gradients, GradError> {
    let mut p = plan.clone();
    let dt = p.dt;
    let mut cot = Cotangents::zeros(plan);
    let mut values = Vec::new();
    let mut weights = vec![0.0; connections];
    let mut reverse = Reverse { adjoints, cot: &mut cot, values: &mut values, weights: &mut weights };
    for (c, (start, checkpoint)) in run.checkpoints.iter().enumerate().rev() {
        let end = run.checkpoints.get(c + 1).map_or(run.steps, |(s, _)| *s);
        // The segment's states, recomputed from its checkpoint.
        checkpoint.restore(&mut p);
        let mut states = Vec::with_capacity((end - start) as usize);
        for n in *start..end {
            states.push(Snapshot::take(&p, &run.saved));
            p.interpret_step(&run.events[n as usize], time_of(dt, n));
        }
        for n in (*start..end).rev() {
            reverse.cot.add_row(plan, &rows[n as usize + 1]);
            states[(n - start) as usize].restore(&mut p);
            reverse.step(&mut p, &run.events[n as usize], time_of(dt, n));
        }
    }
    reverse.cot.add_row(plan, &rows[0]);
    let mut p = plan.clone();
    reverse.init(&mut p);
    Ok((cot.params, weights, cot.cable))
}

struct Reverse<'a> {
    adjoints: &'a [BlockAdjoints],
    cot: &'a mut Cotangents,
    /// Scratch for an adjoint kernel's values and its writes' cotangents.
    values: &'a mut Vec<f64>,
    /// Per connection rule, the gradient of its weight (the events it sent).
    weights: &'a mut [f64],
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
    /// Undoes step `n` (from time `t`); `p` holds the state at its start and is left there.
    fn step(&mut self, p: &mut Plan, events: &[DueEvent], t: f64) {
        let tape = replay(p, events, t);
        let mid = t + p.dt / 2.0;
        for stage in STEP.into_iter().rev() {
            match stage {
                Stage::Record | Stage::Detect => {}
                Stage::Advance => self.blocks(p, &tape.advance, mid, |k| &k.advance, |a| &a.advance),
                Stage::Solve => self.solve(p, &tape),
                Stage::Currents => {
                    self.currents(p, mid);
                    self.cot.clear_accumulators();
                }
                Stage::Reversals => {
                    self.reversals(p);
                    for (ion, saved) in p.ions.iter_mut().zip(&tape.reversals) {
                        ion.reversal.copy_from_slice(saved);
                    }
                }
                Stage::DeliverEvents => self.events(p, events, &tape.events, t),
            }
        }
    }

    /// Undoes initialisation (`schedule::INIT`) on the uninitialised plan `p`.
    fn init(&mut self, p: &mut Plan) {
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
                    self.currents(p, 0.0);
                    self.cot.clear_accumulators();
                }
                InitStage::Reversals => self.reversals(p),
                InitStage::InitKernels => self.blocks(p, &overwritten, 0.0, |k| &k.init, |a| &a.init),
            }
        }
    }

    /// The adjoint of a stage that runs `kernel` on every block in order, after restoring, block
    /// by block in reverse, what each overwrote.
    fn blocks(
        &mut self,
        p: &mut Plan,
        overwritten: &[Overwritten],
        t: f64,
        kernel: fn(&Kernels) -> &Kernel,
        adjoint: fn(&BlockAdjoints) -> &AdjointKernel,
    ) {
        for b in (0..p.blocks.len()).rev() {
            overwritten[b].restore(p, b);
            let kernels = std::sync::Arc::clone(&p.blocks[b].kernels);
            for instance in (0..p.blocks[b].len()).rev() {
                self.cot.vjp(p, b, kernel(&kernels), adjoint(&self.adjoints[b]), instance, 0.0, t, self.values);
            }
        }
    }

    fn currents(&mut self, p: &Plan, mid: f64) {
        for b in (0..p.blocks.len()).rev() {
            let kernels = std::sync::Arc::clone(&p.blocks[b].kernels);
            for instance in (0..p.blocks[b].len()).rev() {
                self.cot.vjp(p, b, &kernels.current, &self.adjoints[b].current, instance, 0.0, mid, self.values);
            }
        }
    }

    /// v' = v + M⁻¹(rhs − A v) with M = diag(d + C/dt) + A (A: the axial Laplacian,
    /// symmetric): μ = M⁻¹ λ_v', then λ_rhs = μ, λ_d = −μ ⊙ Δv, λ_v += −A μ.
    fn solve(&mut self, p: &mut Plan, tape: &StepTape) {
        let n = p.nodes.v.len();
        let cable = &p.cable;
        let mut diagonal = tape.diagonal.clone();
        for i in 0..n {
            diagonal[i] += cable.capacitance_dt[i];
            let parent = cable.parent[i];
            if parent != u32::MAX {
                diagonal[i] += cable.axial[i];
                diagonal[parent as usize] += cable.axial[i];
            }
        }
        let mut mu = self.cot.v.clone();
        solve_tree(&mut mu, &mut diagonal, cable, 0, 0..n);
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
        self.cot.cable.add_solve(cable, &mu, &p.nodes.v, &tape.v_before_solve);
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

    fn events(&mut self, p: &mut Plan, events: &[DueEvent], before: &[Vec<f64>], t: f64) {
        for (e, states) in events.iter().zip(before).rev() {
            let (b, instance) = (e.block as usize, e.instance as usize);
            for (s, x) in p.blocks[b].states.iter_mut().zip(states) {
                s[instance] = *x;
            }
            let kernels = std::sync::Arc::clone(&p.blocks[b].kernels);
            let (Some(kernel), Some(adjoint)) = (&kernels.event, &self.adjoints[b].event) else { continue };
            self.weights[e.connection as usize] +=
                self.cot.vjp(p, b, kernel, adjoint, instance, e.weight, t, self.values);
        }
    }
}

/// Runs step `n` forward from the state in `p`, keeping what its adjoint needs.
fn replay(p: &mut Plan, events: &[DueEvent], t: f64) -> StepTape {
    let mid = t + p.dt / 2.0;
    let mut tape = StepTape {
        events: Vec::with_capacity(events.len()),
        reversals: Vec::new(),
        diagonal: Vec::new(),
        v_before_solve: Vec::new(),
        advance: Vec::new(),
    };
    for stage in STEP {
        match stage {
            Stage::DeliverEvents => {
                for e in events {
                    let (b, instance) = (e.block as usize, e.instance as usize);
                    tape.events.push(p.blocks[b].states.iter().map(|s| s[instance]).collect());
                    p.interpret_event(e.block, e.instance, e.weight, t);
                }
            }
            Stage::Reversals => {
                tape.reversals = p.ions.iter().map(|i| i.reversal.clone()).collect();
                p.update_reversals();
            }
            Stage::Currents => {
                p.currents(mid);
                tape.diagonal = p.nodes.diagonal.clone();
            }
            Stage::Solve => {
                tape.v_before_solve = p.nodes.v.clone();
                p.solve();
            }
            Stage::Advance => {
                let scalars = p.scalars(mid);
                for b in 0..p.blocks.len() {
                    tape.advance.push(Overwritten::before(p, &p.blocks[b], &p.blocks[b].kernels.advance));
                    let kernels = std::sync::Arc::clone(&p.blocks[b].kernels);
                    let block = &mut p.blocks[b];
                    let n = block.len();
                    block.interpret(&kernels.advance, &mut p.nodes, &mut p.ions, &scalars, 0, n);
                }
            }
            Stage::Detect | Stage::Record => {}
        }
    }
    tape
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
        let mut concentrations = Vec::new();
        for w in &kernel.writes {
            if let Target::IonConcentration(u, var) = w.target {
                let s = block.species[u as usize];
                let inside = var == sylva_compiler::ir::expr::IonVar::Inside;
                for &node in &block.node_index {
                    concentrations.push((s, inside, node as usize, p.ions[s].get(var)[node as usize]));
                }
            }
        }
        Overwritten { states: block.states.clone(), concentrations }
    }

    fn restore(&self, p: &mut Plan, b: usize) {
        p.blocks[b].states.clone_from(&self.states);
        for &(s, inside, node, value) in self.concentrations.iter().rev() {
            let ion = &mut p.ions[s];
            if inside { ion.inside[node] = value } else { ion.outside[node] = value }
        }
    }
}
