//! What a stage kernel reads and writes, computed from the kernel, so a back end can plan
//! memory traffic and parallelism without walking expressions.
//!
//! States, parameters, stored currents and derived values belong to one instance: an
//! instance never reads or writes another instance's, so they carry no hazard. Node data
//! (`NodeRhs`, `NodeDiagonal`, `IonCurrent`, `IonConcentration`) is shared by every instance
//! on the node. Within one density or synapse placement no two instances share a node (the
//! instances of a density placement are on distinct nodes, a synapse placement has one
//! instance per cell), so [`Hazard`]s matter across placements on a node, and across the
//! stimuli of one mechanism when a back end runs them as one block. V, area, diameter, t, dt
//! and celsius are never written by kernels.

use crate::ir::expr::{Builtin, Expr, IonVar};
use crate::ir::kernel::{Kernel, Kernels, Target};

/// A value a kernel reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Leaf {
    Param(u32),
    State(u32),
    Builtin(Builtin),
    /// Ion use and variable, at the instance's node.
    Ion(u32, IonVar),
    /// The event's weight (event kernels only).
    Weight,
}

/// Why instances on one node may not run in any order or at the same time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Hazard {
    /// Instances on one node add into this accumulator: the floating-point sum depends on the
    /// order, so bit-identical results need the engines' block and instance order.
    SharedAccumulator(Target),
    /// Instances on one node store this node value: the last store wins.
    SharedStore(Target),
    /// The kernel reads a node value that its stage also writes (ion use, variable): an
    /// instance sees another's write or not depending on the order.
    ReadsWritten { ion: u32, var: IonVar },
}

/// Reads and writes of one kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelInfo {
    /// Each leaf once, in expression order.
    pub reads: Vec<Leaf>,
    /// Targets replaced by the written value, each once, in write order.
    pub stores: Vec<Target>,
    /// Node targets the value is added to (`NodeRhs`, `NodeDiagonal`, `IonCurrent`), each
    /// once, in write order.
    pub accumulates: Vec<Target>,
    pub hazards: Vec<Hazard>,
}

/// The [`KernelInfo`] of each stage kernel of a placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageInfo {
    pub init: KernelInfo,
    pub current: KernelInfo,
    pub advance: KernelInfo,
    pub event: Option<KernelInfo>,
}

impl StageInfo {
    pub fn of(kernels: &Kernels) -> StageInfo {
        StageInfo {
            init: KernelInfo::of(&kernels.init),
            current: KernelInfo::of(&kernels.current),
            advance: KernelInfo::of(&kernels.advance),
            event: kernels.event.as_ref().map(KernelInfo::of),
        }
    }
}

fn push_once<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Whether writes to `target` add to it rather than replace it.
pub fn accumulates(target: Target) -> bool {
    matches!(target, Target::NodeRhs | Target::NodeDiagonal | Target::IonCurrent(_))
}

impl KernelInfo {
    pub fn of(kernel: &Kernel) -> KernelInfo {
        let mut info = KernelInfo::default();
        for (_, e) in kernel.exprs.iter() {
            let leaf = match e {
                Expr::Param(i) => Leaf::Param(i),
                Expr::State(i) => Leaf::State(i),
                Expr::Builtin(b) => Leaf::Builtin(b),
                Expr::Ion(u, var) => Leaf::Ion(u, var),
                Expr::Weight => Leaf::Weight,
                Expr::Const(_) | Expr::Unary(..) | Expr::Binary(..) | Expr::Powi(..) | Expr::Select(..) => continue,
            };
            push_once(&mut info.reads, leaf);
        }
        for w in &kernel.writes {
            let list = if accumulates(w.target) { &mut info.accumulates } else { &mut info.stores };
            push_once(list, w.target);
        }
        info.hazards = hazards(&info);
        info
    }
}

fn hazards(info: &KernelInfo) -> Vec<Hazard> {
    let mut found: Vec<Hazard> = info.accumulates.iter().map(|t| Hazard::SharedAccumulator(*t)).collect();
    for &t in &info.stores {
        if let Target::IonConcentration(..) = t {
            found.push(Hazard::SharedStore(t));
        }
    }
    for &leaf in &info.reads {
        let Leaf::Ion(ion, var) = leaf else { continue };
        let written = match var {
            IonVar::Current => info.accumulates.contains(&Target::IonCurrent(ion)),
            IonVar::Inside | IonVar::Outside => info.stores.contains(&Target::IonConcentration(ion, var)),
            // Reversals change between stages only (Nernst), never inside a kernel.
            IonVar::Reversal => false,
        };
        if written {
            found.push(Hazard::ReadsWritten { ion, var });
        }
    }
    found
}
