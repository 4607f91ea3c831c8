//! Translation of a [`Kernel`] into one Cranelift function.
//!
//! Shape of the function (stages other than `Event`):
//!
//! ```text
//! entry(table, scalars, start, end):  load the slot pointers and scalars the kernel uses
//! head4(i):  if i + 4 <= end goto quad(i) else goto head2(i)
//! quad(i):   instances i, i + 1 and i + 2, i + 3 in the lanes of two F64X2 groups, their
//!            instructions interleaved; goto head4(i + 4)
//! head2(i):  if i + 2 <= end goto pair(i) else goto head1(i)
//! pair(i):   instances i and i + 1 in the two lanes of F64X2 vectors; goto head4(i + 2)
//! head1(i):  if i + 1 <= end goto one(i) else exit
//! one(i):    instance i alone (scalar); goto head4(i + 1)
//! ```
//!
//! The event kernel has no loop: `(table, scalars, instance, weight)`, one scalar body.
//!
//! A body loads every leaf (per-instance leaves as one vector load, per-node leaves lane by
//! lane), evaluates the DAG in id order (vector arithmetic, comparisons as lane masks, `exp`
//! inline; calls of other functions once per lane), then writes. Every leaf is loaded before the
//! first store, so each instance sees the memory as it was before its writes (the kernel
//! semantics of `sylva_compiler::ir::kernel`). Per-node writes go instance by instance, so
//! instances on one node accumulate in instance order, exactly as the scalar loop does.
//! The one case where the lanes could differ from one instance at a time — a kernel that reads
//! a per-node value it also writes (an ion variable), with two instances on one node — runs
//! two instances at most (no `quad`), and a pair on one node runs through the scalar body.
//!
//! A kernel with exps or logs and no cross-instance hazard first runs blocks of
//! `phased::BLOCK` instances whose exps and logs go in batches to native functions (`phased`),
//! then the widths above for what is left.
//!
//! The parts: `analysis` (slots, live expressions, checks), `body` (one pass of the body: the
//! expression DAG lowered lane-wise for one or two groups of instances, and the writes),
//! `phased` (the blocks with batched exps), `lanes` (one- or two-lane values), `inline_math`
//! (`exp` and `powi` emitted inline); this file builds the function around them.

mod analysis;
mod body;
mod inline_math;
mod lanes;
mod phased;

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, FuncRef, InstBuilder, MemFlagsData, Signature, StackSlot, Type, Value, types,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};
use sylva_compiler::ir::kernel::{Kernel, Stage};

use self::analysis::{Index, check, cross_instance_hazard, leaf_slot, math_fn, reachable, scalar_index, target_slot};
use self::body::{NodeLayout, body, by_node_layout};
use self::lanes::Lanes;
use self::phased::PhasePlan;
use super::JitError;
use super::batch::Batched;
use super::math::MathFn;
use crate::cpu::slots::Slot;

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

/// What every body needs: the kernel and the values loaded once in the entry block.
struct Env<'a> {
    kernel: &'a Kernel,
    live: &'a [bool],
    pointers: HashMap<Slot, Value>,
    scalars: HashMap<usize, Value>,
    math: HashMap<MathFn, FuncRef>,
    node_index: Option<Value>,
    /// The presynaptic node index array, if the kernel reads `v_pre`.
    pre_node_index: Option<Value>,
    /// The event weight (event kernels only).
    weight: Option<Value>,
    /// Scalar accesses (8-byte aligned, never trapping).
    flags: MemFlagsData,
    /// Vector accesses: 8-byte aligned only.
    vector_flags: MemFlagsData,
}

