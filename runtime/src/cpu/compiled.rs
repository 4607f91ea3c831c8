//! Compiled blocks and the parallel step: cells are split into chunks of whole cells, and
//! each chunk runs currents, its Hines solve and the state update on its own thread. Every
//! node belongs to one cell and every cell to one chunk, and accumulation into a node happens
//! in block and instance order within its chunk, so results are bit-identical for any number
//! of threads.

use std::ops::Range;

use sylva_compiler::ir::expr::{Expr, IonVar};
use sylva_compiler::ir::kernel::{Kernel, Target};

use super::jit::{self, JitError, JitKernel};
use super::slots::Slot;
use crate::host::blowup;
use crate::plan::schedule::Stage;
use crate::plan::solve::SolveCells;
use crate::plan::{Block, Cable, IonArrays, Nodes, Plan, ProbeSource, Species};

/// The compiled kernels of one block and its pointer table.
pub struct CompiledBlock {
    pub current: JitKernel,
    pub advance: JitKernel,
    pub event: Option<JitKernel>,
    pub table: Vec<*mut u8>,
}

impl CompiledBlock {
    /// Delivers an event of weight `weight` to instance `instance` (`scalars` at the step's
    /// start); nothing where the mechanism has no event handler.
    ///
    /// # Safety
    /// The instance is in range, and no other thread runs a kernel on its cell meanwhile.
    pub unsafe fn deliver(&self, instance: usize, weight: f64, scalars: &[f64; 3]) {
        if let Some(kernel) = &self.event {
            // SAFETY: the table was built from this block's arrays, which never resize; the
            // caller guarantees the rest.
            unsafe { kernel.run_event(self.table.as_ptr(), scalars.as_ptr(), instance, weight) };
        }
    }
}

/// Compiles the block's kernels; `unread_currents[s]`: species `s`'s current is read by no
/// kernel and no probe, so the kernels skip accumulating it (half the per-node writes of a
/// channel like hh; the array stays zero).
pub fn compile_block(
    block: &mut Block,
    nodes: &mut Nodes,
    ions: &mut [IonArrays],
    unread_currents: &[bool],
) -> Result<CompiledBlock, JitError> {
    let slots = slots(block);
    let species = &block.species;
    let mechanism = block.mechanism;
    let compile = |k: &Kernel| {
        let mut k = k.clone();
        k.writes.retain(|w| !matches!(w.target, Target::IonCurrent(u) if unread_currents[species[u as usize]]));
        // Named as `--emit kernels` numbers the mechanisms.
        jit::compile_named(&k, &slots, &format!("mech{mechanism}_{:?}", k.stage))
    };
    Ok(CompiledBlock {
        current: compile(&block.kernels.current)?,
        advance: compile(&block.kernels.advance)?,
        event: block.kernels.event.as_ref().map(compile).transpose()?,
        table: table(block, nodes, ions),
    })
}

/// For each species of the plan: whether no kernel reads its current and no probe records it.
pub fn unread_currents(plan: &Plan) -> Vec<bool> {
    let mut unread = vec![true; plan.species.len()];
    for block in &plan.blocks {
        let k = &block.kernels;
        for kernel in [&k.init, &k.current, &k.advance].into_iter().chain(&k.event) {
            for (_, e) in kernel.exprs.iter() {
                if let Expr::Ion(u, IonVar::Current) = e {
                    unread[block.species[u as usize]] = false;
                }
            }
        }
    }
    for probe in &plan.probes {
        if let ProbeSource::Ion { species, var: IonVar::Current, .. } = *probe {
            unread[species] = false;
        }
    }
    unread
}

/// The slots the kernels of this block use, in table order.
pub fn slots(block: &Block) -> Vec<Slot> {
    let mut slots = vec![Slot::NodeIndex, Slot::Voltage, Slot::Rhs, Slot::Diagonal, Slot::Area, Slot::Diam];
    if !block.pre_node.is_empty() {
        slots.push(Slot::PreNodeIndex);
    }
    slots.extend(block.params.iter().map(|(p, _)| Slot::Param(*p)));
    slots.extend((0..block.states.len() as u32).map(Slot::State));
    slots.extend(block.currents.iter().map(|(c, _)| Slot::Current(*c)));
    slots.extend(block.derived.iter().map(|(d, _)| Slot::Derived(*d)));
    for u in 0..block.species.len() as u32 {
        for var in [IonVar::Reversal, IonVar::Inside, IonVar::Outside, IonVar::Current] {
            slots.push(Slot::Ion(u, var));
        }
    }
    slots
}

