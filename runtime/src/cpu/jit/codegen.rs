//! Translation of a [`Kernel`] into one Cranelift function.
//!
//! Shape of the function (stages other than `Event`):
//!
//! ```text
//! entry(table, scalars, start, end):  load the slot pointers and scalars the kernel uses
//! head(i):   if i + 2 <= end goto pair(i) else goto tail(i)
//! pair(i):   instances i and i + 1 in the two lanes of F64X2 vectors; goto head(i + 2)
//! tail(i):   if i < end goto one(i) else exit
//! one(i):    instance i alone (scalar); goto head(i + 1)
//! ```
//!
//! The event kernel has no loop: `(table, scalars, instance, weight)`, one scalar body.
//!
//! A body loads every leaf (per-instance leaves as one vector load, per-node leaves lane by
//! lane), evaluates the DAG in id order (vector arithmetic, comparisons as lane masks, `exp`
//! inline; calls of other functions once per lane), then writes. Every leaf is loaded before the
//! first store, so each instance sees the memory as it was before its writes (the kernel
//! semantics of `sylva_compiler::ir::kernel`). Per-node writes go lane 0 first, then lane 1, so
//! two instances on one node accumulate in instance order, exactly as the scalar loop does.
//! The one case where the lanes could differ from one instance at a time — a kernel that reads
//! a per-node value it also writes (an ion variable), with both instances on one node — is
//! checked at run time and runs through the scalar body instead.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, Signature, Type, Value, types};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};
use sylva_compiler::ir::expr::{BinaryOp, Builtin, Expr, ExprId, IonVar, UnaryOp};
use sylva_compiler::ir::kernel::{Kernel, Stage, Target};
use sylva_compiler::ir::math;

use super::JitError;
use super::math::{MathFn, powi_plan};
use crate::cpu::slots::{SCALAR_CELSIUS, SCALAR_DT, SCALAR_T, Slot};

const F64: Type = types::F64;

/// The signature of a kernel function.
pub(super) fn signature(module: &dyn Module, stage: Stage) -> Signature {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(ptr)); // table
    sig.params.push(AbiParam::new(ptr)); // scalars
    sig.params.push(AbiParam::new(types::I64)); // start / instance
    sig.params.push(AbiParam::new(if stage == Stage::Event { F64 } else { types::I64 })); // end / weight
    sig
}

/// Where a value of the kernel lives in memory.
#[derive(Copy, Clone)]
enum Index {
    Instance,
    Node,
}

/// The slot a leaf reads, and whether it is per instance or per node.
fn leaf_slot(expr: Expr) -> Option<(Slot, Index)> {
    Some(match expr {
        Expr::Param(i) => (Slot::Param(i), Index::Instance),
        Expr::State(i) => (Slot::State(i), Index::Instance),
        Expr::Builtin(Builtin::V) => (Slot::Voltage, Index::Node),
        Expr::Builtin(Builtin::Area) => (Slot::Area, Index::Node),
        Expr::Builtin(Builtin::Diam) => (Slot::Diam, Index::Node),
        Expr::Ion(u, var) => (Slot::Ion(u, var), Index::Node),
        _ => return None,
    })
}

/// The slot a write targets, and whether it accumulates.
fn target_slot(target: Target) -> (Slot, Index, bool) {
    match target {
        Target::State(i) => (Slot::State(i), Index::Instance, false),
        Target::Current(i) => (Slot::Current(i), Index::Instance, false),
        Target::Derived(i) => (Slot::Derived(i), Index::Instance, false),
        Target::NodeRhs => (Slot::Rhs, Index::Node, true),
        Target::NodeDiagonal => (Slot::Diagonal, Index::Node, true),
        Target::IonCurrent(u) => (Slot::Ion(u, IonVar::Current), Index::Node, true),
        Target::IonConcentration(u, var) => (Slot::Ion(u, var), Index::Node, false),
    }
}

/// Which expressions the writes reach.
fn reachable(kernel: &Kernel) -> Vec<bool> {
    let mut live = vec![false; kernel.exprs.len()];
    for w in &kernel.writes {
        live[w.value.0 as usize] = true;
    }
    // Operands have smaller ids: one backward sweep suffices.
    for id in (0..kernel.exprs.len()).rev() {
        if live[id] {
            for op in kernel.exprs.get(ExprId(id as u32)).operands() {
                live[op.0 as usize] = true;
            }
        }
    }
    live
}

