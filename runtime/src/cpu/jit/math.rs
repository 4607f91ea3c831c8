//! The functions generated code calls: thin `extern "C"` wrappers around the Rust standard
//! library or Sylva's own `ln` (not `exp`: the code generator emits Sylva's own `exp` inline),
//! so that the JIT
//! computes exactly what [`ExprArena::eval`] computes (the same
//! libm entry points, the same NaN and signed-zero rules for `min`/`max`).
//!
//! [`ExprArena::eval`]: sylva_compiler::ir::expr::ExprArena::eval

extern "C" fn ln(x: f64) -> f64 {
    sylva_compiler::ir::math::ln(x)
}

extern "C" fn log10(x: f64) -> f64 {
    x.log10()
}

extern "C" fn sin(x: f64) -> f64 {
    x.sin()
}

extern "C" fn cos(x: f64) -> f64 {
    x.cos()
}

extern "C" fn tanh(x: f64) -> f64 {
    x.tanh()
}

extern "C" fn powf(x: f64, y: f64) -> f64 {
    x.powf(y)
}

extern "C" fn min(x: f64, y: f64) -> f64 {
    x.min(y)
}

extern "C" fn max(x: f64, y: f64) -> f64 {
    x.max(y)
}

/// A function the generated code may call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MathFn {
    Ln,
    Log10,
    Sin,
    Cos,
    Tanh,
    Pow,
    Min,
    Max,
}

impl MathFn {
    pub(crate) const ALL: [MathFn; 8] =
        [MathFn::Ln, MathFn::Log10, MathFn::Sin, MathFn::Cos, MathFn::Tanh, MathFn::Pow, MathFn::Min, MathFn::Max];

    /// The symbol name the generated code imports (prefixed, so that it never resolves to a
    /// libm symbol of the process by accident).
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            MathFn::Ln => "sylva_log",
            MathFn::Log10 => "sylva_log10",
            MathFn::Sin => "sylva_sin",
            MathFn::Cos => "sylva_cos",
            MathFn::Tanh => "sylva_tanh",
            MathFn::Pow => "sylva_pow",
            MathFn::Min => "sylva_min",
            MathFn::Max => "sylva_max",
        }
    }

    /// Number of f64 arguments (the result is one f64).
    pub(crate) fn arity(self) -> usize {
        match self {
            MathFn::Pow | MathFn::Min | MathFn::Max => 2,
            _ => 1,
        }
    }

    pub(crate) fn address(self) -> *const u8 {
        match self {
            MathFn::Ln => ln as extern "C" fn(f64) -> f64 as *const u8,
            MathFn::Log10 => log10 as extern "C" fn(f64) -> f64 as *const u8,
            MathFn::Sin => sin as extern "C" fn(f64) -> f64 as *const u8,
            MathFn::Cos => cos as extern "C" fn(f64) -> f64 as *const u8,
            MathFn::Tanh => tanh as extern "C" fn(f64) -> f64 as *const u8,
            MathFn::Pow => powf as extern "C" fn(f64, f64) -> f64 as *const u8,
            MathFn::Min => min as extern "C" fn(f64, f64) -> f64 as *const u8,
            MathFn::Max => max as extern "C" fn(f64, f64) -> f64 as *const u8,
        }
    }
}

/// The multiplications `f64::powi` performs (LLVM's `powi` intrinsic lowers to compiler-rt's
/// `__powidf2`: square-and-multiply over |n| from the low bit, then one reciprocal for n < 0),
/// as a plan the code generator unrolls for a constant `n`. Each step squares the base (after
/// the first) and multiplies it into the result when the bit is set.
pub(crate) struct PowiPlan {
    /// For each bit of |n| from the lowest: whether the current power of the base is multiplied
    /// into the result. The base is squared between consecutive entries.
    pub(crate) bits: Vec<bool>,
    pub(crate) reciprocal: bool,
}

pub(crate) fn powi_plan(n: i32) -> PowiPlan {
    let mut bits = Vec::new();
    let mut b = n.unsigned_abs();
    loop {
        bits.push(b & 1 != 0);
        b >>= 1;
        if b == 0 {
            break;
        }
    }
    PowiPlan { bits, reciprocal: n < 0 }
}
