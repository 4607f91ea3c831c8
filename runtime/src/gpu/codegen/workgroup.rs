//! One workgroup per cell: the Hines solve in parallel over the cell's nodes, in the rounds of
//! `gpu::schedule` (after DeepDendrite's DHS: a lane walks an unbranched chain, or a piece of a
//! long one) with a barrier after each. With whole chains every node gathers its updates in the
//! order the serial solve applies them, so the result has the serial bits; split chains reorder
//! the arithmetic of their nodes. The solve's diagonal and rhs live in workgroup memory when
//! they fit (`local_solve`): the mechanisms accumulate into them there, and the rounds need
//! only workgroup barriers.

use naga::BinaryOperator as B;

use super::sync::Work;
use super::{Cx, DIAGONAL, RHS, split};
use crate::gpu::builder::{Fb, H, Prec, Types};
use crate::gpu::layout::{BARRIER_AFTER, NO_PARENT, STORAGE_BARRIER, TypeLayout};
use crate::gpu::schedule::{ELIMINATE_CHAIN, ELIMINATE_PIECE, SUBSTITUTE_CHAIN, SUBSTITUTE_PIECE};

/// The fills of split chains in workgroup memory, for a type that keeps them there.
pub(super) fn fill_array(
    module: &mut naga::Module,
    types: Types,
    ty: &TypeLayout,
    t: usize,
    prec: Prec,
) -> Option<naga::Handle<naga::GlobalVariable>> {
    let fill = ty.workgroup.as_ref()?.fill.filter(|f| f.local)?;
    Some(super::workgroup_array(module, types, &format!("solve_fill_{t}"), fill.len, prec))
}

/// A task's four words (`schedule::Task::words`).
type Words = [H; 4];

