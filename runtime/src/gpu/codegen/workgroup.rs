//! One workgroup per cell: the Hines solve in parallel over the cell's nodes, in the rounds of
//! `gpu::schedule` (DeepDendrite's DHS) with a barrier after each. Every node gathers its
//! updates in the order the serial solve applies them, so the result has the serial bits.

use naga::BinaryOperator as B;

use super::{Cx, split};
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
            fb.write(g.data, di, dn);
            let rn = fb.load(r);
            fb.write(g.data, ri, rn);
        });
        fb.barrier();
        // Elimination: a node takes its children's rows, highest child first.
        self.rounds(fb, elimination, |this, fb, p| {
            let ip = this.node_index(fb, 0, p, c);
            let [dp, rp] = [ty.diagonal, ty.rhs].map(|o| {
                let o = fb.u(o);
                fb.add(o, ip)
            });
            let d = fb.local(real, "d");
            let r = fb.local(real, "r");
            let d0 = fb.read(g.data, dp);
            fb.store(d, d0);
            let r0 = fb.read(g.data, rp);
            fb.store(r, r0);
            this.children(fb, child_start, children, p, true, |this, fb, ch| {
                let ax = shared_at(fb, ty.axial, ch);
                let gc = fb.read(g.shared, ax);
                let dc = this.node_value(fb, ty.diagonal, ch, c);
                let factor = fb.div(gc, dc);
                let fg = fb.mul(factor, gc);
                let old = fb.load(d);
                let new = fb.sub(old, fg);
                fb.store(d, new);
                let rc = this.node_value(fb, ty.rhs, ch, c);
                let fr = fb.mul(factor, rc);
                add_to(fb, r, fr);
            });
            let dn = fb.load(d);
            fb.write(g.data, dp, dn);
            let rn = fb.load(r);
            fb.write(g.data, rp, rn);
        });
        // Substitution, parents first; v += Δv, with the blow-up check.
        let bad = self.bad_flag(fb);
        self.rounds(fb, substitution, |this, fb, j| {
            let ij = this.node_index(fb, 0, j, c);
            let [di, ri, vi] = [ty.diagonal, ty.rhs, ty.v].map(|o| {
                let o = fb.u(o);
                fb.add(o, ij)
            });
            let num = fb.local(real, "num");
            let r0 = fb.read(g.data, ri);
            fb.store(num, r0);
            let pa = shared_at(fb, ty.parent, j);
            let p = fb.read(g.meta, pa);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let ax = shared_at(fb, ty.axial, j);
                let gg = fb.read(g.shared, ax);
                let rp = this.node_value(fb, ty.rhs, p, c);
                let gr = fb.mul(gg, rp);
                add_to(fb, num, gr);
            });
            let n = fb.load(num);
            let d = fb.read(g.data, di);
            let dv = fb.div(n, d);
            fb.write(g.data, ri, dv);
            let old = fb.read(g.data, vi);
            let new = fb.add(old, dv);
            fb.write(g.data, vi, new);
            this.flag_if_bad(fb, bad, new);
        });
        self.report_bad(fb, bad, s, spike_base);
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

    /// Each round: lane `l` takes the round's `l`-th node (rounds are at most a workgroup
    /// wide); then every lane waits at the barrier.
    fn rounds(&mut self, fb: &mut Fb, rounds: Rounds, body: impl FnOnce(&mut Self, &mut Fb, H)) {
        let g = self.g;
        let lane = self.lane.expect("a workgroup type");
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
                let node = fb.read(g.meta, list);
                body(self, fb, node);
            });
            fb.barrier();
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
