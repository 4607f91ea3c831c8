//! The kernels a gradient runs on a plan's arrays: the compiled stage kernels of a step
//! (current, advance, event; Cranelift, bit for bit the interpreter, `cpu::jit`); the current
//! and advance kernels fused with their adjoints' partials ([`AdjointKernel::fused`]), so that
//! one pass computes the stage and stores every partial derivative of a block's instances into
//! per-instance [`Slot::Partial`] arrays (the advance where a recomputation keeps its partials,
//! the current kernels with only the writes a replay reads); and the partials alone for the
//! replay's advance, initialisation and events. The adjoints keep only the partials that can
//! reach a gradient (`live`). A machine may run only some cells (`Cells`: a part of the reverse
//! run split by cells, `split`). Without compiled
//! code ([`Code::interpreted`]) the interpreter runs all of them: the reference the tests
//! compare the compiled gradient with, bit for bit. Initialisation is always interpreted
//! (`Plan::initialize`).

use sylva_compiler::ir::adjoint::{AdjointKernel, adjoint};
use sylva_compiler::ir::expr::ExprArena;
use sylva_compiler::ir::kernel::{Kernel, Kernels, Stage, Target, Write};

use super::cotangent::Vjp;
use super::live::Live;
use crate::cpu::compiled;
use crate::cpu::jit::{self, JitError, JitKernel};
use crate::cpu::slots::Slot;
use crate::host::DueEvent;
use crate::plan::schedule::{self, STEP};
use crate::plan::solve::solve_range;
use crate::plan::{Block, Plan};
use std::ops::Range;

/// The adjoint of one kernel of a block, and its vector–Jacobian product resolved for the block.
pub(crate) struct StageAdjoint {
    pub adjoint: AdjointKernel,
    pub vjp: Vjp,
}

impl StageAdjoint {
    /// The adjoint of `kernel` of block `b` (`block`), with the partials that matter (`live`).
    fn derive(b: usize, block: &Block, kernel: &Kernel, live: &Live) -> StageAdjoint {
        let mut adjoint = adjoint(kernel);
        adjoint.partials.retain(|p| live.matters(b, block, kernel, p));
        StageAdjoint { vjp: Vjp::resolve(block, kernel, &adjoint), adjoint }
    }
}

/// The adjoint of every kernel of one block.
pub(crate) struct BlockAdjoints {
    init: StageAdjoint,
    current: StageAdjoint,
    advance: StageAdjoint,
    event: Option<StageAdjoint>,
}

impl BlockAdjoints {
    fn derive(b: usize, block: &Block, live: &Live) -> BlockAdjoints {
        let k = &block.kernels;
        let derive = |kernel: &Kernel| StageAdjoint::derive(b, block, kernel, live);
        BlockAdjoints {
            init: derive(&k.init),
            current: derive(&k.current),
            advance: derive(&k.advance),
            event: k.event.as_ref().map(derive),
        }
    }

    /// The adjoint of the block's kernel of `stage`.
    pub(crate) fn of(&self, stage: Stage) -> Option<&StageAdjoint> {
        self.stages().find(|(s, _)| *s == stage).map(|(_, a)| a)
    }

    /// Every adjoint with the stage of its kernel.
    fn stages(&self) -> impl Iterator<Item = (Stage, &StageAdjoint)> {
        [(Stage::Init, &self.init), (Stage::Current, &self.current), (Stage::Advance, &self.advance)]
            .into_iter()
            .chain(self.event.iter().map(|e| (Stage::Event, e)))
    }

    /// The first of the block's partial arrays that holds the partials of the `stage` kernel's
    /// adjoint: the replay of a step computes the current and the advance kernels' partials
    /// before the reverse run uses either, so those two have arrays of their own.
    fn offset(&self, stage: Stage) -> usize {
        if stage == Stage::Advance { self.current.adjoint.partials.len() } else { 0 }
    }

