//! Cotangents (∂L/∂x for every value x of the state and of a step's intermediates) and the
//! vector–Jacobian product of one kernel at one instance.

use sylva_compiler::ir::adjoint::{AdjointKernel, Wrt};
use sylva_compiler::ir::expr::{Expr, IonVar};
use sylva_compiler::ir::kernel::{Kernel, Target};

use super::GradError;
use super::cable::CableGradient;
use crate::plan::{IonArrays, Plan, ProbeSource};

pub(super) struct Cotangents {
    pub v: Vec<f64>,
    pub rhs: Vec<f64>,
    pub diagonal: Vec<f64>,
    pub ions: Vec<IonArrays>,
    /// Per block, per state, per instance.
    pub states: Vec<Vec<Vec<f64>>>,
    /// Per block, per stored current (derived value), per instance.
    pub currents: Vec<Vec<Vec<f64>>>,
    pub derived: Vec<Vec<Vec<f64>>>,
    /// Per block, per per-instance parameter (the block's `params` order), per instance: the
    /// gradient so far.
    pub params: Vec<Vec<Vec<f64>>>,
    /// The gradient so far of every node's C/dt and axial conductance (see `cable`).
    pub cable: CableGradient,
}

impl Cotangents {
    pub(super) fn zeros(p: &Plan) -> Cotangents {
        let n = p.nodes.v.len();
        let per_instance =
            |lists: Vec<usize>, b: &crate::plan::Block| lists.into_iter().map(|_| vec![0.0; b.len()]).collect();
        Cotangents {
            v: vec![0.0; n],
            rhs: vec![0.0; n],
            diagonal: vec![0.0; n],
            ions: p
                .ions
                .iter()
                .map(|_| IonArrays {
                    reversal: vec![0.0; n],
                    inside: vec![0.0; n],
                    outside: vec![0.0; n],
                    current: vec![0.0; n],
                })
                .collect(),
            states: p.blocks.iter().map(|b| per_instance((0..b.states.len()).collect(), b)).collect(),
            currents: p.blocks.iter().map(|b| per_instance((0..b.currents.len()).collect(), b)).collect(),
            derived: p.blocks.iter().map(|b| per_instance((0..b.derived.len()).collect(), b)).collect(),
            params: p.blocks.iter().map(|b| per_instance((0..b.params.len()).collect(), b)).collect(),
            cable: CableGradient::zeros(n),
        }
    }

    /// Adds the loss's derivative in each probe's value (internal units) at one row.
    pub(super) fn add_row(&mut self, p: &Plan, row: &[f64]) {
        for (probe, &d) in p.probes.iter().zip(row) {
            if d == 0.0 {
                continue;
            }
            match *probe {
                ProbeSource::Voltage(n) => self.v[n] += d,
                ProbeSource::State { block, state, instance } => self.states[block][state][instance] += d,
                ProbeSource::Current { block, slot, instance } => self.currents[block][slot][instance] += d,
                ProbeSource::Derived { block, slot, instance } => self.derived[block][slot][instance] += d,
                ProbeSource::Ion { species, var, node } => self.ions[species].get_mut(var)[node] += d,
                ProbeSource::Param { .. } => unreachable!("refused by the loss"),
            }
        }
    }

    /// Zeroes what a stage that starts by clearing them (the current stage) made of the node
    /// accumulators and ion currents: nothing before it reaches them.
    pub(super) fn clear_accumulators(&mut self) {
        self.rhs.fill(0.0);
        self.diagonal.fill(0.0);
        for ion in &mut self.ions {
            ion.current.fill(0.0);
        }
    }