/// Checks the kernel against the slot list before any code is generated: every slot it uses
/// exists and every expression id is in range.
fn check(kernel: &Kernel, slots: &HashMap<Slot, usize>, live: &[bool]) -> Result<(), JitError> {
    let n = kernel.exprs.len();
    for (k, w) in kernel.writes.iter().enumerate() {
        if w.value.0 as usize >= n {
            return Err(JitError::BadExpression(format!("write {k} refers to expression {} of {n}", w.value.0)));
        }
        let (slot, index, _) = target_slot(w.target);
        let need = |s: Slot| {
            if slots.contains_key(&s) {
                Ok(())
            } else {
                Err(JitError::MissingSlot { slot: s, user: format!("write target {:?}", w.target) })
            }
        };
        need(slot)?;
        if let Index::Node = index {
            need(Slot::NodeIndex)?;
        }
    }
    for (id, e) in kernel.exprs.iter() {
        if !live[id.0 as usize] {
            continue;
        }
        if let Some(bad) = e.operands().find(|o| o.0 >= id.0) {
            return Err(JitError::BadExpression(format!(
                "expression {} has operand {} (operands must come first)",
                id.0, bad.0
            )));
        }
        if let Some((slot, index)) = leaf_slot(e) {
            let need = |s: Slot| {
                if slots.contains_key(&s) {
                    Ok(())
                } else {
                    Err(JitError::MissingSlot { slot: s, user: format!("leaf {e:?}") })
                }
            };
            need(slot)?;
            if let Index::Node = index {
                need(Slot::NodeIndex)?;
            }
        }
        if e == Expr::Weight && kernel.stage != Stage::Event {
            return Err(JitError::WeightOutsideEvent);
        }
    }
    Ok(())
}

/// Whether one instance may read a per-node value that an earlier instance of the same call
/// writes (an ion concentration or current both read and written by the kernel). Two lanes
/// load before either stores, so a pair of such instances on one node must run one at a time.
/// Use indices are compared by variable only, in case two uses name one species.
fn cross_instance_hazard(kernel: &Kernel, live: &[bool]) -> bool {
    let written: Vec<IonVar> = kernel
        .writes
        .iter()
        .filter_map(|w| match w.target {
            Target::IonCurrent(_) => Some(IonVar::Current),
            Target::IonConcentration(_, var) => Some(var),
            _ => None,
        })
        .collect();
    kernel.exprs.iter().any(|(id, e)| live[id.0 as usize] && matches!(e, Expr::Ion(_, var) if written.contains(&var)))
}

/// How many instances one pass of the body computes: one (the scalar body, the tail and the
/// event kernel) or two (`F64X2` lanes, instances `i` and `i + 1`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Lanes {
    One,
    Two,
}

impl Lanes {
    fn float(self) -> Type {
        match self {
            Lanes::One => F64,
            Lanes::Two => types::F64X2,
        }
    }

    fn int(self) -> Type {
        match self {
            Lanes::One => types::I64,
            Lanes::Two => types::I64X2,
        }
    }

    fn count(self) -> usize {
        match self {
            Lanes::One => 1,
            Lanes::Two => 2,
        }
    }
}

/// What every body needs: the kernel and the values loaded once in the entry block.
struct Env<'a> {
    kernel: &'a Kernel,
    live: &'a [bool],
    pointers: HashMap<Slot, Value>,
    scalars: HashMap<usize, Value>,
    math: HashMap<MathFn, FuncRef>,
    node_index: Option<Value>,
    /// The event weight (event kernels only).
    weight: Option<Value>,
    /// Scalar accesses (8-byte aligned, never trapping).
    flags: MemFlagsData,
    /// Vector accesses: 8-byte aligned only.
    vector_flags: MemFlagsData,
}

