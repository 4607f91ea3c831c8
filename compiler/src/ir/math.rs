//! Sylva's own elementary functions, written so that every back end can reproduce them bit for
//! bit: only `+`, `-`, `*` (each rounded once, no fused multiply-add, no reassociation) and
//! integer operations on the bit patterns. Constant folding, the interpreter and the JIT (which
//! emits the same operations inline, scalar and two lanes at a time) therefore agree exactly.
//!
//! # `exp`
//!
//! 1. `x` is clamped to `[EXP_MIN_ARG, EXP_MAX_ARG] = [-746, 710]`: below, the result
//!    underflows to `+0` anyway; above, it overflows to `+inf`; `±inf` therefore give `+0` and
//!    `+inf`. NaN is returned unchanged (the final step, so that the integer operations need no
//!    special case).
//! 2. Reduction (Cody–Waite, by ln 2 / 16): `m = round(x · 16 / ln 2)` by the shift trick
//!    (`t = x·(16/ln 2) + 1.5·2^52`, `m` is in the low bits of `t`, `md = t − 1.5·2^52`), then
//!    `hi = x − md·(LN2_HI/16)` (exact: `LN2_HI` has 32 significant bits and |m| ≤ 17221 has
//!    15, and the subtraction is exact by Sterbenz), `lo = md·(LN2_LO/16)`, `r = hi − lo`,
//!    |r| ≤ ln 2 / 32 ≈ 0.0217. With `m = 16 k + j` (0 ≤ j < 16): e^x = 2^k · 2^(j/16) · e^r.
//! 3. `e^r − 1 ≈ p = hi + (r²·q(r) − lo)` with `q(r) = Σ_{n=2}^{7} rⁿ⁻²/n!` (the Taylor
//!    series to degree 7, truncation error below 2e-18 relative; Estrin's scheme, for a short
//!    dependency chain). Keeping `hi` exact and folding `lo` into the small term avoids the
//!    rounding error of `r`.
//! 4. `2^(j/16) · e^r ≈ T + (T·p + T_lo)`, with 2^(j/16) = T + T_lo to twice double precision
//!    from a table of 16 pairs (T_lo · p, below 1e-18 relative, is left out).
//! 5. Reconstruction: `y · 2^k1 · 2^k2` with `k1 = ⌊k/2⌋`, `k2 = k − k1`, the powers of two
//!    built by writing `k1 + 1023` and `k2 + 1023` into the exponent field. Both are normal for
//!    every `k` in `[-1077, 1024]`, the first product is exact, and the second rounds once: so
//!    overflow gives `+inf` and subnormal results are rounded (not flushed) correctly from `y`.
//!
//! Accuracy against glibc's `exp` (itself correctly rounded in all but rare cases): see the test
//! `exp_matches_std_within_one_ulp` (at most 1 ulp apart over [-745, 709]).
//!
//! # `ln`
//!
//! fdlibm's `log` (Sun Microsystems' freely distributable libm), without branches so that it
//! vectorises: a subnormal `x` is first scaled by 2^54; `x = 2^k · m` with `m` in
//! [√½, √2) read from the bits (the offset of √½'s bits puts the boundary there);
//! `f = m − 1`, `s = f / (2 + f)`, ln(1 + f) = f − (f²/2 − s (f²/2 + R(s²))) with fdlibm's
//! minimax `R`, plus `k · ln 2` in two parts. Special values are selected at the end: ln 0 = −∞,
//! ln of a negative number is NaN, ln ∞ = ∞, NaN stays. At most 1 ulp from glibc's `log`
//! (`ln_matches_std_within_one_ulp`). Nernst reversals and the kernels' `log` use it, so the
//! interpreter, the JIT (inline calls and `ln_block`) agree bit for bit.

