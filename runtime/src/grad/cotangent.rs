//! Cotangents (∂L/∂x for every value x of the state and of a step's intermediates) and the
//! vector–Jacobian product of one kernel at one instance.

use std::ops::Range;

use sylva_compiler::ir::adjoint::{AdjointKernel, Wrt};
use sylva_compiler::ir::expr::{Expr, IonVar};
use sylva_compiler::ir::kernel::{Kernel, Target};

use super::GradError;
use super::cable::CableGradient;
use crate::plan::{Block, IonArrays, Plan, ProbeSource};

pub(crate) struct Cotangents {
    pub v: Vec<f64>,
    pub rhs: Vec<f64>,
    pub diagonal: Vec<f64>,
    pub ions: Vec<IonArrays>,
    /// Per block, per state, per instance.
    pub states: Vec<Vec<Vec<f64>>>,
    /// Per block, per stored current (derived value), per instance.
    pub currents: Vec<Vec<Vec<f64>>>,
    pub derived: Vec<Vec<Vec<f64>>>,
    /// Per block, per per-instance parameter (the block's `params` order), per instance: the
    /// gradient so far.
    pub params: Vec<Vec<Vec<f64>>>,
    /// The gradient so far of every node's C/dt and axial conductance (see `cable`).
    pub cable: CableGradient,
}

impl Cotangents {
    pub(crate) fn zeros(p: &Plan) -> Cotangents {
        let n = p.nodes.v.len();
        let per_instance =
            |lists: Vec<usize>, b: &crate::plan::Block| lists.into_iter().map(|_| vec![0.0; b.len()]).collect();
        Cotangents {
            v: vec![0.0; n],
            rhs: vec![0.0; n],
            diagonal: vec![0.0; n],
            ions: p
                .ions
                .iter()
                .map(|_| IonArrays {
                    reversal: vec![0.0; n],
                    inside: vec![0.0; n],
                    outside: vec![0.0; n],
                    current: vec![0.0; n],
                })
                .collect(),
            states: p.blocks.iter().map(|b| per_instance((0..b.states.len()).collect(), b)).collect(),
            currents: p.blocks.iter().map(|b| per_instance((0..b.currents.len()).collect(), b)).collect(),
            derived: p.blocks.iter().map(|b| per_instance((0..b.derived.len()).collect(), b)).collect(),
            params: p.blocks.iter().map(|b| per_instance((0..b.params.len()).collect(), b)).collect(),
            cable: CableGradient::zeros(n),
        }
    }

    /// Adds the loss's derivative in each probe's value (internal units) at one row.
    pub(super) fn add_row(&mut self, p: &Plan, row: &[f64]) {
        for (probe, &d) in p.probes.iter().zip(row) {
            if d == 0.0 {
                continue;
            }
            match *probe {
                ProbeSource::Voltage(n) => self.v[n] += d,
                ProbeSource::State { block, state, instance } => self.states[block][state][instance] += d,
                ProbeSource::Current { block, slot, instance } => self.currents[block][slot][instance] += d,
                ProbeSource::Derived { block, slot, instance } => self.derived[block][slot][instance] += d,
                ProbeSource::Ion { species, var, node } => self.ions[species].get_mut(var)[node] += d,
                ProbeSource::Param { .. } => unreachable!("refused by the loss"),
            }
        }
    }

    /// Zeroes what a stage that starts by clearing them (the current stage) made of the node
    /// accumulators and ion currents: nothing before it reaches them.
    pub(super) fn clear_accumulators(&mut self) {
        self.rhs.fill(0.0);
        self.diagonal.fill(0.0);
        for ion in &mut self.ions {
            ion.current.fill(0.0);
        }
    }

