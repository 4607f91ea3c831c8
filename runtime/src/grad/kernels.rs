//! The kernels a gradient runs on a plan's arrays: the compiled stage kernels of a step
//! (current, advance, event; Cranelift, bit for bit the interpreter, `cpu::jit`); the current
//! and advance kernels fused with their adjoints' partials ([`AdjointKernel::fused`]), which the
//! replay of a step runs so that one pass computes the stage and stores every partial
//! derivative of a block's instances into per-instance [`Slot::Partial`] arrays; and the
//! partials alone ([`AdjointKernel::kernel`]) for initialisation and events. Without compiled
//! code ([`Code::interpreted`]) the interpreter runs all of them: the reference the tests
//! compare the compiled gradient with, bit for bit. Initialisation is always interpreted
//! (`Plan::initialize`).

use sylva_compiler::ir::adjoint::{AdjointKernel, adjoint};
use sylva_compiler::ir::kernel::{Kernel, Kernels, Stage};

use super::cotangent::Vjp;
use crate::cpu::compiled;
use crate::cpu::jit::{self, JitError, JitKernel};
use crate::cpu::slots::Slot;
use crate::host::DueEvent;
use crate::plan::schedule::{self, STEP};
use crate::plan::{Block, Plan};

/// The adjoint of one kernel of a block, and its vector–Jacobian product resolved for the block.
pub(crate) struct StageAdjoint {
    pub adjoint: AdjointKernel,
    pub vjp: Vjp,
}

impl StageAdjoint {
    fn derive(block: &Block, kernel: &Kernel) -> StageAdjoint {
        let adjoint = adjoint(kernel);
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
    fn derive(block: &Block) -> BlockAdjoints {
        let k = &block.kernels;
        BlockAdjoints {
            init: StageAdjoint::derive(block, &k.init),
            current: StageAdjoint::derive(block, &k.current),
            advance: StageAdjoint::derive(block, &k.advance),
            event: k.event.as_ref().map(|e| StageAdjoint::derive(block, e)),
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
    /// Per block, its compiled kernels; `None`: the interpreter runs them (the reference).
    compiled: Option<Vec<BlockCode>>,
}

/// The compiled kernels of one block.
struct BlockCode {
    current: JitKernel,
    advance: JitKernel,
    event: Option<JitKernel>,
    /// The current and advance kernels fused with their adjoints' partials (the replay).
    current_and_partials: JitKernel,
    advance_and_partials: JitKernel,
    /// The partials kernel of each adjoint, by the stage of its kernel.
    partials: Vec<(Stage, JitKernel)>,
}

impl Code {
    /// Derives the adjoints of every block of `plan` and compiles the step's kernels and the
    /// adjoints' partials.
    pub(super) fn compile(plan: &Plan) -> Result<Code, JitError> {
        let mut code = Code::interpreted(plan);
        let blocks = plan.blocks.iter().zip(&code.adjoints).map(|(block, adjoints)| {
            let slots = slot_list(block, adjoints.width());
            let compile = |k: &Kernel| jit::compile(k, &slots);
            let partials = adjoints
                .stages()
                .map(|(stage, a)| Ok((stage, compile(&a.adjoint.kernel(stage))?)))
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
                partials,
            })
        });
        code.compiled = Some(blocks.collect::<Result<_, JitError>>()?);
        Ok(code)
    }

    /// The adjoints of every block of `plan`, every kernel interpreted.
    pub(super) fn interpreted(plan: &Plan) -> Code {
        Code { adjoints: plan.blocks.iter().map(BlockAdjoints::derive).collect(), compiled: None }
    }
}

/// The block's slots (`cpu::compiled::slots`), then its `width` partials.
fn slot_list(block: &Block, width: usize) -> Vec<Slot> {
    let mut slots = compiled::slots(block);
    slots.extend((0..width as u32).map(Slot::Partial));
    slots
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
        Machine { plan, code, tables, partials, keeps_partials, scratch: Vec::new() }
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
                self.plan.zero_accumulators();
                (0..self.plan.blocks.len()).for_each(|b| self.run(b, |c| &c.current, mid));
            }
            S::Solve => self.plan.solve(),
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
                self.plan.zero_accumulators();
                (0..self.plan.blocks.len()).for_each(|b| self.run(b, |c| &c.current_and_partials, mid));
            }
            None => {
                // Nothing the current kernels read is written in the stage.
                (0..self.plan.blocks.len()).for_each(|b| self.compute_partials(b, Stage::Current, mid, None));
                self.plan.currents(mid);
            }
        }
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

    /// Arrays for every partial of every block, shaped as the machine's.
    pub(super) fn partials_like(&self) -> Vec<Vec<Vec<f64>>> {
        self.partials.iter().map(|block| block.iter().map(|p| vec![0.0; p.len()]).collect()).collect()
    }

    /// Exchanges the machine's partial arrays with `other` (shaped by
    /// [`Machine::partials_like`]): the kernels compute into them from now on.
    pub(super) fn swap_partials(&mut self, other: &mut Vec<Vec<Vec<f64>>>) {
        std::mem::swap(&mut self.partials, other);
        for (table, partials) in self.tables.iter_mut().zip(&mut self.partials) {
            // The partials are the table's last slots (`slot_list`).
            let first = table.len() - partials.len();
            for (slot, array) in table[first..].iter_mut().zip(partials) {
                *slot = array.as_mut_ptr().cast::<u8>();
            }
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
        unsafe { pick(&blocks[b]).run(self.tables[b].as_ptr(), scalars.as_ptr(), 0, self.plan.blocks[b].len()) };
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
                        None => kernel.run(table, scalars.as_ptr(), 0, self.plan.blocks[b].len()),
                    }
                }
            }
            None => {
                let instances = event.map_or(0..self.plan.blocks[b].len(), |(i, _)| i..i + 1);
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
