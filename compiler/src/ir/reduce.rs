//! Algebraic work reduction: a kernel rewritten to compute the same values with fewer
//! divisions and exponentials. `kernel::specialize` (and so `kernel::compact`) ends with it, so
//! the interpreter, the Cranelift JIT and the WGSL back end all execute the reduced kernel and
//! still agree with each other bit for bit. Valid for every mechanism; three passes over the
//! live expressions, each rebuilding the kernel in order:
//!
//! 1. Local rules, applied to every node a pass builds ([`simplify`]): a division by a constant
//!    becomes a product with its reciprocal, x / (c / w) becomes (x / c) · w (a time constant
//!    `tau = 1 / (q · s)` used as `-dt / tau` costs no division), constant factors are
//!    gathered: c1 · (c2 · w) → (c1 c2) · w, (−w) · c → (−c) · w, and a power with a constant
//!    exponent that is not a whole number is exp(c · ln x) ([`power`]).
//! 2. [`share_reciprocals`]: n ≥ 2 divisions by one denominator d → r = 1/d once and x · r
//!    each (one division and n products in place of n divisions).
//! 3. [`share_exps`]: exps whose arguments are a·u + b with the same u and slopes a equal up to
//!    their sign and a power of two 2^n, n ≤ 2 (a family, as hh's exp(−(v+65)/80) and
//!    exp(−(v+65)/20), or exp(−(v+40)/10) and exp(−(v+35)/10)) → one exp, the anchor
//!    e = exp(s·u + b) of the smallest |slope| s, and from it each member exp(±2^n·s·u + b2) as
//!    e^(2^n) · exp(b2 − 2^n·b) (same sign) or exp(b2 + 2^n·b) / e^(2^n) (opposite sign, the other
//!    rate of a gate written as exp((v+38)/6)): n squarings (e², e⁴ shared by the family) and a
//!    product or a division in place of an exp, the factor folded. An anchor that comes after a
//!    member is rebuilt ahead, at the first member.
//!
//! Each rewrite may change the last bits of a value (a rounded reciprocal, a rounded factor).
//! An exp family's member carries its anchor's relative error 2^n times: the anchor's argument
//! rounds differently from the member's (about |argument| ulps of the member either way), the
//! anchor's exp rounds (≤ 1 ulp, so 2^n after n squarings), the squarings add (2^n − 1)/2 ulps
//! between them, and the factor and its product one more: about |argument| + 1.5·2^n + 1 ulps,
//! at most |argument| + 7 (`reduce/tests.rs` checks 16 ulps across −160..160 mV).
//! [`MAX_SQUARINGS`] bounds 2^n by 4, and [`FAMILY_SPAN`] bounds the factor so that no shared
//! value overflows or underflows where its member does not.
//! The NEURON reference cases stay within 1e-6 mV (`tests/it/fidelity.rs`). Two directions of
//! the issue need nothing here: integer powers with a constant exponent are already `Powi`
//! (square and multiply in every back end), and specialisation already folds every
//! per-placement constant (uniform parameters, dt, the temperature, what is computed from them).

use std::collections::HashMap;

use super::expr::{BinaryOp, Expr, ExprArena, ExprId, UnaryOp};
use super::kernel::{self, Kernel, Write};

/// The largest |shift| of an exp family's constant factor exp(shift) (b2 − 2^n·b, or b2 + 2^n·b
/// for opposite slopes). The shared power e^(2^n) is then within e^16 of each member (or of its
/// reciprocal), and e, e², … lie between 1 and it, so none overflows or underflows where the
/// member is not beyond 1e±300 already.
const FAMILY_SPAN: f64 = 16.0;

/// The kernel with fewer divisions and exps (the passes above, in order).
pub fn reduce(kernel: &Kernel) -> Kernel {
    let simplified = rebuild(kernel, |_, _, _, _| None);
    let reciprocals = share_reciprocals(&simplified);
    share_exps(&reciprocals)
}

/// Rebuilds the kernel's expressions in order into a fresh arena, each node from its rebuilt
/// operands by `rewrite` (given the arena, the old-to-new map so far, the old handle and the
/// node with new operands) or, where it returns `None`, by [`simplify`]. Expressions the writes
/// no longer reach are dropped.
fn rebuild(
    kernel: &Kernel,
    mut rewrite: impl FnMut(&mut ExprArena, &[ExprId], ExprId, Expr) -> Option<ExprId>,
) -> Kernel {
    let mut to = ExprArena::new();
    let mut map: Vec<ExprId> = Vec::with_capacity(kernel.exprs.len());
    for (id, e) in kernel.exprs.iter() {
        let mapped = e.map_operands(|operand| map[operand.0 as usize]);
        let new = match rewrite(&mut to, &map, id, mapped) {
            Some(new) => new,
            None => simplify(&mut to, mapped),
        };
        map.push(new);
    }
    let writes = kernel.writes.iter().map(|w| Write { target: w.target, value: map[w.value.0 as usize] }).collect();
    kernel::fold_leaves(&Kernel { stage: kernel.stage, exprs: to, writes }, &|_| None)
}

