use super::*;
use crate::ir::expr::Builtin;
use crate::ir::kernel::{Stage, Target};

/// A kernel writing `values` to states 0, 1, … (compacted, not reduced).
fn kernel_of(exprs: ExprArena, values: &[ExprId]) -> Kernel {
    let writes = values.iter().enumerate().map(|(i, v)| Write { target: Target::State(i as u32), value: *v }).collect();
    kernel::fold_leaves(&Kernel { stage: Stage::Advance, exprs, writes }, &|_| None)
}

fn count(k: &Kernel, what: fn(Expr) -> bool) -> usize {
    k.exprs.iter().filter(|(_, e)| what(*e)).count()
}

fn is_exp(e: Expr) -> bool {
    matches!(e, Expr::Unary(UnaryOp::Exp, _))
}

fn is_division(e: Expr) -> bool {
    matches!(e, Expr::Binary(BinaryOp::Div, ..))
}

/// The written values with `v` and the states given.
fn written(k: &Kernel, v: f64, states: &[f64]) -> Vec<f64> {
    let leaf = |e: Expr| match e {
        Expr::Builtin(Builtin::V) => v,
        Expr::State(i) => states[i as usize],
        other => panic!("unexpected leaf {other:?}"),
    };
    k.writes.iter().map(|w| k.exprs.eval(w.value, &leaf)).collect()
}

/// The reduced kernel computes the original's values to `ulps` units in the last place, for
/// voltages across and beyond the physiological range (an exp of an argument rounded
/// differently differs by up to |argument| ulps, about 20 here).
fn assert_same_values(original: &Kernel, reduced: &Kernel, states: &[f64], ulps: f64) {
    assert_eq!(original.writes.len(), reduced.writes.len());
    for step in 0..=64 {
        let v = -160.0 + 5.0 * f64::from(step);
        let (want, got) = (written(original, v, states), written(reduced, v, states));
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= ulps * f64::EPSILON * w.abs(), "v = {v}: {g} vs {w}");
        }
    }
}

/// exp(−(v + offset)/scale), written as hh writes it.
fn rate_exp(a: &mut ExprArena, offset: f64, scale: f64) -> ExprId {
    let v = a.leaf(Expr::Builtin(Builtin::V));
    let c = a.constant_expr(offset);
    let shifted = a.add(v, c);
    let minus = a.neg(shifted);
    let s = a.constant_expr(scale);
    let argument = a.div(minus, s);
    a.unary(UnaryOp::Exp, argument)
}

#[test]
fn exps_of_one_family_share_one_exp() {
    let mut a = ExprArena::new();
    // Three of slope −1/10 (hh's alpha_m, beta_h, alpha_n) and one of slope −1/18 (beta_m).
    let rates = [rate_exp(&mut a, 40.0, 10.0), rate_exp(&mut a, 35.0, 10.0), rate_exp(&mut a, 55.0, 10.0)];
    let other = rate_exp(&mut a, 65.0, 18.0);
    let k = kernel_of(a, &[rates[0], rates[1], rates[2], other]);
    let reduced = reduce(&k);
    assert_eq!(count(&k, is_exp), 4);
    assert_eq!(count(&reduced, is_exp), 2);
    assert_same_values(&k, &reduced, &[], 64.0);
}

#[test]
fn exps_of_opposite_slopes_share_one_exp() {
    let mut a = ExprArena::new();
    // NaTa_t's two rates of one gate: exp(−(v + 38)/6) and exp(−(−v − 38)/6), and a shifted
    // one, exp((v − 30)/6).
    let forward = rate_exp(&mut a, 38.0, 6.0);
    let v = a.leaf(Expr::Builtin(Builtin::V));
    let minus_v = a.neg(v);
    let c = a.constant_expr(38.0);
    let shifted = a.sub(minus_v, c);
    let minus = a.neg(shifted);
    let six = a.constant_expr(6.0);
    let argument = a.div(minus, six);
    let backward = a.unary(UnaryOp::Exp, argument);
    let far = rate_exp(&mut a, -30.0, -6.0);
    let k = kernel_of(a, &[forward, backward, far]);
    let reduced = reduce(&k);
    assert_eq!(count(&k, is_exp), 3);
    assert_eq!(count(&reduced, is_exp), 1, "{:?}", reduced.exprs);
    assert_same_values(&k, &reduced, &[], 64.0);
}

fn is_square(e: Expr) -> bool {
    matches!(e, Expr::Binary(BinaryOp::Mul, x, y) if x == y)
}

/// The number of exps of the reduced kernel writing `rates`.
fn exps_after_reduce(a: ExprArena, rates: &[ExprId]) -> usize {
    count(&reduce(&kernel_of(a, rates)), is_exp)
}

