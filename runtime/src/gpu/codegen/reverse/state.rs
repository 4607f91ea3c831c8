//! The reverse kernel's copies: a cell's state between `data` and `work` (a step's) or
//! `checkpoints` (a segment's), packed; the solve's tape; and
//! the cotangents the current stage clears. A workgroup splits each over its lanes.

use naga::Handle;

use super::super::sync::Work;
use super::super::{At, Cx, DIAGONAL, split};
use crate::gpu::builder::{Fb, H};
use crate::gpu::grad::layout::instance_stride;
use crate::gpu::layout::BlockLayout;

impl Cx<'_> {
    /// Saves the cell's state (what a step reads that it does not compute first: v, the ion
    /// arrays of `GradLayout::saved_ions`, the blocks' states) into step `s`'s state in `work`.
    pub(super) fn save_state(&self, fb: &mut Fb, c: H, s: H) {
        let base = self.saved_base(fb, s);
        self.copy_state(fb, c, self.grad().work, base, true);
    }

    /// Puts back the cell's state saved at step `s`.
    pub(super) fn restore_state(&self, fb: &mut Fb, c: H, s: H) {
        let base = self.saved_base(fb, s);
        self.copy_state(fb, c, self.grad().work, base, false);
    }

    /// The offset of the `s`-th state in `work` (a step's) or in `checkpoints` (a segment's).
    pub(super) fn saved_base(&self, fb: &mut Fb, s: H) -> H {
        let len = fb.u(self.grad().layout.state_len);
        fb.mul(s, len)
    }

    /// The offset within a step's state of the type's node array `a` (0: v, then each of
    /// `GradLayout::saved_ions`).
    pub(super) fn saved_node_array(&self, a: u32) -> u32 {
        let grad = self.grad().layout;
        grad.state_nodes[self.type_index()] + a * self.ty.nnodes * self.ty.ncells
    }

    /// Copies the cell's state from `data` into `buffer` at `base` (`save`), or back; a
    /// workgroup's lanes wait for every lane before and after (the copy touches everything, on
    /// other lanes than some of the kernels that read and write it).
    pub(super) fn copy_state(&self, fb: &mut Fb, c: H, buffer: Handle<naga::GlobalVariable>, base: H, save: bool) {
        self.barrier(fb);
        self.copy_state_here(fb, c, buffer, base, save);
        self.barrier(fb);
    }

    fn copy_state_here(&self, fb: &mut Fb, c: H, buffer: Handle<naga::GlobalVariable>, base: H, save: bool) {
        let (ty, g, work) = (self.ty, self.g, buffer);
        let copy = |fb: &mut Fb, i: H, packed: H| {
            let saved = fb.add(base, packed);
            if save {
                let x = fb.read(g.data, i);
                fb.write(work, saved, x);
            } else {
                let x = fb.read(work, saved);
                fb.write(g.data, i, x);
            }
        };
        let ions = self.grad().layout.saved_ions.iter().map(|&(species, slot)| ty.ions[species][slot]);
        let node_arrays: Vec<u32> = std::iter::once(ty.v).chain(ions).collect();
        let (zero, nn) = (fb.u(0), fb.u(ty.nnodes));
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            for (a, &off) in node_arrays.iter().enumerate() {
                let i = self.node_index(fb, off, j, c);
                let packed = self.node_index(fb, self.saved_node_array(a as u32), j, c);
                copy(fb, i, packed);
            }
        });
        for b in ty.blocks.iter().filter(|b| b.group.is_none() && !b.states.is_empty()) {
            let (first, stride) = (self.grad().layout.state_blocks[b.block], instance_stride(b, ty.ncells));
            let end = fb.u(b.per_cell);
            split(fb, self.lane, zero, end, "k", |fb, k| {
                let at = instance(fb, c, k);
                for (s, &off) in b.states.iter().enumerate() {
                    let i = self.instance_index(fb, b, off, &at);
                    let packed = self.instance_index(fb, b, first + s as u32 * stride, &at);
                    copy(fb, i, packed);
                }
            });
        }
    }

    /// Keeps what the solve's adjoint reads of the replay and cannot find in the step's
    /// saved state: the diagonal the current kernels summed.
    pub(super) fn keep_solve_tape(&self, fb: &mut Fb, c: H) {
        self.sync_for(fb, Work::Nodes);
        let (ty, grad) = (self.ty, self.grad());
        let tape = grad.layout.tape[self.type_index()];
        let (zero, nn) = (fb.u(0), fb.u(ty.nnodes));
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let i = self.solve_ptr(fb, DIAGONAL, j, c);
            let x = fb.load(i);
            let o = self.node_index(fb, tape, j, c);
            fb.write(grad.work, o, x);
        });
    }

    /// Zeroes the cotangents of what the current stage starts by clearing (the node
    /// accumulators and the ion currents): nothing before it reaches them.
    pub(super) fn clear_accumulators(&self, fb: &mut Fb, c: H) {
        self.sync_for(fb, Work::Nodes);
        let (ty, adj) = (self.ty, self.grad().adj);
        let [diagonal, rhs] = self.accumulators();
        let cleared: Vec<u32> = [rhs, diagonal].into_iter().chain(ty.ions.iter().map(|a| a[3])).collect();
        let (zero, nn) = (fb.u(0), fb.u(ty.nnodes));
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let z = fb.f(0.0);
            for &off in &cleared {
                let i = self.node_index(fb, off, j, c);
                fb.write(adj, i, z);
            }
        });
    }

    /// Where `adj` keeps the cotangents of this type's node diagonal and rhs.
    pub(super) fn accumulators(&self) -> [u32; 2] {
        self.grad().layout.accumulators[self.type_index()]
    }

    /// The index of this context's cell type in the layout.
    pub(super) fn type_index(&self) -> usize {
        self.layout.types.iter().position(|t| std::ptr::eq(t, self.ty)).expect("a type of the layout")
    }

    /// The node of instance `k` of block `b` and the place of that instance in the cell `c`.
    pub(super) fn instance_at(&self, fb: &mut Fb, b: &BlockLayout, c: H, k: H) -> At {
        let node = self.node_of(fb, b, k);
        let t = fb.f(0.0);
        At { c, k, node, t, weight: None }
    }
}

/// An instance's place for indexing alone (no node, time or weight).
fn instance(fb: &mut Fb, c: H, k: H) -> At {
    let t = fb.f(0.0);
    At { c, k, node: k, t, weight: None }
}