/// `ln 2`, high part: its last 21 bits are zero, so `k·LN2_HI` is exact for |k| < 2^21.
pub const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// `ln 2 − LN2_HI`.
pub const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `16 / ln 2` (16 times the double nearest 1 / ln 2).
pub const EXP_INV_STEP: f64 = 16.0 * f64::from_bits(0x3ff7_1547_652b_82fe);
/// `(ln 2) / 16` in two parts, `LN2_HI / 16` and `LN2_LO / 16` (exact divisions).
pub const EXP_STEP_HI: f64 = LN2_HI / 16.0;
pub const EXP_STEP_LO: f64 = LN2_LO / 16.0;
/// `1.5 · 2^52`: adding it rounds to an integer, kept in the low bits of the significand.
pub const ROUND_SHIFT: f64 = f64::from_bits(0x4338_0000_0000_0000);
/// Arguments are clamped to `[EXP_MIN_ARG, EXP_MAX_ARG]` (results `+0` and `+inf` there).
pub const EXP_MIN_ARG: f64 = -746.0;
pub const EXP_MAX_ARG: f64 = 710.0;
/// `1/n!` for `n = 2..=7`: the coefficients of `q`, lowest degree first.
pub const EXP_COEFFS: [f64; 6] = [1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0];
/// `2^(j/16)` rounded to double, for `j = 0..16` (computed to 60 digits, then rounded).
pub const EXP_TABLE_HI: [f64; 16] = [
    f64::from_bits(0x3ff0_0000_0000_0000),
    f64::from_bits(0x3ff0_b558_6cf9_890f),
    f64::from_bits(0x3ff1_72b8_3c7d_517b),
    f64::from_bits(0x3ff2_387a_6e75_6238),
    f64::from_bits(0x3ff3_06fe_0a31_b715),
    f64::from_bits(0x3ff3_dea6_4c12_3422),
    f64::from_bits(0x3ff4_bfda_d536_2a27),
    f64::from_bits(0x3ff5_ab07_dd48_5429),
    f64::from_bits(0x3ff6_a09e_667f_3bcd),
    f64::from_bits(0x3ff7_a114_73eb_0187),
    f64::from_bits(0x3ff8_ace5_422a_a0db),
    f64::from_bits(0x3ff9_c491_82a3_f090),
    f64::from_bits(0x3ffa_e89f_995a_d3ad),
    f64::from_bits(0x3ffc_199b_dd85_529c),
    f64::from_bits(0x3ffd_5818_dcfb_a487),
    f64::from_bits(0x3ffe_a4af_a2a4_90da),
];
/// `2^(j/16) − EXP_TABLE_HI[j]`, rounded to double.
pub const EXP_TABLE_LO: [f64; 16] = [
    0.0,
    f64::from_bits(0x3c98_a62e_4adc_610b),
    f64::from_bits(0xbc81_9041_b9d7_8a76),
    f64::from_bits(0x3c99_b07e_b6c7_0573),
    f64::from_bits(0x3c86_f46a_d231_82e4),
    f64::from_bits(0x3c8a_da09_11f0_9ebc),
    f64::from_bits(0x3c7d_4397_afec_42e2),
    f64::from_bits(0x3c96_324c_0546_47ad),
    f64::from_bits(0xbc9b_dd34_13b2_6456),
    f64::from_bits(0xbc84_1577_ee04_992f),
    f64::from_bits(0x3c96_e9f1_5686_4b27),
    f64::from_bits(0x3c7c_7c46_b071_f2be),
    f64::from_bits(0x3c97_a1cd_345d_cc81),
    f64::from_bits(0x3c81_1065_8950_48dd),
    f64::from_bits(0x3c82_ed02_d75b_3707),
    f64::from_bits(0xbc9e_9c23_179c_2893),
];

/// fdlibm's coefficients of `R(z) = Σ LG_i z^i` for ln(1 + f), kept as published.
#[allow(clippy::excessive_precision)]
const LG: [f64; 7] = [
    6.666_666_666_666_735_130e-1,
    3.999_999_999_940_941_908e-1,
    2.857_142_874_366_239_149e-1,
    2.222_219_843_214_978_396e-1,
    1.818_357_216_161_805_012e-1,
    1.531_383_769_920_937_332e-1,
    1.479_819_860_511_658_591e-1,
];
/// The bits of √½: subtracting them leaves the exponent of x / √½ in the top bits.
const SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;
/// 2^54: scales a subnormal into the normal range.
const TWO_54: f64 = 18_014_398_509_481_984.0;

/// The natural logarithm, reproducible bit for bit by every back end (see the module
/// documentation).
pub fn ln(x: f64) -> f64 {
    let subnormal = x < f64::MIN_POSITIVE;
    let scaled = if subnormal { x * TWO_54 } else { x };
    let bits = scaled.to_bits();
    let offset = bits.wrapping_sub(SQRT_HALF_BITS);
    let k = ((offset as i64) >> 52) - if subnormal { 54 } else { 0 };
    let m = f64::from_bits(bits.wrapping_sub(offset & (0xfff << 52)));
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    let r = t2 + t1;
    let dk = k as f64;
    let y = dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
    if x > 0.0 && x < f64::INFINITY {
        y
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x < 0.0 {
        f64::NAN
    } else {
        // +∞ and NaN.
        x
    }
}

/// `e^x`, reproducible bit for bit by every back end (see the module documentation).
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let x = if x < EXP_MIN_ARG { EXP_MIN_ARG } else { x };
    let x = if x > EXP_MAX_ARG { EXP_MAX_ARG } else { x };
    let t = x * EXP_INV_STEP + ROUND_SHIFT;
    let md = t - ROUND_SHIFT;
    // m in [-17221, 16389], as the difference of the bit patterns (same exponent).
    let m = t.to_bits().wrapping_sub(ROUND_SHIFT.to_bits());
    let hi = x - md * EXP_STEP_HI;
    let lo = md * EXP_STEP_LO;
    let r = hi - lo;
    let r2 = r * r;
    let p = hi + (r2 * exp_poly(r, r2) - lo);
    let j = (m & 15) as usize;
    let y = EXP_TABLE_HI[j] + (EXP_TABLE_HI[j] * p + EXP_TABLE_LO[j]);
    // k = floor(m / 16) (an arithmetic shift); a = k1 + 1024 with k1 = floor(k / 2) (an
    // unsigned shift of a positive number).
    let k = ((m as i64) >> 4) as u64;
    let a = k.wrapping_add(2048) >> 1;
    let s1 = f64::from_bits(a.wrapping_sub(1) << 52);
    let s2 = f64::from_bits(k.wrapping_sub(a).wrapping_add(2047) << 52);
    y * s1 * s2
}