/// Builds the function of `kernel` into `func` (already given its signature and name).
/// Returns the math functions it calls.
pub(super) fn build(
    module: &mut dyn Module,
    func: &mut cranelift_codegen::ir::Function,
    kernel: &Kernel,
    slot_list: &[Slot],
    math: &HashMap<MathFn, FuncId>,
) -> Result<Vec<MathFn>, JitError> {
    // The first occurrence of a slot wins.
    let mut slots: HashMap<Slot, usize> = HashMap::new();
    for (k, s) in slot_list.iter().enumerate() {
        slots.entry(*s).or_insert(k);
    }
    let live = reachable(kernel);
    check(kernel, &slots, &live)?;

    let ptr = module.target_config().pointer_type();
    let flags = MemFlagsData::trusted();
    let vector_flags = MemFlagsData::new().with_notrap();
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut fctx);
    let event = kernel.stage == Stage::Event;

    // Import the math functions the live expressions call.
    let mut used_math: Vec<MathFn> = Vec::new();
    for (id, e) in kernel.exprs.iter() {
        if !live[id.0 as usize] {
            continue;
        }
        if let Some(f) = math_fn(e)
            && !used_math.contains(&f)
        {
            used_math.push(f);
        }
    }
    let mut math_refs: HashMap<MathFn, FuncRef> = HashMap::new();
    for &f in &used_math {
        let id = math[&f];
        math_refs.insert(f, module.declare_func_in_func(id, b.func));
    }

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (table, scalars, first, last) = (params[0], params[1], params[2], params[3]);

    // Slot pointers and scalars, loaded once.
    let mut pointers: HashMap<Slot, Value> = HashMap::new();
    let mut pointer = |b: &mut FunctionBuilder, s: Slot| -> Value {
        *pointers.entry(s).or_insert_with(|| {
            let k = slots[&s];
            b.ins().load(ptr, flags, table, (k * ptr.bytes() as usize) as i32)
        })
    };
    let mut uses_node = false;
    let mut scalar_values: HashMap<usize, Value> = HashMap::new();
    for (id, e) in kernel.exprs.iter() {
        if !live[id.0 as usize] {
            continue;
        }
        if let Some((s, index)) = leaf_slot(e) {
            pointer(&mut b, s);
            uses_node |= matches!(index, Index::Node);
        }
        if let Some(k) = scalar_index(e)
            && !scalar_values.contains_key(&k)
        {
            let v = b.ins().load(F64, flags, scalars, (k * 8) as i32);
            scalar_values.insert(k, v);
        }
    }
    for w in &kernel.writes {
        let (s, index, _) = target_slot(w.target);
        pointer(&mut b, s);
        uses_node |= matches!(index, Index::Node);
    }
    let node_index = if uses_node { Some(pointer(&mut b, Slot::NodeIndex)) } else { None };
    let env = Env {
        kernel,
        live: &live,
        pointers,
        scalars: scalar_values,
        math: math_refs,
        node_index,
        weight: if event { Some(last) } else { None },
        flags,
        vector_flags,
    };

    if event {
        body(&mut b, &env, first, Lanes::One);
        b.ins().return_(&[]);
    } else {
        // head(i):   if i + 2 <= end goto pair(i) else goto tail(i)
        // pair(i):   [kernels with a cross-instance hazard: if node[i] == node[i+1] goto one(i)]
        //            two instances; goto head(i + 2)
        // tail(i):   if i < end goto one(i) else exit
        // one(i):    one instance; goto head(i + 1)
        let head = b.create_block();
        b.append_block_param(head, types::I64);
        let pair = b.create_block();
        b.append_block_param(pair, types::I64);
        let tail = b.create_block();
        b.append_block_param(tail, types::I64);
        let one = b.create_block();
        b.append_block_param(one, types::I64);
        let exit = b.create_block();
        b.ins().jump(head, &[BlockArg::Value(first)]);

        b.switch_to_block(head);
        let i = b.block_params(head)[0];
        let i2 = b.ins().iadd_imm_s(i, 2);
        let two = b.ins().icmp(IntCC::SignedLessThanOrEqual, i2, last);
        if cross_instance_hazard(kernel, &live) {
            let check = b.create_block();
            b.append_block_param(check, types::I64);
            b.ins().brif(two, check, &[BlockArg::Value(i)], tail, &[BlockArg::Value(i)]);
            b.switch_to_block(check);
            let i = b.block_params(check)[0];
            let nodes = env.node_index.expect("ion leaves use the node index");
            let at = b.ins().ishl_imm_u(i, 2);
            let addr = b.ins().iadd(nodes, at);
            let n0 = b.ins().load(types::I32, flags, addr, 0);
            let n1 = b.ins().load(types::I32, flags, addr, 4);
            let distinct = b.ins().icmp(IntCC::NotEqual, n0, n1);
            b.ins().brif(distinct, pair, &[BlockArg::Value(i)], one, &[BlockArg::Value(i)]);
        } else {
            b.ins().brif(two, pair, &[BlockArg::Value(i)], tail, &[BlockArg::Value(i)]);
        }

        b.switch_to_block(pair);
        let i = b.block_params(pair)[0];
        body(&mut b, &env, i, Lanes::Two);
        let next = b.ins().iadd_imm_s(i, 2);
        b.ins().jump(head, &[BlockArg::Value(next)]);

        b.switch_to_block(tail);
        let i = b.block_params(tail)[0];
        let more = b.ins().icmp(IntCC::SignedLessThan, i, last);
        b.ins().brif(more, one, &[BlockArg::Value(i)], exit, &[]);

        b.switch_to_block(one);
        let i = b.block_params(one)[0];
        body(&mut b, &env, i, Lanes::One);
        let next = b.ins().iadd_imm_s(i, 1);
        b.ins().jump(head, &[BlockArg::Value(next)]);

        b.switch_to_block(exit);
        b.ins().return_(&[]);
    }
    b.seal_all_blocks();
    b.finalize(module.target_config());
    Ok(used_math)
}

