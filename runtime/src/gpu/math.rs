//! Software `exp`, `log`, `pow`, `log10`, `tanh`, `sin` and `cos` as naga helper functions. The f64 transcendental
//! builtins are wrong on every driver (`docs/gpu.md`), so f64 code calls these; f32 code uses
//! the builtins (accurate to a few f32 ulps).
//!
//! `exp` and `log` follow fdlibm (Sun Microsystems' freely distributable libm): Cody–Waite
//! argument reduction by ln 2 with a split constant, a rational/minimax polynomial on the reduced
//! argument and the scaling by `ldexp`; `log` decomposes x = m 2^e by an f32 estimate of
//! the exponent, corrected exactly.

// The fdlibm constants are kept as published.
#![allow(clippy::excessive_precision)]

use naga::{BinaryOperator as B, Expression, FunctionArgument, FunctionResult, Handle, MathFunction as M, Module};

use super::builder::{Fb, H, Prec, Types, add_function};

/// The helper functions of a module.
#[derive(Copy, Clone)]
pub struct MathFns {
    pub exp: Handle<naga::Function>,
    pub log: Handle<naga::Function>,
    pub pow: Handle<naga::Function>,
    pub log10: Handle<naga::Function>,
    pub tanh: Handle<naga::Function>,
    pub sin: Handle<naga::Function>,
    pub cos: Handle<naga::Function>,
}

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const INV_LN2: f64 = std::f64::consts::LOG2_E;
const P1: f64 = 1.666_666_666_666_660_190_37e-1;
const P2: f64 = -2.777_777_777_701_559_338_42e-3;
const P3: f64 = 6.613_756_321_437_934_361_17e-5;
const P4: f64 = -1.653_390_220_546_525_153_90e-6;
const P5: f64 = 4.138_136_797_057_238_460_39e-8;
const LG1: f64 = 6.666_666_666_666_735_130e-1;
const LG2: f64 = 3.999_999_999_940_941_908e-1;
const LG3: f64 = 2.857_142_874_366_239_149e-1;
const LG4: f64 = 2.222_219_843_214_978_396e-1;
const LG5: f64 = 1.818_357_216_161_805_012e-1;
const LG6: f64 = 1.531_383_769_920_937_332e-1;
const LG7: f64 = 1.479_819_860_511_658_591e-1;

fn signature(fb: &mut Fb, args: &[&str]) {
    let real = fb.types.real;
    for a in args {
        fb.func.arguments.push(FunctionArgument { name: Some(a.to_string()), ty: real, binding: None });
    }
    fb.func.result = Some(FunctionResult { ty: real, binding: None });
}

pub fn add(module: &mut Module, types: Types, prec: Prec) -> MathFns {
    let exp = add_function(module, exp_fn(types, prec));
    let log = add_function(module, log_fn(types, prec));
    let pow = add_function(module, pow_fn(types, prec, exp, log));
    let log10 = add_function(module, log10_fn(types, prec, log));
    let tanh = add_function(module, tanh_fn(types, prec, exp));
    let sin = add_function(module, trig_fn(types, prec, false));
    let cos = add_function(module, trig_fn(types, prec, true));
    MathFns { exp, log, pow, log10, tanh, sin, cos }
}

/// Horner: c[0] + x (c[1] + x (c[2] + ...)).
fn horner(fb: &mut Fb, x: H, c: &[f64]) -> H {
    let mut acc = fb.f(*c.last().expect("coefficients"));
    for &k in c[..c.len() - 1].iter().rev() {
        let t = fb.mul(x, acc);
        let kk = fb.f(k);
        acc = fb.add(kk, t);
    }
    acc
}

