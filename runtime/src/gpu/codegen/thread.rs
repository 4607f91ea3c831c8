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
        // Elimination from the last node up.
        fb.for_range(zero, nn, "i", |fb, i| {
            let last = fb.u(ty.nnodes - 1);
            let j = fb.sub(last, i);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let gg = self.axial_of(fb, j);
                let ij = self.node_index(fb, 0, j, c);
                let ip = self.node_index(fb, 0, p, c);
                let dgo = fb.u(ty.diagonal);
                let ro = fb.u(ty.rhs);
                let di = fb.add(dgo, ij);
                let dp = fb.add(dgo, ip);
                let ri = fb.add(ro, ij);
                let rp = fb.add(ro, ip);
                let dii = fb.read(g.data, di);
                let factor = fb.div(gg, dii);
                let fg = fb.mul(factor, gg);
                let dpp = fb.read(g.data, dp);
                let nd = fb.sub(dpp, fg);
                fb.write(g.data, dp, nd);
                let rii = fb.read(g.data, ri);
                let fr = fb.mul(factor, rii);
                self.accumulate(fb, rp, fr);
            });
        });
        // Substitution, parents first; v += Δv, with a blow-up check.
        let bad = self.bad_flag(fb);
        fb.for_range(zero, nn, "j", |fb, j| {
            let p = self.parent_of(fb, j);
            let ij = self.node_index(fb, 0, j, c);
            let dgo = fb.u(ty.diagonal);
            let ro = fb.u(ty.rhs);
            let di = fb.add(dgo, ij);
            let ri = fb.add(ro, ij);
            let has = fb.bin(B::NotEqual, p, root);
            let dvv = fb.local(fb.types.real, "dv");
            fb.if_else(
                has,
                |fb| {
                    let gg = self.axial_of(fb, j);
                    let ip = self.node_index(fb, 0, p, c);
                    let rp = fb.add(ro, ip);
                    let rpp = fb.read(g.data, rp);
                    let rii = fb.read(g.data, ri);
                    let gr = fb.mul(gg, rpp);
                    let num = fb.add(rii, gr);
                    let d = fb.read(g.data, di);
                    let q = fb.div(num, d);
                    fb.store(dvv, q);
                },
                |fb| {
                    let rii = fb.read(g.data, ri);
                    let d = fb.read(g.data, di);
                    let q = fb.div(rii, d);
                    fb.store(dvv, q);
                },
            );
            let dv = fb.load(dvv);
            fb.write(g.data, ri, dv);
            let vo = fb.u(ty.v);
            let vi = fb.add(vo, ij);
            let old = fb.read(g.data, vi);
            let new = fb.add(old, dv);
            fb.write(g.data, vi, new);
            self.flag_if_bad(fb, bad, new);
        });
        self.report_bad(fb, bad, s, spike_base);
    }
}