    /// The partial arrays the block needs.
    pub(super) fn width(&self) -> usize {
        self.stages().map(|(stage, a)| self.offset(stage) + a.adjoint.partials.len()).max().unwrap_or(0)
    }
}

/// The kernel of `stage` of a block's kernels.
pub(crate) fn kernel_of(k: &Kernels, stage: Stage) -> Option<&Kernel> {
    match stage {
        Stage::Init => Some(&k.init),
        Stage::Current => Some(&k.current),
        Stage::Advance => Some(&k.advance),
        Stage::Event => k.event.as_ref(),
    }
}

/// What a gradient runs: the adjoints, derived once per problem, and the compiled kernels.
pub(crate) struct Code {
    /// Per block.
    pub adjoints: Vec<BlockAdjoints>,
    /// What carries a cotangent to a trained value (the adjoints keep the partials between).
    pub(super) live: Live,
    /// Per block, its compiled kernels; `None`: the interpreter runs them (the reference).
    compiled: Option<Vec<BlockCode>>,
    /// Whether the replay of a step may compute the advance kernels' partials without running
    /// them: where no advance kernel writes a concentration, none reads what another wrote.
    pub advance_partials_alone: bool,
}

/// The compiled kernels of one block.
struct BlockCode {
    current: JitKernel,
    advance: JitKernel,
    event: Option<JitKernel>,
    /// The current and advance kernels fused with their adjoints' partials (the replay that
    /// keeps tapes).
    current_and_partials: JitKernel,
    advance_and_partials: JitKernel,
    /// The current kernel's partials with only the writes a replay reads after it (see
    /// [`replay_writes`]): the replay of each step.
    replay_current: JitKernel,
    /// The partials kernel of each adjoint, by the stage of its kernel, into the arrays
    /// [`Machine::partials`] reads them from.
    partials: Vec<(Stage, JitKernel)>,
}

impl Code {
    /// Derives the adjoints of every block of `plan` (their partials that matter, `live`) and
    /// compiles the step's kernels and the adjoints' partials.
    pub(super) fn compile(plan: &Plan, live: Live) -> Result<Code, JitError> {
        let mut code = Code::interpreted(plan, live);
        let blocks = plan.blocks.iter().zip(&code.adjoints).map(|(block, adjoints)| {
            let slots = slot_list(block, adjoints.width());
            let compile = |k: &Kernel| jit::compile(k, &slots);
            let partials = adjoints
                .stages()
                .map(|(stage, a)| Ok((stage, compile(&partials_alone(adjoints, stage, a))?)))
                .collect::<Result<Vec<_>, JitError>>()?;
            let k = &block.kernels;
            let fused = |stage: Stage, a: &StageAdjoint| {
                let kernel = kernel_of(k, stage).expect("a kernel of the stage");
                compile(&a.adjoint.fused(kernel, adjoints.offset(stage) as u32))
            };
            Ok(BlockCode {
                current: compile(&k.current)?,
                advance: compile(&k.advance)?,
                event: k.event.as_ref().map(compile).transpose()?,
                current_and_partials: fused(Stage::Current, &adjoints.current)?,
                advance_and_partials: fused(Stage::Advance, &adjoints.advance)?,
                replay_current: compile(&adjoints.current.adjoint.fused(&replay_writes(&k.current), 0))?,
                partials,
            })
        });
        code.compiled = Some(blocks.collect::<Result<_, JitError>>()?);
        Ok(code)
    }

    /// Whether the kernels run compiled (else interpreted).
    pub(super) fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// The adjoints of every block of `plan` (their partials that matter, `live`), every
    /// kernel interpreted.
    pub(super) fn interpreted(plan: &Plan, live: Live) -> Code {
        Code {
            adjoints: plan.blocks.iter().enumerate().map(|(b, block)| BlockAdjoints::derive(b, block, &live)).collect(),
            live,
            compiled: None,
            advance_partials_alone: !plan
                .blocks
                .iter()
                .any(|b| b.kernels.advance.writes.iter().any(|w| matches!(w.target, Target::IonConcentration(..)))),
        }
    }
}