fn exp_fn(types: Types, prec: Prec) -> naga::Function {
    let mut fb = Fb::new(prec, types, "sylva_exp");
    signature(&mut fb, &["x"]);
    let x = fb.arg(0);
    if prec == Prec::F32 {
        let r = fb.math1(M::Exp, x);
        fb.ret(Some(r));
        return fb.finish();
    }
    let (lo_b, hi_b) = (fb.f(-746.0), fb.f(710.0));
    let xc = fb.math3(M::Clamp, x, lo_b, hi_b);
    let inv = fb.f(INV_LN2);
    let scaled = fb.mul(xc, inv);
    let k = fb.math1(M::Round, scaled);
    let ln2hi = fb.f(LN2_HI);
    let ln2lo = fb.f(LN2_LO);
    let khi = fb.mul(k, ln2hi);
    let hi = fb.sub(xc, khi);
    let lo = fb.mul(k, ln2lo);
    let r = fb.sub(hi, lo);
    let t = fb.mul(r, r);
    let poly = horner(&mut fb, t, &[P1, P2, P3, P4, P5]);
    let tp = fb.mul(t, poly);
    let c = fb.sub(r, tp);
    // y = 1 - ((lo - (r c) / (2 - c)) - hi)
    let rc = fb.mul(r, c);
    let two = fb.f(2.0);
    let den = fb.sub(two, c);
    let q = fb.div(rc, den);
    let a = fb.sub(lo, q);
    let b = fb.sub(a, hi);
    let one = fb.f(1.0);
    let y = fb.sub(one, b);
    // Scale in two halves so that neither factor over- or underflows on its own.
    let ki = fb.i32_of(k);
    let one_u = fb.u(1);
    let k1 = fb.bin(B::ShiftRight, ki, one_u);
    let k2 = fb.sub(ki, k1);
    let y1 = fb.math2(M::Ldexp, y, k1);
    let y2 = fb.math2(M::Ldexp, y1, k2);
    // NaN in, NaN out (clamp may not propagate it).
    let nan = fb.bin(B::NotEqual, x, x);
    let res = fb.select(nan, x, y2);
    fb.ret(Some(res));
    fb.finish()
}

fn log_fn(types: Types, prec: Prec) -> naga::Function {
    let mut fb = Fb::new(prec, types, "sylva_log");
    signature(&mut fb, &["x"]);
    let x = fb.arg(0);
    if prec == Prec::F32 {
        let r = fb.math1(M::Log, x);
        fb.ret(Some(r));
        return fb.finish();
    }
    // x = m 2^e without frexp (its f64 form needs 64-bit integers): scale into the f32
    // range exactly, estimate e from an f32 log2, then correct m into [1, 2) and finally into
    // [sqrt(1/2), sqrt(2)).
    let mut xs = x;
    let mut adj = fb.i(0);
    for _ in 0..5 {
        let big_t = fb.f(2f64.powi(120));
        let small_t = fb.f(2f64.powi(-120));
        let down = fb.f(2f64.powi(-240));
        let up = fb.f(2f64.powi(240));
        let is_big = fb.bin(B::Greater, xs, big_t);
        let is_small = fb.bin(B::Less, xs, small_t);
        let xd = fb.mul(xs, down);
        let xu = fb.mul(xs, up);
        let x1 = fb.select(is_big, xd, xs);
        xs = fb.select(is_small, xu, x1);
        let p240 = fb.i(240);
        let m240 = fb.i(-240);
        let zero_i = fb.i(0);
        let a1 = fb.select(is_big, p240, zero_i);
        let a2 = fb.select(is_small, m240, a1);
        adj = fb.add(adj, a2);
    }
    let x32 = fb.e(Expression::As { expr: xs, kind: naga::ScalarKind::Float, convert: Some(4) });
    let l2 = fb.math1(M::Log2, x32);
    let fl = fb.math1(M::Floor, l2);
    let e_est = fb.i32_of(fl);
    let ne = fb.neg(e_est);
    let m_est = fb.math2(M::Ldexp, xs, ne);
    let one_i = fb.i(1);
    let two = fb.f(2.0);
    let one = fb.f(1.0);
    let half = fb.f(0.5);
    let too_big = fb.bin(B::GreaterEqual, m_est, two);
    let mh = fb.mul(m_est, half);
    let ep = fb.add(e_est, one_i);
    let m1 = fb.select(too_big, mh, m_est);
    let e1 = fb.select(too_big, ep, e_est);
    let too_small = fb.bin(B::Less, m1, one);
    let md = fb.mul(m1, two);
    let em = fb.sub(e1, one_i);
    let m2 = fb.select(too_small, md, m1);
    let e2 = fb.select(too_small, em, e1);
    let sqrt2 = fb.f(std::f64::consts::SQRT_2);
    let over = fb.bin(B::GreaterEqual, m2, sqrt2);
    let mo = fb.mul(m2, half);
    let eo = fb.add(e2, one_i);
    let m = fb.select(over, mo, m2);
    let e3 = fb.select(over, eo, e2);
    let e = fb.add(e3, adj);
    let f = fb.sub(m, one);
    let ff = fb.mul(f, f);
    let hfsq = fb.mul(half, ff);
    let twof = fb.add(two, f);
    let s = fb.div(f, twof);
    let z = fb.mul(s, s);
    let w = fb.mul(z, z);
    let p1 = horner(&mut fb, w, &[LG2, LG4, LG6]);
    let t1 = fb.mul(w, p1);
    let p2 = horner(&mut fb, w, &[LG1, LG3, LG5, LG7]);
    let t2 = fb.mul(z, p2);
    let r = fb.add(t2, t1);
    let dk = fb.real_of(e);
    let ln2hi = fb.f(LN2_HI);
    let ln2lo = fb.f(LN2_LO);
    // dk ln2_hi - ((hfsq - (s (hfsq + R) + dk ln2_lo)) - f)
    let hr = fb.add(hfsq, r);
    let shr = fb.mul(s, hr);
    let dlo = fb.mul(dk, ln2lo);
    let inner = fb.add(shr, dlo);
    let a = fb.sub(hfsq, inner);
    let b = fb.sub(a, f);
    let dhi = fb.mul(dk, ln2hi);
    let y = fb.sub(dhi, b);
    // Special values: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays NaN.
    let zero = fb.f(0.0);
    let xz = fb.mul(x, zero);
    let m1 = fb.f(-1.0);
    let ninf = fb.div(m1, xz);
    let diff = fb.sub(x, x);
    let nan = fb.div(diff, diff);
    let is_zero = fb.bin(B::Equal, x, zero);
    let is_neg = fb.bin(B::Less, x, zero);
    let big = fb.f(f64::MAX);
    let is_big = fb.bin(B::Greater, x, big);
    let is_nan = fb.bin(B::NotEqual, x, x);
    let r1 = fb.select(is_zero, ninf, y);
    let r2 = fb.select(is_neg, nan, r1);
    let r3 = fb.select(is_big, x, r2);
    let r4 = fb.select(is_nan, x, r3);
    fb.ret(Some(r4));
    fb.finish()
}