    /// The array of the cotangents at `place` for block `b`, and how an instance indexes it.
    fn column(&mut self, b: usize, place: Place) -> Column {
        let (array, index) = match place {
            Place::State(s) => (&mut self.states[b][s], Index::Instance),
            Place::Current(slot) => (&mut self.currents[b][slot], Index::Instance),
            Place::Derived(slot) => (&mut self.derived[b][slot], Index::Instance),
            Place::Param(slot) => (&mut self.params[b][slot], Index::Instance),
            Place::Rhs => (&mut self.rhs, Index::Node),
            Place::Diagonal => (&mut self.diagonal, Index::Node),
            Place::V => (&mut self.v, Index::Node),
            // The presynaptic cell's voltage: the gradient crosses to that cell.
            Place::VPre => (&mut self.v, Index::PreNode),
            Place::Ion(species, var) => (self.ions[species].get_mut(var), Index::Node),
        };
        // `as_mut_ptr` makes no reference to the elements, so columns of one array coexist.
        Column { ptr: array.as_mut_ptr(), len: array.len(), index }
    }

    /// The vector–Jacobian product of a range kernel at the `instances` of block `b` (as
    /// [`Cotangents::vjp`] over them in reverse): where the block's instances touch
    /// disjoint cotangents ([`Vjp::disjoint`]) write by write and partial by partial over all
    /// instances, a tight loop per array that adds to every cell in the same order and so gives
    /// the same bits.
    pub(super) fn vjp_block(
        &mut self,
        p: &Plan,
        b: usize,
        vjp: &Vjp,
        partials: &[Vec<f64>],
        instances: Range<usize>,
        written: &mut Vec<f64>,
    ) {
        let block = &p.blocks[b];
        if !vjp.disjoint {
            self.vjp(p, b, vjp, partials, instances.rev(), written);
            return;
        }
        let (n, nodes) = (instances.len(), &block.node_index[instances.clone()]);
        let writes = vjp.writes.len();
        // Every value is overwritten below: no need to clear the scratch.
        written.resize(written.len().max(writes * n), 0.0);
        // SAFETY (every column's `cells`): the columns point into this adjoint state's arrays,
        // alive and never resized; one column's slice at a time, and nothing else borrows them.
        // Every write's cotangent is read before any is consumed, as an instance reads them.
        for (&(place, _), out) in vjp.writes.iter().zip(written[..writes * n].chunks_mut(n.max(1))) {
            let column = self.column(b, place);
            let cells = unsafe { column.cells() };
            column.index.each(instances.clone(), nodes, |k, cell| out[k] = cells[cell]);
        }
        for &(place, _) in vjp.writes.iter().filter(|(_, accumulates)| !accumulates) {
            let column = self.column(b, place);
            let cells = unsafe { column.cells() };
            column.index.each(instances.clone(), nodes, |_, cell| cells[cell] = 0.0);
        }
        for (&(write, reach), values) in vjp.partials.iter().zip(partials) {
            let Reach::Place(place) = reach else { continue };
            let column = self.column(b, place);
            let (cells, cotangents) = (unsafe { column.cells() }, &written[write * n..(write + 1) * n]);
            accumulate(column.index, cells, nodes, cotangents, &values[instances.clone()], instances.start);
        }
    }

    /// The vector–Jacobian product of a kernel (`vjp`: its writes and its adjoint's partials,
    /// resolved) at each of `instances` of block `b` in turn, with the partials at the values
    /// the kernel read (`partials`: per partial, per instance; see `kernels::Machine::partials`):
    /// every written value's cotangent flows into what it was computed from; a stored target's
    /// cotangent is consumed (the value before the kernel is not what it wrote). `written`:
    /// scratch. Returns the cotangent of the event weight (event kernels: one instance).
    pub(super) fn vjp(
        &mut self,
        p: &Plan,
        b: usize,
        vjp: &Vjp,
        partials: &[Vec<f64>],
        instances: impl Iterator<Item = usize>,
        written: &mut Vec<f64>,
    ) -> f64 {
        let block = &p.blocks[b];
        let writes: Vec<(Column, bool)> = vjp.writes.iter().map(|&(place, acc)| (self.column(b, place), acc)).collect();
        let reaches: Vec<Option<Column>> = vjp
            .partials
            .iter()
            .map(|&(_, reach)| match reach {
                Reach::Place(place) => Some(self.column(b, place)),
                Reach::Weight | Reach::Constant => None,
            })
            .collect();
        let mut weight_cotangent = 0.0;
        for instance in instances {
            let at = At {
                instance,
                node: block.node_index[instance] as usize,
                pre_node: block.pre_node.get(instance).map_or(usize::MAX, |n| *n as usize),
            };
            written.clear();
            // SAFETY (every `cell`): the columns point into this adjoint state's arrays, which
            // no reference touches during the loop and which are never resized; `cell` checks
            // the index against the length.
            written.extend(writes.iter().map(|(column, _)| unsafe { *column.cell(&at) }));
            for (column, accumulates) in &writes {
                if !accumulates {
                    unsafe { *column.cell(&at) = 0.0 };
                }
            }
            for ((&(write, reach), values), column) in vjp.partials.iter().zip(partials).zip(&reaches) {
                let contribution = written[write] * values[instance];
                if contribution == 0.0 {
                    continue;
                }
                match (reach, column) {
                    (_, Some(column)) => unsafe { *column.cell(&at) += contribution },
                    (Reach::Weight, None) => weight_cotangent += contribution,
                    _ => {}
                }
            }
        }
        weight_cotangent
    }
}

