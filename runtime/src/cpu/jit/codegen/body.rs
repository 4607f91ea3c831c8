//! One pass of the body: the leaves loaded, the expression DAG lowered level by level in one or
//! two lanes, then the writes.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::FunctionBuilder;
use sylva_compiler::ir::expr::{BinaryOp, Builtin, Expr, ExprId, UnaryOp};
use sylva_compiler::ir::kernel::Kernel;

use super::analysis::{Index, leaf_slot, math_fn, scalar_index, target_slot};
use super::inline_math::{EXP_GROUP, exp_group, powi};
use super::lanes::{Lanes, call_lanes, choose, fconst, splat, truth};
use super::{Env, F64};
use crate::cpu::slots::Slot;

/// How a pass reaches its lanes' per-node values.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum NodeLayout {
    /// Each lane's node from the node index: a load per lane (lanes may share a node).
    Gather,
    /// The lanes sit on consecutive nodes (checked before the pass, see [`by_node_layout`]):
    /// one vector access at the first lane's node.
    Run,
}

/// Where the instances of one pass live: the byte offset of instance `i` in per-instance
/// arrays, and the byte offset of each lane's node in per-node arrays (none if the kernel uses
/// no per-node slot; only the first lane's for [`NodeLayout::Run`]).
pub(super) struct Offsets {
    instance: Value,
    nodes: Vec<Value>,
    layout: NodeLayout,
    /// Each lane's presynaptic node (`v_pre`), if the kernel reads it.
    pre_nodes: Vec<Value>,
}

/// One pass of the body: loads, the DAG in id order, the writes in order, for the instances
/// from each of `starts` (one, or two lanes from each: `i`, `i + 1`), the groups' instructions
/// interleaved so that their chains overlap. With two lanes, per-instance writes are vector
/// stores (the lanes' addresses differ and no other slot aliases them); per-node writes go
/// instance by instance, so two instances on one node accumulate in instance order, as in the
/// scalar loop. The starts must be in increasing order, each `lanes.count()` after the last.
pub(super) fn body(b: &mut FunctionBuilder, env: &Env, starts: &[Value], lanes: Lanes, layout: NodeLayout) {
    let offsets: Vec<Offsets> = starts.iter().map(|&i| offsets(b, env, i, lanes, layout)).collect();
    let values = lower_dag(b, env, lanes, &offsets);
    for (offsets, values) in offsets.iter().zip(&values) {
        write_instance_results(b, env, lanes, offsets, values);
    }
    for (offsets, values) in offsets.iter().zip(&values) {
        write_node_results(b, env, lanes, offsets, values);
    }
}

/// Emits the pass `emit` twice, for instances `i..i + count` on consecutive nodes and for the
/// others, after a check of the node index; continues after both. Kernels without per-node
/// slots get the gathering pass only (it loads no node).
pub(super) fn by_node_layout(
    b: &mut FunctionBuilder,
    env: &Env,
    i: Value,
    count: usize,
    mut emit: impl FnMut(&mut FunctionBuilder, NodeLayout),
) {
    let Some(nodes) = env.node_index else {
        emit(b, NodeLayout::Gather);
        return;
    };
    let at = b.ins().ishl_imm_u(i, 2);
    let addr = b.ins().iadd(nodes, at);
    let first = b.ins().load(types::I32, env.flags, addr, 0);
    let mut consecutive: Option<Value> = None;
    for k in 1..count {
        let node = b.ins().load(types::I32, env.flags, addr, 4 * k as i32);
        let want = b.ins().iadd_imm_s(first, k as i64);
        let same = b.ins().icmp(IntCC::Equal, node, want);
        consecutive = Some(consecutive.map_or(same, |c| b.ins().band(c, same)));
    }
    let consecutive = consecutive.expect("a pass of several instances");
    let (run, gather, after) = (b.create_block(), b.create_block(), b.create_block());
    b.ins().brif(consecutive, run, &[], gather, &[]);
    for (block, layout) in [(run, NodeLayout::Run), (gather, NodeLayout::Gather)] {
        b.switch_to_block(block);
        emit(b, layout);
        b.ins().jump(after, &[]);
    }
    b.switch_to_block(after);
}

/// The offsets of instance `i` and of its lanes' nodes.
pub(super) fn offsets(b: &mut FunctionBuilder, env: &Env, i: Value, lanes: Lanes, layout: NodeLayout) -> Offsets {
    let flags = env.flags;
    let instance = b.ins().ishl_imm_u(i, 3);
    let mut node_offsets = |index: Option<Value>, layout: NodeLayout| match index {
        Some(nodes) => {
            let at = b.ins().ishl_imm_u(i, 2);
            let addr = b.ins().iadd(nodes, at);
            let reached = if layout == NodeLayout::Run { 1 } else { lanes.count() };
            (0..reached)
                .map(|lane| {
                    let node = b.ins().load(types::I32, flags, addr, 4 * lane as i32);
                    let node = b.ins().uextend(types::I64, node);
                    b.ins().ishl_imm_u(node, 3)
                })
                .collect()
        }
        None => Vec::new(),
    };
    let nodes = node_offsets(env.node_index, layout);
    let pre_nodes = node_offsets(env.pre_node_index, NodeLayout::Gather);
    Offsets { instance, nodes, layout, pre_nodes }
}

