//! Where the reverse kernel keeps what it needs beyond the forward layout (`gpu::layout`): the
//! cotangents (`adj`, a mirror of `data`: the cotangent of `data[i]` is `adj[i]`, then those of
//! the diagonal and rhs of types that keep them in workgroup memory), the `work`
//! buffer (each step's state of a segment, its arrays packed as `data`'s, the row cotangents,
//! the solve's tape, the advance kernels' partials)
//! and the `grads` buffer (per-instance parameter gradients, each event record's weight
//! gradient). Every per-cell array is laid out as the forward's: interleaved across cells
//! (element `(i, c)` at `i * ncells + c`) so that neighbouring invocations touch neighbouring
//! words, or cell by cell for a type that runs a workgroup per cell, whose lanes do.

use sylva_compiler::ir::adjoint::Wrt;
use sylva_compiler::ir::kernel::{Kernel, Target};

use crate::gpu::layout::{BlockLayout, Layout, NOT_STORED};

/// A kernel's vector–Jacobian product: its writes, and its adjoint's partials (the write each
/// differentiates and the leaf).
pub struct Vjp {
    pub writes: Vec<Target>,
    pub partials: Vec<(u32, Wrt)>,
}

/// An adjoint whose partials the reverse kernel evaluates where it forms the product (kept in
/// registers): the kernel of the partials (`AdjointKernel::kernel`) and the product.
pub struct Product {
    pub partials: Kernel,
    pub vjp: Vjp,
}

/// What the reverse kernel runs for one plan block: the advance kernel fused with its adjoint's
/// partials (the replay stores them, from array 0), and the current and event kernels' adjoints
/// (evaluated with their products, from the state the kernels read).
pub struct BlockGrad {
    pub advance: Kernel,
    pub advance_vjp: Vjp,
    pub current: Product,
    pub event: Option<Product>,
    /// Partial arrays per instance: the advance kernel's.
    pub width: u32,
}

/// Offsets of the reverse kernel's arrays (in reals).
pub struct GradLayout {
    /// Reals of `data`.
    pub data_len: u32,
    /// Reals of `adj`: `data`'s, then per type without a diagonal and rhs in `data` (a
    /// workgroup type that solves in workgroup memory) their cotangents.
    pub adj_len: u32,
    /// In `adj`, per cell type: the cotangents of the node diagonal and rhs (node arrays).
    pub accumulators: Vec<[u32; 2]>,
    /// Reals of one step's state in `work` (step `s`'s from `s × state_len`), and of a
    /// segment's checkpoint (segment `i`'s from `i × state_len`).
    pub state_len: u32,
    /// Steps between checkpoints: segment `i` starts at step `i × checkpoint_every`.
    pub checkpoint_every: u32,
    /// Cells read each other's voltages (`Layout::coupled`): the run's last state is a
    /// checkpoint too.
    pub coupled: bool,
    /// Within a step's state, per cell type: its node arrays, v then each of `saved_ions`.
    pub state_nodes: Vec<u32>,
    /// Within a step's state, per plan block: its first state array (`u32::MAX`: a group of
    /// stimuli, which keeps none).
    pub state_blocks: Vec<u32>,
    /// In `work`: the loss's derivative in each GPU probe column after each step of the
    /// segment (`steps` × columns).
    pub rows: u32,
    /// In `work`, per cell type: the diagonal after the current kernels (a node array).
    pub tape: Vec<u32>,
    /// The ion arrays a step's state holds ((species, slot): what a step reads before it
    /// computes it, as the CPU's checkpoints: `grad::forward::saved_ion_arrays`).
    pub saved_ions: Vec<(usize, usize)>,
    /// In `work`, per plan block (a group of stimuli: its first member's): the first partial
    /// array (`u32::MAX`: the other members').
    pub partials: Vec<u32>,
    /// In `work`: the slots of the presynaptic voltages' cotangents (`layout::PreGather`).
    pub pre_slots: u32,
    /// In `grads`, per plan block: the gradient of its first per-instance parameter.
    pub param_grads: Vec<u32>,
    /// In `grads`: the weight gradient of each event record of the segment.
    pub event_grads: u32,
    pub work_len: u64,
    /// Reals of `grads` before the event records.
    pub grads_len: u64,
}