/// Adds `e` (operands in `to`) with the local rules of pass 1.
fn simplify(to: &mut ExprArena, e: Expr) -> ExprId {
    match e {
        Expr::Binary(BinaryOp::Div, x, y) => divide(to, x, y),
        Expr::Binary(BinaryOp::Mul, x, y) => multiply(to, x, y),
        Expr::Binary(BinaryOp::Pow, x, y) => power(to, x, y),
        Expr::Unary(UnaryOp::Neg, x) => negate(to, x),
        e => to.build(e),
    }
}

/// x / y, as a product where y is a constant with a normal reciprocal, and x / (c / w) as
/// (x / c) · w.
fn divide(to: &mut ExprArena, x: ExprId, y: ExprId) -> ExprId {
    match (to.constant(x), to.constant(y)) {
        (Some(_), Some(_)) => return to.div(x, y),
        (None, Some(c)) if (1.0 / c).is_normal() => {
            let reciprocal = to.constant_expr(1.0 / c);
            return multiply(to, reciprocal, x);
        }
        _ => {}
    }
    if let Expr::Binary(BinaryOp::Div, c, w) = to.get(y)
        && to.constant(c).is_some()
    {
        let quotient = divide(to, x, c);
        return multiply(to, quotient, w);
    }
    to.div(x, y)
}

/// x · y with constant factors gathered into one, written first.
fn multiply(to: &mut ExprArena, x: ExprId, y: ExprId) -> ExprId {
    let (c, w) = match (to.constant(x), to.constant(y)) {
        (Some(c), None) => (c, y),
        (None, Some(c)) => (c, x),
        _ => return to.mul(x, y),
    };
    match to.get(w) {
        Expr::Unary(UnaryOp::Neg, inner) => {
            let c = to.constant_expr(-c);
            return multiply(to, c, inner);
        }
        Expr::Binary(BinaryOp::Mul, p, q) => {
            let inner = to.constant(p).map(|k| (k, q)).or_else(|| to.constant(q).map(|k| (k, p)));
            if let Some((k, rest)) = inner
                && (c * k).is_normal()
            {
                let product = to.constant_expr(c * k);
                return to.mul(product, rest);
            }
        }
        _ => {}
    }
    let c = to.constant_expr(c);
    to.mul(c, w)
}

/// x^c with a constant exponent that is not a whole number, x not a constant, as
/// exp(c · ln x): the exp then runs with the kernel's others (in batches on the CPU), and a
/// log costs a fraction of a pow (SK_E2's (0.00043/cai)^4.8 was 8 % of the l5pc cell's run).
/// The same value for every x but −∞: NaN for x < 0 (ln x is NaN), 0 for x = ±0 and c > 0,
/// ∞ for c < 0, ∞ or 0 for x = ∞; for x = −∞ (which only a diverged run computes) NaN where
/// pow gives ∞ or 0. The relative error grows to about |c · ln x| ulps (pow's is
/// one): ten for SK_E2's cai, 1e-13 where the result nears the limits of f64.
fn power(to: &mut ExprArena, x: ExprId, y: ExprId) -> ExprId {
    match (to.constant(x), to.constant(y)) {
        (None, Some(c)) if c.is_finite() && c.fract() != 0.0 => {
            let log = to.unary(UnaryOp::Log, x);
            let c = to.constant_expr(c);
            let exponent = multiply(to, c, log);
            to.unary(UnaryOp::Exp, exponent)
        }
        _ => to.binary(BinaryOp::Pow, x, y),
    }
}

/// −x, folded into a constant factor of x where it has one.
fn negate(to: &mut ExprArena, x: ExprId) -> ExprId {
    if let Expr::Binary(BinaryOp::Mul, c, w) = to.get(x)
        && let Some(k) = to.constant(c)
    {
        let minus = to.constant_expr(-k);
        return to.mul(minus, w);
    }
    to.neg(x)
}