fn pow_fn(types: Types, prec: Prec, exp: Handle<naga::Function>, log: Handle<naga::Function>) -> naga::Function {
    let mut fb = Fb::new(prec, types, "sylva_pow");
    signature(&mut fb, &["x", "y"]);
    let x = fb.arg(0);
    let y = fb.arg(1);
    let ax = fb.math1(M::Abs, x);
    let l = fb.call(log, vec![ax]);
    let yl = fb.mul(y, l);
    let r = fb.call(exp, vec![yl]);
    // Negative bases: integer exponents only, with the sign of odd powers.
    let fy = fb.math1(M::Floor, y);
    let integer = fb.bin(B::Equal, fy, y);
    let half = fb.f(0.5);
    let hy = fb.mul(y, half);
    let fhy = fb.math1(M::Floor, hy);
    let not_even = fb.bin(B::NotEqual, fhy, hy);
    let odd = fb.bin(B::LogicalAnd, integer, not_even);
    let zero = fb.f(0.0);
    let negative = fb.bin(B::Less, x, zero);
    let flip = fb.bin(B::LogicalAnd, negative, odd);
    let nr = fb.neg(r);
    let r1 = fb.select(flip, nr, r);
    let not_integer = fb.not(integer);
    let bad = fb.bin(B::LogicalAnd, negative, not_integer);
    let diff = fb.sub(x, x);
    let nan = fb.div(diff, diff);
    let r2 = fb.select(bad, nan, r1);
    // x^0 = 1 and 1^y = 1 for every y, NaN included.
    let one = fb.f(1.0);
    let y0 = fb.bin(B::Equal, y, zero);
    let x1 = fb.bin(B::Equal, x, one);
    let unit = fb.bin(B::LogicalOr, y0, x1);
    let r3 = fb.select(unit, one, r2);
    fb.ret(Some(r3));
    fb.finish()
}

fn log10_fn(types: Types, prec: Prec, log: Handle<naga::Function>) -> naga::Function {
    let mut fb = Fb::new(prec, types, "sylva_log10");
    signature(&mut fb, &["x"]);
    let x = fb.arg(0);
    let l = fb.call(log, vec![x]);
    let k = fb.f(std::f64::consts::LOG10_E);
    let r = fb.mul(l, k);
    fb.ret(Some(r));
    fb.finish()
}

/// 1/n! for n = 0..=max.
fn inverse_factorials(max: usize) -> Vec<f64> {
    let mut out = vec![1.0];
    let mut f = 1.0f64;
    for n in 1..=max {
        f *= n as f64;
        out.push(1.0 / f);
    }
    out
}

