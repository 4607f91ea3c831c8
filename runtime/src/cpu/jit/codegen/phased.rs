//! The phased body: a block of [`BLOCK`] instances whose `exp`s and `ln`s run in batches
//! through native functions (`jit::batch`: eight f64 lanes with AVX-512 where Cranelift's
//! vectors have two; inline, the exps cost about half of a ringtest step).
//!
//! The kernel's DAG is cut at its batched functions ("exps" below, `ln` alike). Phase 0
//! computes what needs no exp result and stores into scratch rows on the stack the arguments of
//! the exps it can start and the values a later phase uses; one call of `exp_block` (and one of
//! `ln_block`) then replaces the phase's argument rows by their results; phase 1 computes what
//! needs those, and so on; the last phase also writes. Each phase runs
//! over the block four instances at a time (two `F64X2` groups, as the quad body). Leaves and
//! constants are loaded again in every phase that uses them: nothing writes them before the
//! last phase's writes, and a kernel with a cross-instance hazard never takes this path.
//!
//! Every expression gets the quad body's operations and the batched functions give
//! `math::exp`'s and `math::ln`'s bits,
//! so the results are the other bodies' bit for bit; instances are written in order, so
//! per-node sums accumulate in instance order.
//!
//! ```text
//! block(i):      scratch = the stack slot
//! phase_p(j):    instances i + j .. i + j + 4: the phase's expressions, its stores; j += 4;
//!                if j < BLOCK goto phase_p(j)
//! after_p:       exp_block(rows of phase p's exps); ln_block(its lns); goto phase_{p+1}(0)
//! ```

use std::ops::Range;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{BlockArg, FuncRef, InstBuilder, StackSlot, StackSlotData, StackSlotKind, Value, types};
use cranelift_frontend::FunctionBuilder;
use sylva_compiler::ir::expr::{Expr, ExprId};
use sylva_compiler::ir::kernel::Kernel;

use super::super::batch::Batched;
use super::Env;
use super::body::{
    NodeLayout, Offsets, by_node_layout, dag_order, is_uniform, lower_expr, offsets, write_instance_results,
    write_node_results,
};
use super::lanes::Lanes;

/// Instances per block (a multiple of four). Each batched call then takes at least 32 values,
/// enough to hide the call; the scratch rows stay in the L1 cache.
pub(super) const BLOCK: usize = 32;

/// Kernels whose exps nest deeper take the quad body (the phases are a bit set in a `u32`).
const MAX_PHASES: u32 = 32;

/// Where each live expression of a kernel is computed and kept, phase by phase.
pub(super) struct PhasePlan {
    /// The live expressions in emission order (level by level, as the quad body).
    order: Vec<ExprId>,
    /// The phase in which each expression is computed; for an exp, the phase that stores its
    /// argument (its result is there from the next phase on).
    compute: Vec<u32>,
    /// Bit `p`: phase `p` uses the expression's value (an operand, an exp's argument, or a
    /// value the last phase writes).
    used_in: Vec<u32>,
    /// The scratch row of every exp (its argument, then its result) and of every other value
    /// a later phase uses. Leaves have none.
    row: Vec<Option<u32>>,
    /// The rows of the exps, then of the lns, each phase starts: contiguous, one call each.
    batch_rows: Vec<Vec<(Batched, Range<u32>)>>,
    rows: u32,
    /// The phase that writes.
    last: u32,
}

impl PhasePlan {
    /// The plan of a kernel with at least one live exp or log (`None` without, or with them
    /// nested `MAX_PHASES` deep).
    pub(super) fn new(kernel: &Kernel, live: &[bool]) -> Option<PhasePlan> {
        let (compute, available) = phases(kernel, live)?;
        let last = kernel.writes.iter().map(|w| available[w.value.0 as usize]).max().unwrap_or(0);
        if last >= MAX_PHASES {
            return None;
        }
        let used_in = uses(kernel, live, &compute, last);
        let (_, order) = dag_order(kernel, live);
        let mut plan =
            PhasePlan { order, compute, used_in, row: vec![None; live.len()], batch_rows: Vec::new(), rows: 0, last };
        plan.assign_rows(kernel);
        Some(plan)
    }

