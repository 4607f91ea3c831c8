//! What a kernel reads and writes, before any code: the slot of every leaf and write target,
//! the live expressions, the checks against the slot list, and the one hazard between lanes.

use std::collections::HashMap;

use sylva_compiler::ir::expr::{BinaryOp, Builtin, Expr, ExprId, IonVar, UnaryOp};
use sylva_compiler::ir::kernel::{Kernel, Target};

use super::super::JitError;
use super::super::math::MathFn;
use crate::cpu::slots::{SCALAR_CELSIUS, SCALAR_DT, SCALAR_T, Slot};

/// Where a value of the kernel lives in memory.
#[derive(Copy, Clone)]
pub(super) enum Index {
    Instance,
    Node,
    /// Per node, at the instance's presynaptic node (`v_pre`); read only.
    PreNode,
}

/// The slot a leaf reads, and whether it is per instance or per node.
pub(super) fn leaf_slot(expr: Expr) -> Option<(Slot, Index)> {
    Some(match expr {
        Expr::Param(i) => (Slot::Param(i), Index::Instance),
        Expr::State(i) => (Slot::State(i), Index::Instance),
        Expr::Builtin(Builtin::V) => (Slot::Voltage, Index::Node),
        Expr::Builtin(Builtin::VPre) => (Slot::Voltage, Index::PreNode),
        Expr::Builtin(Builtin::Area) => (Slot::Area, Index::Node),
        Expr::Builtin(Builtin::Diam) => (Slot::Diam, Index::Node),
        Expr::Ion(u, var) => (Slot::Ion(u, var), Index::Node),
        _ => return None,
    })
}

/// The slot a write targets, and whether it accumulates.
pub(super) fn target_slot(target: Target) -> (Slot, Index, bool) {
    match target {
        Target::State(i) => (Slot::State(i), Index::Instance, false),
        Target::Current(i) => (Slot::Current(i), Index::Instance, false),
        Target::Derived(i) => (Slot::Derived(i), Index::Instance, false),
        Target::NodeRhs => (Slot::Rhs, Index::Node, true),
        Target::NodeDiagonal => (Slot::Diagonal, Index::Node, true),
        Target::IonCurrent(u) => (Slot::Ion(u, IonVar::Current), Index::Node, true),
        Target::IonConcentration(u, var) => (Slot::Ion(u, var), Index::Node, false),
        Target::Partial(k) => (Slot::Partial(k), Index::Instance, false),
    }
}

/// Which expressions the writes reach.
pub(super) fn reachable(kernel: &Kernel) -> Vec<bool> {
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
/// exists (the table is the engine's, so this is the one contract the compiler's validator
/// cannot check). What `artifact::validate` guarantees (operands before their expression,
/// write values in range, the weight only in event kernels) is not checked again.
pub(super) fn check(kernel: &Kernel, slots: &HashMap<Slot, usize>, live: &[bool]) -> Result<(), JitError> {
    for w in &kernel.writes {
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
        if let Some((slot, index)) = leaf_slot(e) {
            let need = |s: Slot| {
                if slots.contains_key(&s) {
                    Ok(())
                } else {
                    Err(JitError::MissingSlot { slot: s, user: format!("leaf {e:?}") })
                }
            };
            need(slot)?;
            match index {
                Index::Node => need(Slot::NodeIndex)?,
                Index::PreNode => need(Slot::PreNodeIndex)?,
                Index::Instance => {}
            }
        }
    }
    Ok(())
}

/// Whether one instance may read a per-node value that an earlier instance of the same call
/// writes (an ion concentration or current both read and written by the kernel). Two lanes
/// load before either stores, so a pair of such instances on one node must run one at a time.
/// Use indices are compared by variable only, in case two uses name one species.
pub(super) fn cross_instance_hazard(kernel: &Kernel, live: &[bool]) -> bool {
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

pub(super) fn scalar_index(e: Expr) -> Option<usize> {
    match e {
        Expr::Builtin(Builtin::T) => Some(SCALAR_T),
        Expr::Builtin(Builtin::Dt) => Some(SCALAR_DT),
        Expr::Builtin(Builtin::Celsius) => Some(SCALAR_CELSIUS),
        _ => None,
    }
}

pub(super) fn math_fn(e: Expr) -> Option<MathFn> {
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
