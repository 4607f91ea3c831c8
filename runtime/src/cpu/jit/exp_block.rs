//! `exp` of a block of values in place, for the phased instance loop (`codegen::phased`):
//! [`sylva_compiler::ir::math::exp`] of each value, compiled by rustc for the widest vectors
//! the processor has. Cranelift's vectors have two f64 lanes; here AVX-512 gives eight, AVX2
//! four. `math::exp` uses `+`, `-`, `*` each rounded once and integer operations on the bits,
//! and rustc never contracts or reassociates floating point, so every variant gives the bits
//! of `math::exp` (tested in `tests::every_variant_matches_math_exp_bit_for_bit`).

use sylva_compiler::ir::math;

/// The symbol the generated code imports.
pub(crate) const SYMBOL: &str = "sylva_exp_block";

/// The signature of every variant: `values[0..count] = exp(values[0..count])`.
type ExpBlock = unsafe extern "C" fn(values: *mut f64, count: usize);

#[inline(always)]
fn exp_each(values: &mut [f64]) {
    for x in values {
        *x = math::exp(*x);
    }
}

/// # Safety
/// `values` must be valid for reads and writes of `count` values.
unsafe extern "C" fn exp_block_baseline(values: *mut f64, count: usize) {
    // SAFETY: forwarded from the caller.
    exp_each(unsafe { std::slice::from_raw_parts_mut(values, count) });
}

/// # Safety
/// As [`exp_block_baseline`]; the processor must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe extern "C" fn exp_block_avx2(values: *mut f64, count: usize) {
    // SAFETY: forwarded from the caller.
    exp_each(unsafe { std::slice::from_raw_parts_mut(values, count) });
}

/// # Safety
/// As [`exp_block_baseline`]; the processor must have AVX-512 F and DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe extern "C" fn exp_block_avx512(values: *mut f64, count: usize) {
    // SAFETY: forwarded from the caller.
    exp_each(unsafe { std::slice::from_raw_parts_mut(values, count) });
}

/// Every variant this processor can run, widest first, with its name.
fn variants() -> Vec<(&'static str, ExpBlock)> {
    let mut found: Vec<(&'static str, ExpBlock)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            found.push(("avx512", exp_block_avx512));
        }
        if is_x86_feature_detected!("avx2") {
            found.push(("avx2", exp_block_avx2));
        }
    }
    found.push(("baseline", exp_block_baseline));
    found
}

/// The address of the widest variant this processor runs.
pub(crate) fn address() -> *const u8 {
    variants()[0].1 as *const u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_matches_math_exp_bit_for_bit() {
        let mut xs: Vec<f64> = (0..40_000).map(|i| -760.0 + 1480.0 * f64::from(i) / 40_000.0).collect();
        xs.extend((0..4_000).map(|i| -2.0 + f64::from(i) / 1_000.0));
        xs.extend([
            0.0,
            -0.0,
            1e-310,
            -745.1332191019412,
            709.782712893384,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
        ]);
        for (name, variant) in variants() {
            // An odd count, so that the vector loop's remainder runs too.
            let mut ys = xs.clone();
            // SAFETY: `ys` holds `ys.len()` values.
            unsafe { variant(ys.as_mut_ptr(), ys.len()) };
            for (x, y) in xs.iter().zip(&ys) {
                let want = math::exp(*x);
                assert_eq!(y.to_bits(), want.to_bits(), "{name}: exp({x:e}) = {y:e}, math::exp {want:e}");
            }
        }
    }
}