/// The partials of `a` (block adjoints `adjoints`' of `stage`) alone, into the arrays where
/// [`Machine::partials`] reads them.
fn partials_alone(adjoints: &BlockAdjoints, stage: Stage, a: &StageAdjoint) -> Kernel {
    let nothing = Kernel { stage, exprs: ExprArena::new(), writes: Vec::new() };
    a.adjoint.fused(&nothing, adjoints.offset(stage) as u32)
}

/// The current kernel `kernel` with only the writes a replay of its step reads: the
/// diagonal (the transposed solve's matrix) and the ion currents (an advance kernel may read
/// them). Its right-hand side and stored values are left out: the replay takes the solve's
/// result from the recomputed state, and the rows are recorded already.
fn replay_writes(kernel: &Kernel) -> Kernel {
    let kept = |w: &&Write| matches!(w.target, Target::NodeDiagonal | Target::IonCurrent(_));
    Kernel {
        stage: kernel.stage,
        exprs: kernel.exprs.clone(),
        writes: kernel.writes.iter().filter(kept).copied().collect(),
    }
}

/// The block's slots (`cpu::compiled::slots`), then its `width` partials.
fn slot_list(block: &Block, width: usize) -> Vec<Slot> {
    let mut slots = compiled::slots(block);
    slots.extend((0..width as u32).map(Slot::Partial));
    slots
}

/// Whole cells: their nodes and, per block, their instances.
#[derive(Clone, Debug)]
pub(super) struct Cells {
    pub nodes: Range<usize>,
    pub instances: Vec<Range<usize>>,
}

impl Cells {
    pub(super) fn all(plan: &Plan) -> Cells {
        Cells { nodes: 0..plan.nodes.v.len(), instances: plan.blocks.iter().map(|b| 0..b.len()).collect() }
    }

    /// The cells of `plan` in about `count` parts of similar node counts (as the CPU engine's
    /// chunks).
    pub(super) fn split(plan: &Plan, count: usize) -> Vec<Cells> {
        compiled::parts(plan, count).into_iter().map(|p| Cells { nodes: p.nodes, instances: p.instances }).collect()
    }

    /// Whether the event's target is one of these cells' instances.
    pub(super) fn hold(&self, e: &DueEvent) -> bool {
        self.instances[e.block as usize].contains(&(e.instance as usize))
    }
}

/// A plan stepped by a gradient's kernels, with the per-instance arrays that hold the last
/// partials computed for each block.
pub(super) struct Machine<'c> {
    /// Compiled code reads and writes its arrays through `tables`: none of them may be resized
    /// or replaced while the machine lives (values are copied in place).
    pub plan: Plan,
    code: &'c Code,
    /// Per block: the pointer table of [`slot_list`] (compiled code only).
    tables: Vec<Vec<*mut u8>>,
    /// The cells it runs (all but in a reverse run split by cells).
    pub cells: Cells,
    /// Per block, per partial, per instance; empty arrays in a machine that keeps none.
    partials: Vec<Vec<Vec<f64>>>,
    keeps_partials: bool,
    /// The interpreter's values of an adjoint's expressions.
    scratch: Vec<f64>,
}

