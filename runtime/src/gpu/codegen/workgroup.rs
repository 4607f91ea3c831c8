//! One workgroup per cell: the Hines solve in parallel over the cell's nodes, in the rounds of
//! `gpu::schedule` (after DeepDendrite's DHS: a lane walks an unbranched chain) with a
//! barrier after each. Every node gathers its
//! updates in the order the serial solve applies them, so the result has the serial bits. The
//! solve's diagonal and rhs live in workgroup memory when they fit (`local_solve`): the
//! mechanisms' sums are read from `data` once, and the rounds need only workgroup barriers.

use naga::BinaryOperator as B;

use super::{Cx, split};
use crate::gpu::builder::{Fb, H};
use crate::gpu::layout::{NO_PARENT, Rounds};

/// `solve_ptr`'s arrays.
const DIAGONAL: usize = 0;
const RHS: usize = 1;

impl Cx<'_> {
    pub(super) fn parallel_hines(&mut self, fb: &mut Fb, c: H, s: H, spike_base: H) {
        let ty = self.ty;
        let g = self.g;
        let wg = ty.workgroup.as_ref().expect("a workgroup type");
        let (elimination, substitution, child_start, children) =
            (wg.elimination, wg.substitution, wg.child_start, wg.children);
        let root = fb.u(NO_PARENT);
        let real = fb.types.real;
        let zero = fb.u(0);
        let nn = fb.u(ty.nnodes);
        // Assembly: C/dt, then the axial terms of the node's own segment, then those of its
        // children in ascending order (the serial loop reaches them in that order).
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let ij = self.node_index(fb, 0, j, c);
            let [di, ri, vi] = [ty.diagonal, ty.rhs, ty.v].map(|o| {
                let o = fb.u(o);
                fb.add(o, ij)
            });
            let d = fb.local(real, "d");
            let r = fb.local(real, "r");
            let d0 = fb.read(g.data, di);
            let cdt_at = shared_at(fb, ty.cdt, j);
            let cdt = fb.read(g.shared, cdt_at);
            let d1 = fb.add(d0, cdt);
            fb.store(d, d1);
            let r0 = fb.read(g.data, ri);
            fb.store(r, r0);
            let vj = fb.read(g.data, vi);
            let pa = shared_at(fb, ty.parent, j);
            let p = fb.read(g.meta, pa);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let ax = shared_at(fb, ty.axial, j);
                let gg = fb.read(g.shared, ax);
                let vp = self.node_value(fb, ty.v, p, c);
                let dv = fb.sub(vp, vj);
                let current = fb.mul(gg, dv);
                add_to(fb, r, current);
                add_to(fb, d, gg);
            });
            self.children(fb, child_start, children, j, false, |this, fb, ch| {
                let ax = shared_at(fb, ty.axial, ch);
                let gc = fb.read(g.shared, ax);
                let vc = this.node_value(fb, ty.v, ch, c);
                let dv = fb.sub(vj, vc);
                let current = fb.mul(gc, dv);
                let old = fb.load(r);
                let new = fb.sub(old, current);
                fb.store(r, new);
                add_to(fb, d, gc);
            });
            let dn = fb.load(d);
            let dp = self.solve_ptr(fb, DIAGONAL, j, c);
            fb.store(dp, dn);
            let rn = fb.load(r);
            let rp = self.solve_ptr(fb, RHS, j, c);
            fb.store(rp, rn);
        });
        self.solve_barrier(fb);
        // Elimination: a node takes its children's rows, highest child first.
        self.rounds(fb, elimination, true, |this, fb, p| {
            let dp = this.solve_ptr(fb, DIAGONAL, p, c);
            let rp = this.solve_ptr(fb, RHS, p, c);
            let d = fb.local(real, "d");
            let r = fb.local(real, "r");
            let d0 = fb.load(dp);
            fb.store(d, d0);
            let r0 = fb.load(rp);
            fb.store(r, r0);
            this.children(fb, child_start, children, p, true, |this, fb, ch| {
                let ax = shared_at(fb, ty.axial, ch);
                let gc = fb.read(g.shared, ax);
                let dcp = this.solve_ptr(fb, DIAGONAL, ch, c);
                let dc = fb.load(dcp);
                let factor = fb.div(gc, dc);
                let fg = fb.mul(factor, gc);
                let old = fb.load(d);
                let new = fb.sub(old, fg);
                fb.store(d, new);
                let rcp = this.solve_ptr(fb, RHS, ch, c);
                let rc = fb.load(rcp);
                let fr = fb.mul(factor, rc);
                add_to(fb, r, fr);
            });
            let dn = fb.load(d);
            fb.store(dp, dn);
            let rn = fb.load(r);
            fb.store(rp, rn);
        });
        // Substitution, parents first; v += Δv, with the blow-up check.
        let bad = self.bad_flag(fb);
        self.rounds(fb, substitution, false, |this, fb, j| {
            let vi = this.node_index(fb, ty.v, j, c);
            let ri = this.solve_ptr(fb, RHS, j, c);
            let di = this.solve_ptr(fb, DIAGONAL, j, c);
            let num = fb.local(real, "num");
            let r0 = fb.load(ri);
            fb.store(num, r0);
            let pa = shared_at(fb, ty.parent, j);
            let p = fb.read(g.meta, pa);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let ax = shared_at(fb, ty.axial, j);
                let gg = fb.read(g.shared, ax);
                let rpp = this.solve_ptr(fb, RHS, p, c);
                let rp = fb.load(rpp);
                let gr = fb.mul(gg, rp);
                add_to(fb, num, gr);
            });
            let n = fb.load(num);
            let d = fb.load(di);
            let dv = fb.div(n, d);
            fb.store(ri, dv);
            let old = fb.read(g.data, vi);
            let new = fb.add(old, dv);
            fb.write(g.data, vi, new);
            this.flag_if_bad(fb, bad, new);
        });
        if self.solve.is_some() {
            // The rounds ordered workgroup memory only; the new voltages are in `data`.
            fb.barrier();
        }
        self.report_bad(fb, bad, s, spike_base);
    }

    /// Pointer to the solve's diagonal or rhs of node `j`.
    fn solve_ptr(&self, fb: &mut Fb, which: usize, j: H, c: H) -> H {
        match self.solve {
            Some(arrays) => fb.elem(arrays[which], j),
            None => {
                let off = [self.ty.diagonal, self.ty.rhs][which];
                let i = self.node_index(fb, off, j, c);
                fb.elem(self.g.data, i)
            }
        }
    }

    fn solve_barrier(&self, fb: &mut Fb) {
        if self.solve.is_some() { fb.workgroup_barrier() } else { fb.barrier() }
    }

    /// `data[off + node_slot(j, c)]`.
    fn node_value(&self, fb: &mut Fb, off: u32, j: H, c: H) -> H {
        let i = self.node_index(fb, off, j, c);
        fb.read(self.g.data, i)
    }

    /// Runs `body` for each child of node `j`, ascending or (`descending`) from the last.
    fn children(
        &mut self,
        fb: &mut Fb,
        child_start: u32,
        children: u32,
        j: H,
        descending: bool,
        body: impl FnOnce(&mut Self, &mut Fb, H),
    ) {
        let g = self.g;
        let at = shared_at(fb, child_start, j);
        let start = fb.read(g.meta, at);
        let one = fb.u(1);
        let at1 = fb.add(at, one);
        let end = fb.read(g.meta, at1);
        let zero = fb.u(0);
        let count = fb.sub(end, start);
        fb.for_range(zero, count, "child", |fb, i| {
            let index = if descending {
                let e = fb.sub(end, one);
                fb.sub(e, i)
            } else {
                fb.add(start, i)
            };
            let list = shared_at(fb, children, index);
            let ch = fb.read(g.meta, list);
            body(self, fb, ch);
        });
    }

    /// Each round: lane `l` takes the round's `l`-th chain (rounds are at most a workgroup
    /// wide) and runs `body` on its nodes, from the bottom up (`upward`) or from the head
    /// down; then every lane waits at the barrier.
    fn rounds(&mut self, fb: &mut Fb, rounds: Rounds, upward: bool, body: impl FnOnce(&mut Self, &mut Fb, H)) {
        let g = self.g;
        let lane = self.lane.expect("a workgroup type");
        let wg = self.ty.workgroup.as_ref().expect("a workgroup type");
        let (chain_start, chain_nodes) = (wg.chain_start, wg.chain_nodes);
        let zero = fb.u(0);
        let count = fb.u(rounds.count);
        fb.for_range(zero, count, "round", |fb, k| {
            let at = shared_at(fb, rounds.offsets, k);
            let start = fb.read(g.meta, at);
            let one = fb.u(1);
            let at1 = fb.add(at, one);
            let end = fb.read(g.meta, at1);
            let i = fb.add(start, lane.l);
            let mine = fb.bin(B::Less, i, end);
            fb.if_(mine, |fb| {
                let list = shared_at(fb, rounds.nodes, i);
                let chain = fb.read(g.meta, list);
                let cs = shared_at(fb, chain_start, chain);
                let first = fb.read(g.meta, cs);
                let cs1 = fb.add(cs, one);
                let last = fb.read(g.meta, cs1);
                let len = fb.sub(last, first);
                let zero = fb.u(0);
                fb.for_range(zero, len, "link", |fb, n| {
                    let index = if upward {
                        let e = fb.sub(last, one);
                        fb.sub(e, n)
                    } else {
                        fb.add(first, n)
                    };
                    let at = shared_at(fb, chain_nodes, index);
                    let node = fb.read(g.meta, at);
                    body(self, fb, node);
                });
            });
            self.solve_barrier(fb);
        });
    }
}

/// `off + i`: an index into a table shared by the cells of a type.
fn shared_at(fb: &mut Fb, off: u32, i: H) -> H {
    let o = fb.u(off);
    fb.add(o, i)
}

/// `*local += x`.
fn add_to(fb: &mut Fb, local: H, x: H) {
    let old = fb.load(local);
    let new = fb.add(old, x);
    fb.store(local, new);
}