    /// The cotangent of a kernel's write target at `instance` (on `node`) of block `b`.
    fn target(&mut self, p: &Plan, b: usize, target: Target, instance: usize, node: usize) -> &mut f64 {
        let block = &p.blocks[b];
        let slot = |list: &[(u32, Vec<f64>)], x: u32| list.iter().position(|(y, _)| *y == x).expect("stored");
        match target {
            Target::State(s) => &mut self.states[b][s as usize][instance],
            Target::Current(c) => &mut self.currents[b][slot(&block.currents, c)][instance],
            Target::Derived(d) => &mut self.derived[b][slot(&block.derived, d)][instance],
            Target::NodeRhs => &mut self.rhs[node],
            Target::NodeDiagonal => &mut self.diagonal[node],
            Target::IonCurrent(u) => &mut self.ions[block.species[u as usize]].current[node],
            Target::IonConcentration(u, var) => &mut self.ions[block.species[u as usize]].get_mut(var)[node],
        }
    }

    /// The cotangent of a leaf a kernel read, or `None` for the run's constants (a parameter
    /// folded into the kernel has none: it is a constant of the code).
    fn leaf(&mut self, p: &Plan, b: usize, wrt: Wrt, instance: usize, node: usize) -> Option<&mut f64> {
        let block = &p.blocks[b];
        match wrt {
            Wrt::Param(q) => {
                let slot = block.params.iter().position(|(x, _)| *x == q)?;
                Some(&mut self.params[b][slot][instance])
            }
            Wrt::State(s) => Some(&mut self.states[b][s as usize][instance]),
            Wrt::V => Some(&mut self.v[node]),
            // The presynaptic cell's voltage: the gradient crosses to that cell.
            Wrt::VPre => Some(&mut self.v[block.pre_node[instance] as usize]),
            Wrt::Ion(u, var) => Some(&mut self.ions[block.species[u as usize]].get_mut(var)[node]),
            Wrt::Weight => None,
        }
    }

    /// The vector–Jacobian product of `kernel` at `instance` of block `b`, evaluated at the
    /// plan's current values (those the kernel read): every written value's cotangent flows into
    /// what it was computed from; a stored target's cotangent is consumed (the value before
    /// the kernel is not what it wrote). Returns the cotangent of the event weight.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn vjp(
        &mut self,
        p: &Plan,
        b: usize,
        kernel: &Kernel,
        adjoint: &AdjointKernel,
        instance: usize,
        weight: f64,
        t: f64,
        values: &mut Vec<f64>,
    ) -> f64 {
        let block = &p.blocks[b];
        let node = block.node_index[instance] as usize;
        // One scratch buffer, reused across calls: the adjoint's values, then the writes' cotangents.
        let n = adjoint.exprs.len();
        values.resize(n + kernel.writes.len(), 0.0);
        let (values, written) = values.split_at_mut(n);
        block.evaluate_at(&adjoint.exprs, values, &p.nodes, &p.ions, &p.scalars(t), instance, weight);
        for (w, x) in kernel.writes.iter().zip(written.iter_mut()) {
            *x = *self.target(p, b, w.target, instance, node);
        }
        for w in &kernel.writes {
            if !accumulates(w.target) {
                *self.target(p, b, w.target, instance, node) = 0.0;
            }
        }
        let mut weight_cotangent = 0.0;
        for partial in &adjoint.partials {
            let contribution = written[partial.write as usize] * values[partial.value.0 as usize];
            if contribution == 0.0 {
                continue;
            }
            match self.leaf(p, b, partial.wrt, instance, node) {
                Some(x) => *x += contribution,
                None if partial.wrt == Wrt::Weight => weight_cotangent += contribution,
                None => {}
            }
        }
        weight_cotangent
    }
}

fn accumulates(target: Target) -> bool {
    matches!(target, Target::NodeRhs | Target::NodeDiagonal | Target::IonCurrent(_))
}

/// Refuses what the reverse run does not cover: a current kernel reading a summed ion current
/// (its value depends on the order of the instances within the stage).
pub(super) fn check_differentiable(p: &Plan) -> Result<(), GradError> {
    for b in &p.blocks {
        let reads_current = b.kernels.current.exprs.iter().any(|(_, e)| matches!(e, Expr::Ion(_, IonVar::Current)));
        if reads_current {
            return Err(GradError::NotDifferentiable(format!(
                "mechanism {} reads an ion current in its current kernel",
                b.mechanism
            )));
        }
    }
    Ok(())
}