/// `cells[instance's cell] += cotangent · value` per instance (the block's from `first` on, at
/// `nodes`), but for a zero product (as the
/// product instance by instance skips it: adding 0 would turn a −0 into +0). A select rather
/// than a branch, so that a block's own cells (one per instance, in order) take vector code.
#[inline(always)]
fn accumulate(index: Index, cells: &mut [f64], nodes: &[u32], cotangents: &[f64], values: &[f64], first: usize) {
    let add =
        |cell: &mut f64, contribution: f64| *cell = if contribution != 0.0 { *cell + contribution } else { *cell };
    match index {
        Index::Instance => {
            let cells = &mut cells[first..first + values.len()];
            for ((cell, w), x) in cells.iter_mut().zip(cotangents).zip(values) {
                add(cell, w * x);
            }
        }
        _ => index.each(first..first + values.len(), nodes, |k, cell| add(&mut cells[cell], cotangents[k] * values[k])),
    }
}

/// Where an instance's cotangents are.
struct At {
    instance: usize,
    node: usize,
    pre_node: usize,
}

/// How an instance indexes a column.
#[derive(Copy, Clone, PartialEq)]
enum Index {
    Instance,
    Node,
    PreNode,
}

impl Index {
    /// Calls `f(k, cell)` for the `k`-th of a block's `instances`, at `nodes` (theirs), in order.
    #[inline(always)]
    fn each(self, instances: Range<usize>, nodes: &[u32], mut f: impl FnMut(usize, usize)) {
        match self {
            Index::Instance => instances.enumerate().for_each(|(k, i)| f(k, i)),
            Index::Node => nodes[..instances.len()].iter().enumerate().for_each(|(k, node)| f(k, *node as usize)),
            Index::PreNode => unreachable!("a block reading v_pre is not disjoint"),
        }
    }
}

/// One array of the adjoint state, as a raw pointer: the product of an instance reads and
/// writes several, some of them the same array (a state written and read).
struct Column {
    ptr: *mut f64,
    len: usize,
    index: Index,
}

impl Column {
    /// The cotangent of the instance `at` in this column.
    ///
    /// # Safety
    /// The array must still be alive, not resized, and not borrowed.
    #[inline(always)]
    unsafe fn cell(&self, at: &At) -> *mut f64 {
        let i = match self.index {
            Index::Instance => at.instance,
            Index::Node => at.node,
            Index::PreNode => at.pre_node,
        };
        assert!(i < self.len, "a cotangent index out of range");
        // SAFETY: in bounds, checked above; valid by the caller's guarantee.
        unsafe { self.ptr.add(i) }
    }