/// `q(r) = Σ c_j r^j` by Estrin's scheme (a short dependency chain). The JIT emits exactly
/// these operations in this order.
fn exp_poly(r: f64, r2: f64) -> f64 {
    let c = EXP_COEFFS;
    let r4 = r2 * r2;
    let p01 = c[0] + c[1] * r;
    let p23 = c[2] + c[3] * r;
    let p45 = c[4] + c[5] * r;
    let q03 = p01 + p23 * r2;
    q03 + p45 * r4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64.
    fn rng(state: &mut u64) -> f64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Distance in ulps between two non-negative finite or infinite doubles.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    /// The ulp distances of a function from the standard library's over many points.
    #[derive(Default)]
    struct Distances {
        /// The largest distance and where.
        worst: (u64, f64),
        /// Points at which the two differ at all.
        differ: usize,
        points: usize,
    }

    impl Distances {
        fn record(&mut self, ulps: u64, x: f64) {
            self.points += 1;
            self.differ += usize::from(ulps > 0);
            if ulps > self.worst.0 {
                self.worst = (ulps, x);
            }
        }

        /// Prints the tally and checks that no point is more than one ulp away.
        fn assert_within_one_ulp(&self, name: &str) {
            let Distances { worst: (ulps, at), differ, points } = self;
            eprintln!("{name}: max {ulps} ulp from std (at x = {at:e}); {differ} of {points} points differ");
            assert!(*ulps <= 1, "{name}: max {ulps} ulp at {at:e}");
        }
    }

    #[test]
    fn exp_matches_std_within_one_ulp() {
        let mut state = 0x1234_5678;
        let mut distances = Distances::default();
        const N: usize = 1_000_000;
        for i in 0..N {
            let x = -745.0 + 1454.0 * rng(&mut state);
            // Also near zero, where k = 0 and most model arguments are.
            let y = (i as f64 / N as f64 - 0.5) * 4.0;
            for x in [x, y] {
                distances.record(ulps(exp(x), x.exp()), x);
            }
        }
        distances.assert_within_one_ulp("exp");
    }

    #[test]
    fn ln_matches_std_within_one_ulp() {
        let mut state = 0x8765_4321;
        let mut distances = Distances::default();
        const N: usize = 1_000_000;
        for i in 0..N {
            // Every binade from subnormals to the largest, and the ranges models use.
            let xs = [
                f64::from_bits(1 + (rng(&mut state) * f64::MAX.to_bits() as f64) as u64),
                0.5 + rng(&mut state),
                1e-6 + 200.0 * (i as f64 / N as f64),
            ];
            for x in xs {
                let d = ulps(ln(x).abs(), x.ln().abs())
                    + u64::from(ln(x).is_sign_negative() != x.ln().is_sign_negative() && x != 1.0);
                distances.record(d, x);
            }
        }
        distances.assert_within_one_ulp("ln");
    }

    #[test]
    fn ln_special_values() {
        assert_eq!(ln(1.0).to_bits(), 0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert_eq!(ln(-0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan() && ln(f64::NEG_INFINITY).is_nan() && ln(f64::NAN).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        assert_eq!(ln(std::f64::consts::E), 1.0);
        for x in [f64::MIN_POSITIVE, 5e-324, 1e-310, f64::MAX, 2.0, 0.5, std::f64::consts::SQRT_2] {
            assert!(ulps(ln(x).abs(), x.ln().abs()) <= 1, "{x:e}: {} vs {}", ln(x), x.ln());
        }
    }

    #[test]
    fn exp_special_values() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(1e-300), 1.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY).to_bits(), 0);
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(f64::MAX), f64::INFINITY);
        assert_eq!(exp(f64::MIN).to_bits(), 0);
        // Overflow threshold ln(MAX) = 709.782712893384.
        assert!(exp(709.782712893383).is_finite());
        assert_eq!(exp(709.782712893385), f64::INFINITY);
        assert_eq!(exp(710.0), f64::INFINITY);
        // Subnormal results, and the underflow to zero.
        for x in [-708.5, -720.0, -740.0, -744.0, -744.4, -745.0, -745.1] {
            let (a, b) = (exp(x), x.exp());
            assert!(a > 0.0 && a < f64::MIN_POSITIVE && ulps(a, b) <= 1, "{x}: {a:e} vs {b:e}");
        }
        assert_eq!(exp(-745.2).to_bits(), 0);
        assert_eq!(exp(-800.0).to_bits(), 0);
    }
}