/// The pointer table for compiled kernels, in the order of [`slots`]. The pointers
/// stay valid while no array is resized (arrays are sized once, when the block is built).
pub fn table(block: &mut Block, nodes: &mut Nodes, ions: &mut [IonArrays]) -> Vec<*mut u8> {
    let mut table: Vec<*mut u8> = vec![
        block.node_index.as_mut_ptr().cast(),
        nodes.v.as_mut_ptr().cast(),
        nodes.rhs.as_mut_ptr().cast(),
        nodes.diagonal.as_mut_ptr().cast(),
        nodes.area.as_mut_ptr().cast(),
        nodes.diam.as_mut_ptr().cast(),
    ];
    if !block.pre_node.is_empty() {
        table.push(block.pre_node.as_mut_ptr().cast());
    }
    table.extend(block.params.iter_mut().map(|(_, v)| v.as_mut_ptr().cast::<u8>()));
    table.extend(block.states.iter_mut().map(|v| v.as_mut_ptr().cast::<u8>()));
    table.extend(block.currents.iter_mut().map(|(_, v)| v.as_mut_ptr().cast::<u8>()));
    table.extend(block.derived.iter_mut().map(|(_, v)| v.as_mut_ptr().cast::<u8>()));
    for &s in &block.species {
        for var in [IonVar::Reversal, IonVar::Inside, IonVar::Outside, IonVar::Current] {
            table.push(ions[s].get_mut(var).as_mut_ptr().cast());
        }
    }
    table
}

/// A range of whole cells and, per block, the instances that belong to them.
pub struct Chunk {
    pub nodes: Range<usize>,
    /// Its cells arranged for the Hines solve (same-shape cells in SIMD lanes).
    pub cells: SolveCells,
    pub instances: Vec<Range<usize>>,
}

/// A chunk's cells before they are arranged for the solve.
pub struct Part {
    /// The cells' gids.
    pub gids: Range<usize>,
    pub nodes: Range<usize>,
    pub instances: Vec<Range<usize>>,
}

/// Every cell's node range, by gid.
fn cell_nodes(built: &Plan) -> Vec<Range<usize>> {
    let total = built.nodes.v.len();
    (0..built.cell_offset.len())
        .map(|gid| built.cell_offset[gid]..built.cell_offset.get(gid + 1).copied().unwrap_or(total))
        .collect()
}

/// [`parts`], each with its cells arranged for the solve.
pub fn chunks(built: &Plan, count: usize) -> Vec<Chunk> {
    let cells = cell_nodes(built);
    split(built, &cells, count)
        .into_iter()
        .map(|part| Chunk {
            cells: SolveCells::new(&built.cable, &cells[part.gids]),
            nodes: part.nodes,
            instances: part.instances,
        })
        .collect()
}

/// Splits the cells into about `count` parts of similar node counts, cut only between the
/// solve's runs of cells ([`SolveCells::runs`]) where there are `count` runs (else between
/// cells): a run goes to the part in whose share of the nodes its middle lies.
pub fn parts(built: &Plan, count: usize) -> Vec<Part> {
    split(built, &cell_nodes(built), count)
}

/// [`parts`] of the cells whose node ranges are `cells`.
fn split(built: &Plan, cells: &[Range<usize>], count: usize) -> Vec<Part> {
    let total = built.nodes.v.len();
    let part = |first: usize, last: usize| Part {
        gids: first..last,
        nodes: cells[first].start..cells[last - 1].end,
        instances: built.blocks.iter().map(|b| b.instances_of(first as u32..last as u32)).collect(),
    };
    let share_of = |first: usize, last: usize| (cells[first].start + cells[last - 1].end) * count / (2 * total.max(1));
    let mut out = Vec::new();
    let (mut first, mut last) = (0, 0);
    let runs = SolveCells::runs(&built.cable, cells);
    let runs = if runs.len() >= count { runs } else { vec![1; cells.len()] };
    for run in runs {
        if last > first && share_of(last, last + run) != share_of(first, last) {
            out.push(part(first, last));
            first = last;
        }
        last += run;
    }
    if first < last {
        out.push(part(first, last));
    }
    out
}

/// Raw views of the arrays a chunk step touches; chunks touch disjoint node ranges.
#[derive(Copy, Clone)]
pub struct Arrays {
    pub v: *mut f64,
    pub rhs: *mut f64,
    pub diagonal: *mut f64,
}

// SAFETY: threads only touch disjoint node ranges (whole cells) through these pointers, and
// compiled code is immutable; see the module documentation.
unsafe impl Send for Arrays {}
unsafe impl Sync for Arrays {}

pub struct Shared<'a> {
    pub blocks: &'a [CompiledBlock],
    pub ions: Vec<IonPointers>,
    pub arrays: Arrays,
    pub cable: &'a Cable,
}

// SAFETY: as for `Arrays`.
unsafe impl Sync for Shared<'_> {}

impl<'a> Shared<'a> {
    /// Views of the plan's arrays for the compiled blocks `blocks` (`unread_currents` as
    /// [`unread_currents`] finds them). Takes the plan's fields one by one so that the caller
    /// may read the others meanwhile.
    pub fn new(
        (nodes, ions, species): (&mut Nodes, &mut [IonArrays], &[Species]),
        cable: &'a Cable,
        blocks: &'a [CompiledBlock],
        unread_currents: &[bool],
    ) -> Shared<'a> {
        let ions = ions
            .iter_mut()
            .zip(species)
            .zip(unread_currents)
            .map(|((ion, species), &unread)| IonPointers {
                current: ion.current.as_mut_ptr(),
                reversal: ion.reversal.as_mut_ptr(),
                inside: ion.inside.as_ptr(),
                outside: ion.outside.as_ptr(),
                charge: species.charge,
                nernst: species.nernst,
                current_read: !unread,
            })
            .collect();
        let arrays =
            Arrays { v: nodes.v.as_mut_ptr(), rhs: nodes.rhs.as_mut_ptr(), diagonal: nodes.diagonal.as_mut_ptr() };
        Shared { blocks, ions, arrays, cable }
    }
}

