//! One workgroup per cell: the Hines solve in parallel over the cell's nodes, in the rounds of
//! `gpu::schedule` (after DeepDendrite's DHS: a lane walks an unbranched chain) with a barrier
//! after each. Every node gathers its updates in the order the serial solve applies them, so
//! the result has the serial bits. The solve's diagonal and rhs live in workgroup memory when
//! they fit (`local_solve`): the mechanisms accumulate into them there, and the rounds need
//! only workgroup barriers.

use naga::BinaryOperator as B;

use super::{Cx, DIAGONAL, RHS, split};
use crate::gpu::builder::{Fb, H};
use crate::gpu::layout::{NO_PARENT, Rounds};

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
            let vi = self.node_index(fb, ty.v, j, c);
            let [dp, rp] = [DIAGONAL, RHS].map(|w| self.solve_ptr(fb, w, j, c));
            let d = fb.local(real, "d");
            let r = fb.local(real, "r");
            let d0 = fb.load(dp);
            let cdt_at = shared_at(fb, ty.cdt, j);
            let cdt = fb.read(g.shared, cdt_at);
            let d1 = fb.add(d0, cdt);
            fb.store(d, d1);
            let r0 = fb.load(rp);
            fb.store(r, r0);
            let vj = fb.read(g.data, vi);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let gg = self.axial_of(fb, j);
                let vp = self.node_value(fb, ty.v, p, c);
                let dv = fb.sub(vp, vj);
                let current = fb.mul(gg, dv);
                add_to(fb, r, current);
                add_to(fb, d, gg);
            });
            self.children(fb, child_start, children, j, false, |this, fb, ch| {
                let gc = this.axial_of(fb, ch);
                let vc = this.node_value(fb, ty.v, ch, c);
                let dv = fb.sub(vj, vc);
                let current = fb.mul(gc, dv);
                let old = fb.load(r);
                let new = fb.sub(old, current);
                fb.store(r, new);
                add_to(fb, d, gc);
            });
            // Each lane's nodes are its own: no barrier between the reads and these writes.
            let dn = fb.load(d);
            fb.store(dp, dn);
            let rn = fb.load(r);
            fb.store(rp, rn);
        });
        self.solve_barrier(fb);
        // Elimination, a chain from the bottom up: its bottom node takes the rows of all its
        // children (heads of other chains), highest first; every other node has one child,
        // the next node, whose row is carried in registers.
        let (d_carry, r_carry) = (fb.local(real, "d_below"), fb.local(real, "r_below"));
        self.rounds(fb, elimination, |this, fb, first, last| {
            let one = fb.u(1);
            let len = fb.sub(last, first);
            let bottom = fb.sub(last, one);
            let (db, rb) = this.gather(fb, bottom, c, child_start, children);
            fb.store(d_carry, db);
            fb.store(r_carry, rb);
            fb.for_range(one, len, "link", |fb, n| {
                // Chains are runs of consecutive nodes: no node list to read.
                let j = fb.sub(bottom, n);
                let child = fb.add(j, one);
                let gc = this.axial_of(fb, child);
                let [dp, rp] = [DIAGONAL, RHS].map(|w| this.solve_ptr(fb, w, j, c));
                let dc = fb.load(d_carry);
                let factor = fb.div(gc, dc);
                let fg = fb.mul(factor, gc);
                let d0 = fb.load(dp);
                let dn = fb.sub(d0, fg);
                let rc = fb.load(r_carry);
                let fr = fb.mul(factor, rc);
                let r0 = fb.load(rp);
                let rn = fb.add(r0, fr);
                fb.store(dp, dn);
                fb.store(rp, rn);
                fb.store(d_carry, dn);
                fb.store(r_carry, rn);
            });
        });
        // Substitution, a chain from its head down (the head's parent is in an earlier round):
        // each node's Δv replaces its rhs. Only workgroup memory is on this serial path.
        let dv_above = fb.local(real, "dv_above");
        self.rounds(fb, substitution, |this, fb, head, last| {
            let p = this.parent_of(fb, head);
            let has = fb.bin(B::NotEqual, p, root);
            let r_parent = fb.local(real, "r_parent");
            let z = fb.f(0.0);
            fb.store(r_parent, z);
            fb.if_(has, |fb| {
                let rpp = this.solve_ptr(fb, RHS, p, c);
                let rp = fb.load(rpp);
                fb.store(r_parent, rp);
            });
            let rp = fb.load(r_parent);
            let dv = this.substitute(fb, head, c, Some(has), rp);
            fb.store(dv_above, dv);
            let one = fb.u(1);
            let next = fb.add(head, one);
            fb.for_range(next, last, "link", |fb, j| {
                let rp = fb.load(dv_above);
                let dv = this.substitute(fb, j, c, None, rp);
                fb.store(dv_above, dv);
            });
        });
        // v += Δv over the lanes' own nodes, with the blow-up check: off the serial path, and
        // the same addition per node as the serial solve.
        let bad = self.bad_flag(fb);
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let dvp = self.solve_ptr(fb, RHS, j, c);
            let dv = fb.load(dvp);
            let vi = self.node_index(fb, ty.v, j, c);
            let old = fb.read(g.data, vi);
            let new = fb.add(old, dv);
            fb.write(g.data, vi, new);
            self.flag_if_bad(fb, bad, new);
        });
        fb.barrier();
        self.report_bad(fb, bad, s, spike_base);
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
    /// wide) and runs `body` with the chain's nodes `first..last` (head first); then every lane waits
    /// at the barrier.
    fn rounds(&mut self, fb: &mut Fb, rounds: Rounds, body: impl FnOnce(&mut Self, &mut Fb, H, H)) {
        let g = self.g;
        let lane = self.lane.expect("a workgroup type");
        let chain_start = self.ty.workgroup.as_ref().expect("a workgroup type").chain_start;
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
                body(self, fb, first, last);
            });
            self.solve_barrier(fb);
        });
    }

    /// Node `p` takes the rows of all its children, highest first; returns its new diagonal
    /// and rhs (also stored).
    fn gather(&mut self, fb: &mut Fb, p: H, c: H, child_start: u32, children: u32) -> (H, H) {
        let real = fb.types.real;
        let [dp, rp] = [DIAGONAL, RHS].map(|w| self.solve_ptr(fb, w, p, c));
        let d = fb.local(real, "d");
        let r = fb.local(real, "r");
        let d0 = fb.load(dp);
        fb.store(d, d0);
        let r0 = fb.load(rp);
        fb.store(r, r0);
        self.children(fb, child_start, children, p, true, |this, fb, ch| {
            let gc = this.axial_of(fb, ch);
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
        (dn, rn)
    }

    /// `Δv_j = (rhs_j + g_j Δv_parent) / d_j` (just `rhs_j / d_j` at a root: `has_parent`
    /// false), stored as the node's rhs; returns Δv_j.
    fn substitute(&mut self, fb: &mut Fb, j: H, c: H, has_parent: Option<H>, dv_parent: H) -> H {
        let real = fb.types.real;
        let [dp, rp] = [DIAGONAL, RHS].map(|w| self.solve_ptr(fb, w, j, c));
        let num = fb.local(real, "num");
        let r0 = fb.load(rp);
        fb.store(num, r0);
        let coupled = |fb: &mut Fb| {
            let gg = self.axial_of(fb, j);
            let gr = fb.mul(gg, dv_parent);
            add_to(fb, num, gr);
        };
        match has_parent {
            Some(has) => fb.if_(has, coupled),
            None => coupled(fb),
        }
        let n = fb.load(num);
        let d = fb.load(dp);
        let dv = fb.div(n, d);
        fb.store(rp, dv);
        dv
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
