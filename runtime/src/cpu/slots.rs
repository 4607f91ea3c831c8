//! The memory contract between the engine and its compiled kernels: a kernel receives a table
//! of pointers, one per [`Slot`], in the order of the block's slot list
//! (`cpu::compiled::slots`), plus the scalars `[t, dt, celsius]` (`plan::block::SCALAR_*`) and
//! an instance range.
//!
//! Per-instance arrays are indexed by the instance, per-node arrays by `node_index[instance]`
//! (a `u32` array). Every floating-point array holds the simulation precision (f64 here).

use sylva_compiler::ir::expr::IonVar;

pub use crate::plan::block::{SCALAR_CELSIUS, SCALAR_COUNT, SCALAR_DT, SCALAR_T};

/// One array a kernel may read or write.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// `u32` per instance: the node the instance sits on.
    NodeIndex,
    /// Per node: membrane voltage (mV).
    Voltage,
    /// `u32` per instance: the node whose voltage `v_pre` reads (`plan::Block::pre_node`).
    PreNodeIndex,
    /// Per node: right-hand side accumulator (nA).
    Rhs,
    /// Per node: diagonal accumulator (µS).
    Diagonal,
    /// Per node: membrane area (µm²).
    Area,
    /// Per node: diameter (µm).
    Diam,
    /// Per instance: parameter `i` (parameters not in the list are constants in the kernel).
    Param(u32),
    /// Per instance: state `i`.
    State(u32),
    /// Per instance: the value of current `i` (written by the current kernel).
    Current(u32),
    /// Per instance: derived value `i` (written by the current kernel when probed).
    Derived(u32),
    /// Per node: a variable of the species of the mechanism's ion use `u`.
    Ion(u32, IonVar),
    /// Per instance: partial derivative `k` of an adjoint kernel (written by the kernels the
    /// gradient compiles from `ir::adjoint`; see `grad::kernels`).
    Partial(u32),
}
