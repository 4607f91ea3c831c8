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
//! 3. [`share_exps`]: exps whose arguments are a·u + b with the same u and bit-identical slope a
//!    (a family, as the rates of one gate: exp(−(v+40)/10), exp(−(v+35)/10)) →
//!    e = exp(a·u + b1) once and e · exp(b2 − b1) for the others, the factor folded; an exp of
//!    the opposite slope, −a·u + b2 (the other rate of a gate written as exp((v+38)/6)), is
//!    exp(b2 + b1) / e: a division in place of an exp.
//!
//! Each rewrite may change the last bits of a value (a rounded reciprocal, a rounded factor);
//! the NEURON reference cases stay within 1e-6 mV (`tests/it/fidelity.rs`). Two directions of
//! the issue need nothing here: integer powers with a constant exponent are already `Powi`
//! (square and multiply in every back end), and specialisation already folds every
//! per-placement constant (uniform parameters, dt, the temperature, what is computed from them).

use std::collections::HashMap;

use super::expr::{BinaryOp, Expr, ExprArena, ExprId, UnaryOp};
use super::kernel::{self, Kernel, Write};

/// The largest |b2 − b1| (|b2 + b1| for opposite slopes) within one exp family. The shared exp
/// is then within e^16 of each member (or of its reciprocal), so it overflows or underflows
/// only where the member is beyond 1e±300 already.
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

/// How an exp is computed from the shared exp e of its family.
#[derive(Copy, Clone)]
enum Member {
    /// Same slope: e · exp(shift).
    Times(f64),
    /// Opposite slope (as the two rates of a gate, exp(−(v+38)/6) and exp((v+38)/6)):
    /// exp(shift) / e.
    Over(f64),
}

/// An exp that other exps of its family are computed from, and its argument's form.
struct SharedExp {
    exp: ExprId,
    form: Affine,
}

/// For each exp that joins the family of an earlier one: that exp (the family's shared one)
/// and how the member follows from it. A family is a base and a slope up to its sign.
fn exp_members(a: &ExprArena) -> HashMap<ExprId, (ExprId, Member)> {
    let forms = affine_forms(a);
    // (base, |slope|) → the family's shared exps.
    let mut families: HashMap<(ExprId, u64), Vec<SharedExp>> = HashMap::new();
    let mut members = HashMap::new();
    for (id, e) in a.iter() {
        let Expr::Unary(UnaryOp::Exp, argument) = e else { continue };
        let form = forms[argument.0 as usize];
        let shared = families.entry((form.base, form.slope.abs().to_bits())).or_default();
        let member = shared.iter().find_map(|s| {
            let (member, shift) = if s.form.slope.to_bits() == form.slope.to_bits() {
                (Member::Times(form.intercept - s.form.intercept), form.intercept - s.form.intercept)
            } else {
                (Member::Over(form.intercept + s.form.intercept), form.intercept + s.form.intercept)
            };
            (shift.abs() <= FAMILY_SPAN).then_some((s.exp, member))
        });
        match member {
            Some(member) => {
                members.insert(id, member);
            }
            None => shared.push(SharedExp { exp: id, form }),
        }
    }
    members
}

/// Pass 3: each exp family computes one exp; the others are it times a constant factor, or
/// a constant factor over it.
fn share_exps(kernel: &Kernel) -> Kernel {
    let members = exp_members(&kernel.exprs);
    rebuild(kernel, |to, map, old, _| {
        let &(shared, member) = members.get(&old)?;
        let shared = map[shared.0 as usize];
        Some(match member {
            Member::Times(shift) => {
                let factor = to.constant_expr(super::math::exp(shift));
                multiply(to, factor, shared)
            }
            Member::Over(shift) => {
                let factor = to.constant_expr(super::math::exp(shift));
                to.div(factor, shared)
            }
        })
    })
}

#[cfg(test)]
mod tests;