/// tanh: for |x| >= 0.625, (1 - e) / (1 + e) with e = exp(-2|x|); below, sinh by its Taylor
/// series (9 terms) over cosh = sqrt(1 + sinh^2); the sign of x; ±1 beyond |x| = 22.
fn tanh_fn(types: Types, prec: Prec, exp: Handle<naga::Function>) -> naga::Function {
    let mut fb = Fb::new(prec, types, "sylva_tanh");
    signature(&mut fb, &["x"]);
    let x = fb.arg(0);
    if prec == Prec::F32 {
        let r = fb.math1(M::Tanh, x);
        fb.ret(Some(r));
        return fb.finish();
    }
    let ax = fb.math1(M::Abs, x);
    let m2 = fb.f(-2.0);
    let arg = fb.mul(m2, ax);
    let e = fb.call(exp, vec![arg]);
    let one = fb.f(1.0);
    let num = fb.sub(one, e);
    let den = fb.add(one, e);
    let big = fb.div(num, den);
    // sinh(a) = a (1 + a^2/3! + a^4/5! + ...)
    let f = inverse_factorials(19);
    let odd: Vec<f64> = (0..9).map(|k| f[2 * k + 1]).collect();
    let a2 = fb.mul(ax, ax);
    let p = horner(&mut fb, a2, &odd);
    let sh = fb.mul(ax, p);
    let sh2 = fb.mul(sh, sh);
    let c2 = fb.add(one, sh2);
    let ch = fb.math1(M::Sqrt, c2);
    let small = fb.div(sh, ch);
    let lim = fb.f(0.625);
    let is_small = fb.bin(B::Less, ax, lim);
    let t = fb.select(is_small, small, big);
    let sat = fb.f(22.0);
    let is_sat = fb.bin(B::Greater, ax, sat);
    let t1 = fb.select(is_sat, one, t);
    let zero = fb.f(0.0);
    let neg = fb.bin(B::Less, x, zero);
    let nt = fb.neg(t1);
    let r = fb.select(neg, nt, t1);
    let nan = fb.bin(B::NotEqual, x, x);
    let r1 = fb.select(nan, x, r);
    fb.ret(Some(r1));
    fb.finish()
}

const PIO2_1: f64 = 1.570_796_326_734_125_614_17;
const PIO2_2: f64 = 6.077_100_506_303_965_976_60e-11;
const PIO2_3: f64 = 2.022_266_248_711_166_455_80e-21;

/// sin or cos: k = round(2x/pi), r = x - k pi/2 with pi/2 in three parts (accurate for
/// |x| < 2^20 pi/2), Taylor polynomials of sin and cos on |r| <= pi/4 (to r^19 and r^20), the
/// quadrant from k mod 4.
fn trig_fn(types: Types, prec: Prec, cosine: bool) -> naga::Function {
    let mut fb = Fb::new(prec, types, if cosine { "sylva_cos" } else { "sylva_sin" });
    signature(&mut fb, &["x"]);
    let x = fb.arg(0);
    if prec == Prec::F32 {
        let r = fb.math1(if cosine { M::Cos } else { M::Sin }, x);
        fb.ret(Some(r));
        return fb.finish();
    }
    let two_over_pi = fb.f(std::f64::consts::FRAC_2_PI);
    let q = fb.mul(x, two_over_pi);
    let k = fb.math1(M::Round, q);
    let p1 = fb.f(PIO2_1);
    let p2 = fb.f(PIO2_2);
    let p3 = fb.f(PIO2_3);
    let t1 = fb.mul(k, p1);
    let r1 = fb.sub(x, t1);
    let t2 = fb.mul(k, p2);
    let r2 = fb.sub(r1, t2);
    let t3 = fb.mul(k, p3);
    let r = fb.sub(r2, t3);
    let f = inverse_factorials(20);
    let rr = fb.mul(r, r);
    // sin r = r (1 - r^2/3! + ...), cos r = 1 - r^2/2! + ...
    let sin_c: Vec<f64> = (0..10).map(|j| if j % 2 == 0 { f[2 * j + 1] } else { -f[2 * j + 1] }).collect();
    let cos_c: Vec<f64> = (0..11).map(|j| if j % 2 == 0 { f[2 * j] } else { -f[2 * j] }).collect();
    let ps = horner(&mut fb, rr, &sin_c);
    let s = fb.mul(r, ps);
    let c = horner(&mut fb, rr, &cos_c);
    let ki = fb.i32_of(k);
    let three = fb.i(3);
    let quadrant = fb.bin(B::And, ki, three);
    let shift = fb.i(if cosine { 1 } else { 0 });
    let qq = fb.add(quadrant, shift);
    let quadrant = fb.bin(B::And, qq, three);
    // quadrant (of sin): 0: s, 1: c, 2: -s, 3: -c
    let one_i = fb.i(1);
    let two_i = fb.i(2);
    let odd = fb.bin(B::And, quadrant, one_i);
    let is_odd = fb.bin(B::Equal, odd, one_i);
    let v = fb.select(is_odd, c, s);
    let hi = fb.bin(B::And, quadrant, two_i);
    let is_neg = fb.bin(B::Equal, hi, two_i);
    let nv = fb.neg(v);
    let res = fb.select(is_neg, nv, v);
    fb.ret(Some(res));
    fb.finish()
}