    /// Rows for the batched functions, phase by phase and function by function, then for the
    /// values kept for a later phase.
    fn assign_rows(&mut self, kernel: &Kernel) {
        for phase in 0..self.last {
            let mut calls = Vec::new();
            for f in Batched::ALL {
                let start = self.rows;
                for &id in &self.order {
                    if Batched::of(kernel.exprs.get(id)) == Some(f) && self.compute[id.0 as usize] == phase {
                        self.row[id.0 as usize] = Some(self.rows);
                        self.rows += 1;
                    }
                }
                if self.rows > start {
                    calls.push((f, start..self.rows));
                }
            }
            self.batch_rows.push(calls);
        }
        for &id in &self.order {
            let k = id.0 as usize;
            let e = kernel.exprs.get(id);
            let later = self.used_in[k] >> self.compute[k] >> 1;
            if !is_leaf(e) && !is_batched(e) && later != 0 {
                self.row[k] = Some(self.rows);
                self.rows += 1;
            }
        }
    }
}

/// An exp or a log: computed in batches between phases.
fn is_batched(e: Expr) -> bool {
    Batched::of(e).is_some()
}

fn is_leaf(e: Expr) -> bool {
    e.operands().next().is_none()
}

/// The phase each live expression is computed in (exps: where their argument is ready), and
/// the phase from which its value is available; `None` if the kernel has no live exp.
fn phases(kernel: &Kernel, live: &[bool]) -> Option<(Vec<u32>, Vec<u32>)> {
    let mut compute = vec![0u32; live.len()];
    let mut available = vec![0u32; live.len()];
    let mut any_batched = false;
    for (id, e) in kernel.exprs.iter() {
        let k = id.0 as usize;
        if !live[k] {
            continue;
        }
        compute[k] = e.operands().map(|o| available[o.0 as usize]).max().unwrap_or(0);
        available[k] = compute[k] + u32::from(is_batched(e));
        any_batched |= is_batched(e);
    }
    any_batched.then_some((compute, available))
}

/// The batched functions a kernel's phases call (in [`Batched::ALL`]'s order).
pub(super) fn batched_functions(plan: &PhasePlan) -> Vec<Batched> {
    Batched::ALL.into_iter().filter(|f| plan.batch_rows.iter().flatten().any(|(g, _)| g == f)).collect()
}

/// The phases that use each expression's value.
fn uses(kernel: &Kernel, live: &[bool], compute: &[u32], last: u32) -> Vec<u32> {
    let mut used_in = vec![0u32; live.len()];
    for (id, e) in kernel.exprs.iter() {
        if live[id.0 as usize] {
            for o in e.operands() {
                used_in[o.0 as usize] |= 1 << compute[id.0 as usize];
            }
        }
    }
    for w in &kernel.writes {
        used_in[w.value.0 as usize] |= 1 << last;
    }
    used_in
}

/// The scratch rows on the stack, `BLOCK` values each.
pub(super) fn scratch_slot(b: &mut FunctionBuilder, plan: &PhasePlan) -> StackSlot {
    let bytes = (plan.rows.max(1) as usize * BLOCK * 8) as u32;
    // 2^4: 16-byte aligned, for the vector loads and stores.
    b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 4))
}

/// The phases of the instances `i..i + count` (`count` a multiple of four, at most `BLOCK`);
/// `functions` the imported native functions, for each of [`batched_functions`].
pub(super) fn block(
    b: &mut FunctionBuilder,
    env: &Env,
    plan: &PhasePlan,
    (scratch, functions): (StackSlot, &[(Batched, FuncRef)]),
    i: Value,
    count: Value,
) {
    let ptr = types::I64;
    let base = b.ins().stack_addr(ptr, scratch, 0);
    for phase in 0..=plan.last {
        let body = b.create_block();
        b.append_block_param(body, types::I64);
        let after = b.create_block();
        let zero = b.ins().iconst(types::I64, 0);
        b.ins().jump(body, &[BlockArg::Value(zero)]);
        b.switch_to_block(body);
        let j = b.block_params(body)[0];
        let at = b.ins().ishl_imm_u(j, 3);
        let rows = b.ins().iadd(base, at);
        let first = b.ins().iadd(i, j);
        let second = b.ins().iadd_imm_s(first, 2);
        by_node_layout(b, env, first, 4, |b, layout| phase_body(b, env, plan, phase, (&[first, second], layout), rows));
        let next = b.ins().iadd_imm_s(j, 4);
        let more = b.ins().icmp(IntCC::SignedLessThan, next, count);
        b.ins().brif(more, body, &[BlockArg::Value(next)], after, &[]);
        b.switch_to_block(after);
        for (f, rows) in plan.batch_rows.get(phase as usize).into_iter().flatten() {
            let at = b.ins().iadd_imm_s(base, (rows.start as usize * BLOCK * 8) as i64);
            // Up to the last row's `count` values (a partial block leaves the lanes after
            // `count` of the other rows unused: computed, never read).
            let values = b.ins().iadd_imm_s(count, ((rows.len() - 1) * BLOCK) as i64);
            let function = functions.iter().find(|(g, _)| g == f).expect("every batched function imported").1;
            b.ins().call(function, &[at, values]);
        }
    }
}

