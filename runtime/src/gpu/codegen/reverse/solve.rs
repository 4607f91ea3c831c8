//! The adjoints of the solve and of Nernst for one cell: by one invocation in the operation
//! order of the CPU's reverse run (`grad::reverse`), or by a workgroup, the solve in the
//! forward's rounds (`workgroup`) and every other sum per node in the CPU's order.

use naga::BinaryOperator as B;

use super::super::sync::Work;
use super::super::workgroup::add_to;
use super::super::{Cx, DIAGONAL, RHS, split};
use crate::gpu::builder::{Fb, H};
use crate::gpu::layout::NO_PARENT;

impl Cx<'_> {
    /// v' = v + M⁻¹(rhs − A v) with M = diag(d + C/dt) + A: μ = M⁻¹ λ_v', then λ_rhs += μ,
    /// λ_d −= μ ⊙ Δv, λ_v += −A μ. The solve's diagonal and rhs (dead after the replay; in
    /// `data` or in workgroup memory) hold M's diagonal and μ; v before the solve is step `s`'s
    /// saved v. M is symmetric: μ is the forward's solve of M and λ_v'.
    pub(super) fn solve_adjoint(&mut self, fb: &mut Fb, c: H, s: H) {
        match self.lane {
            None => self.serial_solve_adjoint(fb, c, s),
            Some(_) => self.parallel_solve_adjoint(fb, c, s),
        }
    }

    /// The solve's adjoint by a workgroup: M's diagonal and λ_v' node by node on the lanes,
    /// μ by the forward's rounds (the serial bits with whole chains; split chains reorder the
    /// arithmetic of their nodes), then each node's products on its lane.
    fn parallel_solve_adjoint(&mut self, fb: &mut Fb, c: H, s: H) {
        self.sync_for(fb, Work::Nodes);
        self.assemble_adjoint(fb, c);
        self.solve_barrier(fb);
        self.rounds(fb, c);
        self.sync_for(fb, Work::Nodes);
        self.gather_solve_products(fb, c, s);
    }

    /// Node `j`'s row of M (the tape's diagonal, C/dt, the axial conductance of its own
    /// segment, then its children's in ascending order: the serial sum's order) and λ_v'.
    fn assemble_adjoint(&mut self, fb: &mut Fb, c: H) {
        let (ty, grad) = (self.ty, self.grad());
        let wg = ty.workgroup.as_ref().expect("a workgroup type");
        let (child_start, children) = (wg.child_start, wg.children);
        let (zero, nn, root) = (fb.u(0), fb.u(ty.nnodes), fb.u(NO_PARENT));
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let d = fb.local(fb.types.real, "d");
            let d0 = self.diagonal_before_axial(fb, j, c);
            fb.store(d, d0);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let gg = self.axial_of(fb, j);
                add_to(fb, d, gg);
            });
            self.children(fb, child_start, children, j, false, |this, fb, ch| {
                let gc = this.axial_of(fb, ch);
                add_to(fb, d, gc);
            });
            let dn = fb.load(d);
            let dp = self.solve_ptr(fb, DIAGONAL, j, c);
            fb.store(dp, dn);
            let from = self.node_index(fb, ty.v, j, c);
            let x = fb.read(grad.adj, from);
            let rp = self.solve_ptr(fb, RHS, j, c);
            fb.store(rp, x);
        });
    }

    /// Each node's products on its lane; its cotangent of v takes its own axial term, then
    /// its children's in ascending order (the serial scatter's order, so the same bits).
    fn gather_solve_products(&mut self, fb: &mut Fb, c: H, s: H) {
        let (ty, adj) = (self.ty, self.grad().adj);
        let wg = ty.workgroup.as_ref().expect("a workgroup type");
        let (child_start, children) = (wg.child_start, wg.children);
        let base = self.saved_base(fb, s);
        let (zero, nn, root) = (fb.u(0), fb.u(ty.nnodes), fb.u(NO_PARENT));
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let mu = self.accumulator_products(fb, j, c, base);
            let vj = self.node_index(fb, ty.v, j, c);
            let lambda = fb.local(fb.types.real, "v_cotangent");
            let l0 = fb.read(adj, vj);
            fb.store(lambda, l0);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let mu_p = self.mu_at(fb, p, c);
                let flow = self.axial_flow(fb, j, mu, mu_p);
                let old = fb.load(lambda);
                let new = fb.sub(old, flow);
                fb.store(lambda, new);
            });
            self.children(fb, child_start, children, j, false, |this, fb, ch| {
                let mu_ch = this.mu_at(fb, ch, c);
                let flow = this.axial_flow(fb, ch, mu_ch, mu);
                add_to(fb, lambda, flow);
            });
            let l = fb.load(lambda);
            fb.write(adj, vj, l);
        });
    }

    /// The solve's adjoint by one invocation per cell (whose solve arrays are in `data`), in
    /// the CPU's order.
    fn serial_solve_adjoint(&mut self, fb: &mut Fb, c: H, s: H) {
        self.assemble_diagonal(fb, c);
        let (ty, g, adj) = (self.ty, self.g, self.grad().adj);
        let (zero, nn) = (fb.u(0), fb.u(ty.nnodes));
        fb.for_range(zero, nn, "j", |fb, j| {
            let from = self.node_index(fb, ty.v, j, c);
            let to = self.node_index(fb, ty.rhs, j, c);
            let x = fb.read(adj, from);
            fb.write(g.data, to, x);
        });
        self.serial_elimination(fb, c);
        self.substitute_mu(fb, c);
        self.solve_products(fb, c, s);
    }

    /// M's diagonal: the tape's current diagonal plus C/dt and the axial conductances, in the
    /// forward solve's order.
    fn assemble_diagonal(&mut self, fb: &mut Fb, c: H) {
        let (ty, g) = (self.ty, self.g);
        let (zero, nn, root) = (fb.u(0), fb.u(ty.nnodes), fb.u(NO_PARENT));
        fb.for_range(zero, nn, "j", |fb, j| {
            let d = self.diagonal_before_axial(fb, j, c);
            let di = self.node_index(fb, ty.diagonal, j, c);
            fb.write(g.data, di, d);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let gg = self.axial_of(fb, j);
                let dp = self.node_index(fb, ty.diagonal, p, c);
                self.accumulate(fb, di, gg);
                self.accumulate(fb, dp, gg);
            });
        });
    }

    /// Node `j`'s diagonal before the axial conductances: the tape's current diagonal plus C/dt.
    fn diagonal_before_axial(&mut self, fb: &mut Fb, j: H, c: H) -> H {
        let (ty, g, grad) = (self.ty, self.g, self.grad());
        let taped = self.node_index(fb, grad.layout.tape[self.type_index()], j, c);
        let current = fb.read(grad.work, taped);
        let cdt_at = fb.u(ty.cdt);
        let cdt_at = fb.add(cdt_at, j);
        let cdt = fb.read(g.shared, cdt_at);
        fb.add(current, cdt)
    }

    /// `plan::solve::solve_tree`'s substitution, parents first: μ in the rhs array.
    fn substitute_mu(&mut self, fb: &mut Fb, c: H) {
        let (zero, nn, root) = (fb.u(0), fb.u(self.ty.nnodes), fb.u(NO_PARENT));
        fb.for_range(zero, nn, "j", |fb, j| {
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            self.serial_substitution_at(fb, j, p, has, c);
        });
    }

    /// λ_rhs += μ, λ_d −= μ Δv and the axial terms' −A μ, node by node.
    fn solve_products(&mut self, fb: &mut Fb, c: H, s: H) {
        let (ty, adj) = (self.ty, self.grad().adj);
        let base = self.saved_base(fb, s);
        let (zero, nn, root) = (fb.u(0), fb.u(ty.nnodes), fb.u(NO_PARENT));
        fb.for_range(zero, nn, "j", |fb, j| {
            let mu = self.accumulator_products(fb, j, c, base);
            let p = self.parent_of(fb, j);
            let has = fb.bin(B::NotEqual, p, root);
            fb.if_(has, |fb| {
                let mu_p = self.mu_at(fb, p, c);
                let flow = self.axial_flow(fb, j, mu, mu_p);
                let vp = self.node_index(fb, ty.v, p, c);
                let old = fb.read(adj, vp);
                let new = fb.add(old, flow);
                fb.write(adj, vp, new);
                let vj = self.node_index(fb, ty.v, j, c);
                let old = fb.read(adj, vj);
                let new = fb.sub(old, flow);
                fb.write(adj, vj, new);
            });
        });
    }

    /// λ_rhs += μ and λ_d −= μ Δv at node `j` (Δv: v after the step's solve less v before
    /// it, the state saved at `base`); returns μ.
    fn accumulator_products(&self, fb: &mut Fb, j: H, c: H, base: H) -> H {
        let (ty, g, grad) = (self.ty, self.g, self.grad());
        let [diagonal, rhs] = self.accumulators();
        let mu = self.mu_at(fb, j, c);
        let vj = self.node_index(fb, ty.v, j, c);
        let after = fb.read(g.data, vj);
        let packed = self.node_index(fb, self.saved_node_array(0), j, c);
        let saved = fb.add(base, packed);
        let v0 = fb.read(grad.work, saved);
        let dv = fb.sub(after, v0);
        let rj = self.node_index(fb, rhs, j, c);
        let old = fb.read(grad.adj, rj);
        let new = fb.add(old, mu);
        fb.write(grad.adj, rj, new);
        let dj = self.node_index(fb, diagonal, j, c);
        let old = fb.read(grad.adj, dj);
        let product = fb.mul(mu, dv);
        let new = fb.sub(old, product);
        fb.write(grad.adj, dj, new);
        mu
    }

    /// μ at node `j` (in the solve's rhs).
    fn mu_at(&self, fb: &mut Fb, j: H, c: H) -> H {
        let at = self.solve_ptr(fb, RHS, j, c);
        fb.load(at)
    }

    /// g (μ_child − μ_parent) across the segment of node `child`.
    fn axial_flow(&self, fb: &mut Fb, child: H, mu_child: H, mu_parent: H) -> H {
        let gg = self.axial_of(fb, child);
        let diff = fb.sub(mu_child, mu_parent);
        fb.mul(gg, diff)
    }

    /// e = (RT/zF) ln(c_o/c_i) where a species follows Nernst (and c_i > 0), at the
    /// concentrations in `data` (the step's, restored for the current kernels' products).
    pub(super) fn nernst_adjoint(&mut self, fb: &mut Fb, c: H) {
        let (ty, g, grad) = (self.ty, self.g, self.grad());
        for (species, factor) in self.layout.nernst.iter().enumerate() {
            let Some(factor) = *factor else { continue };
            let [reversal, inside, outside, _] = ty.ions[species];
            self.sync_for(fb, Work::Nodes);
            let (zero, nn) = (fb.u(0), fb.u(ty.nnodes));
            split(fb, self.lane, zero, nn, "j", |fb, j| {
                let ir = self.node_index(fb, reversal, j, c);
                let d = fb.read(grad.adj, ir);
                let z = fb.f(0.0);
                fb.write(grad.adj, ir, z);
                let ii = self.node_index(fb, inside, j, c);
                let ci = fb.read(g.data, ii);
                let positive = fb.bin(B::Greater, ci, z);
                let nonzero = fb.bin(B::NotEqual, d, z);
                let both = fb.bin(B::LogicalAnd, positive, nonzero);
                fb.if_(both, |fb| {
                    let io = self.node_index(fb, outside, j, c);
                    let co = fb.read(g.data, io);
                    let k = fb.f(factor);
                    let dk = fb.mul(d, k);
                    let old = fb.read(grad.adj, ii);
                    let q = fb.div(dk, ci);
                    let new = fb.sub(old, q);
                    fb.write(grad.adj, ii, new);
                    let old = fb.read(grad.adj, io);
                    let q = fb.div(dk, co);
                    let new = fb.add(old, q);
                    fb.write(grad.adj, io, new);
                });
            });
        }
    }
}