/// Pointers to one species' arrays, and whether its reversal follows the Nernst equation.
#[derive(Copy, Clone)]
pub struct IonPointers {
    pub current: *mut f64,
    pub reversal: *mut f64,
    pub inside: *const f64,
    pub outside: *const f64,
    pub charge: i32,
    pub nernst: bool,
    /// Whether a kernel or probe reads the current (else no kernel writes it: see
    /// [`unread_currents`], and it is not zeroed either).
    pub current_read: bool,
}

impl Shared<'_> {
    /// Per-cell stages of one time step (`stages`: a pass of `schedule::per_cell_passes`) on
    /// one chunk of cells.
    ///
    /// # Safety
    /// The pointers must be valid for all nodes, and no other thread may touch this chunk's
    /// nodes at the same time.
    pub unsafe fn step_chunk(&self, chunk: &Chunk, stages: &[Stage], scalars: &[f64; 3], celsius: f64) {
        for &stage in stages {
            // SAFETY: forwarded from the caller.
            unsafe {
                match stage {
                    Stage::Reversals => self.reversals(chunk.nodes.clone(), celsius),
                    Stage::Currents => self.currents(chunk, scalars),
                    Stage::Solve => self.solve(chunk),
                    Stage::Advance => self.run(chunk, scalars, |b| &b.advance),
                    Stage::DeliverEvents | Stage::Detect | Stage::Record => {
                        unreachable!("not a per-cell stage")
                    }
                }
            }
        }
    }

    /// Whether the chunk's voltages are all good ([`blowup::all_good`]).
    ///
    /// # Safety
    /// No kernel of the chunk may be running.
    pub unsafe fn voltages_good(&self, chunk: &Chunk) -> bool {
        // SAFETY: the chunk's nodes are in the array, and nothing writes them now.
        blowup::all_good(unsafe { std::slice::from_raw_parts(self.arrays.v.add(chunk.nodes.start), chunk.nodes.len()) })
    }

    /// Nernst reversals of the nodes `range`.
    unsafe fn reversals(&self, range: Range<usize>, celsius: f64) {
        for ion in self.ions.iter().filter(|i| i.nernst) {
            let factor = crate::plan::nernst_factor(ion.charge, celsius);
            // SAFETY: the range is this chunk's; no kernel runs while the slices live.
            unsafe {
                let at = |p: *const f64| std::slice::from_raw_parts(p.add(range.start), range.len());
                let reversal = std::slice::from_raw_parts_mut(ion.reversal.add(range.start), range.len());
                jit::nernst_rows(reversal, at(ion.inside), at(ion.outside), factor);
            }
        }
    }

    /// Zeroes the chunk's ion currents, then runs the current kernels. The node accumulators
    /// (rhs, diagonal) are zero already: the engine starts with them zero and every step's
    /// solve leaves them zero ([`crate::plan::solve::solve_cells`]).
    unsafe fn currents(&self, chunk: &Chunk, scalars: &[f64; 3]) {
        let range = chunk.nodes.clone();
        let len = range.len();
        // Kernels write through raw pointers, so no reference to these arrays may be alive
        // while they run: zero through pointers, and borrow slices only for the solve.
        // SAFETY: the caller guarantees the pointers and the exclusive node range.
        unsafe {
            for ion in self.ions.iter().filter(|ion| ion.current_read) {
                std::ptr::write_bytes(ion.current.add(range.start), 0, len);
            }
            self.run(chunk, scalars, |b| &b.current);
        }
    }

    /// One compiled stage kernel of every block on the chunk's instances, in block order.
    unsafe fn run(&self, chunk: &Chunk, scalars: &[f64; 3], pick: fn(&CompiledBlock) -> &JitKernel) {
        for (block, instances) in self.blocks.iter().zip(&chunk.instances) {
            if !instances.is_empty() {
                // SAFETY: the table matches the kernel's slots; instances are in range.
                unsafe { pick(block).run(block.table.as_ptr(), scalars.as_ptr(), instances.start, instances.end) };
            }
        }
    }

    unsafe fn solve(&self, chunk: &Chunk) {
        let range = chunk.nodes.clone();
        let len = range.len();
        // SAFETY: as above; the slices end before the next kernel runs.
        let (v, rhs, diagonal) = unsafe {
            (
                std::slice::from_raw_parts_mut(self.arrays.v.add(range.start), len),
                std::slice::from_raw_parts_mut(self.arrays.rhs.add(range.start), len),
                std::slice::from_raw_parts_mut(self.arrays.diagonal.add(range.start), len),
            )
        };
        crate::plan::solve::solve_cells(v, rhs, diagonal, self.cable, range.start, &chunk.cells);
    }
}
