//! Vector–Jacobian products of a block's kernels at the cell's instances, and the adjoint of a
//! step's events.

use naga::BinaryOperator as B;
use sylva_compiler::ir::adjoint::Wrt;
use sylva_compiler::ir::kernel::{Kernel, Target};

use super::super::sync::Work;
use super::super::{At, Cx, next_event_record, split};
use super::{Events, Partials, add_unless_zero};
use crate::gpu::builder::{Fb, H};
use crate::gpu::grad::layout::{Vjp, instance_stride};
use crate::gpu::layout::{BlockLayout, ion_slot};

impl Cx<'_> {
    /// The product of block `b`'s advance kernel (its partials stored) or current kernel (its
    /// partials evaluated at time `t`) at each of the cell's instances, the last first (as the
    /// CPU's instance by instance); a workgroup splits the instances over its lanes as the
    /// forward's kernels do where no two share a node (their products touch disjoint places).
    pub(super) fn block_vjp(&mut self, fb: &mut Fb, b: &BlockLayout, c: H, t: H, partials: Partials) {
        let code = &self.grad().blocks[b.block];
        let vjp = if partials == Partials::Stored { &code.advance_vjp } else { &code.current.vjp };
        if vjp.writes.is_empty() {
            return;
        }
        self.sync_for(fb, Work::Block(b));
        let product = |this: &mut Self, fb: &mut Fb, k: H| {
            let at = At { t, ..this.instance_at(fb, b, c, k) };
            let code = &this.grad().blocks[b.block];
            match partials {
                Partials::Stored => {
                    let values = this.stored_partials(fb, b, code.advance_vjp.partials.len(), &at);
                    this.vjp(fb, b, &code.advance_vjp, &at, &values, None);
                }
                Partials::Evaluated => {
                    let values = this.partial_values(fb, b, &code.current.partials, &at);
                    this.vjp(fb, b, &code.current.vjp, &at, &values, None);
                }
            }
        };
        let lanes = self.lane.filter(|_| b.group.is_none() && b.per_cell > 1 && !b.shares_nodes);
        if lanes.is_some() {
            let (zero, end) = (fb.u(0), fb.u(b.per_cell));
            return split(fb, lanes, zero, end, "k", |fb, k| product(self, fb, k));
        }
        self.on_first(fb, |this, fb| {
            let (start, end) = this.instance_range(fb, b, c);
            let count = fb.sub(end, start);
            let zero = fb.u(0);
            fb.for_range(zero, count, "r", |fb, r| {
                let one = fb.u(1);
                let last = fb.sub(end, one);
                let k = fb.sub(last, r);
                product(this, fb, k);
            });
        });
    }

    /// The cell's instances of block `b`: a group's members from its table, else all.
    fn instance_range(&self, fb: &mut Fb, b: &BlockLayout, c: H) -> (H, H) {
        match b.group {
            Some(table) => {
                let at = fb.u(table);
                let i = fb.add(at, c);
                let one = fb.u(1);
                let i1 = fb.add(i, one);
                (fb.read(self.g.meta, i), fb.read(self.g.meta, i1))
            }
            None => (fb.u(0), fb.u(b.per_cell)),
        }
    }

    /// The first `n` partials the replay stored for the instance `at`.
    fn stored_partials(&mut self, fb: &mut Fb, b: &BlockLayout, n: usize, at: &At) -> Vec<H> {
        let work = self.grad().work;
        (0..n as u32)
            .map(|j| {
                let i = self.partial_index(fb, b, j, at);
                fb.read(work, i)
            })
            .collect()
    }

    /// The partials of an adjoint's `kernel` (`AdjointKernel::kernel`) at the instance `at`,
    /// from the values in `data`.
    fn partial_values(&mut self, fb: &mut Fb, b: &BlockLayout, kernel: &Kernel, at: &At) -> Vec<H> {
        let values = self.values(fb, b, kernel, at);
        kernel.writes.iter().map(|w| values[w.value.0 as usize]).collect()
    }

    /// The product at one instance with the adjoint's `partials`: every written value's
    /// cotangent flows into what it was computed from, a stored target's cotangent consumed;
    /// the weight's share is added to the local `weight` (an event's kernel).
    fn vjp(&mut self, fb: &mut Fb, b: &BlockLayout, vjp: &Vjp, at: &At, partials: &[H], weight: Option<H>) {
        let adj = self.grad().adj;
        let targets: Vec<H> = vjp.writes.iter().map(|w| self.cotangent_index(fb, b, *w, at)).collect();
        let written: Vec<H> = targets.iter().map(|i| fb.read(adj, *i)).collect();
        for (w, i) in vjp.writes.iter().zip(&targets) {
            if !matches!(w, Target::NodeRhs | Target::NodeDiagonal | Target::IonCurrent(_)) {
                let z = fb.f(0.0);
                fb.write(adj, *i, z);
            }
        }
        for (&(write, wrt), &partial) in vjp.partials.iter().zip(partials) {
            let contribution = fb.mul(written[write as usize], partial);
            self.flow(fb, b, wrt, at, contribution, weight);
        }
    }

    /// Adds `contribution` to the cotangent (or gradient) of the leaf `wrt`.
    fn flow(&mut self, fb: &mut Fb, b: &BlockLayout, wrt: Wrt, at: &At, contribution: H, weight: Option<H>) {
        let ty = self.ty;
        let grad = self.grad();
        let (buffer, index) = match wrt {
            Wrt::Param(q) => {
                // A parameter folded into the kernel is a constant of the run.
                let Some(slot) = b.params.iter().position(|(p, _)| *p == q) else { return };
                let off = grad.layout.param_grads[b.block] + slot as u32 * instance_stride(b, ty.ncells);
                (grad.grads, self.instance_index(fb, b, off, at))
            }
            Wrt::State(s) => (grad.adj, self.instance_index(fb, b, b.states[s as usize], at)),
            Wrt::V => (grad.adj, self.node_index(fb, ty.v, at.node, at.c)),
            Wrt::Ion(u, var) => {
                let off = ty.ions[b.species[u as usize]][ion_slot(var)];
                (grad.adj, self.node_index(fb, off, at.node, at.c))
            }
            Wrt::Weight => {
                let Some(acc) = weight else { return };
                let z = fb.f(0.0);
                let nonzero = fb.bin(B::NotEqual, contribution, z);
                let old = fb.load(acc);
                let sum = fb.add(old, contribution);
                let new = fb.select(nonzero, sum, old);
                fb.store(acc, new);
                return;
            }
            Wrt::VPre => (grad.work, self.pre_slot(fb, b, at)),
        };
        add_unless_zero(fb, buffer, index, contribution);
    }

    /// The index in `adj` of the cotangent of a kernel's write at the instance `at`.
    fn cotangent_index(&mut self, fb: &mut Fb, b: &BlockLayout, target: Target, at: &At) -> H {
        let ty = self.ty;
        match target {
            Target::State(s) => self.instance_index(fb, b, b.states[s as usize], at),
            Target::Current(k) | Target::Derived(k) => {
                let list = if let Target::Current(_) = target { &b.currents } else { &b.derived };
                let off = list.iter().find(|(e, _)| *e == k).expect("stored").1;
                self.instance_index(fb, b, off, at)
            }
            Target::NodeRhs | Target::NodeDiagonal => {
                let [diagonal, rhs] = self.accumulators();
                let off = if target == Target::NodeRhs { rhs } else { diagonal };
                self.node_index(fb, off, at.node, at.c)
            }
            Target::IonCurrent(u) => self.node_index(fb, ty.ions[b.species[u as usize]][3], at.node, at.c),
            Target::IonConcentration(u, var) => {
                self.node_index(fb, ty.ions[b.species[u as usize]][ion_slot(var)], at.node, at.c)
            }
            Target::Partial(_) => unreachable!("stage kernels write no partials (artifact::validate)"),
        }
    }

    /// Undoes step `s`'s events, the last first: each from the state it met (the step's
    /// state, then the events before it), its kernel's partials, its product, and its weight's
    /// share into its record's slot of `grads`; a workgroup's first lane runs the events.
    pub(super) fn events_adjoint(&mut self, fb: &mut Fb, c: H, s: H, t: H, events: Events) {
        if !self.ty.blocks.iter().any(|b| b.kernels.event.is_some()) {
            return;
        }
        self.seek_events(fb, events, s);
        let first = fb.load(events.ev);
        fb.loop_(|fb| {
            let (e, _, step) = next_event_record(fb, self.g, events.cursor());
            let later = fb.bin(B::NotEqual, step, s);
            fb.if_(later, |fb| fb.brk());
            let one = fb.u(1);
            let next = fb.add(e, one);
            fb.store(events.ev, next);
        });
        let end = fb.load(events.ev);
        let count = fb.sub(end, first);
        let zero = fb.u(0);
        fb.for_range(zero, count, "r", |fb, r| {
            let one = fb.u(1);
            let last = fb.sub(end, one);
            let e = fb.sub(last, r);
            self.restore_state(fb, c, s);
            self.on_first(fb, |this, fb| this.event_adjoint(fb, c, (first, e), t, events));
            self.barrier(fb);
        });
    }

    /// The adjoint of event `e`, the events from `first` before it run again first.
    fn event_adjoint(&mut self, fb: &mut Fb, c: H, (first, e): (H, H), t: H, events: Events) {
        fb.for_range(first, e, "before", |fb, earlier| {
            self.event_record(fb, c, earlier, events.records, t, |this, fb, b, at| {
                let kernel = b.kernels.event.clone().expect("a block with events");
                this.kernel(fb, b, &kernel, at);
            });
        });
        let weight = fb.local(fb.types.real, "weight_cotangent");
        let z = fb.f(0.0);
        fb.store(weight, z);
        self.event_record(fb, c, e, events.records, t, |this, fb, b, at| {
            let grad = this.grad();
            let Some(product) = &grad.blocks[b.block].event else { return };
            let values = this.partial_values(fb, b, &product.partials, at);
            this.vjp(fb, b, &product.vjp, at, &values, Some(weight));
        });
        let slots = fb.u(self.grad().layout.event_grads);
        let slot = fb.add(slots, e);
        let w = fb.load(weight);
        fb.write(self.grad().grads, slot, w);
    }

    /// Runs `body` for event record `e` of the cell: its block (one with an event kernel) and
    /// its instance, with the event's weight.
    fn event_record(
        &mut self,
        fb: &mut Fb,
        c: H,
        e: H,
        records: H,
        t: H,
        mut body: impl FnMut(&mut Self, &mut Fb, &BlockLayout, &At),
    ) {
        let g = self.g;
        let three = fb.u(3);
        let e3 = fb.mul(e, three);
        let rec = fb.add(records, e3);
        let (one, two) = (fb.u(1), fb.u(2));
        let r1 = fb.add(rec, one);
        let r2 = fb.add(rec, two);
        let block = fb.read(g.control, r1);
        let k = fb.read(g.control, r2);
        let w = fb.read(g.weights, e);
        let ty = self.ty;
        for b in ty.blocks.iter().filter(|b| b.kernels.event.is_some()) {
            let id = fb.u(b.block as u32);
            let hit = fb.bin(B::Equal, block, id);
            fb.if_(hit, |fb| {
                let node = self.node_of(fb, b, k);
                let at = At { c, k, node, t, weight: Some(w) };
                body(self, fb, b, &at);
            });
        }
    }
}