impl<'c> Machine<'c> {
    /// A machine for `plan`; with `keeps_partials` it has the arrays for the adjoints'
    /// partials (a reverse run), else it only steps (a forward run).
    pub(super) fn new(mut plan: Plan, code: &'c Code, keeps_partials: bool) -> Machine<'c> {
        let len = |b: &Block| if keeps_partials { b.len() } else { 0 };
        let mut partials: Vec<Vec<Vec<f64>>> =
            plan.blocks.iter().zip(&code.adjoints).map(|(b, a)| vec![vec![0.0; len(b)]; a.width()]).collect();
        let tables = match code.compiled {
            Some(_) => {
                let p = &mut plan;
                p.blocks
                    .iter_mut()
                    .zip(&mut partials)
                    .map(|(block, partials)| {
                        let mut table = compiled::table(block, &mut p.nodes, &mut p.ions);
                        table.extend(partials.iter_mut().map(|v| v.as_mut_ptr().cast::<u8>()));
                        table
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        Machine { cells: Cells::all(&plan), plan, code, tables, partials, keeps_partials, scratch: Vec::new() }
    }

    /// A machine that runs only the kernels, solves and products of `cells` (compiled code:
    /// the interpreter runs every cell).
    pub(super) fn of_cells(plan: Plan, code: &'c Code, cells: Cells) -> Machine<'c> {
        assert!(code.compiled.is_some() || cells.instances.iter().zip(&plan.blocks).all(|(r, b)| r.len() == b.len()));
        Machine { cells, ..Machine::new(plan, code, true) }
    }

    /// One step from time `t`, delivering `events`: every stage of [`STEP`] but detection and
    /// recording.
    pub(super) fn step(&mut self, events: &[DueEvent], t: f64) {
        for stage in STEP {
            self.stage(stage, events, t);
        }
    }

    /// One stage of the step from time `t` (as `Plan::interpret_stage`).
    pub(super) fn stage(&mut self, stage: schedule::Stage, events: &[DueEvent], t: f64) {
        use schedule::Stage as S;
        if self.code.compiled.is_none() {
            return self.plan.interpret_stage(stage, events, t);
        }
        let mid = t + self.plan.dt / 2.0;
        match stage {
            S::DeliverEvents => events.iter().for_each(|e| self.event(e, t)),
            S::Reversals => self.plan.update_reversals(),
            S::Currents => {
                self.zero_accumulators();
                (0..self.plan.blocks.len()).for_each(|b| self.run(b, |c| &c.current, mid));
            }
            S::Solve => {
                let nodes = &mut self.plan.nodes;
                let cable = &self.plan.cable;
                solve_range(&mut nodes.v, &mut nodes.rhs, &mut nodes.diagonal, cable, 0, self.cells.nodes.clone());
            }
            S::Advance => (0..self.plan.blocks.len()).for_each(|b| self.run(b, |c| &c.advance, mid)),
            S::Detect | S::Record => {}
        }
    }

    /// The event kernel of the event's target instance.
    pub(super) fn event(&mut self, e: &DueEvent, t: f64) {
        let Some(blocks) = &self.code.compiled else {
            return self.plan.interpret_event(e.block, e.instance, e.weight, t);
        };
        let b = e.block as usize;
        if let Some(kernel) = &blocks[b].event {
            let scalars = self.plan.scalars(t);
            // SAFETY: the table holds this block's arrays (never resized) in the order the kernel
            // was compiled for; the instance is in range.
            unsafe { kernel.run_event(self.tables[b].as_ptr(), scalars.as_ptr(), e.instance as usize, e.weight) };
        }
    }

    fn interpret_advance(&mut self, b: usize, mid: f64) {
        let scalars = self.plan.scalars(mid);
        let p = &mut self.plan;
        let block = &mut p.blocks[b];
        let kernels = std::sync::Arc::clone(&block.kernels);
        let n = block.len();
        block.interpret(&kernels.advance, &mut p.nodes, &mut p.ions, &scalars, 0, n);
    }

    /// [`schedule::Stage::Currents`] at model time `mid`, keeping every block's partials of its
    /// current kernel (see [`Machine::partials`]).
    pub(super) fn currents_and_partials(&mut self, mid: f64) {
        self.check_keeps_partials();
        match self.code.compiled {
            Some(_) => {
                self.zero_accumulators();
                (0..self.plan.blocks.len()).for_each(|b| self.run(b, |c| &c.current_and_partials, mid));
            }
            None => {
                // Nothing the current kernels read is written in the stage.
                (0..self.plan.blocks.len()).for_each(|b| self.compute_partials(b, Stage::Current, mid, None));
                self.plan.currents(mid);
            }
        }
    }

    /// [`schedule::Stage::Currents`] at model time `mid` for a replay that takes the state
    /// after the step from elsewhere: every block's partials of its current kernel, and of its
    /// writes only those the replay reads later ([`replay_writes`]; the interpreter makes them
    /// all, the same bits).
    pub(super) fn replay_currents(&mut self, mid: f64) {
        match self.code.compiled {
            Some(_) => {
                self.check_keeps_partials();
                self.zero_accumulators();
                (0..self.plan.blocks.len()).for_each(|b| self.run(b, |c| &c.replay_current, mid));
            }
            None => self.currents_and_partials(mid),
        }
    }

    /// Whether a replay may compute the advance kernels' partials without running them
    /// (see [`Code::advance_partials_alone`]).
    pub(super) fn advance_partials_alone(&self) -> bool {
        self.code.advance_partials_alone
    }

    /// The advance kernel of block `b` at model time `mid`, keeping its partials.
    pub(super) fn advance_and_partials(&mut self, b: usize, mid: f64) {
        self.check_keeps_partials();
        match self.code.compiled {
            Some(_) => self.run(b, |c| &c.advance_and_partials, mid),
            None => {
                self.compute_partials(b, Stage::Advance, mid, None);
                self.interpret_advance(b, mid);
            }
        }
    }

    /// Arrays for the partials of every block's advance kernel, shaped as the machine's.
    pub(super) fn advance_partials_like(&self) -> Vec<Vec<Vec<f64>>> {
        let arrays = |b: usize| self.partials[b][self.code.adjoints[b].offset(Stage::Advance)..].iter();
        (0..self.partials.len()).map(|b| arrays(b).map(|p| vec![0.0; p.len()]).collect()).collect()
    }

    /// Exchanges the machine's arrays of the advance kernels' partials with `other` (shaped by
    /// [`Machine::advance_partials_like`]): the kernels compute into them, and the adjoint
    /// reads them, from now on.
    pub(super) fn swap_advance_partials(&mut self, other: &mut [Vec<Vec<f64>>]) {
        for (b, (table, partials)) in self.tables.iter_mut().zip(&mut self.partials).enumerate() {
            let first = self.code.adjoints[b].offset(Stage::Advance);
            // The partials are the table's last slots (`slot_list`).
            let first_slot = table.len() - partials.len() + first;
            for (k, array) in other[b].iter_mut().enumerate() {
                std::mem::swap(&mut partials[first + k], array);
                table[first_slot + k] = partials[first + k].as_mut_ptr().cast::<u8>();
            }
        }
        if self.tables.is_empty() {
            for (b, partials) in self.partials.iter_mut().enumerate() {
                let first = self.code.adjoints[b].offset(Stage::Advance);
                partials[first..].iter_mut().zip(other[b].iter_mut()).for_each(|(x, y)| std::mem::swap(x, y));
            }
        }
    }

    /// One step from time `t`, delivering `events`, that keeps the advance kernels' partials
    /// (see [`Machine::partials`]).
    pub(super) fn step_keeping_advance_partials(&mut self, events: &[DueEvent], t: f64) {
        let mid = t + self.plan.dt / 2.0;
        for stage in STEP {
            match stage {
                schedule::Stage::Advance => (0..self.plan.blocks.len()).for_each(|b| self.advance_and_partials(b, mid)),
                _ => self.stage(stage, events, t),
            }
        }
    }

    /// What the current stage sums into, zeroed at the machine's cells' nodes.
    fn zero_accumulators(&mut self) {
        let (nodes, range) = (&mut self.plan.nodes, self.cells.nodes.clone());
        nodes.rhs[range.clone()].fill(0.0);
        nodes.diagonal[range.clone()].fill(0.0);
        for ion in &mut self.plan.ions {
            ion.current[range.clone()].fill(0.0);
        }
    }

    /// Compiled code writes the partials through raw pointers: the arrays must be there.
    fn check_keeps_partials(&self) {
        assert!(self.keeps_partials, "a forward machine has no arrays for the partials");
    }

    /// A compiled range kernel of block `b` on all its instances.
    fn run(&mut self, b: usize, pick: fn(&BlockCode) -> &JitKernel, t: f64) {
        let blocks = self.code.compiled.as_ref().expect("compiled code only");
        let scalars = self.plan.scalars(t);
        // SAFETY: as in `event`, for every instance of the block.
        let Range { start, end } = self.cells.instances[b];
        unsafe { pick(&blocks[b]).run(self.tables[b].as_ptr(), scalars.as_ptr(), start, end) };
    }

    /// Computes the partials of block `b`'s adjoint of its `stage` kernel at the plan's values
    /// (see [`Machine::partials`]): for every instance, or with `event` = (instance, weight)
    /// for that instance alone.
    pub(super) fn compute_partials(&mut self, b: usize, stage: Stage, t: f64, event: Option<(usize, f64)>) {
        self.check_keeps_partials();
        let scalars = self.plan.scalars(t);
        let code = self.code;
        match &code.compiled {
            Some(blocks) => {
                let (_, kernel) = blocks[b].partials.iter().find(|(s, _)| *s == stage).expect("an adjoint per kernel");
                let table = self.tables[b].as_ptr();
                // SAFETY: as in `event`; the partial arrays are sized for every instance.
                unsafe {
                    match event {
                        Some((instance, weight)) => kernel.run_event(table, scalars.as_ptr(), instance, weight),
                        None => kernel.run(
                            table,
                            scalars.as_ptr(),
                            self.cells.instances[b].start,
                            self.cells.instances[b].end,
                        ),
                    }
                }
            }
            None => {
                let instances = event.map_or(self.cells.instances[b].clone(), |(i, _)| i..i + 1);
                for instance in instances {
                    self.evaluate(b, stage, instance, event.map_or(0.0, |(_, w)| w), &scalars);
                }
            }
        }
    }

    /// Per partial, per instance of block `b`: the partials of its `stage` kernel's adjoint
    /// last computed (by [`Machine::compute_partials`] or, for the current and advance kernels,
    /// with the stage by the replay's [`Machine::currents_and_partials`] and
    /// [`Machine::advance_and_partials`]).
    pub(super) fn partials(&self, b: usize, stage: Stage) -> &[Vec<f64>] {
        &self.partials[b][self.code.adjoints[b].offset(stage)..]
    }

    /// The partials of `adjoint` at one instance, interpreted.
    fn evaluate(&mut self, b: usize, stage: Stage, instance: usize, weight: f64, scalars: &[f64]) {
        let adjoint = &self.code.adjoints[b].of(stage).expect("an adjoint per kernel").adjoint;
        let p = &self.plan;
        self.scratch.resize(adjoint.exprs.len(), 0.0);
        p.blocks[b].evaluate_at(&adjoint.exprs, &mut self.scratch, &p.nodes, &p.ions, scalars, instance, weight);
        let arrays = &mut self.partials[b][self.code.adjoints[b].offset(stage)..];
        for (array, partial) in arrays.iter_mut().zip(&adjoint.partials) {
            array[instance] = self.scratch[partial.value.0 as usize];
        }
    }
}

#[cfg(test)]
impl Code {
    /// Makes every vector–Jacobian product run instance by instance (the reference order of
    /// [`Cotangents::vjp_block`](super::cotangent::Cotangents::vjp_block)'s fast path).
    pub(super) fn instance_by_instance(&mut self) {
        for a in &mut self.adjoints {
            for stage in [&mut a.init, &mut a.current, &mut a.advance].into_iter().chain(&mut a.event) {
                stage.vjp.disjoint = false;
            }
        }
    }
}