impl Cx<'_> {
    pub(super) fn parallel_hines(&mut self, fb: &mut Fb, c: H, s: H, spike_base: H) {
        self.sync_for(fb, Work::Nodes);
        self.assemble(fb, c);
        self.solve_barrier(fb);
        self.rounds(fb, c);
        // The last round ends in a barrier; `v += Δv` touches every node on its lane, and
        // whatever comes next waits for it where it must.
        self.sync_for(fb, Work::Nodes);
        // v += Δv over the lanes' own nodes, with the blow-up check: off the serial path, and
        // the same addition per node as the serial solve.
        let ty = self.ty;
        let g = self.g;
        let bad = self.bad_flag(fb);
        let zero = fb.u(0);
        let nn = fb.u(ty.nnodes);
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let dvp = self.solve_ptr(fb, RHS, j, c);
            let dv = fb.load(dvp);
            let vi = self.node_index(fb, ty.v, j, c);
            let old = fb.read(g.data, vi);
            let new = fb.add(old, dv);
            fb.write(g.data, vi, new);
            self.flag_if_bad(fb, bad, new);
        });
        self.report_bad(fb, bad, s, spike_base);
    }

    /// Assembly: C/dt, then the axial terms of the node's own segment, then those of its
    /// children in ascending order (the serial loop reaches them in that order).
    fn assemble(&mut self, fb: &mut Fb, c: H) {
        let ty = self.ty;
        let g = self.g;
        let wg = ty.workgroup.as_ref().expect("a workgroup type");
        let (child_start, children) = (wg.child_start, wg.children);
        let root = fb.u(NO_PARENT);
        let real = fb.types.real;
        let zero = fb.u(0);
        let nn = fb.u(ty.nnodes);
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
    }

    /// The rounds of the solve, elimination then substitution: lane `l` takes the round's
    /// `l`-th task (rounds are at most a workgroup wide), of the round's kind, which every lane
    /// reads alike; then a barrier, where the round's flag asks for one.
    pub(super) fn rounds(&mut self, fb: &mut Fb, c: H) {
        let g = self.g;
        let lane = self.lane.expect("a workgroup type");
        let wg = self.ty.workgroup.as_ref().expect("a workgroup type");
        let (rounds, split) = (wg.rounds, wg.fill.is_some());
        // Fills in `data` beside a diagonal and rhs in workgroup memory: the round that ends
        // their writes ends in a storage barrier, every other in a workgroup barrier.
        let fill_in_data = self.solve.is_some() && wg.fill.is_some_and(|f| !f.local);
        let zero = fb.u(0);
        let count = fb.u(rounds.count);
        fb.for_range(zero, count, "round", |fb, k| {
            let flags_at = shared_at(fb, rounds.flags, k);
            let flags = fb.read(g.meta, flags_at);
            let at = shared_at(fb, rounds.offsets, k);
            let start = fb.read(g.meta, at);
            let one = fb.u(1);
            let at1 = fb.add(at, one);
            let end = fb.read(g.meta, at1);
            let i = fb.add(start, lane.l);
            let mine = fb.bin(B::Less, i, end);
            fb.if_(mine, |fb| {
                let four = fb.u(4);
                let i4 = fb.mul(i, four);
                let base = shared_at(fb, rounds.tasks, i4);
                let words = [0, 1, 2, 3].map(|w| {
                    let o = fb.u(w);
                    let a = fb.add(base, o);
                    fb.read(g.meta, a)
                });
                let three = fb.u(3);
                let kind = fb.bin(B::And, flags, three);
                self.task(fb, c, kind, words, split);
            });
            let flag = |fb: &mut Fb, bit: u32| {
                let b = fb.u(bit);
                let masked = fb.bin(B::And, flags, b);
                fb.bin(B::NotEqual, masked, zero)
            };
            let after = flag(fb, BARRIER_AFTER);
            if fill_in_data {
                let storage = flag(fb, STORAGE_BARRIER);
                let workgroup = fb.not(storage);
                let only_workgroup = fb.bin(B::LogicalAnd, after, workgroup);
                fb.if_(storage, |fb| fb.barrier());
                fb.if_(only_workgroup, |fb| fb.workgroup_barrier());
            } else {
                fb.if_(after, |fb| self.emit_solve_barrier(fb));
            }
        });
        // Emitted once, run after every round whose flag asks.
        self.sync.borrow_mut().passed(wg.round_barriers);
    }

    /// One task of kind `kind` (`schedule::Task`); without split chains only whole chains.
    fn task(&mut self, fb: &mut Fb, c: H, kind: H, words: Words, split: bool) {
        let is = |fb: &mut Fb, k: u32| {
            let k = fb.u(k);
            fb.bin(B::Equal, kind, k)
        };
        let eliminate = is(fb, ELIMINATE_CHAIN);
        if !split {
            fb.if_(eliminate, |fb| self.eliminate_chain(fb, c, words, false));
            let substitute = fb.not(eliminate);
            return fb.if_(substitute, |fb| self.substitute_chain(fb, c, words, false));
        }
        let [piece, substitute, substitute_piece] =
            [ELIMINATE_PIECE, SUBSTITUTE_CHAIN, SUBSTITUTE_PIECE].map(|k| is(fb, k));
        fb.if_(piece, |fb| self.eliminate_piece(fb, c, words));
        fb.if_(eliminate, |fb| self.eliminate_chain(fb, c, words, true));
        fb.if_(substitute, |fb| self.substitute_chain(fb, c, words, true));
        fb.if_(substitute_piece, |fb| self.substitute_piece(fb, c, words));
    }

    /// A piece `first..last` of a split chain: its bottom starts from its own row and a fill
    /// to `last` (`schedule`); the walk leaves the fill of each node, the head's, and the
    /// shares of `last` in the piece's slot.
    fn eliminate_piece(&mut self, fb: &mut Fb, c: H, [first, last, slot, _]: Words) {
        let real = fb.types.real;
        let one = fb.u(1);
        let bottom = fb.sub(last, one);
        let carry = [fb.local(real, "d_below"), fb.local(real, "r_below")];
        for (which, local) in [DIAGONAL, RHS].into_iter().zip(carry) {
            let p = self.solve_ptr(fb, which, bottom, c);
            let x = fb.load(p);
            fb.store(local, x);
        }
        let w = fb.local(real, "fill");
        let g_last = self.axial_of(fb, last);
        fb.store(w, g_last);
        let shares = [fb.local(real, "share_d"), fb.local(real, "share_r")];
        let z = fb.f(0.0);
        for s in shares {
            fb.store(s, z);
        }
        self.walk_up(fb, c, first, bottom, carry, Some((w, shares)));
        let wf = fb.load(w);
        let fp = self.fill_ptr(fb, first, c);
        fb.store(fp, wf);
        for (i, share) in shares.into_iter().enumerate() {
            let at = self.share_index(fb, slot, i as u32);
            let p = self.fill_ptr(fb, at, c);
            let x = fb.load(share);
            fb.store(p, x);
        }
    }

    /// Chain `head..end`: its bottom node takes the rows of all its children (heads of other
    /// chains), highest first, then its bottom piece is walked up; with `split`, the reduced
    /// system of the chain's piece heads follows (`reduce`).
    fn eliminate_chain(&mut self, fb: &mut Fb, c: H, [head, end, piece, slot]: Words, split: bool) {
        let real = fb.types.real;
        let wg = self.ty.workgroup.as_ref().expect("a workgroup type");
        let (child_start, children) = (wg.child_start, wg.children);
        let one = fb.u(1);
        let last = fb.sub(end, one);
        let (count, bottom) = if split { pieces_of(fb, head, end, piece) } else { (one, head) };
        let carry = [fb.local(real, "d_below"), fb.local(real, "r_below")];
        let (db, rb) = self.gather(fb, last, c, child_start, children);
        fb.store(carry[0], db);
        fb.store(carry[1], rb);
        self.walk_up(fb, c, bottom, last, carry, None);
        if split {
            self.reduce(fb, c, [head, end, piece, slot], count, carry);
        }
    }

    /// Eliminates nodes `bottom` up to `first + 1` into their parents, the row of the node
    /// below carried in registers (`carry`, the bottom's at the start). With a fill (`w`, the
    /// bottom's at the start, and the shares of the node below the piece), each eliminated
    /// node also stores its fill, adds its shares and passes its fill to its parent.
    fn walk_up(
        &mut self,
        fb: &mut Fb,
        c: H,
        first: H,
        bottom: H,
        [d_carry, r_carry]: [H; 2],
        fill: Option<(H, [H; 2])>,
    ) {
        let one = fb.u(1);
        let b1 = fb.add(bottom, one);
        let len = fb.sub(b1, first);
        fb.for_range(one, len, "link", |fb, n| {
            // Chains are runs of consecutive nodes: no node list to read.
            let j = fb.sub(bottom, n);
            let child = fb.add(j, one);
            let gc = self.axial_of(fb, child);
            let [dp, rp] = [DIAGONAL, RHS].map(|w| self.solve_ptr(fb, w, j, c));
            let dc = fb.load(d_carry);
            // A piece's order is its own: one reciprocal serves both of its divisions. A whole
            // chain divides as the serial solve does.
            let inverse = fill.map(|_| {
                let one = fb.f(1.0);
                fb.div(one, dc)
            });
            let factor = match inverse {
                Some(inv) => fb.mul(gc, inv),
                None => fb.div(gc, dc),
            };
            let rc = eliminate_into([dp, rp], factor, gc, [d_carry, r_carry], fb);
            if let (Some((w, [share_d, share_r])), Some(inv)) = (fill, inverse) {
                let wc = fb.load(w);
                let fp = self.fill_ptr(fb, child, c);
                fb.store(fp, wc);
                let fl = fb.mul(wc, inv);
                let flw = fb.mul(fl, wc);
                let sd = fb.load(share_d);
                let sd1 = fb.sub(sd, flw);
                fb.store(share_d, sd1);
                let flr = fb.mul(fl, rc);
                add_to(fb, share_r, flr);
                let wn = fb.mul(factor, wc);
                fb.store(w, wn);
            }
        });
    }

    /// The index in the fill array of the share `i` (0: diagonal, 1: rhs) kept in `slot`.
    fn share_index(&self, fb: &mut Fb, slot: H, i: u32) -> H {
        let two = fb.u(2);
        let s2 = fb.mul(slot, two);
        let base = fb.u(self.ty.nnodes + i);
        fb.add(base, s2)
    }

    /// The reduced system of a chain of `count` pieces (its heads and its bottom node, coupled
    /// by their fills), eliminated from the bottom node (whose row is in `carry`) up; each
    /// takes the shares the piece above it left.
    fn reduce(&mut self, fb: &mut Fb, c: H, [head, end, piece, slot]: Words, count: H, [d_carry, r_carry]: [H; 2]) {
        let one = fb.u(1);
        let zero = fb.u(0);
        // Head k ≥ 1 takes the shares of piece k - 1 into its row, stored.
        let add_shares = |this: &mut Self, fb: &mut Fb, k: H, a: H| {
            let [dp, rp] = [DIAGONAL, RHS].map(|w| this.solve_ptr(fb, w, a, c));
            let s0 = fb.add(slot, k);
            let s = fb.sub(s0, one);
            for (i, (p, carry)) in [(dp, d_carry), (rp, r_carry)].into_iter().enumerate() {
                let at = this.share_index(fb, s, i as u32);
                let sp = this.fill_ptr(fb, at, c);
                let share = fb.load(sp);
                let x = fb.load(carry);
                let y = fb.add(x, share);
                fb.store(carry, y);
                fb.store(p, y);
            }
        };
        let last = fb.sub(count, one);
        let split = fb.bin(B::Greater, last, zero);
        fb.if_(split, |fb| {
            let bottom = fb.sub(end, one);
            add_shares(self, fb, last, bottom);
        });
        fb.for_range(one, count, "head", |fb, i| {
            let k = fb.sub(last, i);
            let kp = fb.mul(k, piece);
            let a = fb.add(head, kp);
            let wp = self.fill_ptr(fb, a, c);
            let w = fb.load(wp);
            let [dp, rp] = [DIAGONAL, RHS].map(|x| self.solve_ptr(fb, x, a, c));
            let dc = fb.load(d_carry);
            let factor = fb.div(w, dc);
            eliminate_into([dp, rp], factor, w, [d_carry, r_carry], fb);
            let inner = fb.bin(B::Greater, k, zero);
            fb.if_(inner, |fb| add_shares(self, fb, k, a));
        });
    }

    /// Δv of the chain's head from its parent (from nothing at a root); returns it.
    fn head_from_parent(&mut self, fb: &mut Fb, c: H, head: H) -> H {
        let real = fb.types.real;
        let root = fb.u(NO_PARENT);
        let p = self.parent_of(fb, head);
        let has = fb.bin(B::NotEqual, p, root);
        let r_parent = fb.local(real, "r_parent");
        let z = fb.f(0.0);
        fb.store(r_parent, z);
        fb.if_(has, |fb| {
            let rpp = self.solve_ptr(fb, RHS, p, c);
            let rp = fb.load(rpp);
            fb.store(r_parent, rp);
        });
        let rp = fb.load(r_parent);
        self.substitute_node(fb, head, c, Some(has), rp, None)
    }

    /// Substitution of chain `head..end` from its head down (the head's parent was solved in
    /// an earlier round); with `split`, its piece heads and bottom node through their fills
    /// first, the pieces' other nodes in later rounds. Each node's Δv replaces its rhs; only
    /// workgroup memory is on this serial path.
    fn substitute_chain(&mut self, fb: &mut Fb, c: H, [head, end, piece, _]: Words, split: bool) {
        let real = fb.types.real;
        let dv_above = fb.local(real, "dv_above");
        let dv = self.head_from_parent(fb, c, head);
        fb.store(dv_above, dv);
        let one = fb.u(1);
        let (count, bottom) = if split { pieces_of(fb, head, end, piece) } else { (one, head) };
        if split {
            let above = fb.local(fb.types.uint, "above");
            fb.store(above, head);
            let last = fb.sub(count, one);
            let bottom_node = fb.sub(end, one);
            fb.for_range(one, count, "head", |fb, k| {
                let kp = fb.mul(k, piece);
                let inner = fb.add(head, kp);
                let is_last = fb.bin(B::Equal, k, last);
                let a = fb.select(is_last, bottom_node, inner);
                let up = fb.load(above);
                let wp = self.fill_ptr(fb, up, c);
                let w = fb.load(wp);
                let [dp, rp] = [DIAGONAL, RHS].map(|x| self.solve_ptr(fb, x, a, c));
                let r0 = fb.load(rp);
                let dva = fb.load(dv_above);
                let wd = fb.mul(w, dva);
                let num = fb.add(r0, wd);
                let d = fb.load(dp);
                let dv = fb.div(num, d);
                fb.store(rp, dv);
                fb.store(dv_above, dv);
                fb.store(above, a);
            });
        }
        let next = fb.add(bottom, one);
        fb.for_range(next, end, "link", |fb, j| {
            let rp = fb.load(dv_above);
            let dv = self.substitute_node(fb, j, c, None, rp, None);
            fb.store(dv_above, dv);
        });
    }

    /// Δv of a piece's nodes `first + 1 .. last` from the one above and, through their fills,
    /// from `last` (the head and `last` were solved in earlier rounds).
    fn substitute_piece(&mut self, fb: &mut Fb, c: H, [first, last, _, _]: Words) {
        let real = fb.types.real;
        let dv_above = fb.local(real, "dv_above");
        let lp = self.solve_ptr(fb, RHS, last, c);
        let dv_low = fb.load(lp);
        let fp = self.solve_ptr(fb, RHS, first, c);
        let dv = fb.load(fp);
        fb.store(dv_above, dv);
        let one = fb.u(1);
        let next = fb.add(first, one);
        fb.for_range(next, last, "link", |fb, j| {
            let rp = fb.load(dv_above);
            let dv = self.substitute_node(fb, j, c, None, rp, Some(dv_low));
            fb.store(dv_above, dv);
        });
    }

    /// A workgroup barrier when the solve's diagonal and rhs are in workgroup memory, else one
    /// for storage too (fills in `data` are ordered by the round that ends their writes).
    pub(super) fn solve_barrier(&self, fb: &mut Fb) {
        self.emit_solve_barrier(fb);
        self.sync.borrow_mut().passed(1);
    }

    fn emit_solve_barrier(&self, fb: &mut Fb) {
        if self.solve.is_some() { fb.workgroup_barrier() } else { fb.barrier() }
    }

    /// `data[off + node_slot(j, c)]`.
    fn node_value(&self, fb: &mut Fb, off: u32, j: H, c: H) -> H {
        let i = self.node_index(fb, off, j, c);
        fb.read(self.g.data, i)
    }

    /// Runs `body` for each child of node `j`, ascending or (`descending`) from the last.
    pub(super) fn children(
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

    /// `Δv_j = (rhs_j + g_j Δv_parent [+ w_j Δv_below]) / d_j` (just `rhs_j / d_j` at a root:
    /// `has_parent` false; the fill term with `low`, Δv below the piece), stored as the node's
    /// rhs; returns Δv_j.
    fn substitute_node(&mut self, fb: &mut Fb, j: H, c: H, has_parent: Option<H>, dv_parent: H, low: Option<H>) -> H {
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
        if let Some(dv_below) = low {
            let wp = self.fill_ptr(fb, j, c);
            let w = fb.load(wp);
            let wd = fb.mul(w, dv_below);
            add_to(fb, num, wd);
        }
        let n = fb.load(num);
        let d = fb.load(dp);
        let dv = fb.div(n, d);
        fb.store(rp, dv);
        dv
    }

    /// Pointer to element `i` of the cell's fill array (`layout::Fill`).
    fn fill_ptr(&self, fb: &mut Fb, i: H, c: H) -> H {
        let fill = self.ty.workgroup.as_ref().and_then(|w| w.fill).expect("split chains");
        match self.fill {
            Some(array) => fb.elem(array, i),
            None => {
                let len = fb.u(fill.len);
                let cl = fb.mul(c, len);
                let o = fb.u(fill.offset);
                let base = fb.add(o, cl);
                let at = fb.add(base, i);
                fb.elem(self.g.data, at)
            }
        }
    }
}