/// The live expressions in emission order, level by level (a node's level is one more than its
/// operands' highest), and the level of every expression.
pub(super) fn dag_order(kernel: &Kernel, live: &[bool]) -> (Vec<u32>, Vec<ExprId>) {
    let mut level = vec![0u32; kernel.exprs.len()];
    let mut order: Vec<ExprId> = Vec::new();
    for (id, e) in kernel.exprs.iter() {
        if live[id.0 as usize] {
            level[id.0 as usize] = e.operands().map(|o| level[o.0 as usize] + 1).max().unwrap_or(0);
            order.push(id);
        }
    }
    order.sort_by_key(|id| (level[id.0 as usize], id.0));
    (level, order)
}

/// The value of every live expression (`None` for the others) in each group of instances.
fn lower_dag(b: &mut FunctionBuilder, env: &Env, lanes: Lanes, groups: &[Offsets]) -> Vec<Vec<Option<Value>>> {
    let kernel = env.kernel;
    // The DAG, level by level, so that independent chains (the gates of a channel) interleave
    // and the processor overlaps their latencies; the function is compiled without the e-graph
    // pass, which would re-sequence the code depth first from the stores.
    let (level, order) = dag_order(kernel, env.live);
    let mut values: Vec<Vec<Option<Value>>> = vec![vec![None; kernel.exprs.len()]; groups.len()];
    // The exps of a level, emitted in groups once the level's other nodes are done.
    let mut pending_exps: Vec<ExprId> = Vec::new();
    let mut current_level = 0;
    for id in order {
        let e = kernel.exprs.get(id);
        if level[id.0 as usize] != current_level {
            flush_exps(b, kernel, lanes, &mut pending_exps, &mut values);
            current_level = level[id.0 as usize];
        }
        if let Expr::Unary(UnaryOp::Exp, _) = e {
            pending_exps.push(id);
            continue;
        }
        if is_uniform(e) {
            // The same value for every instance: computed once for all groups.
            let v = lower_expr(b, env, lanes, &groups[0], &values[0], e);
            values.iter_mut().for_each(|group| group[id.0 as usize] = Some(v));
            continue;
        }
        for (offsets, values) in groups.iter().zip(values.iter_mut()) {
            let v = lower_expr(b, env, lanes, offsets, values, e);
            values[id.0 as usize] = Some(v);
        }
    }
    flush_exps(b, kernel, lanes, &mut pending_exps, &mut values);
    values
}

/// Whether `e` has one value for every instance of a call (a constant or a scalar).
pub(super) fn is_uniform(e: Expr) -> bool {
    matches!(e, Expr::Const(_) | Expr::Weight | Expr::Builtin(Builtin::T | Builtin::Dt | Builtin::Celsius))
}

/// Emits the pending exps of every group of instances, `EXP_GROUP` in lockstep (their
/// instructions interleaved).
fn flush_exps(
    b: &mut FunctionBuilder,
    kernel: &Kernel,
    lanes: Lanes,
    pending: &mut Vec<ExprId>,
    values: &mut [Vec<Option<Value>>],
) {
    // (group of instances, expression) pairs, each expression in every group in turn.
    let jobs: Vec<(usize, ExprId)> =
        pending.iter().flat_map(|&id| (0..values.len()).map(move |group| (group, id))).collect();
    for lockstep in jobs.chunks(EXP_GROUP) {
        let xs: Vec<Value> = lockstep
            .iter()
            .map(|&(group, id)| match kernel.exprs.get(id) {
                Expr::Unary(UnaryOp::Exp, a) => values[group][a.0 as usize].expect("operands come first"),
                _ => unreachable!("only exps are pending"),
            })
            .collect();
        for (&(group, id), v) in lockstep.iter().zip(exp_group(b, lanes, &xs)) {
            values[group][id.0 as usize] = Some(v);
        }
    }
    pending.clear();
}

/// One expression other than `exp`, its operands already in `values`.
pub(super) fn lower_expr(
    b: &mut FunctionBuilder,
    env: &Env,
    lanes: Lanes,
    offsets: &Offsets,
    values: &[Option<Value>],
    e: Expr,
) -> Value {
    let get = |x: ExprId| values[x.0 as usize].expect("operands come first");
    match e {
        Expr::Const(c) => fconst(b, lanes, c),
        Expr::Weight => env.weight.expect("weight only in event kernels (checked)"),
        Expr::Builtin(Builtin::T | Builtin::Dt | Builtin::Celsius) => {
            let s = env.scalars[&scalar_index(e).expect("a scalar builtin")];
            splat(b, lanes, s)
        }
        Expr::Param(_) | Expr::State(_) | Expr::Builtin(_) | Expr::Ion(..) => load_leaf(b, env, lanes, offsets, e),
        Expr::Unary(op, a) => lower_unary(b, env, lanes, e, op, get(a)),
        Expr::Binary(op, x, y) => lower_binary(b, env, lanes, e, op, get(x), get(y)),
        Expr::Powi(a, n) => powi(b, lanes, get(a), n),
        Expr::Select(c, x, y) => {
            let zero = fconst(b, lanes, 0.0);
            let c = b.ins().fcmp(FloatCC::NotEqual, get(c), zero);
            choose(b, lanes, c, get(x), get(y))
        }
    }
}

