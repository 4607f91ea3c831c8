//! One invocation per cell: the Hines solve of `plan::solve::solve_range`, operation for
//! operation, by one thread.

use naga::BinaryOperator as B;

use super::Cx;
use crate::gpu::builder::{Fb, H};
use crate::gpu::layout::NO_PARENT;

impl Cx<'_> {
    /// The cable equation as `plan::solve::solve_range`, operation for operation.
    pub(super) fn hines(&mut self, fb: &mut Fb, c: H, s: H, spike_base: H) {
        let ty = self.ty;
        let g = self.g;
        let zero = fb.u(0);
        let nn = fb.u(ty.nnodes);
        let root = fb.u(NO_PARENT);
        fb.for_range(zero, nn, "j", |fb, j| {
            let ij = self.node_index(fb, 0, j, c);
            let di = {
                let o = fb.u(ty.diagonal);
                fb.add(o, ij)
            };
            let cdt_at = {
                let o = fb.u(ty.cdt);
                fb.add(o, j)
            };
            let cdt = fb.read(g.shared, cdt_at);
            self.accumulate(fb, di, cdt);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let gg = self.axial_of(fb, j);
                let ip = self.node_index(fb, 0, p, c);
                let vo = fb.u(ty.v);
                let vi_at = fb.add(vo, ij);
                let vp_at = fb.add(vo, ip);
                let vp = fb.read(g.data, vp_at);
                let vi = fb.read(g.data, vi_at);
                let dv = fb.sub(vp, vi);
                let current = fb.mul(gg, dv);
                let ro = fb.u(ty.rhs);
                let ri = fb.add(ro, ij);
                let rp = fb.add(ro, ip);
                self.accumulate(fb, ri, current);
                let old = fb.read(g.data, rp);
                let new = fb.sub(old, current);
                fb.write(g.data, rp, new);
                let dpo = fb.u(ty.diagonal);
                let dp = fb.add(dpo, ip);
                self.accumulate(fb, di, gg);
                self.accumulate(fb, dp, gg);
            });
        });
        self.serial_elimination(fb, c);
        // Substitution, parents first; v += Δv, with a blow-up check.
        let bad = self.bad_flag(fb);
        fb.for_range(zero, nn, "j", |fb, j| {
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            let dv = self.serial_substitution_at(fb, j, p, has, c);
            let ij = self.node_index(fb, 0, j, c);
            let vo = fb.u(ty.v);
            let vi = fb.add(vo, ij);
            let old = fb.read(g.data, vi);
            let new = fb.add(old, dv);
            fb.write(g.data, vi, new);
            self.flag_if_bad(fb, bad, new);
        });
        self.report_bad(fb, bad, s, spike_base);
    }

    /// `plan::solve::solve_tree`'s elimination, children from the last node up: each node `j`
    /// into its parent `p`, f = g_j / d_j, d_p −= f g_j, rhs_p += f rhs_j.
    pub(super) fn serial_elimination(&mut self, fb: &mut Fb, c: H) {
        let (ty, g) = (self.ty, self.g);
        let (zero, nn, root) = (fb.u(0), fb.u(ty.nnodes), fb.u(NO_PARENT));
        fb.for_range(zero, nn, "i", |fb, i| {
            let last = fb.u(ty.nnodes - 1);
            let j = fb.sub(last, i);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let gg = self.axial_of(fb, j);
                let [dj, dp, rj, rp] = [(ty.diagonal, j), (ty.diagonal, p), (ty.rhs, j), (ty.rhs, p)]
                    .map(|(off, node)| self.node_index(fb, off, node, c));
                let d = fb.read(g.data, dj);
                let factor = fb.div(gg, d);
                let fg = fb.mul(factor, gg);
                let old = fb.read(g.data, dp);
                let new = fb.sub(old, fg);
                fb.write(g.data, dp, new);
                let r = fb.read(g.data, rj);
                let fr = fb.mul(factor, r);
                self.accumulate(fb, rp, fr);
            });
        });
    }

    /// The substitution at node `j` after its parent `p` (`has`: whether it has one):
    /// x_j = (rhs_j + g_j x_p) / d_j, with x_p in the parent's rhs, written over rhs_j and
    /// returned.
    pub(super) fn serial_substitution_at(&mut self, fb: &mut Fb, j: H, p: H, has: H, c: H) -> H {
        let (ty, g) = (self.ty, self.g);
        let rj = self.node_index(fb, ty.rhs, j, c);
        let dj = self.node_index(fb, ty.diagonal, j, c);
        let value = fb.local(fb.types.real, "solved");
        fb.if_else(
            has,
            |fb| {
                let gg = self.axial_of(fb, j);
                let rp = self.node_index(fb, ty.rhs, p, c);
                let parent = fb.read(g.data, rp);
                let own = fb.read(g.data, rj);
                let gr = fb.mul(gg, parent);
                let num = fb.add(own, gr);
                let d = fb.read(g.data, dj);
                let q = fb.div(num, d);
                fb.store(value, q);
            },
            |fb| {
                let own = fb.read(g.data, rj);
                let d = fb.read(g.data, dj);
                let q = fb.div(own, d);
                fb.store(value, q);
            },
        );
        let x = fb.load(value);
        fb.write(g.data, rj, x);
        x
    }
}