#[test]
fn exps_whose_slopes_differ_by_a_power_of_two_share_one_exp() {
    let mut a = ExprArena::new();
    // hh's rates in hh's order: slopes −1/10 (twice, a family of their own: 8 · (−1/80) is
    // beyond the squarings allowed), −1/20 = 4 · (−1/80), −1/80 (the anchor, after its member),
    // and an opposite one, exp((v + 65)/40), 2 · (1/80) with the other sign.
    let rates = [
        rate_exp(&mut a, 40.0, 10.0),
        rate_exp(&mut a, 65.0, 20.0),
        rate_exp(&mut a, 35.0, 10.0),
        rate_exp(&mut a, 65.0, 80.0),
        rate_exp(&mut a, 65.0, -40.0),
    ];
    let k = kernel_of(a, &rates);
    let reduced = reduce(&k);
    assert_eq!(count(&k, is_exp), 5);
    assert_eq!(count(&reduced, is_exp), 2, "{:?}", reduced.exprs);
    // e² and e⁴ once each, shared by the members of those powers.
    assert_eq!(count(&reduced, is_square), 2, "{:?}", reduced.exprs);
    // Within the bound of the module doc, |argument| + 7 ulps (6 measured).
    assert_same_values(&k, &reduced, &[], 16.0);
}

#[test]
fn an_anchor_after_its_member_is_built_at_the_member() {
    let mut a = ExprArena::new();
    let member = rate_exp(&mut a, 40.0, 10.0);
    let x = a.leaf(Expr::State(0));
    let unrelated = a.mul(x, member);
    let anchor = rate_exp(&mut a, 40.0, 40.0);
    let k = kernel_of(a, &[unrelated, anchor, member]);
    let reduced = reduce(&k);
    assert_eq!(count(&reduced, is_exp), 1, "{:?}", reduced.exprs);
    // The one exp comes before every use of it, the member's included.
    let (exp, _) = reduced.exprs.iter().find(|(_, e)| is_exp(*e)).unwrap();
    let first_use = reduced.exprs.iter().find(|(_, e)| e.operands().any(|o| o == exp)).unwrap();
    assert!(is_square(first_use.1), "{:?}", reduced.exprs);
    assert_same_values(&k, &reduced, &[0.3], 16.0);
}

#[test]
fn exps_whose_slopes_differ_by_8_or_a_non_power_are_not_shared() {
    // n = 3 (−1/10 and −1/80, no shift between them) would multiply the error by 8.
    let mut a = ExprArena::new();
    let rates = [rate_exp(&mut a, 40.0, 10.0), rate_exp(&mut a, 40.0, 80.0)];
    assert_eq!(exps_after_reduce(a, &rates), 2);
    // −1/18 and −1/20: a ratio of 10/9.
    let mut a = ExprArena::new();
    let rates = [rate_exp(&mut a, 65.0, 18.0), rate_exp(&mut a, 65.0, 20.0)];
    assert_eq!(exps_after_reduce(a, &rates), 2);
}

#[test]
fn a_power_of_the_anchor_is_shared_only_within_the_span() {
    // exp(−(v + 65)/40)^4 = exp(−(v + 65)/10): the factor of exp(−(v + offset)/10) is
    // exp(6.5 − offset/10), e^15.5 at −90 mV, e^16.5 at −100 mV.
    for (offset, exps) in [(-90.0, 1), (-100.0, 2)] {
        let mut a = ExprArena::new();
        let rates = [rate_exp(&mut a, 65.0, 40.0), rate_exp(&mut a, offset, 10.0)];
        let k = kernel_of(a, &rates);
        let reduced = reduce(&k);
        assert_eq!(count(&reduced, is_exp), exps, "offset {offset}");
        assert_same_values(&k, &reduced, &[], 16.0);
    }
}

#[test]
fn exps_of_one_slope_far_apart_are_not_shared() {
    let mut a = ExprArena::new();
    let near = rate_exp(&mut a, 0.0, 1.0);
    let far = rate_exp(&mut a, 20.0, 1.0);
    let k = kernel_of(a, &[near, far]);
    assert_eq!(count(&reduce(&k), is_exp), 2);
}

#[test]
fn divisions_by_one_denominator_share_one_reciprocal() {
    let mut a = ExprArena::new();
    // inf = alpha / (alpha + beta), 1 / (alpha + beta), and a third x / (alpha + beta).
    let (alpha, beta) = (rate_exp(&mut a, 40.0, 10.0), rate_exp(&mut a, 65.0, 18.0));
    let sum = a.add(alpha, beta);
    let inf = a.div(alpha, sum);
    let one = a.constant_expr(1.0);
    let inverse = a.div(one, sum);
    let x = a.leaf(Expr::State(0));
    let third = a.div(x, sum);
    let k = kernel_of(a, &[inf, inverse, third]);
    let reduced = reduce(&k);
    assert_eq!(count(&k, is_division), 5);
    assert_eq!(count(&reduced, is_division), 1);
    assert_same_values(&k, &reduced, &[0.3], 64.0);
}

