//! Functions the phased instance loop (`codegen::phased`) applies to a row of values in place:
//! [`sylva_compiler::ir::math::exp`] and [`sylva_compiler::ir::math::ln`] of each value,
//! compiled by rustc for the widest vectors the processor has. Cranelift's vectors have two
//! f64 lanes; here AVX-512 gives eight, AVX2 four. Both functions use `+`, `-`, `*`, `/` each
//! rounded once, selections and integer operations on the bits, and rustc never contracts or
//! reassociates floating point, so every variant gives the scalar function's bits (tested in
//! `tests::every_variant_matches_the_scalar_function_bit_for_bit`).

use sylva_compiler::ir::expr::{Expr, UnaryOp};

/// A function the generated code applies to rows of values.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Batched {
    Exp,
    Ln,
}

/// The signature of every variant: `values[0..count] = f(values[0..count])`.
type RowFn = unsafe extern "C" fn(values: *mut f64, count: usize);

/// The baseline and AVX2 variants of `$name` applying `$f` to each value, and the AVX-512
/// variant unless the function has its own (`exp_avx512`).
macro_rules! row_variants {
    ($name:ident, $f:path $(, $avx512:ident)?) => {
        mod $name {
            /// # Safety
            /// `values` must be valid for reads and writes of `count` values.
            pub(super) unsafe extern "C" fn baseline(values: *mut f64, count: usize) {
                // SAFETY: forwarded from the caller.
                unsafe { std::slice::from_raw_parts_mut(values, count) }.iter_mut().for_each(|x| *x = $f(*x));
            }

            /// # Safety
            /// As [`baseline`]; the processor must have AVX2.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            pub(super) unsafe extern "C" fn avx2(values: *mut f64, count: usize) {
                // SAFETY: forwarded from the caller.
                unsafe { std::slice::from_raw_parts_mut(values, count) }.iter_mut().for_each(|x| *x = $f(*x));
            }

            $(
            /// # Safety
            /// As [`baseline`]; the processor must have AVX-512 F and DQ.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq")]
            pub(super) unsafe extern "C" fn $avx512(values: *mut f64, count: usize) {
                // SAFETY: forwarded from the caller.
                unsafe { std::slice::from_raw_parts_mut(values, count) }.iter_mut().for_each(|x| *x = $f(*x));
            }
            )?
        }
    };
}

row_variants!(exp_rows, sylva_compiler::ir::math::exp);
row_variants!(ln_rows, sylva_compiler::ir::math::ln, avx512);

/// `math::exp` with AVX-512 intrinsics, operation for operation but for the last scaling (one
/// `scalef` for two products, the same single rounding): the compiler turns the
/// table's indexing into gathers, here two permutations of the table held in registers.
#[cfg(target_arch = "x86_64")]
mod exp_avx512 {
    use std::arch::x86_64::*;

    use sylva_compiler::ir::math::{
        EXP_COEFFS as C, EXP_INV_STEP, EXP_MAX_ARG, EXP_MIN_ARG, EXP_STEP_HI, EXP_STEP_LO, EXP_TABLE_HI, EXP_TABLE_LO,
        ROUND_SHIFT,
    };

