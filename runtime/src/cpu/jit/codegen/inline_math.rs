//! Functions emitted inline rather than called: `exp`, operation for operation as
//! `sylva_compiler::ir::math::exp` (several arguments interleaved), and `powi` in `f64::powi`'s
//! order.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;
use sylva_compiler::ir::math;

use super::super::math::powi_plan;
use super::lanes::{Lanes, bitcast, choose, fconst, iconst};

/// How many `exp` of one DAG level are emitted in lockstep (their instructions interleaved, so
/// that the processor overlaps their latencies; more would spill).
pub(super) const EXP_GROUP: usize = 3;

#[derive(Copy, Clone)]
pub(super) enum Op {
    Fadd,
    Fsub,
    Fmul,
    Iadd,
    Isub,
}

/// `op` lane-wise over the group.
pub(super) fn each(b: &mut FunctionBuilder, op: Op, x: &[Value], y: &[Value]) -> Vec<Value> {
    x.iter()
        .zip(y)
        .map(|(&x, &y)| match op {
            Op::Fadd => b.ins().fadd(x, y),
            Op::Fsub => b.ins().fsub(x, y),
            Op::Fmul => b.ins().fmul(x, y),
            Op::Iadd => b.ins().iadd(x, y),
            Op::Isub => b.ins().isub(x, y),
        })
        .collect()
}

/// `op` of each member of the group with one constant.
pub(super) fn each_c(b: &mut FunctionBuilder, lanes: Lanes, op: Op, x: &[Value], c: f64) -> Vec<Value> {
    let c = fconst(b, lanes, c);
    each(b, op, x, &vec![c; x.len()])
}

/// `c + d·x` for each member of the group (one Estrin pair).
pub(super) fn pair(b: &mut FunctionBuilder, lanes: Lanes, c: f64, d: f64, x: &[Value]) -> Vec<Value> {
    let t = each_c(b, lanes, Op::Fmul, x, d);
    let c = fconst(b, lanes, c);
    each(b, Op::Fadd, &vec![c; x.len()], &t)
}

/// The table of `math::exp` at a fixed address (the code loads from it).
static EXP_TABLE_HI: [f64; 16] = math::EXP_TABLE_HI;
static EXP_TABLE_LO: [f64; 16] = math::EXP_TABLE_LO;

/// `sylva_compiler::ir::math::exp`, operation for operation (so bit for bit), in every lane, for
/// a group of arguments whose instructions are interleaved step by step.
pub(super) fn exp_group(b: &mut FunctionBuilder, lanes: Lanes, xs: &[Value]) -> Vec<Value> {
    let it = lanes.int();
    let n = xs.len();
    // `x < min ? min : x`, then `max < xc ? max : xc` (the forms x86 lowers to maxpd/minpd;
    // a NaN passes through both).
    let min = fconst(b, lanes, math::EXP_MIN_ARG);
    let xc: Vec<Value> = xs
        .iter()
        .map(|&x| {
            let below = b.ins().fcmp(FloatCC::LessThan, x, min);
            choose(b, lanes, below, min, x)
        })
        .collect();
    let max = fconst(b, lanes, math::EXP_MAX_ARG);
    let xc: Vec<Value> = xc
        .iter()
        .map(|&x| {
            let above = b.ins().fcmp(FloatCC::LessThan, max, x);
            choose(b, lanes, above, max, x)
        })
        .collect();
    let t = each_c(b, lanes, Op::Fmul, &xc, math::EXP_INV_STEP);
    let shifted = each_c(b, lanes, Op::Fadd, &t, math::ROUND_SHIFT);
    let md = each_c(b, lanes, Op::Fsub, &shifted, math::ROUND_SHIFT);
    let mhi = each_c(b, lanes, Op::Fmul, &md, math::EXP_STEP_HI);
    let hi = each(b, Op::Fsub, &xc, &mhi);
    let lo = each_c(b, lanes, Op::Fmul, &md, math::EXP_STEP_LO);
    let r = each(b, Op::Fsub, &hi, &lo);
    let r2 = each(b, Op::Fmul, &r, &r);
    // Estrin's scheme, as `math::exp_poly`.
    let c = math::EXP_COEFFS;
    let r4 = each(b, Op::Fmul, &r2, &r2);
    let p01 = pair(b, lanes, c[0], c[1], &r);
    let p23 = pair(b, lanes, c[2], c[3], &r);
    let p45 = pair(b, lanes, c[4], c[5], &r);
    let t = each(b, Op::Fmul, &p23, &r2);
    let q03 = each(b, Op::Fadd, &p01, &t);
    let t = each(b, Op::Fmul, &p45, &r4);
    let q = each(b, Op::Fadd, &q03, &t);
    let r2q = each(b, Op::Fmul, &r2, &q);
    let small = each(b, Op::Fsub, &r2q, &lo);
    let p = each(b, Op::Fadd, &hi, &small);
    // m = bits(t) - bits(shift) = 16 k + j.
    let bits: Vec<Value> = shifted.iter().map(|&v| bitcast(b, it, v)).collect();
    let shift_bits = iconst(b, lanes, math::ROUND_SHIFT.to_bits() as i64);
    let m = each(b, Op::Isub, &bits, &vec![shift_bits; n]);
    // T + (T·p + T_lo), T and T_lo from the tables at j = m & 15.
    let (table_hi, table_lo) = (table_lookup(b, lanes, &m, &EXP_TABLE_HI), table_lookup(b, lanes, &m, &EXP_TABLE_LO));
    let tp = each(b, Op::Fmul, &table_hi, &p);
    let tail = each(b, Op::Fadd, &tp, &table_lo);
    let y = each(b, Op::Fadd, &table_hi, &tail);
    // k = m >> 4 (arithmetic); a = floor(k / 2) + 1024; 2^k1 has exponent field a - 1,
    // 2^(k - k1) has k - a + 2047.
    let four = b.ins().iconst(types::I64, 4);
    let k: Vec<Value> = m.iter().map(|&m| b.ins().sshr(m, four)).collect();
    let y = scale(b, lanes, &y, &k);
    xs.iter()
        .zip(y)
        .map(|(&x, y)| {
            let nan = b.ins().fcmp(FloatCC::Unordered, x, x);
            choose(b, lanes, nan, x, y)
        })
        .collect()
}