/// Builds the function of `kernel` into `func` (already given its signature and name).
/// Returns the functions it calls, with their symbols.
pub(super) fn build(
    module: &mut dyn Module,
    func: &mut cranelift_codegen::ir::Function,
    kernel: &Kernel,
    slot_list: &[Slot],
    math: &HashMap<MathFn, FuncId>,
) -> Result<Vec<(FuncId, &'static str)>, JitError> {
    let slots = first_slots(slot_list);
    let live = reachable(kernel);
    check(kernel, &slots, &live)?;

    let ptr = module.target_config().pointer_type();
    let flags = MemFlagsData::trusted();
    let vector_flags = MemFlagsData::new().with_notrap();
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut fctx);
    let event = kernel.stage == Stage::Event;

    let used_math = used_math(kernel, &live);
    let math_refs = import_math(module, &mut b, &used_math, math);
    let mut calls: Vec<(FuncId, &'static str)> = used_math.iter().map(|f| (math[f], f.symbol())).collect();
    let phases = if event || cross_instance_hazard(kernel, &live) { None } else { PhasePlan::new(kernel, &live) };
    let phased = match phases {
        Some(plan) => {
            let mut functions = Vec::new();
            for f in phased::batched_functions(&plan) {
                let id = declare_batched(module, f)?;
                calls.push((id, f.symbol()));
                functions.push((f, module.declare_func_in_func(id, b.func)));
            }
            let scratch = phased::scratch_slot(&mut b, &plan);
            Some(Phased { plan, scratch, functions })
        }
        None => None,
    };

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (table, scalars, first, last) = (params[0], params[1], params[2], params[3]);
    let loaded = load_entry_values(&mut b, kernel, &live, &slots, (ptr, flags), (table, scalars));
    let env = Env {
        kernel,
        live: &live,
        pointers: loaded.pointers,
        scalars: loaded.scalars,
        math: math_refs,
        node_index: loaded.node_index,
        pre_node_index: loaded.pre_node_index,
        weight: if event { Some(last) } else { None },
        flags,
        vector_flags,
    };

    if event {
        body(&mut b, &env, &[first], Lanes::One, NodeLayout::Gather);
        b.ins().return_(&[]);
    } else {
        instance_loop(&mut b, &env, phased.as_ref(), first, last);
    }
    b.seal_all_blocks();
    b.finalize(module.target_config());
    Ok(calls)
}

/// The phased blocks of a kernel that has them: the plan, the scratch rows and the batched
/// functions they call.
struct Phased {
    plan: PhasePlan,
    scratch: StackSlot,
    functions: Vec<(Batched, FuncRef)>,
}

/// Declares the native `f(values, count)` in the module.
fn declare_batched(module: &mut dyn Module, f: Batched) -> Result<FuncId, JitError> {
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(module.target_config().pointer_type()));
    sig.params.push(AbiParam::new(types::I64));
    module.declare_function(f.symbol(), Linkage::Import, &sig).map_err(|e| JitError::Module(e.to_string()))
}

/// The index of every slot in the table; the first occurrence of a slot wins.
fn first_slots(slot_list: &[Slot]) -> HashMap<Slot, usize> {
    let mut slots: HashMap<Slot, usize> = HashMap::new();
    for (k, s) in slot_list.iter().enumerate() {
        slots.entry(*s).or_insert(k);
    }
    slots
}

/// The math functions the live expressions call, in order of first use.
fn used_math(kernel: &Kernel, live: &[bool]) -> Vec<MathFn> {
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
    used_math
}

/// Imports the math functions the live expressions call into the function.
fn import_math(
    module: &mut dyn Module,
    b: &mut FunctionBuilder,
    used_math: &[MathFn],
    math: &HashMap<MathFn, FuncId>,
) -> HashMap<MathFn, FuncRef> {
    let mut math_refs: HashMap<MathFn, FuncRef> = HashMap::new();
    for &f in used_math {
        let id = math[&f];
        math_refs.insert(f, module.declare_func_in_func(id, b.func));
    }
    math_refs
}

/// What the entry block loads once for every body.
struct EntryValues {
    pointers: HashMap<Slot, Value>,
    scalars: HashMap<usize, Value>,
    node_index: Option<Value>,
    pre_node_index: Option<Value>,
}

/// Loads, in the entry block, the slot pointers and scalars the kernel uses, and the node
/// index if any leaf or write is per node.
fn load_entry_values(
    b: &mut FunctionBuilder,
    kernel: &Kernel,
    live: &[bool],
    slots: &HashMap<Slot, usize>,
    (ptr, flags): (Type, MemFlagsData),
    (table, scalars): (Value, Value),
) -> EntryValues {
    let mut pointers: HashMap<Slot, Value> = HashMap::new();
    let mut pointer = |b: &mut FunctionBuilder, s: Slot| -> Value {
        *pointers.entry(s).or_insert_with(|| {
            let k = slots[&s];
            b.ins().load(ptr, flags, table, (k * ptr.bytes() as usize) as i32)
        })
    };
    let mut uses_node = false;
    let mut uses_pre_node = false;
    let mut scalar_values: HashMap<usize, Value> = HashMap::new();
    for (id, e) in kernel.exprs.iter() {
        if !live[id.0 as usize] {
            continue;
        }
        if let Some((s, index)) = leaf_slot(e) {
            pointer(b, s);
            uses_node |= matches!(index, Index::Node);
            uses_pre_node |= matches!(index, Index::PreNode);
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
        pointer(b, s);
        uses_node |= matches!(index, Index::Node);
    }
    let node_index = if uses_node { Some(pointer(b, Slot::NodeIndex)) } else { None };
    let pre_node_index = if uses_pre_node { Some(pointer(b, Slot::PreNodeIndex)) } else { None };
    EntryValues { pointers, scalars: scalar_values, node_index, pre_node_index }
}

/// How many instances one iteration of an instance loop computes, widest first.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Width {
    /// Up to `phased::BLOCK` instances (a multiple of four), their exps in batches.
    Block,
    /// Two groups of two lanes (instances `i..i + 4`), their chains interleaved.
    Four,
    /// Two lanes.
    Two,
    /// The scalar body.
    One,
}

