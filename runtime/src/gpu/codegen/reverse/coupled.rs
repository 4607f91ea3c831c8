//! The reverse kernel of coupled cells (graded synapses, gap junctions: `v_pre`). A segment is
//! one step (checkpoints every step), undone in two dispatches per cell type, each followed by
//! a dispatch that gathers the presynaptic voltages' cotangents: pass 0 replays the step and
//! forms the advance products, pass 1 the solve's adjoint and the rest of the step's. A
//! product's cotangent of `v_pre` belongs to another cell, so it goes into its instance's slot
//! in `work` (`layout::PreGather`); the cell owning the voltage adds its slots to its
//! cotangent and clears them (`gather_entry`), in a fixed order. The `v_pre` leaf reads the
//! other cell's voltage from the checkpoints (the step's state for the current kernels, the
//! next step's for the advance kernels), never from `data`, which other cells rewrite.

use naga::BinaryOperator as B;

use super::super::{At, Cx};
use super::{Partials, add_unless_zero};
use crate::gpu::builder::{Fb, H};
use crate::gpu::layout::BlockLayout;

impl Cx<'_> {
    /// The presynaptic voltage at index `i` of `data`: there in the forward step, from the
    /// checkpoint of the replayed step in the reverse kernel of coupled cells.
    pub(in crate::gpu::codegen) fn pre_voltage(&self, fb: &mut Fb, i: H) -> H {
        let Some(grad) = self.grad.filter(|g| g.v_pre_from.is_some()) else {
            return fb.read(self.g.data, i);
        };
        let packed = self.packed_voltage(fb, i);
        let base = grad.v_pre_from.expect("a checkpoint");
        let at = fb.add(base, packed);
        fb.read(grad.checkpoints, at)
    }

    /// The place in a packed state of the voltage at index `i` of `data`: in the last type
    /// whose voltages start at or before `i` (types lie in `data` in order).
    fn packed_voltage(&self, fb: &mut Fb, i: H) -> H {
        let grad = self.grad().layout;
        let mut packed = fb.u(0);
        for (t, ty) in self.layout.types.iter().enumerate() {
            let v = fb.u(ty.v);
            let inside = fb.bin(B::GreaterEqual, i, v);
            let within = fb.sub(i, v);
            let first = fb.u(grad.state_nodes[t]);
            let here = fb.add(first, within);
            packed = fb.select(inside, here, packed);
        }
        packed
    }

    /// The index in `work` of the slot of the cotangent of the instance `at`'s `v_pre`.
    pub(super) fn pre_slot(&mut self, fb: &mut Fb, b: &BlockLayout, at: &At) -> H {
        let Some(table) = b.pre_voltage else {
            self.err = Some(crate::gpu::GpuError::Internal("v_pre without a presynaptic table".into()));
            return fb.u(0);
        };
        let grad = self.grad();
        let entry = self.instance_index(fb, b, table, at);
        let first = fb.u(self.layout.pre_gather.tables);
        let slot = fb.sub(entry, first);
        let slots = fb.u(grad.layout.pre_slots);
        fb.add(slots, slot)
    }

    /// Makes the `v_pre` leaf read the checkpoint of step `step` (absolute: a segment is a step).
    fn read_v_pre_at(&mut self, fb: &mut Fb, step: H) {
        let from = self.saved_base(fb, step);
        if let Some(grad) = &mut self.grad {
            grad.v_pre_step = Some(step);
            grad.v_pre_from = Some(from);
        }
    }

    /// Runs `body` with the `v_pre` leaf reading the next step's state (the advance kernels
    /// read the voltage after every cell's solve).
    pub(super) fn with_v_pre_after(&mut self, fb: &mut Fb, body: impl FnOnce(&mut Self, &mut Fb)) {
        let Some(step) = self.grad.and_then(|g| g.v_pre_step) else {
            return body(self, fb);
        };
        let one = fb.u(1);
        let next = fb.add(step, one);
        self.read_v_pre_at(fb, next);
        body(self, fb);
        self.read_v_pre_at(fb, step);
    }

    /// Pass `pass` of the step of a segment of coupled cells (one step, `control[0]`):
    /// 0: the state kept, the loss's derivatives at the probes added, the step replayed, the
    /// advance products; 1: the rest of the step's adjoint, and the step counted undone.
    pub(super) fn coupled_entry(&mut self, fb: &mut Fb, pass: usize) {
        let segment = self.segment_start(fb);
        let (c, s) = (segment.c, fb.u(0));
        self.read_v_pre_at(fb, segment.step0);
        let (t, mid) = self.step_times(fb, segment.step0, s);
        if pass == 0 {
            self.save_state(fb, c, s);
            self.add_rows(fb, segment.gid, s);
            self.replay(fb, c, s, (t, mid), segment.events, segment.spike_base, true);
            for b in self.ty.blocks.iter().rev() {
                self.block_vjp(fb, b, c, mid, Partials::Stored);
            }
        } else {
            self.undo_after_advance(fb, c, s, (t, mid), segment.events);
            let one = fb.u(1);
            self.count_undone(fb, segment.spike_base, one);
        }
    }

    /// Adds the slots aimed at the cell's voltages into their cotangents, each voltage's
    /// slots in slot order, and clears them.
    pub(super) fn gather_entry(&mut self, fb: &mut Fb) {
        let c = self.cell(fb);
        let table = self.layout.pre_gather.per_type[self.type_index()];
        self.on_first(fb, |this, fb| {
            let (g, grad) = (this.g, this.grad());
            let at = fb.u(table);
            let i = fb.add(at, c);
            let one = fb.u(1);
            let i1 = fb.add(i, one);
            let (start, end) = (fb.read(g.meta, i), fb.read(g.meta, i1));
            let pairs = fb.u(table + this.ty.ncells + 1);
            let slots = fb.u(grad.layout.pre_slots);
            fb.for_range(start, end, "q", |fb, q| {
                let two = fb.u(2);
                let q2 = fb.mul(q, two);
                let p = fb.add(pairs, q2);
                let index = fb.read(g.meta, p);
                let one = fb.u(1);
                let p1 = fb.add(p, one);
                let slot = fb.read(g.meta, p1);
                let slot = fb.add(slots, slot);
                let x = fb.read(grad.work, slot);
                add_unless_zero(fb, grad.adj, index, x);
                let z = fb.f(0.0);
                fb.write(grad.work, slot, z);
            });
        });
    }
}