/// A leaf in memory: per instance, one (vector) load; per node, one load per lane.
fn load_leaf(b: &mut FunctionBuilder, env: &Env, lanes: Lanes, offsets: &Offsets, e: Expr) -> Value {
    let flags = env.flags;
    let ft = lanes.float();
    let (s, index) = leaf_slot(e).expect("a memory leaf");
    let base = env.pointers[&s];
    match (index, lanes) {
        (Index::Instance, Lanes::One) => {
            let addr = b.ins().iadd(base, offsets.instance);
            b.ins().load(F64, flags, addr, 0)
        }
        (Index::Instance, Lanes::Two) => {
            let addr = b.ins().iadd(base, offsets.instance);
            b.ins().load(ft, env.vector_flags, addr, 0)
        }
        (Index::Node, Lanes::Two) if offsets.layout == NodeLayout::Run => {
            let addr = b.ins().iadd(base, offsets.nodes[0]);
            b.ins().load(ft, env.vector_flags, addr, 0)
        }
        (Index::Node | Index::PreNode, _) => {
            let lane_offsets = if let Index::Node = index { &offsets.nodes } else { &offsets.pre_nodes };
            let mut v: Option<Value> = None;
            for (lane, &offset) in lane_offsets.iter().enumerate() {
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

/// A unary operation other than `exp` on `a`.
fn lower_unary(b: &mut FunctionBuilder, env: &Env, lanes: Lanes, e: Expr, op: UnaryOp, a: Value) -> Value {
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

/// A binary operation on `x` and `y`.
fn lower_binary(b: &mut FunctionBuilder, env: &Env, lanes: Lanes, e: Expr, op: BinaryOp, x: Value, y: Value) -> Value {
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

/// The per-instance writes of one group, in order (a vector store each with two lanes).
pub(super) fn write_instance_results(
    b: &mut FunctionBuilder,
    env: &Env,
    lanes: Lanes,
    offsets: &Offsets,
    values: &[Option<Value>],
) {
    for w in &env.kernel.writes {
        let (s, index, accumulate) = target_slot(w.target);
        if let Index::Instance = index {
            debug_assert!(!accumulate);
            let value = values[w.value.0 as usize].expect("written values are live");
            let addr = b.ins().iadd(env.pointers[&s], offsets.instance);
            let flags = if lanes == Lanes::Two { env.vector_flags } else { env.flags };
            b.ins().store(flags, value, addr, 0);
        }
    }
}

/// The per-node writes of one group, instance by instance (lane 0 first). An instance's writes
/// to one slot are folded in write order and stored once: `((old + a) + b)` is what a load, add
/// and store per write computes, without each write waiting for the last one's store.
pub(super) fn write_node_results(
    b: &mut FunctionBuilder,
    env: &Env,
    lanes: Lanes,
    offsets: &Offsets,
    values: &[Option<Value>],
) {
    // Consecutive nodes: all lanes at once (no two share a node); otherwise lane by lane.
    let (ty, per_lane) = match (lanes, offsets.layout) {
        (Lanes::Two, NodeLayout::Run) => (lanes.float(), false),
        (Lanes::Two, NodeLayout::Gather) => (F64, true),
        (Lanes::One, _) => (F64, false),
    };
    let flags = if ty == F64 { env.flags } else { env.vector_flags };
    for (lane, &offset) in offsets.nodes.iter().enumerate() {
        // (slot, its address, the value it will hold), in order of first write.
        let mut folded: Vec<(Slot, Value, Value)> = Vec::new();
        for w in &env.kernel.writes {
            let (s, index, accumulate) = target_slot(w.target);
            if let Index::Node = index {
                let value = values[w.value.0 as usize].expect("written values are live");
                let value = if per_lane { b.ins().extractlane(value, lane as u8) } else { value };
                match folded.iter_mut().find(|(slot, ..)| *slot == s) {
                    Some((_, _, held)) => *held = if accumulate { b.ins().fadd(*held, value) } else { value },
                    None => {
                        let addr = b.ins().iadd(env.pointers[&s], offset);
                        let held = if accumulate {
                            let old = b.ins().load(ty, flags, addr, 0);
                            b.ins().fadd(old, value)
                        } else {
                            value
                        };
                        folded.push((s, addr, held));
                    }
                }
            }
        }
        for (_, addr, held) in folded {
            b.ins().store(flags, held, addr, 0);
        }
    }
}