impl Width {
    /// The fewest instances one iteration takes (a block takes up to `phased::BLOCK`).
    fn least(self) -> i64 {
        match self {
            Width::Block | Width::Four => 4,
            Width::Two => 2,
            Width::One => 1,
        }
    }
}

/// The loop over instances `first..last` of a range kernel: phased blocks if it has them, then
/// four at a time, then two, then one. A kernel with a cross-instance hazard runs two at a time
/// at most, and one at a time where the two share a node.
fn instance_loop(b: &mut FunctionBuilder, env: &Env, phased: Option<&Phased>, first: Value, last: Value) {
    // head(w, i): if i + w <= end goto run(w, i) else goto head(next width, i) (or exit)
    // run(w, i):  w instances from i; goto head(widest, i + w)
    let hazard = cross_instance_hazard(env.kernel, env.live);
    let widths: &[Width] = if hazard {
        &[Width::Two, Width::One]
    } else if phased.is_some() {
        // Blocks take every multiple of four instances (the last one partial).
        &[Width::Block, Width::Two, Width::One]
    } else {
        &[Width::Four, Width::Two, Width::One]
    };
    let block_per_width = |b: &mut FunctionBuilder| -> Vec<Block> {
        widths
            .iter()
            .map(|_| {
                let block = b.create_block();
                b.append_block_param(block, types::I64);
                block
            })
            .collect()
    };
    let heads = block_per_width(b);
    let runs = block_per_width(b);
    let exit = b.create_block();
    b.ins().jump(heads[0], &[BlockArg::Value(first)]);
    for (k, &width) in widths.iter().enumerate() {
        b.switch_to_block(heads[k]);
        let i = b.block_params(heads[k])[0];
        let end = b.ins().iadd_imm_s(i, width.least());
        let fits = b.ins().icmp(IntCC::SignedLessThanOrEqual, end, last);
        match heads.get(k + 1) {
            Some(&next) => b.ins().brif(fits, runs[k], &[BlockArg::Value(i)], next, &[BlockArg::Value(i)]),
            None => b.ins().brif(fits, runs[k], &[BlockArg::Value(i)], exit, &[]),
        };
        b.switch_to_block(runs[k]);
        let i = b.block_params(runs[k])[0];
        let count = match width {
            // A block runs min(BLOCK, the remaining instances rounded down to four).
            Width::Block => {
                let remaining = b.ins().isub(last, i);
                let whole = b.ins().band_imm_s(remaining, !3);
                let full = b.ins().iconst(types::I64, phased::BLOCK as i64);
                b.ins().smin(whole, full)
            }
            _ => b.ins().iconst(types::I64, width.least()),
        };
        if hazard && width == Width::Two {
            let one = runs[k + 1];
            split_on_shared_node(b, env, i, one);
        }
        match (width, phased) {
            (Width::Block, Some(p)) => phased::block(b, env, &p.plan, (p.scratch, &p.functions), i, count),
            (Width::Four, _) => {
                let second = b.ins().iadd_imm_s(i, 2);
                by_node_layout(b, env, i, 4, |b, layout| body(b, env, &[i, second], Lanes::Two, layout));
            }
            (Width::Two, _) => body(b, env, &[i], Lanes::Two, NodeLayout::Gather),
            _ => body(b, env, &[i], Lanes::One, NodeLayout::Gather),
        }
        let next = b.ins().iadd(i, count);
        b.ins().jump(heads[0], &[BlockArg::Value(next)]);
    }
    b.switch_to_block(exit);
    b.ins().return_(&[]);
}

/// Ends the current block with a branch to `one(i)` if instances `i` and `i + 1` share a node,
/// and continues in a new block where they do not.
fn split_on_shared_node(b: &mut FunctionBuilder, env: &Env, i: Value, one: Block) {
    let nodes = env.node_index.expect("ion leaves use the node index");
    let at = b.ins().ishl_imm_u(i, 2);
    let addr = b.ins().iadd(nodes, at);
    let n0 = b.ins().load(types::I32, env.flags, addr, 0);
    let n1 = b.ins().load(types::I32, env.flags, addr, 4);
    let distinct = b.ins().icmp(IntCC::NotEqual, n0, n1);
    let pair = b.create_block();
    b.ins().brif(distinct, pair, &[], one, &[BlockArg::Value(i)]);
    b.switch_to_block(pair);
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