/// Pass 2: every non-constant denominator of at least two divisions is inverted once.
fn share_reciprocals(kernel: &Kernel) -> Kernel {
    let mut divisions: HashMap<ExprId, u32> = HashMap::new();
    for (_, e) in kernel.exprs.iter() {
        if let Expr::Binary(BinaryOp::Div, _, d) = e
            && kernel.exprs.constant(d).is_none()
        {
            *divisions.entry(d).or_default() += 1;
        }
    }
    rebuild(kernel, |to, _, old, mapped| {
        let Expr::Binary(BinaryOp::Div, _, old_denominator) = kernel.exprs.get(old) else { return None };
        let Expr::Binary(_, numerator, denominator) = mapped else { return None };
        if divisions.get(&old_denominator).copied().unwrap_or(0) < 2 {
            return None;
        }
        let one = to.constant_expr(1.0);
        let reciprocal = to.div(one, denominator);
        Some(multiply(to, numerator, reciprocal))
    })
}

/// `slope · base + intercept`: how a node depends on another through constant shifts and
/// scalings (every node is `1 · itself + 0`).
#[derive(Copy, Clone, Debug)]
struct Affine {
    base: ExprId,
    slope: f64,
    intercept: f64,
}

impl Affine {
    fn scaled(self, k: f64) -> Affine {
        Affine { base: self.base, slope: self.slope * k, intercept: self.intercept * k }
    }

    fn shifted(self, c: f64) -> Affine {
        Affine { intercept: self.intercept + c, ..self }
    }
}

/// The affine form of every node of `a`, in order.
fn affine_forms(a: &ExprArena) -> Vec<Affine> {
    let mut forms: Vec<Affine> = Vec::with_capacity(a.len());
    for (id, e) in a.iter() {
        let of = |x: ExprId| forms[x.0 as usize];
        let form = match e {
            Expr::Unary(UnaryOp::Neg, x) => Some(of(x).scaled(-1.0)),
            Expr::Binary(op, x, y) => match (op, a.constant(x), a.constant(y)) {
                (BinaryOp::Add, Some(c), None) => Some(of(y).shifted(c)),
                (BinaryOp::Add, None, Some(c)) => Some(of(x).shifted(c)),
                (BinaryOp::Sub, None, Some(c)) => Some(of(x).shifted(-c)),
                (BinaryOp::Sub, Some(c), None) => Some(of(y).scaled(-1.0).shifted(c)),
                (BinaryOp::Mul, Some(c), None) => Some(of(y).scaled(c)),
                (BinaryOp::Mul, None, Some(c)) => Some(of(x).scaled(c)),
                _ => None,
            },
            _ => None,
        };
        forms.push(form.unwrap_or(Affine { base: id, slope: 1.0, intercept: 0.0 }));
    }
    forms
}

/// The most squarings of a shared exp: a member's |slope| is at most 2^2 = 4 times its anchor's.
/// Each squaring doubles the relative error the shared exp carries. With 3 (hh's
/// exp(−(v+40)/10) as 12.18 · exp(−(v+65)/80)^8) the error of the vtrap quotients
/// (v+40)/(exp(…) − 1) near 0 moved hh's f32 GPU gradient 5e-3 from the CPU's (1e-5 with 2).
const MAX_SQUARINGS: u32 = 2;

/// How a member exp follows from e^(2^n), n squarings of its family's anchor e.
#[derive(Copy, Clone)]
enum Relation {
    /// Same sign of slope: e^(2^n) · exp(shift).
    Times(f64),
    /// Opposite sign (as the two rates of a gate, exp(−(v+38)/6) and exp((v+38)/6)):
    /// exp(shift) / e^(2^n).
    Over(f64),
}

/// An exp computed from its family's anchor: exp(±2^n · s · u + b2) from e = exp(s · u + b).
#[derive(Copy, Clone)]
struct Member {
    anchor: ExprId,
    /// n: the member's |slope| is 2^n times the anchor's.
    squarings: u32,
    relation: Relation,
}

/// An exp of a family, with its slope's binary exponent (the family fixes the significand).
#[derive(Copy, Clone)]
struct FamilyExp {
    exponent: i32,
    exp: ExprId,
    form: Affine,
}

/// A slope's significand and binary exponent: slopes whose significands agree differ by a power
/// of two. A slope that is not normal gets a significand of its own (bit 63 set, which no |slope|
/// has) and joins only exps of the same |slope|.
fn significand_and_exponent(slope: f64) -> (u64, i32) {
    const SIGNIFICAND: u64 = (1 << 52) - 1;
    let bits = slope.abs().to_bits();
    if !slope.is_normal() {
        return (bits | 1 << 63, 0);
    }
    (bits & SIGNIFICAND, (bits >> 52) as i32)
}

