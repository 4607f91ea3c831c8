//! Values in one or two lanes: the lane shape of a body pass, and constants, selection,
//! truth values and calls that work the same in either.

use cranelift_codegen::ir::{FuncRef, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::F64;

/// How many instances one pass of the body computes: one (the scalar body, the tail and the
/// event kernel) or two (`F64X2` lanes, instances `i` and `i + 1`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) enum Lanes {
    One,
    Two,
}

impl Lanes {
    pub(super) fn float(self) -> Type {
        match self {
            Lanes::One => F64,
            Lanes::Two => types::F64X2,
        }
    }

    pub(super) fn int(self) -> Type {
        match self {
            Lanes::One => types::I64,
            Lanes::Two => types::I64X2,
        }
    }

    pub(super) fn count(self) -> usize {
        match self {
            Lanes::One => 1,
            Lanes::Two => 2,
        }
    }
}

/// A constant in every lane (a vector from the constant pool for two lanes).
pub(super) fn fconst(b: &mut FunctionBuilder, lanes: Lanes, c: f64) -> Value {
    match lanes {
        Lanes::One => b.ins().f64const(c),
        Lanes::Two => vconst(b, types::F64X2, c.to_bits()),
    }
}

/// A 128-bit constant with `bits` in both 64-bit lanes.
pub(super) fn vconst(b: &mut FunctionBuilder, ty: Type, bits: u64) -> Value {
    let mut bytes = bits.to_le_bytes().to_vec();
    bytes.extend_from_slice(&bits.to_le_bytes());
    let c = b.func.dfg.constants.insert(bytes.into());
    b.ins().vconst(ty, c)
}

/// A scalar `F64` in every lane.
pub(super) fn splat(b: &mut FunctionBuilder, lanes: Lanes, v: Value) -> Value {
    match lanes {
        Lanes::One => v,
        Lanes::Two => b.ins().splat(types::F64X2, v),
    }
}

/// An `i64` constant in every lane.
pub(super) fn iconst(b: &mut FunctionBuilder, lanes: Lanes, c: i64) -> Value {
    match lanes {
        Lanes::One => b.ins().iconst(types::I64, c),
        Lanes::Two => vconst(b, types::I64X2, c as u64),
    }
}

/// Reinterprets the bits (same lane shape).
pub(super) fn bitcast(b: &mut FunctionBuilder, to: Type, v: Value) -> Value {
    b.ins().bitcast(to, MemFlagsData::new(), v)
}

/// `c ? x : y` per lane, `c` the result of an `fcmp` (or a logic combination of them).
pub(super) fn choose(b: &mut FunctionBuilder, lanes: Lanes, c: Value, x: Value, y: Value) -> Value {
    match lanes {
        Lanes::One => b.ins().select(c, x, y),
        Lanes::Two => {
            let mask = bitcast(b, types::F64X2, c);
            b.ins().bitselect(mask, x, y)
        }
    }
}

/// 1.0 where `c` holds, else 0.0 (comparisons and logic return numbers, as in `eval`).
pub(super) fn truth(b: &mut FunctionBuilder, lanes: Lanes, c: Value) -> Value {
    let one = fconst(b, lanes, 1.0);
    match lanes {
        Lanes::One => {
            let zero = b.ins().f64const(0.0);
            b.ins().select(c, one, zero)
        }
        Lanes::Two => {
            // All ones or all zeros per lane: the mask and 1.0 gives 1.0 or +0.0.
            let mask = bitcast(b, types::F64X2, c);
            b.ins().band(mask, one)
        }
    }
}

/// A call of a scalar function, once per lane (lane 0 first).
pub(super) fn call_lanes(b: &mut FunctionBuilder, lanes: Lanes, f: FuncRef, args: &[Value]) -> Value {
    match lanes {
        Lanes::One => call(b, f, args),
        Lanes::Two => {
            let mut results = [None; 2];
            for (lane, result) in results.iter_mut().enumerate() {
                let lane_args: Vec<Value> = args.iter().map(|a| b.ins().extractlane(*a, lane as u8)).collect();
                *result = Some(call(b, f, &lane_args));
            }
            let v = b.ins().scalar_to_vector(types::F64X2, results[0].expect("lane 0"));
            b.ins().insertlane(v, results[1].expect("lane 1"), 1)
        }
    }
}

pub(super) fn call(b: &mut FunctionBuilder, f: FuncRef, args: &[Value]) -> Value {
    let inst = b.ins().call(f, args);
    b.inst_results(inst)[0]
}