/// `schedule::pieces` on the GPU: the pieces of chain `head..end` cut every `piece` nodes
/// above its bottom node, and the first node of its bottom piece (the whole chain when
/// `piece` covers it).
fn pieces_of(fb: &mut Fb, head: H, end: H, piece: H) -> (H, H) {
    let one = fb.u(1);
    let len = fb.sub(end, head);
    let cut = fb.bin(B::Less, piece, len);
    let above = fb.sub(len, one);
    let p1 = fb.sub(piece, one);
    let up = fb.add(above, p1);
    let n = fb.div(up, piece);
    let n1 = fb.add(n, one);
    let count = fb.select(cut, n1, one);
    let last = fb.sub(end, one);
    (count, fb.select(cut, last, head))
}

/// `off + i`: an index into a table shared by the cells of a type.
fn shared_at(fb: &mut Fb, off: u32, i: H) -> H {
    let o = fb.u(off);
    fb.add(o, i)
}

/// `*local += x`.
pub(super) fn add_to(fb: &mut Fb, local: H, x: H) {
    let old = fb.load(local);
    let new = fb.add(old, x);
    fb.store(local, new);
}

/// One elimination into the row at `[dp, rp]` from the row below, carried in registers:
/// d −= f·g, rhs += f·rhs_below, stored in the row and carried on as the next row below.
/// Returns rhs_below.
fn eliminate_into([dp, rp]: [H; 2], factor: H, coupling: H, [d_carry, r_carry]: [H; 2], fb: &mut Fb) -> H {
    let fg = fb.mul(factor, coupling);
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
    rc
}