    /// `math::exp` of eight values; `table` the table's high and low halves, each in two registers.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn exp8(x: __m512d, table: [__m512d; 4]) -> __m512d {
        let c = _mm512_set1_pd;
        let nan = _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(x, x);
        let xc = _mm512_min_pd(_mm512_max_pd(x, c(EXP_MIN_ARG)), c(EXP_MAX_ARG));
        let t = _mm512_add_pd(_mm512_mul_pd(xc, c(EXP_INV_STEP)), c(ROUND_SHIFT));
        let md = _mm512_sub_pd(t, c(ROUND_SHIFT));
        let m = _mm512_sub_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64(ROUND_SHIFT.to_bits() as i64));
        let hi = _mm512_sub_pd(xc, _mm512_mul_pd(md, c(EXP_STEP_HI)));
        let lo = _mm512_mul_pd(md, c(EXP_STEP_LO));
        let r = _mm512_sub_pd(hi, lo);
        let r2 = _mm512_mul_pd(r, r);
        let r4 = _mm512_mul_pd(r2, r2);
        let p01 = _mm512_add_pd(c(C[0]), _mm512_mul_pd(c(C[1]), r));
        let p23 = _mm512_add_pd(c(C[2]), _mm512_mul_pd(c(C[3]), r));
        let p45 = _mm512_add_pd(c(C[4]), _mm512_mul_pd(c(C[5]), r));
        let q = _mm512_add_pd(_mm512_add_pd(p01, _mm512_mul_pd(p23, r2)), _mm512_mul_pd(p45, r4));
        let p = _mm512_add_pd(hi, _mm512_sub_pd(_mm512_mul_pd(r2, q), lo));
        // The permutations read the low 4 bits of each index: j = m & 15.
        let t_hi = _mm512_permutex2var_pd(table[0], m, table[1]);
        let t_lo = _mm512_permutex2var_pd(table[2], m, table[3]);
        let y = _mm512_add_pd(t_hi, _mm512_add_pd(_mm512_mul_pd(t_hi, p), t_lo));
        // y · 2^k rounded once, as the scalar's y · s1 · s2 (y · s1 is exact there).
        let k = _mm512_cvtepi64_pd(_mm512_srai_epi64::<4>(m));
        let y = _mm512_scalef_pd(y, k);
        _mm512_mask_blend_pd(nan, y, x)
    }

    /// # Safety
    /// `values` must be valid for reads and writes of `count` values; the processor must have
    /// AVX-512 F and DQ.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe extern "C" fn rows(values: *mut f64, count: usize) {
        // SAFETY: forwarded from the caller.
        let values = unsafe { std::slice::from_raw_parts_mut(values, count) };
        // SAFETY: each table holds 16 values.
        let table = unsafe {
            [
                _mm512_loadu_pd(EXP_TABLE_HI.as_ptr()),
                _mm512_loadu_pd(EXP_TABLE_HI.as_ptr().add(8)),
                _mm512_loadu_pd(EXP_TABLE_LO.as_ptr()),
                _mm512_loadu_pd(EXP_TABLE_LO.as_ptr().add(8)),
            ]
        };
        // Two vectors at a time, so that their chains overlap.
        let mut pairs = values.chunks_exact_mut(16);
        for pair in &mut pairs {
            let p = pair.as_mut_ptr();
            // SAFETY: the chunk holds 16 values.
            unsafe {
                let (a, b) = (exp8(_mm512_loadu_pd(p), table), exp8(_mm512_loadu_pd(p.add(8)), table));
                _mm512_storeu_pd(p, a);
                _mm512_storeu_pd(p.add(8), b);
            }
        }
        // The last 0–15 values (a partial block's rows end in some) in masked vectors: the
        // lanes past the end compute exp(0), never stored.
        for rest in pairs.into_remainder().chunks_mut(8) {
            let mask = ((1u16 << rest.len()) - 1) as u8;
            let p = rest.as_mut_ptr();
            // SAFETY: the masks select the `rest.len()` values of the chunk.
            unsafe {
                let y = exp8(_mm512_maskz_loadu_pd(mask, p), table);
                _mm512_mask_storeu_pd(p, mask, y);
            }
        }
    }
}

impl Batched {
    pub(crate) const ALL: [Batched; 2] = [Batched::Exp, Batched::Ln];

    /// The batched function an expression applies, if any.
    pub(crate) fn of(e: Expr) -> Option<Batched> {
        match e {
            Expr::Unary(UnaryOp::Exp, _) => Some(Batched::Exp),
            Expr::Unary(UnaryOp::Log, _) => Some(Batched::Ln),
            _ => None,
        }
    }

    /// The symbol the generated code imports.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Batched::Exp => "sylva_exp_block",
            Batched::Ln => "sylva_ln_block",
        }
    }

    /// Every variant this processor can run, widest first, with its name.
    fn variants(self) -> Vec<(&'static str, RowFn)> {
        let mut found: Vec<(&'static str, RowFn)> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            let (avx2, avx512): (RowFn, RowFn) = match self {
                Batched::Exp => (exp_rows::avx2, exp_avx512::rows),
                Batched::Ln => (ln_rows::avx2, ln_rows::avx512),
            };
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
                found.push(("avx512", avx512));
            }
            if is_x86_feature_detected!("avx2") {
                found.push(("avx2", avx2));
            }
        }
        found.push(("baseline", if self == Batched::Exp { exp_rows::baseline } else { ln_rows::baseline }));
        found
    }

    /// The address of the widest variant this processor runs.
    pub(crate) fn address(self) -> *const u8 {
        self.variants()[0].1 as *const u8
    }
}

