//! The host's share of a GPU gradient: the device's cotangents and per-instance gradients
//! mapped back onto each sample's plan arrays (its replica's share), the event records' weight
//! gradients summed per replica and connection rule in the CPU's order, and initialisation
//! undone by the CPU's code, sample by sample.

use sylva_compiler::ir::expr::IonVar;

use super::device::Results;
use super::forward::Forward;
use super::layout::{GradLayout, instance_stride};
use crate::gpu::GpuEngine;
use crate::gpu::layout::{Layout, ion_slot};
use crate::grad::cotangent::Cotangents;
use crate::grad::kernels::Code;
use crate::grad::reverse::{Gradients, undo_init};
use crate::plan::Plan;
use crate::plan::replicas::Replicas;

/// Per step, per event in delivery order: its record's index among every segment's.
pub(super) type RecordIndex = Vec<Vec<u64>>;

/// What a batch's reverse run on the device left, and what it undid.
pub(super) struct Run<'a> {
    pub forward: &'a Forward,
    pub results: &'a Results,
    pub records: &'a RecordIndex,
    /// The loss's derivatives at row 0, every replica's.
    pub row0: &'a [f64],
    /// Connection rules of the model.
    pub connections: usize,
}

/// The gradients of each sample `plans` of a batch's reverse run on `engine` (its replicas,
/// those beyond the plans filling the batch left out), each from its own replica's share.
pub(super) fn gradients(
    plans: &[Plan],
    replicas: &Replicas,
    code: &Code,
    engine: &GpuEngine,
    grad: &GradLayout,
    run: &Run<'_>,
) -> Vec<Gradients> {
    let mut cot: Vec<Cotangents> = plans.iter().map(Cotangents::zeros).collect();
    cotangents_from_device(plans, replicas, &engine.layout, grad, run.results, &mut cot);
    let weights = weight_gradients(engine, replicas, plans.len(), run);
    let each = plans.iter().zip(cot).zip(weights).enumerate();
    each.map(|(r, ((plan, cot), weights))| undo_init(plan, code, cot, replicas.row(run.row0, r), weights)).collect()
}

/// Per replica, per connection rule, the sum of its event records' weight gradients in the
/// CPU's order: steps from the last, each step's events from the last.
fn weight_gradients(engine: &GpuEngine, replicas: &Replicas, samples: usize, run: &Run<'_>) -> Vec<Vec<f64>> {
    let mut weights = vec![vec![0.0; run.connections]; samples];
    for (step, indices) in run.forward.events.iter().zip(run.records).rev() {
        for (e, &record) in step.iter().zip(indices).rev() {
            let (gids, per) = &engine.blocks[e.block as usize];
            let r = replicas.replica_of(gids[e.instance as usize / per]);
            if let Some(w) = weights.get_mut(r) {
                w[e.connection as usize] += run.results.events[record as usize];
            }
        }
    }
    weights
}

/// Fills the node and state cotangents and the parameter gradients of each sample's `cot`
/// from its replica's on the device.
fn cotangents_from_device(
    plans: &[Plan],
    replicas: &Replicas,
    layout: &Layout,
    grad: &GradLayout,
    results: &Results,
    cot: &mut [Cotangents],
) {
    let adj = &results.adj;
    for ty in &layout.types {
        for rank in 0..ty.ncells {
            let gid = layout.meta[(ty.gid + rank) as usize];
            let r = replicas.replica_of(gid);
            let Some(cot) = cot.get_mut(r) else { continue };
            let plan = &plans[r];
            let first = plan.cell_offset[replicas.local_gid(gid) as usize];
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
                let (_, replica_first) = replicas.block(r, b.block);
                for k in 0..b.per_cell {
                    let (i, at) = ((rank * b.per_cell + k) as usize, b.slot(ty.ncells, ty.cell_major(), k, rank));
                    let i = i - replica_first;
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