/// A constant in every lane (a vector from the constant pool for two lanes).
fn fconst(b: &mut FunctionBuilder, lanes: Lanes, c: f64) -> Value {
    match lanes {
        Lanes::One => b.ins().f64const(c),
        Lanes::Two => vconst(b, types::F64X2, c.to_bits()),
    }
}

/// A 128-bit constant with `bits` in both 64-bit lanes.
fn vconst(b: &mut FunctionBuilder, ty: Type, bits: u64) -> Value {
    let mut bytes = bits.to_le_bytes().to_vec();
    bytes.extend_from_slice(&bits.to_le_bytes());
    let c = b.func.dfg.constants.insert(bytes.into());
    b.ins().vconst(ty, c)
}

/// A scalar `F64` in every lane.
fn splat(b: &mut FunctionBuilder, lanes: Lanes, v: Value) -> Value {
    match lanes {
        Lanes::One => v,
        Lanes::Two => b.ins().splat(types::F64X2, v),
    }
}

/// An `i64` constant in every lane.
fn iconst(b: &mut FunctionBuilder, lanes: Lanes, c: i64) -> Value {
    match lanes {
        Lanes::One => b.ins().iconst(types::I64, c),
        Lanes::Two => vconst(b, types::I64X2, c as u64),
    }
}

/// Reinterprets the bits (same lane shape).
fn bitcast(b: &mut FunctionBuilder, to: Type, v: Value) -> Value {
    b.ins().bitcast(to, MemFlagsData::new(), v)
}

/// `c ? x : y` per lane, `c` the result of an `fcmp` (or a logic combination of them).
fn choose(b: &mut FunctionBuilder, lanes: Lanes, c: Value, x: Value, y: Value) -> Value {
    match lanes {
        Lanes::One => b.ins().select(c, x, y),
        Lanes::Two => {
            let mask = bitcast(b, types::F64X2, c);
            b.ins().bitselect(mask, x, y)
        }
    }
}