/// Nernst reversals, `reversal[n] = factor · ln(outside[n] / inside[n])` where `inside[n] > 0`
/// (the others keep theirs): `plan::nernst`'s operations, compiled for the widest vectors the
/// processor has (`math::ln` has no branches, so the loop vectorises).
pub(crate) fn nernst_rows(reversal: &mut [f64], inside: &[f64], outside: &[f64], factor: f64) {
    #[inline(always)]
    fn each(reversal: &mut [f64], inside: &[f64], outside: &[f64], factor: f64) {
        for ((e, &i), &o) in reversal.iter_mut().zip(inside).zip(outside) {
            let nernst = factor * sylva_compiler::ir::math::ln(o / i);
            *e = if i > 0.0 { nernst } else { *e };
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512dq")]
        fn avx512(reversal: &mut [f64], inside: &[f64], outside: &[f64], factor: f64) {
            each(reversal, inside, outside, factor);
        }
        #[target_feature(enable = "avx2")]
        fn avx2(reversal: &mut [f64], inside: &[f64], outside: &[f64], factor: f64) {
            each(reversal, inside, outside, factor);
        }
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            // SAFETY: the processor has the features.
            return unsafe { avx512(reversal, inside, outside, factor) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { avx2(reversal, inside, outside, factor) };
        }
    }
    each(reversal, inside, outside, factor);
}

/// Arguments every exp and ln must treat as `ir::math` does: signed zeros, subnormals, exp's
/// last finite and first zero result, the extremes, infinities, quiet NaNs of both signs and a
/// signalling NaN.
#[cfg(test)]
pub(super) const SPECIAL_ARGUMENTS: [f64; 14] = [
    0.0,
    -0.0,
    1e-310,
    -1e-310,
    5e-324,
    -745.1332191019412,
    709.782712893384,
    f64::MAX,
    f64::MIN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    -f64::NAN,
    f64::from_bits(0x7ff0_0000_0000_0001),
];

#[cfg(test)]
mod tests {
    use sylva_compiler::ir::math;

    use super::*;

    /// The scalar function every variant reproduces.
    fn scalar(f: Batched) -> fn(f64) -> f64 {
        match f {
            Batched::Exp => math::exp,
            Batched::Ln => math::ln,
        }
    }

    #[test]
    fn every_variant_matches_the_scalar_function_bit_for_bit() {
        let mut xs: Vec<f64> = (0..40_000).map(|i| -760.0 + 1480.0 * f64::from(i) / 40_000.0).collect();
        xs.extend((0..4_000).map(|i| -2.0 + f64::from(i) / 1_000.0));
        // Densely where exp's results are subnormal or overflow (the last scaling's cases).
        xs.extend((0..20_000).map(|i| -746.0 + 39.0 * f64::from(i) / 20_000.0));
        xs.extend((0..2_000).map(|i| 709.0 + f64::from(i) / 1_000.0));
        xs.extend((1..4_000u64).map(|i| f64::from_bits(i * (f64::MAX.to_bits() / 4_000))));
        xs.extend(SPECIAL_ARGUMENTS);
        for f in Batched::ALL {
            for (name, variant) in f.variants() {
                // An odd count, so that the vector loop's remainder runs too.
                let mut ys = xs.clone();
                // SAFETY: `ys` holds `ys.len()` values.
                unsafe { variant(ys.as_mut_ptr(), ys.len()) };
                for (x, y) in xs.iter().zip(&ys) {
                    let want = scalar(f)(*x);
                    assert_eq!(y.to_bits(), want.to_bits(), "{f:?} {name}: f({x:e}) = {y:e}, scalar {want:e}");
                }
            }
        }
    }

    /// Rows of every length up to 40 (the vector loop's remainders of 0–15 values, masked or
    /// not) give the scalar function's bits and leave the values after the row alone.
    #[test]
    fn every_row_length_matches_the_scalar_function() {
        let xs: Vec<f64> = (0..48).map(|i| -30.0 + 1.37 * f64::from(i)).collect();
        for f in Batched::ALL {
            for (name, variant) in f.variants() {
                for count in 0..=40 {
                    let mut ys = xs.clone();
                    // SAFETY: `ys` holds more than `count` values.
                    unsafe { variant(ys.as_mut_ptr(), count) };
                    for (i, (x, y)) in xs.iter().zip(&ys).enumerate() {
                        let want = if i < count { scalar(f)(*x) } else { *x };
                        assert_eq!(y.to_bits(), want.to_bits(), "{f:?} {name}, row of {count}: value {i}");
                    }
                }
            }
        }
    }

    /// `nernst_rows` gives `plan::nernst`'s bits, and leaves nodes without calcium inside alone.
    #[test]
    fn nernst_rows_match_plan_nernst_bit_for_bit() {
        let inside: Vec<f64> = (0..1003).map(|i| if i % 7 == 0 { 0.0 } else { 1e-5 * (1.0 + f64::from(i)) }).collect();
        let outside: Vec<f64> = (0..1003).map(|i| 1.0 + f64::from(i % 13)).collect();
        let mut reversal = vec![-7.0; inside.len()];
        let (charge, celsius) = (2, 34.0);
        nernst_rows(&mut reversal, &inside, &outside, crate::plan::nernst_factor(charge, celsius));
        for ((e, &i), &o) in reversal.iter().zip(&inside).zip(&outside) {
            let want = if i > 0.0 { crate::plan::nernst(charge, celsius, i, o) } else { -7.0 };
            assert_eq!(e.to_bits(), want.to_bits(), "inside {i}, outside {o}");
        }
    }
}