/// For each exp that is computed from another (its family's anchor): how. A family is a base
/// and a slope up to its sign and a power of two; its exps are taken in order of |slope| (then of
/// id), so an anchor is always the smallest |slope| of those it serves (squaring up, never roots).
fn exp_members(a: &ExprArena) -> HashMap<ExprId, Member> {
    let forms = affine_forms(a);
    // (base, significand of |slope|) → the family's exps.
    let mut families: HashMap<(ExprId, u64), Vec<FamilyExp>> = HashMap::new();
    for (id, e) in a.iter() {
        let Expr::Unary(UnaryOp::Exp, argument) = e else { continue };
        let form = forms[argument.0 as usize];
        let (significand, exponent) = significand_and_exponent(form.slope);
        families.entry((form.base, significand)).or_default().push(FamilyExp { exponent, exp: id, form });
    }
    let mut members = HashMap::new();
    for mut family in families.into_values() {
        family.sort_by_key(|f| (f.exponent, f.exp));
        let mut anchors: Vec<FamilyExp> = Vec::new();
        for exp in family {
            match anchors.iter().find_map(|anchor| joined(anchor, &exp)) {
                Some(member) => {
                    members.insert(exp.exp, member);
                }
                None => anchors.push(exp),
            }
        }
    }
    members
}

/// How `exp` follows from `anchor` (of its family, |slope| no larger), if it is within
/// [`MAX_SQUARINGS`] and its constant factor within [`FAMILY_SPAN`].
fn joined(anchor: &FamilyExp, exp: &FamilyExp) -> Option<Member> {
    let squarings = u32::try_from(exp.exponent - anchor.exponent).ok()?;
    if squarings > MAX_SQUARINGS {
        return None;
    }
    // e^(2^n) = exp(2^n · s · u + 2^n · b): the member's argument is ± that plus the shift.
    let intercept = anchor.form.intercept * f64::from(1u32 << squarings);
    let relation = if exp.form.slope.is_sign_negative() == anchor.form.slope.is_sign_negative() {
        Relation::Times(exp.form.intercept - intercept)
    } else {
        Relation::Over(exp.form.intercept + intercept)
    };
    let (Relation::Times(shift) | Relation::Over(shift)) = relation;
    (shift.abs() <= FAMILY_SPAN).then_some(Member { anchor: anchor.exp, squarings, relation })
}

/// Pass 3: each exp family computes one exp (its anchor); the others are a power of it times a
/// constant factor, or a constant factor over such a power. An anchor that comes after one of its
/// members is rebuilt ahead, at the first member, and stands for the original.
fn share_exps(kernel: &Kernel) -> Kernel {
    let members = exp_members(&kernel.exprs);
    // Anchors built ahead of their place: the original exp → its early rebuild.
    let mut early: HashMap<ExprId, ExprId> = HashMap::new();
    rebuild(kernel, |to, map, old, _| {
        if let Some(&anchor) = early.get(&old) {
            return Some(anchor);
        }
        let member = members.get(&old)?;
        let anchor = match map.get(member.anchor.0 as usize) {
            Some(&anchor) => anchor,
            None => *early.entry(member.anchor).or_insert_with(|| rebuild_ahead(&kernel.exprs, to, map, member.anchor)),
        };
        Some(member_of(to, anchor, member))
    })
}

/// Node `id` of `from` rebuilt (with [`simplify`]) before its place: its operands not rebuilt yet
/// first. The anchor's argument is rebuilt as written, slope · (u + c) say, not from its affine
/// form: s · u + s · c cancels where the argument is near 0 (badly in f32). Rebuilding the same
/// node at its place later gives the same handle, the arena being hash-consed.
fn rebuild_ahead(from: &ExprArena, to: &mut ExprArena, map: &[ExprId], id: ExprId) -> ExprId {
    if let Some(&done) = map.get(id.0 as usize) {
        return done;
    }
    let mapped = from.get(id).map_operands(|operand| rebuild_ahead(from, to, map, operand));
    simplify(to, mapped)
}

/// The member's value from its (rebuilt) anchor: n squarings (shared with the family's other
/// members of that power, the arena being hash-consed), then the constant factor.
fn member_of(to: &mut ExprArena, anchor: ExprId, member: &Member) -> ExprId {
    let power = (0..member.squarings).fold(anchor, |p, _| to.mul(p, p));
    match member.relation {
        Relation::Times(shift) => {
            let factor = to.constant_expr(super::math::exp(shift));
            multiply(to, factor, power)
        }
        Relation::Over(shift) => {
            let factor = to.constant_expr(super::math::exp(shift));
            to.div(factor, power)
        }
    }
}

#[cfg(test)]
mod tests;