/// 1.0 where `c` holds, else 0.0 (comparisons and logic return numbers, as in `eval`).
fn truth(b: &mut FunctionBuilder, lanes: Lanes, c: Value) -> Value {
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
fn call_lanes(b: &mut FunctionBuilder, lanes: Lanes, f: FuncRef, args: &[Value]) -> Value {
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

/// How many `exp` of one DAG level are emitted in lockstep (their instructions interleaved, so
/// that the processor overlaps their latencies; more would spill).
const EXP_GROUP: usize = 3;

#[derive(Copy, Clone)]
enum Op {
    Fadd,
    Fsub,
    Fmul,
    Iadd,
    Isub,
}

/// `op` lane-wise over the group.
fn each(b: &mut FunctionBuilder, op: Op, x: &[Value], y: &[Value]) -> Vec<Value> {
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
fn each_c(b: &mut FunctionBuilder, lanes: Lanes, op: Op, x: &[Value], c: f64) -> Vec<Value> {
    let c = fconst(b, lanes, c);
    each(b, op, x, &vec![c; x.len()])
}

/// `c + d·x` for each member of the group (one Estrin pair).
fn pair(b: &mut FunctionBuilder, lanes: Lanes, c: f64, d: f64, x: &[Value]) -> Vec<Value> {
    let t = each_c(b, lanes, Op::Fmul, x, d);
    let c = fconst(b, lanes, c);
    each(b, Op::Fadd, &vec![c; x.len()], &t)
}

/// `sylva_compiler::ir::math::exp`, operation for operation (so bit for bit), in every lane, for
/// a group of arguments whose instructions are interleaved step by step.
fn exp_group(b: &mut FunctionBuilder, lanes: Lanes, xs: &[Value]) -> Vec<Value> {
    let (ft, it) = (lanes.float(), lanes.int());
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
    let t = each_c(b, lanes, Op::Fmul, &xc, math::INV_LN2);
    let shifted = each_c(b, lanes, Op::Fadd, &t, math::ROUND_SHIFT);
    let kd = each_c(b, lanes, Op::Fsub, &shifted, math::ROUND_SHIFT);
    let khi = each_c(b, lanes, Op::Fmul, &kd, math::LN2_HI);
    let hi = each(b, Op::Fsub, &xc, &khi);
    let lo = each_c(b, lanes, Op::Fmul, &kd, math::LN2_LO);
    let r = each(b, Op::Fsub, &hi, &lo);
    let r2 = each(b, Op::Fmul, &r, &r);
    // Estrin's scheme, as `math::exp_poly`.
    let c = math::EXP_COEFFS;
    let r4 = each(b, Op::Fmul, &r2, &r2);
    let p01 = pair(b, lanes, c[0], c[1], &r);
    let p23 = pair(b, lanes, c[2], c[3], &r);
    let p45 = pair(b, lanes, c[4], c[5], &r);
    let p67 = pair(b, lanes, c[6], c[7], &r);
    let r8 = each(b, Op::Fmul, &r4, &r4);
    let p89 = pair(b, lanes, c[8], c[9], &r);
    let p1011 = pair(b, lanes, c[10], c[11], &r);
    let t = each(b, Op::Fmul, &p23, &r2);
    let q03 = each(b, Op::Fadd, &p01, &t);
    let t = each(b, Op::Fmul, &p67, &r2);
    let q47 = each(b, Op::Fadd, &p45, &t);
    let t = each(b, Op::Fmul, &p1011, &r2);
    let q811 = each(b, Op::Fadd, &p89, &t);
    let t = each(b, Op::Fmul, &q47, &r4);
    let q07 = each(b, Op::Fadd, &q03, &t);
    let t = each(b, Op::Fmul, &q811, &r8);
    let q = each(b, Op::Fadd, &q07, &t);
    let r2q = each(b, Op::Fmul, &r2, &q);
    let small = each(b, Op::Fsub, &r2q, &lo);
    let s = each(b, Op::Fadd, &hi, &small);
    let one = fconst(b, lanes, 1.0);
    let p = each(b, Op::Fadd, &vec![one; n], &s);
    // k = bits(t) - bits(shift); a = floor(k / 2) + 1024; 2^k1 has exponent field a - 1,
    // 2^(k - k1) has k - a + 2047.
    let bits: Vec<Value> = shifted.iter().map(|&v| bitcast(b, it, v)).collect();
    let shift_bits = iconst(b, lanes, math::ROUND_SHIFT.to_bits() as i64);
    let k = each(b, Op::Isub, &bits, &vec![shift_bits; n]);
    let c2048 = iconst(b, lanes, 2048);
    let a = each(b, Op::Iadd, &k, &vec![c2048; n]);
    let one_bit = b.ins().iconst(types::I64, 1);
    let a: Vec<Value> = a.iter().map(|&a| b.ins().ushr(a, one_bit)).collect();
    let minus_one = iconst(b, lanes, -1);
    let e1 = each(b, Op::Iadd, &a, &vec![minus_one; n]);
    let c52 = b.ins().iconst(types::I64, 52);
    let s1: Vec<Value> = e1
        .iter()
        .map(|&e| {
            let e = b.ins().ishl(e, c52);
            bitcast(b, ft, e)
        })
        .collect();
    let e2 = each(b, Op::Isub, &k, &a);
    let c2047 = iconst(b, lanes, 2047);
    let e2 = each(b, Op::Iadd, &e2, &vec![c2047; n]);
    let s2: Vec<Value> = e2
        .iter()
        .map(|&e| {
            let e = b.ins().ishl(e, c52);
            bitcast(b, ft, e)
        })
        .collect();
    let y = each(b, Op::Fmul, &p, &s1);
    let y = each(b, Op::Fmul, &y, &s2);
    xs.iter()
        .zip(y)
        .map(|(&x, y)| {
            let nan = b.ins().fcmp(FloatCC::Unordered, x, x);
            choose(b, lanes, nan, x, y)
        })
        .collect()
}

/// One pass of the body: loads, the DAG in id order, the writes in order, for instance `i`
/// (or `i` and `i + 1`). With two lanes, per-instance writes are vector stores (the lanes'
/// addresses differ and no other slot aliases them); per-node writes go lane 0 first, then
/// lane 1, so two instances on one node accumulate in instance order, as in the scalar loop.
fn body(b: &mut FunctionBuilder, env: &Env, i: Value, lanes: Lanes) {
    let kernel = env.kernel;
    let flags = env.flags;
    let instance_offset = b.ins().ishl_imm_u(i, 3);
    let node_offsets: Vec<Value> = match env.node_index {
        Some(nodes) => {
            let at = b.ins().ishl_imm_u(i, 2);
            let addr = b.ins().iadd(nodes, at);
            (0..lanes.count())
                .map(|lane| {
                    let node = b.ins().load(types::I32, flags, addr, 4 * lane as i32);
                    let node = b.ins().uextend(types::I64, node);
                    b.ins().ishl_imm_u(node, 3)
                })
                .collect()
        }
        None => Vec::new(),
    };
    let ft = lanes.float();

    // The DAG, level by level (a node's level is one more than its operands' highest), so
    // that independent chains (the gates of a channel) interleave and the processor overlaps
    // their latencies; the function is compiled without the e-graph pass, which would
    // re-sequence the code depth first from the stores.
    let mut level = vec![0u32; kernel.exprs.len()];
    let mut order: Vec<ExprId> = Vec::new();
    for (id, e) in kernel.exprs.iter() {
        if env.live[id.0 as usize] {
            level[id.0 as usize] = e.operands().map(|o| level[o.0 as usize] + 1).max().unwrap_or(0);
            order.push(id);
        }
    }
    order.sort_by_key(|id| (level[id.0 as usize], id.0));
    let mut values: Vec<Option<Value>> = vec![None; kernel.exprs.len()];
    // The exps of a level, emitted in groups once the level's other nodes are done.
    let mut pending_exps: Vec<ExprId> = Vec::new();
    let flush = |b: &mut FunctionBuilder, pending: &mut Vec<ExprId>, values: &mut Vec<Option<Value>>| {
        for group in pending.chunks(EXP_GROUP) {
            let xs: Vec<Value> = group
                .iter()
                .map(|id| match kernel.exprs.get(*id) {
                    Expr::Unary(UnaryOp::Exp, a) => values[a.0 as usize].expect("operands come first"),
                    _ => unreachable!("only exps are pending"),
                })
                .collect();
            for (id, v) in group.iter().zip(exp_group(b, lanes, &xs)) {
                values[id.0 as usize] = Some(v);
            }
        }
        pending.clear();
    };
    let mut current_level = 0;
    for id in order {
        let e = kernel.exprs.get(id);
        if level[id.0 as usize] != current_level {
            flush(b, &mut pending_exps, &mut values);
            current_level = level[id.0 as usize];
        }
        if let Expr::Unary(UnaryOp::Exp, _) = e {
            pending_exps.push(id);
            continue;
        }
        let get = |x: ExprId| values[x.0 as usize].expect("operands come first");
        let v = match e {
            Expr::Const(c) => fconst(b, lanes, c),
            Expr::Weight => env.weight.expect("weight only in event kernels (checked)"),
            Expr::Builtin(Builtin::T | Builtin::Dt | Builtin::Celsius) => {
                let s = env.scalars[&scalar_index(e).expect("a scalar builtin")];
                splat(b, lanes, s)
            }
            Expr::Param(_) | Expr::State(_) | Expr::Builtin(_) | Expr::Ion(..) => {
                let (s, index) = leaf_slot(e).expect("a memory leaf");
                let base = env.pointers[&s];
                match (index, lanes) {
                    (Index::Instance, Lanes::One) => {
                        let addr = b.ins().iadd(base, instance_offset);
                        b.ins().load(F64, flags, addr, 0)
                    }
                    (Index::Instance, Lanes::Two) => {
                        let addr = b.ins().iadd(base, instance_offset);
                        b.ins().load(ft, env.vector_flags, addr, 0)
                    }
                    (Index::Node, _) => {
                        let mut v: Option<Value> = None;
                        for (lane, &offset) in node_offsets.iter().enumerate() {
                            let addr = b.ins().iadd(base, offset);
                            let x = b.ins().load(F64, flags, addr, 0);
                            v = Some(match (lanes, v) {
                                (Lanes::One, _) => x,
                                (Lanes::Two, None) => b.ins().scalar_to_vector(ft, x),
                                (Lanes::Two, Some(v)) => b.ins().insertlane(v, x, lane as u8),
                            });
                        }
                        v.expect("node index loaded when a per-node slot is used")
                    }
                }
            }
            Expr::Unary(op, a) => {
                let a = get(a);
                match op {
                    UnaryOp::Neg => b.ins().fneg(a),
                    UnaryOp::Sqrt => b.ins().sqrt(a),
                    UnaryOp::Abs => b.ins().fabs(a),
                    UnaryOp::Not => {
                        let zero = fconst(b, lanes, 0.0);
                        let c = b.ins().fcmp(FloatCC::Equal, a, zero);
                        truth(b, lanes, c)
                    }
                    UnaryOp::Exp => unreachable!("exps are emitted in groups"),
                    UnaryOp::Log | UnaryOp::Log10 | UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tanh => {
                        let f = math_fn(e).expect("a math call");
                        call_lanes(b, lanes, env.math[&f], &[a])
                    }
                }
            }
            Expr::Binary(op, x, y) => {
                let (x, y) = (get(x), get(y));
                match op {
                    BinaryOp::Add => b.ins().fadd(x, y),
                    BinaryOp::Sub => b.ins().fsub(x, y),
                    BinaryOp::Mul => b.ins().fmul(x, y),
                    BinaryOp::Div => b.ins().fdiv(x, y),
                    BinaryOp::Pow | BinaryOp::Min | BinaryOp::Max => {
                        let f = math_fn(e).expect("a math call");
                        call_lanes(b, lanes, env.math[&f], &[x, y])
                    }
                    BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne => {
                        // Ordered comparisons are false on NaN; `!=` is true on NaN (Rust's
                        // operators, FloatCC's NotEqual is "unordered or not equal").
                        let cc = match op {
                            BinaryOp::Lt => FloatCC::LessThan,
                            BinaryOp::Le => FloatCC::LessThanOrEqual,
                            BinaryOp::Gt => FloatCC::GreaterThan,
                            BinaryOp::Ge => FloatCC::GreaterThanOrEqual,
                            BinaryOp::Eq => FloatCC::Equal,
                            _ => FloatCC::NotEqual,
                        };
                        let c = b.ins().fcmp(cc, x, y);
                        truth(b, lanes, c)
                    }
                    BinaryOp::And | BinaryOp::Or => {
                        let zero = fconst(b, lanes, 0.0);
                        let cx = b.ins().fcmp(FloatCC::NotEqual, x, zero);
                        let cy = b.ins().fcmp(FloatCC::NotEqual, y, zero);
                        let c = if op == BinaryOp::And { b.ins().band(cx, cy) } else { b.ins().bor(cx, cy) };
                        truth(b, lanes, c)
                    }
                }
            }
            Expr::Powi(a, n) => powi(b, lanes, get(a), n),
            Expr::Select(c, x, y) => {
                let zero = fconst(b, lanes, 0.0);
                let c = b.ins().fcmp(FloatCC::NotEqual, get(c), zero);
                choose(b, lanes, c, get(x), get(y))
            }
        };
        values[id.0 as usize] = Some(v);
    }
    flush(b, &mut pending_exps, &mut values);

    // The writes, in order: per-instance ones at once, per-node ones lane by lane.
    let write = |b: &mut FunctionBuilder, slot: Slot, offset: Value, value: Value, accumulate: bool| {
        let addr = b.ins().iadd(env.pointers[&slot], offset);
        let value = if accumulate {
            let old = b.ins().load(F64, flags, addr, 0);
            b.ins().fadd(old, value)
        } else {
            value
        };
        b.ins().store(flags, value, addr, 0);
    };
    match lanes {
        Lanes::One => {
            for w in &kernel.writes {
                let value = values[w.value.0 as usize].expect("written values are live");
                let (s, index, accumulate) = target_slot(w.target);
                let offset = match index {
                    Index::Instance => instance_offset,
                    Index::Node => node_offsets[0],
                };
                write(b, s, offset, value, accumulate);
            }
        }
        Lanes::Two => {
            for w in &kernel.writes {
                let (s, index, accumulate) = target_slot(w.target);
                if let Index::Instance = index {
                    debug_assert!(!accumulate);
                    let value = values[w.value.0 as usize].expect("written values are live");
                    let addr = b.ins().iadd(env.pointers[&s], instance_offset);
                    b.ins().store(env.vector_flags, value, addr, 0);
                }
            }
            for (lane, &offset) in node_offsets.iter().enumerate() {
                for w in &kernel.writes {
                    let (s, index, accumulate) = target_slot(w.target);
                    if let Index::Node = index {
                        let value = values[w.value.0 as usize].expect("written values are live");
                        let value = b.ins().extractlane(value, lane as u8);
                        write(b, s, offset, value, accumulate);
                    }
                }
            }
        }
    }
}

fn scalar_index(e: Expr) -> Option<usize> {
    match e {
        Expr::Builtin(Builtin::T) => Some(SCALAR_T),
        Expr::Builtin(Builtin::Dt) => Some(SCALAR_DT),
        Expr::Builtin(Builtin::Celsius) => Some(SCALAR_CELSIUS),
        _ => None,
    }
}

fn math_fn(e: Expr) -> Option<MathFn> {
    match e {
        Expr::Unary(UnaryOp::Log, _) => Some(MathFn::Ln),
        Expr::Unary(UnaryOp::Log10, _) => Some(MathFn::Log10),
        Expr::Unary(UnaryOp::Sin, _) => Some(MathFn::Sin),
        Expr::Unary(UnaryOp::Cos, _) => Some(MathFn::Cos),
        Expr::Unary(UnaryOp::Tanh, _) => Some(MathFn::Tanh),
        Expr::Binary(BinaryOp::Pow, ..) => Some(MathFn::Pow),
        Expr::Binary(BinaryOp::Min, ..) => Some(MathFn::Min),
        Expr::Binary(BinaryOp::Max, ..) => Some(MathFn::Max),
        _ => None,
    }
}

/// Declares the math functions in the module (imports resolved by the JIT builder's symbols).
pub(super) fn declare_math(module: &mut dyn Module) -> Result<HashMap<MathFn, FuncId>, JitError> {
    let mut ids = HashMap::new();
    for f in MathFn::ALL {
        let mut sig = module.make_signature();
        for _ in 0..f.arity() {
            sig.params.push(AbiParam::new(F64));
        }
        sig.returns.push(AbiParam::new(F64));
        let id =
            module.declare_function(f.symbol(), Linkage::Import, &sig).map_err(|e| JitError::Module(e.to_string()))?;
        ids.insert(f, id);
    }
    Ok(ids)
}

fn call(b: &mut FunctionBuilder, f: FuncRef, args: &[Value]) -> Value {
    let inst = b.ins().call(f, args);
    b.inst_results(inst)[0]
}

/// `x.powi(n)` with `f64::powi`'s exact operation order (see [`powi_plan`]).
fn powi(b: &mut FunctionBuilder, lanes: Lanes, x: Value, n: i32) -> Value {
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
