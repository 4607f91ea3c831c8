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

/// The baseline, AVX2 and AVX-512 variants of `$name` applying `$f` to each value.
macro_rules! row_variants {
    ($name:ident, $f:path) => {
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

            /// # Safety
            /// As [`baseline`]; the processor must have AVX-512 F and DQ.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq")]
            pub(super) unsafe extern "C" fn avx512(values: *mut f64, count: usize) {
                // SAFETY: forwarded from the caller.
                unsafe { std::slice::from_raw_parts_mut(values, count) }.iter_mut().for_each(|x| *x = $f(*x));
            }
        }
    };
}

row_variants!(exp_rows, sylva_compiler::ir::math::exp);
row_variants!(ln_rows, sylva_compiler::ir::math::ln);

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
                Batched::Exp => (exp_rows::avx2, exp_rows::avx512),
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
        xs.extend((1..4_000u64).map(|i| f64::from_bits(i * (f64::MAX.to_bits() / 4_000))));
        xs.extend([
            0.0,
            -0.0,
            1e-310,
            5e-324,
            -745.1332191019412,
            709.782712893384,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
        ]);
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
