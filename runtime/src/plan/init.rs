//! The state changes the plan itself performs with the reference interpreter: initialisation
//! ([`super::schedule::INIT`]) for every engine, and the stages the CPU engine interprets.

use std::sync::Arc;

use sylva_compiler::ir::kernel::{Kernel, Kernels};

use super::Plan;
use super::block::SCALAR_COUNT;
use super::events::Target;
use super::schedule::{INIT, InitStage, Stage};
use super::solve::solve_range;

impl Plan {
    pub(crate) fn initialize(&mut self) {
        for stage in INIT {
            match stage {
                InitStage::InitKernels => self.interpret(|k| &k.init, 0.0),
                InitStage::Reversals => self.update_reversals(),
                InitStage::Currents => self.currents(0.0),
                InitStage::DetectorFlags => {
                    self.above = self.detectors.iter().map(|d| self.nodes.v[d.node] >= d.threshold).collect();
                }
            }
        }
    }

    pub(crate) fn scalars(&self, t: f64) -> [f64; SCALAR_COUNT] {
        [t, self.dt, self.celsius]
    }

    /// Runs one stage's kernel of every block on every instance, in block and instance order.
    pub(crate) fn interpret(&mut self, pick: fn(&Kernels) -> &Kernel, t: f64) {
        let scalars = self.scalars(t);
        for block in &mut self.blocks {
            let kernels = Arc::clone(&block.kernels);
            let n = block.len();
            block.interpret(pick(&kernels), &mut self.nodes, &mut self.ions, &scalars, 0, n);
        }
    }

    /// The event kernel of block `block` for one instance.
    pub(crate) fn interpret_event(&mut self, block: u32, instance: u32, weight: f64, t: f64) {
        let scalars = self.scalars(t);
        let block = &mut self.blocks[block as usize];
        let kernels = Arc::clone(&block.kernels);
        if let Some(kernel) = &kernels.event {
            block.interpret_event(kernel, &mut self.nodes, &mut self.ions, &scalars, instance as usize, weight);
        }
    }

    /// One stage of the step from time `t`, interpreted; `events` are delivered by
    /// [`Stage::DeliverEvents`]; [`Stage::Detect`] and [`Stage::Record`] do nothing here.
    pub(crate) fn interpret_stage(&mut self, stage: Stage, events: &[Target], t: f64) {
        let mid = t + self.dt / 2.0;
        match stage {
            Stage::DeliverEvents => {
                for e in events {
                    self.interpret_event(e.block, e.instance, e.weight, t);
                }
            }
            Stage::Reversals => self.update_reversals(),
            Stage::Currents => self.currents(mid),
            Stage::Solve => self.solve(),
            Stage::Advance => self.interpret(|k| &k.advance, mid),
            Stage::Detect | Stage::Record => {}
        }
    }

    /// [`Stage::Solve`] on every cell at once.
    pub(crate) fn solve(&mut self) {
        let n = self.nodes.v.len();
        let nodes = &mut self.nodes;
        solve_range(&mut nodes.v, &mut nodes.rhs, &mut nodes.diagonal, &self.cable, 0, 0..n);
    }

    /// [`super::schedule::Stage::Currents`], interpreted.
    pub(crate) fn currents(&mut self, t: f64) {
        self.zero_accumulators();
        self.interpret(|k| &k.current, t);
    }

    /// What [`Stage::Currents`] sums into, zeroed: the node accumulators and the ion currents.
    pub(crate) fn zero_accumulators(&mut self) {
        self.nodes.rhs.fill(0.0);
        self.nodes.diagonal.fill(0.0);
        for ion in &mut self.ions {
            ion.current.fill(0.0);
        }
    }

    /// [`super::schedule::Stage::Reversals`].
    pub(crate) fn update_reversals(&mut self) {
        for (species, ion) in self.species.iter().zip(&mut self.ions) {
            if !species.nernst {
                continue;
            }
            for n in 0..ion.reversal.len() {
                if ion.inside[n] > 0.0 {
                    ion.reversal[n] = super::nernst(species.charge, self.celsius, ion.inside[n], ion.outside[n]);
                }
            }
        }
    }
}
