//! The host's share of a GPU gradient: the device's cotangents and per-instance gradients
//! mapped back onto the plan's arrays, the event records' weight gradients summed per
//! connection rule in the CPU's order, and initialisation undone by the CPU's code.

use sylva_compiler::ir::expr::IonVar;

use super::device::Results;
use super::layout::{GradLayout, instance_stride};
use crate::gpu::layout::{Layout, ion_slot};
use crate::grad::cotangent::Cotangents;
use crate::grad::kernels::Code;
use crate::grad::reverse::{Gradients, undo_init};
use crate::host::DueEvent;
use crate::plan::Plan;

/// Per step, per event in delivery order: its record's index among every segment's.
pub(super) type RecordIndex = Vec<Vec<u64>>;

/// The gradients of a reverse run on the device whose loss had the derivatives `row0` at row 0.
#[allow(clippy::too_many_arguments)]
pub(super) fn gradients(
    plan: &Plan,
    code: &Code,
    layout: &Layout,
    grad: &GradLayout,
    results: &Results,
    row0: &[f64],
    events: &[Vec<DueEvent>],
    records: &RecordIndex,
    connections: usize,
) -> Gradients {
    let mut cot = Cotangents::zeros(plan);
    cotangents_from_device(plan, layout, grad, results, &mut cot);
    let mut weights = vec![0.0; connections];
    // The CPU's order: steps from the last, each step's events from the last.
    for (step, indices) in events.iter().zip(records).rev() {
        for (e, &r) in step.iter().zip(indices).rev() {
            weights[e.connection as usize] += results.events[r as usize];
        }
    }
    undo_init(plan, code, cot, row0, weights)
}

/// Fills the node and state cotangents and the parameter gradients of `cot` from the device's.
fn cotangents_from_device(plan: &Plan, layout: &Layout, grad: &GradLayout, results: &Results, cot: &mut Cotangents) {
    let adj = &results.adj;
    for ty in &layout.types {
        for rank in 0..ty.ncells {
            let gid = layout.meta[(ty.gid + rank) as usize] as usize;
            let first = plan.cell_offset[gid];
            for j in 0..ty.nnodes {
                let (node, slot) = (first + j as usize, ty.node_slot(j, rank));
                cot.v[node] = adj[(ty.v + slot) as usize];
                for (species, offsets) in ty.ions.iter().enumerate() {
                    for var in [IonVar::Reversal, IonVar::Inside, IonVar::Outside, IonVar::Current] {
                        cot.ions[species].get_mut(var)[node] = adj[(offsets[ion_slot(var)] + slot) as usize];
                    }
                }
            }
            for b in ty.blocks.iter().filter(|b| b.group.is_none()) {
                let stride = instance_stride(b, ty.ncells);
                for k in 0..b.per_cell {
                    let (i, at) = ((rank * b.per_cell + k) as usize, b.slot(ty.ncells, ty.cell_major(), k, rank));
                    for (s, off) in b.states.iter().enumerate() {
                        cot.states[b.block][s][i] = adj[(off + at) as usize];
                    }
                    for slot in 0..b.params.len() {
                        let index = grad.param_grads[b.block] + slot as u32 * stride + at;
                        cot.params[b.block][slot][i] = results.params[index as usize];
                    }
                }
            }
        }
    }
}
