//! Translation of a [`Kernel`] into one Cranelift function.
//!
//! Shape of the function (stages other than `Event`):
//!
//! ```text
//! entry(table, scalars, start, end):  load the slot pointers and scalars the kernel uses
//! head(i):                            if i < end goto body(i) else exit
//! body(i):                            node = node_index[i] (when needed); the DAG in id order;
//!                                     the writes in order; goto head(i + 1)
//! ```
//!
//! The event kernel has no loop: `(table, scalars, instance, weight)`, one body.
//!
//! Every leaf is loaded before the first store, so each instance sees the memory as it was
//! before its writes (the kernel semantics of `sylva_compiler::ir::kernel`); instances run in
//! order, so two instances on one node accumulate in instance order.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, Signature, Type, Value, types};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};
use sylva_compiler::ir::expr::{BinaryOp, Builtin, Expr, ExprId, IonVar, UnaryOp};
use sylva_compiler::ir::kernel::{Kernel, Stage, Target};

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

    // The loop (or the single event body).
    let (body, exit) = if event {
        let body = b.create_block();
        b.append_block_param(body, types::I64);
        b.ins().jump(body, &[BlockArg::Value(first)]);
        (body, None)
    } else {
        let head = b.create_block();
        b.append_block_param(head, types::I64);
        let body = b.create_block();
        b.append_block_param(body, types::I64);
        let exit = b.create_block();
        b.ins().jump(head, &[BlockArg::Value(first)]);
        b.switch_to_block(head);
        let i = b.block_params(head)[0];
        let more = b.ins().icmp(IntCC::SignedLessThan, i, last);
        b.ins().brif(more, body, &[BlockArg::Value(i)], exit, &[]);
        (body, Some((head, exit)))
    };
    b.switch_to_block(body);
    let i = b.block_params(body)[0];
    let instance_offset = b.ins().ishl_imm_u(i, 3);
    let node_offset = node_index.map(|nodes| {
        let at = b.ins().ishl_imm_u(i, 2);
        let addr = b.ins().iadd(nodes, at);
        let node = b.ins().load(types::I32, flags, addr, 0);
        let node = b.ins().uextend(types::I64, node);
        b.ins().ishl_imm_u(node, 3)
    });
    let address = |b: &mut FunctionBuilder, base: Value, index: Index| -> Value {
        let offset = match index {
            Index::Instance => instance_offset,
            Index::Node => node_offset.expect("node index loaded when a per-node slot is used"),
        };
        b.ins().iadd(base, offset)
    };

    // The DAG, in id order.
    let mut values: Vec<Option<Value>> = vec![None; kernel.exprs.len()];
    for (id, e) in kernel.exprs.iter() {
        if !live[id.0 as usize] {
            continue;
        }
        let get = |x: ExprId| values[x.0 as usize].expect("operands come first");
        let v = match e {
            Expr::Const(c) => b.ins().f64const(c),
            Expr::Weight => last,
            Expr::Builtin(Builtin::T | Builtin::Dt | Builtin::Celsius) => {
                scalar_values[&scalar_index(e).expect("a scalar builtin")]
            }
            Expr::Param(_) | Expr::State(_) | Expr::Builtin(_) | Expr::Ion(..) => {
                let (s, index) = leaf_slot(e).expect("a memory leaf");
                let base = pointers[&s];
                let addr = address(&mut b, base, index);
                b.ins().load(F64, flags, addr, 0)
            }
            Expr::Unary(op, a) => {
                let a = get(a);
                match op {
                    UnaryOp::Neg => b.ins().fneg(a),
                    UnaryOp::Sqrt => b.ins().sqrt(a),
                    UnaryOp::Abs => b.ins().fabs(a),
                    UnaryOp::Not => {
                        let zero = b.ins().f64const(0.0);
                        let c = b.ins().fcmp(FloatCC::Equal, a, zero);
                        truth(&mut b, c)
                    }
                    UnaryOp::Exp | UnaryOp::Log | UnaryOp::Log10 | UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tanh => {
                        let f = math_fn(e).expect("a math call");
                        call(&mut b, math_refs[&f], &[a])
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
                        call(&mut b, math_refs[&f], &[x, y])
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
                        truth(&mut b, c)
                    }
                    BinaryOp::And | BinaryOp::Or => {
                        let zero = b.ins().f64const(0.0);
                        let cx = b.ins().fcmp(FloatCC::NotEqual, x, zero);
                        let cy = b.ins().fcmp(FloatCC::NotEqual, y, zero);
                        let c = if op == BinaryOp::And { b.ins().band(cx, cy) } else { b.ins().bor(cx, cy) };
                        truth(&mut b, c)
                    }
                }
            }
            Expr::Powi(a, n) => powi(&mut b, get(a), n),
            Expr::Select(c, x, y) => {
                let zero = b.ins().f64const(0.0);
                let c = b.ins().fcmp(FloatCC::NotEqual, get(c), zero);
                b.ins().select(c, get(x), get(y))
            }
        };
        values[id.0 as usize] = Some(v);
    }

    // The writes, in order.
    for w in &kernel.writes {
        let value = values[w.value.0 as usize].expect("written values are live");
        let (s, index, accumulate) = target_slot(w.target);
        let addr = address(&mut b, pointers[&s], index);
        let value = if accumulate {
            let old = b.ins().load(F64, flags, addr, 0);
            b.ins().fadd(old, value)
        } else {
            value
        };
        b.ins().store(flags, value, addr, 0);
    }

    match exit {
        Some((head, exit)) => {
            let next = b.ins().iadd_imm_s(i, 1);
            b.ins().jump(head, &[BlockArg::Value(next)]);
            b.switch_to_block(exit);
            b.ins().return_(&[]);
        }
        None => {
            b.ins().return_(&[]);
        }
    }
    b.seal_all_blocks();
    b.finalize(module.target_config());
    Ok(used_math)
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
        Expr::Unary(UnaryOp::Exp, _) => Some(MathFn::Exp),
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

/// 1.0 where `c` holds, else 0.0 (comparisons and logic return numbers, as in `eval`).
fn truth(b: &mut FunctionBuilder, c: Value) -> Value {
    let one = b.ins().f64const(1.0);
    let zero = b.ins().f64const(0.0);
    b.ins().select(c, one, zero)
}

/// `x.powi(n)` with `f64::powi`'s exact operation order (see [`powi_plan`]).
fn powi(b: &mut FunctionBuilder, x: Value, n: i32) -> Value {
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
        None => b.ins().f64const(1.0),
    };
    if plan.reciprocal {
        let one = b.ins().f64const(1.0);
        b.ins().fdiv(one, result)
    } else {
        result
    }
}