/// `table[m & 15]` in every lane of each member of the group (a load per lane).
fn table_lookup(b: &mut FunctionBuilder, lanes: Lanes, m: &[Value], table: &'static [f64; 16]) -> Vec<Value> {
    let base = b.ins().iconst(types::I64, table.as_ptr() as i64);
    let flags = MemFlagsData::trusted().with_readonly();
    m.iter()
        .map(|&m| {
            let lane_value = |b: &mut FunctionBuilder, index: Value| {
                let j = b.ins().band_imm_u(index, 15);
                let at = b.ins().ishl_imm_u(j, 3);
                let addr = b.ins().iadd(base, at);
                b.ins().load(types::F64, flags, addr, 0)
            };
            match lanes {
                Lanes::One => lane_value(b, m),
                Lanes::Two => {
                    let (m0, m1) = (b.ins().extractlane(m, 0), b.ins().extractlane(m, 1));
                    let (t0, t1) = (lane_value(b, m0), lane_value(b, m1));
                    let v = b.ins().scalar_to_vector(types::F64X2, t0);
                    b.ins().insertlane(v, t1, 1)
                }
            }
        })
        .collect()
}

/// `y · 2^k` in two exact-then-rounded products, as `math::exp`'s reconstruction.
fn scale(b: &mut FunctionBuilder, lanes: Lanes, y: &[Value], k: &[Value]) -> Vec<Value> {
    let (ft, n) = (lanes.float(), k.len());
    let c2048 = iconst(b, lanes, 2048);
    let a = each(b, Op::Iadd, k, &vec![c2048; n]);
    let one_bit = b.ins().iconst(types::I64, 1);
    let a: Vec<Value> = a.iter().map(|&a| b.ins().ushr(a, one_bit)).collect();
    let minus_one = iconst(b, lanes, -1);
    let e1 = each(b, Op::Iadd, &a, &vec![minus_one; n]);
    let c52 = b.ins().iconst(types::I64, 52);
    let power = |b: &mut FunctionBuilder, e: Value| {
        let e = b.ins().ishl(e, c52);
        bitcast(b, ft, e)
    };
    let s1: Vec<Value> = e1.iter().map(|&e| power(b, e)).collect();
    let e2 = each(b, Op::Isub, k, &a);
    let c2047 = iconst(b, lanes, 2047);
    let e2 = each(b, Op::Iadd, &e2, &vec![c2047; n]);
    let s2: Vec<Value> = e2.iter().map(|&e| power(b, e)).collect();
    let y = each(b, Op::Fmul, y, &s1);
    each(b, Op::Fmul, &y, &s2)
}

/// `x.powi(n)` with `f64::powi`'s exact operation order (see [`powi_plan`]).
pub(super) fn powi(b: &mut FunctionBuilder, lanes: Lanes, x: Value, n: i32) -> Value {
    let plan = powi_plan(n);
    let mut base = x;
    let mut result: Option<Value> = None;
    for (k, bit) in plan.bits.iter().enumerate() {
        if k > 0 {
            base = b.ins().fmul(base, base);
        }
        if *bit {
            // 1.0 * base is base exactly, so the first product is the base itself.
            result = Some(match result {
                None => base,
                Some(r) => b.ins().fmul(r, base),
            });
        }
    }
    let result = match result {
        Some(r) => r,
        None => fconst(b, lanes, 1.0),
    };
    if plan.reciprocal {
        let one = fconst(b, lanes, 1.0);
        b.ins().fdiv(one, result)
    } else {
        result
    }
}
