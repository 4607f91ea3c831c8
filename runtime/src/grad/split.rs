//! The reverse run split by cells. With the events replayed as recorded, no cell's steps read
//! another's (but through `v_pre`, whose models run as one part): each part of whole cells is
//! undone from the last step to the first on a thread of its own, on a copy of the plan whose
//! kernels, solves and products touch only its cells. Every value is computed by the same
//! operations in the same order as by a single part, so the gradient has the same bits for any
//! number of threads; the weights' gradients, which sum over events of every cell, are summed
//! after the parts, in the order of the run undone step by step.

use rayon::prelude::*;

use super::cotangent::Cotangents;
use super::forward::Run;
use super::kernels::{Cells, Code};
use crate::host::DueEvent;
use crate::plan::Plan;
use sylva_compiler::ir::expr::IonVar;
use sylva_compiler::ir::kernel::Stage;

/// The parts the reverse run of `plan` splits into on `threads` threads: one where the cells
/// are coupled through `v_pre` or the kernels are interpreted (the reference).
pub(super) fn cells(plan: &Plan, code: &Code, threads: usize) -> Vec<Cells> {
    let coupled = plan.blocks.iter().any(|b| !b.pre_node.is_empty());
    if threads <= 1 || coupled || !code.is_compiled() {
        return vec![Cells::all(plan)];
    }
    Cells::split(plan, threads)
}

/// `undo(part)` for every part, each on a thread of its own (the calling thread where the
/// pool cannot start: the same bits, only slower), in the parts' order.
pub(super) fn each<R: Send>(parts: Vec<Cells>, undo: impl Fn(Cells) -> R + Sync) -> Vec<(Cells, R)> {
    let run = |cells: Cells| (cells.clone(), undo(cells));
    let pool = (parts.len() > 1).then(|| rayon::ThreadPoolBuilder::new().num_threads(parts.len()).build());
    match pool {
        Some(Ok(pool)) => pool.install(|| parts.into_par_iter().map(run).collect()),
        _ => parts.into_iter().map(run).collect(),
    }
}

/// The events of a run that target some cells, per step, with their index in the run.
pub(super) struct CellEvents {
    pub steps: Vec<Vec<DueEvent>>,
    pub ids: Vec<Vec<usize>>,
    /// The events of the whole run.
    pub in_run: usize,
}

impl CellEvents {
    pub(super) fn of(run: &Run, cells: &Cells) -> CellEvents {
        let mut out = CellEvents { steps: Vec::new(), ids: Vec::new(), in_run: 0 };
        for step in &run.events {
            let (mut events, mut ids) = (Vec::new(), Vec::new());
            for e in step {
                if cells.hold(e) {
                    events.push(*e);
                    ids.push(out.in_run);
                }
                out.in_run += 1;
            }
            out.steps.push(events);
            out.ids.push(ids);
        }
        out
    }

    /// No events (initialisation).
    pub(super) fn none() -> CellEvents {
        CellEvents { steps: Vec::new(), ids: Vec::new(), in_run: 0 }
    }
}

/// The cotangents of every part, each at its cells, and the cotangents of the events'
/// weights, each from the part that undid it.
pub(super) fn merge(plan: &Plan, parts: Vec<(Cells, (Cotangents, Vec<f64>))>) -> (Cotangents, Vec<f64>) {
    let mut parts = parts.into_iter();
    let (_, (mut cot, mut weights)) = parts.next().expect("one part at least");
    for (cells, (part, part_weights)) in parts {
        copy_cells(plan, &cells, &part, &mut cot);
        for (w, x) in weights.iter_mut().zip(part_weights) {
            // An event belongs to one part; the others leave its cotangent at 0.
            if x != 0.0 {
                *w = x;
            }
        }
    }
    (cot, weights)
}

/// Copies the cotangents of `cells` from `part` into `into`.
fn copy_cells(plan: &Plan, cells: &Cells, part: &Cotangents, into: &mut Cotangents) {
    let nodes = cells.nodes.clone();
    let node_arrays = |from: &[f64], to: &mut [f64]| to[nodes.clone()].copy_from_slice(&from[nodes.clone()]);
    node_arrays(&part.v, &mut into.v);
    node_arrays(&part.rhs, &mut into.rhs);
    node_arrays(&part.diagonal, &mut into.diagonal);
    node_arrays(&part.cable.capacitance_dt, &mut into.cable.capacitance_dt);
    node_arrays(&part.cable.axial, &mut into.cable.axial);
    for (from, to) in part.ions.iter().zip(&mut into.ions) {
        for var in [IonVar::Reversal, IonVar::Inside, IonVar::Outside, IonVar::Current] {
            node_arrays(from.get(var), to.get_mut(var));
        }
    }
    for b in 0..plan.blocks.len() {
        let instances = cells.instances[b].clone();
        let per_instance = [(&part.states, &mut into.states), (&part.currents, &mut into.currents)];
        for (from, to) in
            per_instance.into_iter().chain([(&part.derived, &mut into.derived), (&part.params, &mut into.params)])
        {
            for (x, y) in from[b].iter().zip(&mut to[b]) {
                y[instances.clone()].copy_from_slice(&x[instances.clone()]);
            }
        }
    }
}

/// Per connection rule, the gradient of its weight: the cotangents of its events' weights
/// (`event_weights`, by index in the run), summed from the last event to the first.
pub(super) fn weights(code: &Code, run: &Run, event_weights: &[f64], connections: usize) -> Vec<f64> {
    let mut weights = vec![0.0; connections];
    let mut id = event_weights.len();
    for e in run.events.iter().rev().flat_map(|step| step.iter().rev()) {
        id -= 1;
        if code.adjoints[e.block as usize].of(Stage::Event).is_some() {
            weights[e.connection as usize] += event_weights[id];
        }
    }
    weights
}