#[test]
fn constant_divisors_and_a_reciprocal_time_constant_need_no_division() {
    let mut a = ExprArena::new();
    // exp(-dt / tau) with tau = 1 / (q10 · (alpha + beta)), dt and q10 folded.
    let (alpha, beta) = (a.leaf(Expr::State(0)), a.leaf(Expr::State(1)));
    let sum = a.add(alpha, beta);
    let q10 = a.constant_expr(3.0_f64.powf(0.37));
    let rate = a.mul(q10, sum);
    let one = a.constant_expr(1.0);
    let tau = a.div(one, rate);
    let minus_dt = a.constant_expr(-0.025);
    let ratio = a.div(minus_dt, tau);
    let decay = a.unary(UnaryOp::Exp, ratio);
    // −(v + 40) / 10 / 2: one product by −0.05.
    let v = a.leaf(Expr::Builtin(Builtin::V));
    let c = a.constant_expr(40.0);
    let shifted = a.add(v, c);
    let minus = a.neg(shifted);
    let ten = a.constant_expr(10.0);
    let tenth = a.div(minus, ten);
    let two = a.constant_expr(2.0);
    let half = a.div(tenth, two);
    let k = kernel_of(a, &[decay, half]);
    let reduced = reduce(&k);
    assert_eq!(count(&k, is_division), 4);
    assert_eq!(count(&reduced, is_division), 0);
    let products = |k: &Kernel| count(k, |e| matches!(e, Expr::Binary(BinaryOp::Mul, ..)));
    assert_eq!(products(&reduced), 2, "{:?}", reduced.exprs);
    assert_same_values(&k, &reduced, &[0.7, 2.5], 8.0);
}

#[test]
fn nothing_to_reduce_leaves_the_kernel_as_it_is() {
    let mut a = ExprArena::new();
    // Exps of different slopes, divisions by different denominators, constants already first.
    let (x, y) = (a.leaf(Expr::State(0)), a.leaf(Expr::State(1)));
    let v = a.leaf(Expr::Builtin(Builtin::V));
    let e1 = a.unary(UnaryOp::Exp, v);
    let three = a.constant_expr(3.0);
    let v3 = a.mul(three, v);
    let e2 = a.unary(UnaryOp::Exp, v3);
    let q1 = a.div(e1, x);
    let q2 = a.div(e2, y);
    let k = kernel_of(a, &[q1, q2]);
    let reduced = reduce(&k);
    assert!(reduced.exprs.iter().eq(k.exprs.iter()), "{:?}", reduced.exprs);
    assert_eq!(reduced.writes, k.writes);
}

fn is_pow(e: Expr) -> bool {
    matches!(e, Expr::Binary(BinaryOp::Pow, ..))
}

/// SK_E2's (0.00043 / cai)^4.8 (cai a state here) and a negative exponent: exp(c · ln x), within
/// |c · ln x| + 4 ulps of pow over cai from 1e-6 to 1 mM, and pow's values at 0, below 0 and
/// at ∞. A whole exponent stays a pow.
#[test]
fn powers_with_a_fractional_constant_exponent_are_exps_of_logs() {
    let mut a = ExprArena::new();
    let cai = a.leaf(Expr::State(0));
    let half_activation = a.constant_expr(0.00043);
    let x = a.div(half_activation, cai);
    let (c, d, e) = (a.constant_expr(4.8), a.constant_expr(-1.5), a.constant_expr(3.0));
    let (positive, negative, whole) =
        (a.binary(BinaryOp::Pow, x, c), a.binary(BinaryOp::Pow, cai, d), a.binary(BinaryOp::Pow, cai, e));
    let k = kernel_of(a, &[positive, negative, whole]);
    let reduced = reduce(&k);
    assert_eq!(count(&k, is_pow), 3);
    assert_eq!(count(&reduced, is_pow), 1, "{:?}", reduced.exprs);
    assert_eq!(count(&reduced, is_exp), 2);
    let values = |k: &Kernel, cai: f64| k.writes.iter().map(|w| k.exprs.eval(w.value, &|_| cai)).collect::<Vec<f64>>();
    for step in 0..=600 {
        let cai = 1e-6 * 10f64.powf(f64::from(step) / 100.0);
        let (want, got) = (values(&k, cai), values(&reduced, cai));
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            let exponent = [4.8, -1.5, 3.0][i];
            let base = if i == 0 { 0.00043 / cai } else { cai };
            let ulps = (exponent * f64::ln(base)).abs() + 4.0;
            assert!((w - g).abs() <= ulps * f64::EPSILON * w.abs(), "cai = {cai}: {g} vs {w}");
        }
    }
    for cai in [0.0, -0.0, -1e-3, f64::INFINITY] {
        let (want, got) = (values(&k, cai), values(&reduced, cai));
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            // The one exception (documented): a base of −∞, here 0.00043 / −0.
            if i == 0 && 0.00043 / cai == f64::NEG_INFINITY {
                continue;
            }
            assert!(w.to_bits() == g.to_bits() || (w.is_nan() && g.is_nan()), "cai = {cai}: {g} vs {w}");
        }
    }
}