/// Byte offset of group `g`'s two lanes in `row`, from the address of the block's lane `j`.
fn row_offset(row: u32, group: usize) -> i32 {
    ((row as usize * BLOCK + 2 * group) * 8) as i32
}

/// One phase for the two groups of instances from `starts`; `rows` is the scratch address of
/// the first group's first lane.
fn phase_body(
    b: &mut FunctionBuilder,
    env: &Env,
    plan: &PhasePlan,
    phase: u32,
    (starts, layout): (&[Value], NodeLayout),
    rows: Value,
) {
    let groups: Vec<Offsets> = starts.iter().map(|&i| offsets(b, env, i, Lanes::Two, layout)).collect();
    let values = lower_phase(b, env, plan, phase, &groups, rows);
    store_rows(b, env, plan, phase, &values, rows);
    if phase == plan.last {
        for (offsets, values) in groups.iter().zip(&values) {
            write_instance_results(b, env, Lanes::Two, offsets, values);
        }
        for (offsets, values) in groups.iter().zip(&values) {
            write_node_results(b, env, Lanes::Two, offsets, values);
        }
    }
}

/// The values phase `phase` has in each group: leaves it uses, rows it reads (exp results and
/// kept values), and the expressions it computes.
fn lower_phase(
    b: &mut FunctionBuilder,
    env: &Env,
    plan: &PhasePlan,
    phase: u32,
    groups: &[Offsets],
    rows: Value,
) -> Vec<Vec<Option<Value>>> {
    let kernel = env.kernel;
    let mut values: Vec<Vec<Option<Value>>> = vec![vec![None; kernel.exprs.len()]; groups.len()];
    let used_here = |k: usize| plan.used_in[k] & (1 << phase) != 0;
    for &id in &plan.order {
        let k = id.0 as usize;
        let e = kernel.exprs.get(id);
        if is_leaf(e) {
            if !used_here(k) {
                continue;
            }
            if is_uniform(e) {
                let v = lower_expr(b, env, Lanes::Two, &groups[0], &values[0], e);
                values.iter_mut().for_each(|group| group[k] = Some(v));
                continue;
            }
        } else if is_batched(e) || plan.compute[k] != phase {
            // A result of an earlier phase, if this one uses it.
            if used_here(k) {
                let row = plan.row[k].expect("values used in a later phase have a row");
                for (g, group) in values.iter_mut().enumerate() {
                    group[k] = Some(b.ins().load(types::F64X2, env.vector_flags, rows, row_offset(row, g)));
                }
            }
            continue;
        }
        for (offsets, group) in groups.iter().zip(values.iter_mut()) {
            group[k] = Some(lower_expr(b, env, Lanes::Two, offsets, group, e));
        }
    }
    values
}

/// Stores what phase `phase` hands on: the arguments of the exps it starts and the values a
/// later phase uses.
fn store_rows(
    b: &mut FunctionBuilder,
    env: &Env,
    plan: &PhasePlan,
    phase: u32,
    values: &[Vec<Option<Value>>],
    rows: Value,
) {
    for &id in &plan.order {
        let k = id.0 as usize;
        let (Some(row), true) = (plan.row[k], plan.compute[k] == phase) else { continue };
        let e = env.kernel.exprs.get(id);
        let stored = if is_batched(e) { e.operands().next().expect("a function of one argument") } else { id };
        for (g, group) in values.iter().enumerate() {
            let v = group[stored.0 as usize].expect("stored values are computed or loaded in their phase");
            b.ins().store(env.vector_flags, v, rows, row_offset(row, g));
        }
    }
}