/// Elements of one per-instance array of block `b` in a type of `ncells` cells.
pub fn instance_stride(b: &BlockLayout, ncells: u32) -> u32 {
    if b.group.is_some() { b.per_cell } else { b.per_cell * ncells }
}

impl GradLayout {
    /// The layout for `layout` (whose `data` holds `data_len` reals) with segments of at most
    /// `steps` steps and, per plan block, the block's reverse code.
    pub fn new(
        layout: &Layout,
        data_len: u64,
        grads: &[BlockGrad],
        steps: u32,
        saved_ions: Vec<(usize, usize)>,
    ) -> GradLayout {
        let blocks = grads.len();
        let (accumulators, adj_len) = accumulator_layout(layout, data_len);
        let (state_nodes, state_blocks, state_len) = state_layout(layout, blocks, saved_ions.len() as u64);
        let mut work = state_len * u64::from(steps);
        let rows = work as u32;
        work += u64::from(steps) * u64::from(layout.gpu_probes.max(1));
        let mut tape = Vec::new();
        let mut partials = vec![u32::MAX; blocks];
        let mut param_grads = vec![u32::MAX; blocks];
        let mut grads_len = 0u64;
        for ty in &layout.types {
            let nodes = u64::from(ty.nnodes) * u64::from(ty.ncells);
            tape.push(work as u32);
            work += nodes;
            for b in &ty.blocks {
                let stride = u64::from(instance_stride(b, ty.ncells));
                partials[b.block] = work as u32;
                work += u64::from(grads[b.block].width) * stride;
                param_grads[b.block] = grads_len as u32;
                grads_len += b.params.len() as u64 * stride;
            }
        }
        let pre_slots = work as u32;
        work += u64::from(layout.pre_gather.slots);
        GradLayout {
            saved_ions,
            pre_slots,
            data_len: data_len as u32,
            adj_len: adj_len as u32,
            accumulators,
            state_len: state_len as u32,
            checkpoint_every: steps,
            coupled: layout.coupled,
            state_nodes,
            state_blocks,
            rows,
            tape,
            partials,
            param_grads,
            event_grads: grads_len as u32,
            work_len: work.max(1),
            grads_len,
        }
    }
}

/// Where `adj` keeps each type's cotangents of the node diagonal and rhs: where `data` keeps
/// them, or after `data`'s `data_len` reals where the type keeps them in workgroup memory
/// (`gpu::layout::NOT_STORED`); and the reals of `adj`.
fn accumulator_layout(layout: &Layout, data_len: u64) -> (Vec<[u32; 2]>, u64) {
    let mut len = data_len;
    let mut offsets = Vec::new();
    for ty in &layout.types {
        let mut place = |off: u32| {
            if off != NOT_STORED {
                return off;
            }
            let at = len as u32;
            len += u64::from(ty.nnodes) * u64::from(ty.ncells);
            at
        };
        offsets.push([place(ty.diagonal), place(ty.rhs)]);
    }
    (offsets, len.max(1))
}

/// Where a step's state packs each type's node arrays (v and `ions` ion arrays) and each
/// block's states, and its reals.
fn state_layout(layout: &Layout, blocks: usize, ions: u64) -> (Vec<u32>, Vec<u32>, u64) {
    let mut len = 0u64;
    let mut nodes = Vec::new();
    let mut states = vec![u32::MAX; blocks];
    for ty in &layout.types {
        nodes.push(len as u32);
        len += (1 + ions) * u64::from(ty.nnodes) * u64::from(ty.ncells);
        for b in ty.blocks.iter().filter(|b| b.group.is_none()) {
            states[b.block] = len as u32;
            len += b.states.len() as u64 * u64::from(instance_stride(b, ty.ncells));
        }
    }
    (nodes, states, len.max(1))
}