    /// The whole array.
    ///
    /// # Safety
    /// The array must still be alive, not resized, and not borrowed while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn cells(&self) -> &mut [f64] {
        // SAFETY: by the caller's guarantee.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// An array of the adjoint state, resolved for a block: the block's own (by their index in
/// [`Cotangents`]) or a node's.
#[derive(Copy, Clone, Debug)]
enum Place {
    State(usize),
    Current(usize),
    Derived(usize),
    Param(usize),
    Rhs,
    Diagonal,
    V,
    VPre,
    Ion(usize, IonVar),
}

/// What a partial flows into.
#[derive(Copy, Clone, Debug)]
enum Reach {
    Place(Place),
    /// The event weight (the connection rule's gradient).
    Weight,
    /// A constant of the run (a parameter folded into the kernel): no gradient.
    Constant,
}

/// A kernel's writes and its adjoint's partials, resolved for one block once, so that the
/// product of an instance looks nothing up.
pub(crate) struct Vjp {
    /// Per write: its cotangent's place, and whether the kernel accumulates into it.
    writes: Vec<(Place, bool)>,
    /// Per partial: its write and what it flows into.
    partials: Vec<(usize, Reach)>,
    /// Whether no two instances of the block touch the same cotangent: each at a node of its
    /// own, none reading the presynaptic voltage or the event weight.
    pub(super) disjoint: bool,
}

impl Vjp {
    pub(super) fn resolve(block: &Block, kernel: &Kernel, adjoint: &AdjointKernel) -> Vjp {
        let slot = |list: &[(u32, Vec<f64>)], x: u32| list.iter().position(|(y, _)| *y == x).expect("stored");
        let writes = kernel
            .writes
            .iter()
            .map(|w| {
                let place = match w.target {
                    Target::State(s) => Place::State(s as usize),
                    Target::Current(c) => Place::Current(slot(&block.currents, c)),
                    Target::Derived(d) => Place::Derived(slot(&block.derived, d)),
                    Target::NodeRhs => Place::Rhs,
                    Target::NodeDiagonal => Place::Diagonal,
                    Target::IonCurrent(u) => Place::Ion(block.species[u as usize], IonVar::Current),
                    Target::IonConcentration(u, var) => Place::Ion(block.species[u as usize], var),
                    Target::Partial(_) => unreachable!("stage kernels write no partials (artifact::validate)"),
                };
                (place, accumulates(w.target))
            })
            .collect();
        let partials = adjoint
            .partials
            .iter()
            .map(|partial| {
                let reach = match partial.wrt {
                    Wrt::Param(q) => block
                        .params
                        .iter()
                        .position(|(x, _)| *x == q)
                        .map_or(Reach::Constant, |slot| Reach::Place(Place::Param(slot))),
                    Wrt::State(s) => Reach::Place(Place::State(s as usize)),
                    Wrt::V => Reach::Place(Place::V),
                    Wrt::VPre => Reach::Place(Place::VPre),
                    Wrt::Ion(u, var) => Reach::Place(Place::Ion(block.species[u as usize], var)),
                    Wrt::Weight => Reach::Weight,
                };
                (partial.write as usize, reach)
            })
            .collect();
        let disjoint =
            own_nodes(block) && !adjoint.partials.iter().any(|partial| matches!(partial.wrt, Wrt::VPre | Wrt::Weight));
        Vjp { writes, partials, disjoint }
    }
}

/// Whether every instance of the block is at a node of its own.
fn own_nodes(block: &Block) -> bool {
    let mut nodes = block.node_index.clone();
    nodes.sort_unstable();
    nodes.windows(2).all(|pair| pair[0] != pair[1])
}

fn accumulates(target: Target) -> bool {
    matches!(target, Target::NodeRhs | Target::NodeDiagonal | Target::IonCurrent(_))
}

/// Refuses what the reverse run does not cover: a current kernel reading a summed ion current
/// (its value depends on the order of the instances within the stage).
pub(super) fn check_differentiable(p: &Plan) -> Result<(), GradError> {
    for b in &p.blocks {
        let reads_current = b.kernels.current.exprs.iter().any(|(_, e)| matches!(e, Expr::Ion(_, IonVar::Current)));
        if reads_current {
            return Err(GradError::NotDifferentiable(format!(
                "mechanism {} reads an ion current in its current kernel",
                b.mechanism
            )));
        }
    }
    Ok(())
}
