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
use crate::gpu::layout::{BARRIER_AFTER, NO_PARENT, TypeLayout};
use crate::gpu::schedule::{ELIMINATE, REDUCE, SUBSTITUTE, SUBSTITUTE_HEADS};

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
    fn rounds(&mut self, fb: &mut Fb, c: H) {
        let g = self.g;
        let lane = self.lane.expect("a workgroup type");
        let wg = self.ty.workgroup.as_ref().expect("a workgroup type");
        let (rounds, split) = (wg.rounds, wg.fill.is_some());
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
            let b = fb.u(BARRIER_AFTER);
            let flag = fb.bin(B::And, flags, b);
            let after = fb.bin(B::NotEqual, flag, zero);
            fb.if_(after, |fb| self.emit_solve_barrier(fb));
        });
        // Emitted once, run after every round whose flag asks.
        self.sync.borrow_mut().passed(wg.round_barriers);
    }

    /// One task of kind `kind`: without split chains only whole chains are eliminated and
    /// substituted.
    fn task(&mut self, fb: &mut Fb, c: H, kind: H, words: Words, split: bool) {
        let is = |fb: &mut Fb, k: u32| {
            let k = fb.u(k);
            fb.bin(B::Equal, kind, k)
        };
        let eliminate = is(fb, ELIMINATE);
        if !split {
            fb.if_(eliminate, |fb| self.eliminate(fb, c, words, false));
            let substitute = fb.not(eliminate);
            return fb.if_(substitute, |fb| self.substitute(fb, c, words, false));
        }
        let substitute = is(fb, SUBSTITUTE);
        let reduce = is(fb, REDUCE);
        let heads = is(fb, SUBSTITUTE_HEADS);
        fb.if_(eliminate, |fb| self.eliminate(fb, c, words, true));
        fb.if_(reduce, |fb| self.reduce(fb, c, words));
        fb.if_(heads, |fb| self.substitute_heads(fb, c, words));
        fb.if_(substitute, |fb| self.substitute(fb, c, words, true));
    }

    /// Elimination of nodes `first..last` from the bottom up: the bottom node takes the rows of
    /// all its children (heads of other chains), highest first; every other node has one child,
    /// the next node, whose row is carried in registers. With `split`, a piece above another
    /// (`below`) starts instead from its bottom's own row and carries its fill to `below`
    /// (`schedule`): the fill of each node, the piece head's, and the shares of `below`.
    fn eliminate(&mut self, fb: &mut Fb, c: H, [first, last, below, slot]: Words, split: bool) {
        let real = fb.types.real;
        let wg = self.ty.workgroup.as_ref().expect("a workgroup type");
        let (child_start, children) = (wg.child_start, wg.children);
        let one = fb.u(1);
        let len = fb.sub(last, first);
        let bottom = fb.sub(last, one);
        let (d_carry, r_carry) = (fb.local(real, "d_below"), fb.local(real, "r_below"));
        let gather = |this: &mut Self, fb: &mut Fb| {
            let (db, rb) = this.gather(fb, bottom, c, child_start, children);
            fb.store(d_carry, db);
            fb.store(r_carry, rb);
        };
        let fill = split.then(|| {
            let w = fb.local(real, "fill");
            let z = fb.f(0.0);
            fb.store(w, z);
            let none = fb.u(NO_PARENT);
            let has_below = fb.bin(B::NotEqual, below, none);
            fb.if_(has_below, |fb| {
                let [dp, rp] = [DIAGONAL, RHS].map(|a| self.solve_ptr(fb, a, bottom, c));
                let db = fb.load(dp);
                fb.store(d_carry, db);
                let rb = fb.load(rp);
                fb.store(r_carry, rb);
                let gb = self.axial_of(fb, below);
                fb.store(w, gb);
            });
            let bottom_piece = fb.not(has_below);
            fb.if_(bottom_piece, |fb| gather(self, fb));
            let shares = [fb.local(real, "share_d"), fb.local(real, "share_r")];
            for s in shares {
                fb.store(s, z);
            }
            (w, shares, has_below)
        });
        if fill.is_none() {
            gather(self, fb);
        }
        fb.for_range(one, len, "link", |fb, n| {
            // Chains are runs of consecutive nodes: no node list to read.
            let j = fb.sub(bottom, n);
            let child = fb.add(j, one);
            let gc = self.axial_of(fb, child);
            let [dp, rp] = [DIAGONAL, RHS].map(|w| self.solve_ptr(fb, w, j, c));
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
            if let Some((w, [share_d, share_r], _)) = fill {
                // The eliminated child's fill to `below`, its shares of `below`, and the fill
                // it passes to `j`.
                let wc = fb.load(w);
                let fp = self.fill_ptr(fb, child, c);
                fb.store(fp, wc);
                let fl = fb.div(wc, dc);
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
        if let Some((w, shares, has_below)) = fill {
            let wf = fb.load(w);
            let fp = self.fill_ptr(fb, first, c);
            fb.store(fp, wf);
            fb.if_(has_below, |fb| {
                for (i, share) in shares.into_iter().enumerate() {
                    let at = self.share_index(fb, slot, i as u32);
                    let p = self.fill_ptr(fb, at, c);
                    let x = fb.load(share);
                    fb.store(p, x);
                }
            });
        }
    }

    /// The index in the fill array of the share `i` (0: diagonal, 1: rhs) kept in `slot`.
    fn share_index(&self, fb: &mut Fb, slot: H, i: u32) -> H {
        let two = fb.u(2);
        let s2 = fb.mul(slot, two);
        let base = fb.u(self.ty.nnodes + i);
        fb.add(base, s2)
    }

    /// The reduced system of a split chain (its heads, coupled by their fills), eliminated
    /// from the last head up; each head but the first takes the shares the piece above left.
    fn reduce(&mut self, fb: &mut Fb, c: H, [head, end, piece, slot]: Words) {
        let real = fb.types.real;
        let (d_carry, r_carry) = (fb.local(real, "d_head"), fb.local(real, "r_head"));
        let one = fb.u(1);
        let pieces = pieces_of(fb, head, end, piece);
        // Head k (k ≥ 1) takes the shares of piece k - 1, then is stored.
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
        let last = fb.sub(pieces, one);
        let a_last = head_of(fb, head, piece, last);
        let [dp, rp] = [DIAGONAL, RHS].map(|w| self.solve_ptr(fb, w, a_last, c));
        let d0 = fb.load(dp);
        fb.store(d_carry, d0);
        let r0 = fb.load(rp);
        fb.store(r_carry, r0);
        add_shares(self, fb, last, a_last);
        fb.for_range(one, pieces, "head", |fb, i| {
            let k = fb.sub(last, i);
            let a = head_of(fb, head, piece, k);
            let wp = self.fill_ptr(fb, a, c);
            let w = fb.load(wp);
            let [dp, rp] = [DIAGONAL, RHS].map(|x| self.solve_ptr(fb, x, a, c));
            let dc = fb.load(d_carry);
            let factor = fb.div(w, dc);
            let fw = fb.mul(factor, w);
            let d0 = fb.load(dp);
            let dn = fb.sub(d0, fw);
            let rc = fb.load(r_carry);
            let fr = fb.mul(factor, rc);
            let r0 = fb.load(rp);
            let rn = fb.add(r0, fr);
            fb.store(dp, dn);
            fb.store(rp, rn);
            fb.store(d_carry, dn);
            fb.store(r_carry, rn);
            let zero = fb.u(0);
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

    /// Δv of a split chain's heads: the chain's head from its parent, then each from the one
    /// above through its fill.
    fn substitute_heads(&mut self, fb: &mut Fb, c: H, [head, end, piece, _]: Words) {
        let real = fb.types.real;
        let dv_above = fb.local(real, "dv_head");
        let dv = self.head_from_parent(fb, c, head);
        fb.store(dv_above, dv);
        let one = fb.u(1);
        let pieces = pieces_of(fb, head, end, piece);
        fb.for_range(one, pieces, "head", |fb, k| {
            let a = head_of(fb, head, piece, k);
            let above = fb.sub(a, piece);
            let wp = self.fill_ptr(fb, above, c);
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
        });
    }

    /// Substitution of nodes `first..last` from the head down (the head's parent, or with
    /// split chains the head itself, solved in an earlier round): each node's Δv replaces its
    /// rhs. Only workgroup memory is on this serial path.
    fn substitute(&mut self, fb: &mut Fb, c: H, [first, last, below, from_parent]: Words, split: bool) {
        let real = fb.types.real;
        let dv_above = fb.local(real, "dv_above");
        let low = split.then(|| {
            let dv_low = fb.local(real, "dv_below");
            let z = fb.f(0.0);
            fb.store(dv_low, z);
            let none = fb.u(NO_PARENT);
            let has_below = fb.bin(B::NotEqual, below, none);
            fb.if_(has_below, |fb| {
                let p = self.solve_ptr(fb, RHS, below, c);
                let x = fb.load(p);
                fb.store(dv_low, x);
            });
            let zero = fb.u(0);
            let whole = fb.bin(B::NotEqual, from_parent, zero);
            fb.if_(whole, |fb| {
                let dv = self.head_from_parent(fb, c, first);
                fb.store(dv_above, dv);
            });
            let solved = fb.not(whole);
            fb.if_(solved, |fb| {
                let p = self.solve_ptr(fb, RHS, first, c);
                let dv = fb.load(p);
                fb.store(dv_above, dv);
            });
            (has_below, dv_low)
        });
        if low.is_none() {
            let dv = self.head_from_parent(fb, c, first);
            fb.store(dv_above, dv);
        }
        let one = fb.u(1);
        let next = fb.add(first, one);
        fb.for_range(next, last, "link", |fb, j| {
            let rp = fb.load(dv_above);
            let low = low.map(|(has, dv_low)| (has, fb.load(dv_low)));
            let dv = self.substitute_node(fb, j, c, None, rp, low);
            fb.store(dv_above, dv);
        });
    }

    /// A workgroup barrier when the solve's arrays are all in workgroup memory, else one for
    /// storage too.
    fn solve_barrier(&self, fb: &mut Fb) {
        self.emit_solve_barrier(fb);
        self.sync.borrow_mut().passed(1);
    }

    fn emit_solve_barrier(&self, fb: &mut Fb) {
        let fill_in_data = self.ty.workgroup.as_ref().and_then(|w| w.fill).is_some_and(|f| !f.local);
        if self.solve.is_some() && !fill_in_data { fb.workgroup_barrier() } else { fb.barrier() }
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
    /// `has_parent` false; the fill term where `low` = (has a node below, its Δv) says so),
    /// stored as the node's rhs; returns Δv_j.
    fn substitute_node(
        &mut self,
        fb: &mut Fb,
        j: H,
        c: H,
        has_parent: Option<H>,
        dv_parent: H,
        low: Option<(H, H)>,
    ) -> H {
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
        if let Some((has_below, dv_below)) = low {
            fb.if_(has_below, |fb| {
                let wp = self.fill_ptr(fb, j, c);
                let w = fb.load(wp);
                let wd = fb.mul(w, dv_below);
                add_to(fb, num, wd);
            });
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

/// The pieces of a chain `head..end` of `piece` nodes each: ⌈(end - head) / piece⌉.
fn pieces_of(fb: &mut Fb, head: H, end: H, piece: H) -> H {
    let len = fb.sub(end, head);
    let one = fb.u(1);
    let p1 = fb.sub(piece, one);
    let up = fb.add(len, p1);
    fb.div(up, piece)
}

/// The head of piece `k`: `head + k piece`.
fn head_of(fb: &mut Fb, head: H, piece: H, k: H) -> H {
    let kp = fb.mul(k, piece);
    fb.add(head, kp)
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
