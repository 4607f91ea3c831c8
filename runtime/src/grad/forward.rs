//! The forward run of a gradient: the compiled step (the schedule's stages in order), the
//! probes' rows, the events each step delivered, and the state every K steps.

use super::GradError;
use super::kernels::{Cells, Code, Machine};
use crate::host::blowup;
use crate::host::{DueEvent, Host};
use sylva_compiler::ir::expr::{Expr, IonVar};
use sylva_compiler::ir::kernel::Target;

use std::ops::Range;

use crate::plan::Plan;

/// What a checkpoint saves: what a step reads that it does not compute itself first. That is v,
/// the mechanisms' states, and of each species only the arrays that change and are read before
/// they are recomputed: concentrations a mechanism writes, Nernst reversals (event kernels run
/// before the step's Nernst update), and the summed current where an event kernel reads it.
/// Stored currents and derived values are outputs no kernel reads.
#[derive(Clone)]
pub(super) struct Snapshot {
    /// The cells it holds: its arrays start at their first node and instances.
    cells: Cells,
    v: Vec<f64>,
    /// (species, which array, values).
    ions: Vec<(usize, IonVar, Vec<f64>)>,
    states: Vec<Vec<Vec<f64>>>,
}

/// The ion arrays a snapshot of `plan` keeps (see [`Snapshot`]).
pub(crate) fn saved_ion_arrays(plan: &Plan) -> Vec<(usize, IonVar)> {
    let mut saved = Vec::new();
    for (s, species) in plan.species.iter().enumerate() {
        if species.nernst {
            saved.push((s, IonVar::Reversal));
        }
        for var in [IonVar::Inside, IonVar::Outside] {
            let written = plan.blocks.iter().any(|b| {
                let k = &b.kernels;
                [&k.init, &k.current, &k.advance].into_iter().chain(&k.event).any(|kernel| {
                    kernel.writes.iter().any(|w| {
                        matches!(w.target, Target::IonConcentration(u, v) if v == var && b.species[u as usize] == s)
                    })
                })
            });
            if written {
                saved.push((s, var));
            }
        }
        let event_reads_current = plan.blocks.iter().any(|b| {
            b.kernels.event.as_ref().is_some_and(|k| {
                k.exprs.iter().any(|(_, e)| matches!(e, Expr::Ion(u, IonVar::Current) if b.species[u as usize] == s))
            })
        });
        if event_reads_current {
            saved.push((s, IonVar::Current));
        }
    }
    saved
}

/// The bytes of a [`Snapshot`] of `plan` keeping the ion arrays `saved`.
pub(super) fn state_bytes(plan: &Plan, saved: &[(usize, IonVar)]) -> usize {
    let states: usize = plan.blocks.iter().map(|b| b.states.len() * b.len()).sum();
    8 * (plan.nodes.v.len() * (1 + saved.len()) + states)
}

impl Snapshot {
    /// The state of the plan's `cells`.
    pub(super) fn take(plan: &Plan, ions: &[(usize, IonVar)], cells: &Cells) -> Snapshot {
        let nodes = cells.nodes.clone();
        let states = plan.blocks.iter().zip(&cells.instances);
        Snapshot {
            cells: cells.clone(),
            v: plan.nodes.v[nodes.clone()].to_vec(),
            ions: ions.iter().map(|&(s, var)| (s, var, plan.ions[s].get(var)[nodes.clone()].to_vec())).collect(),
            states: states.map(|(b, i)| b.states.iter().map(|s| s[i.clone()].to_vec()).collect()).collect(),
        }
    }

    /// Where the values of `cells` (some of its own) are in its arrays: nodes, per block instances.
    fn at(&self, cells: &Cells) -> (Range<usize>, Vec<Range<usize>>) {
        let shift = |r: &Range<usize>, by: usize| r.start - by..r.end - by;
        let nodes = shift(&cells.nodes, self.cells.nodes.start);
        (nodes, cells.instances.iter().zip(&self.cells.instances).map(|(r, own)| shift(r, own.start)).collect())
    }

    /// Overwrites this snapshot's values of `cells` (some of its own) with the plan's state.
    pub(super) fn copy_from(&mut self, plan: &Plan, cells: &Cells) {
        let (nodes, instances) = self.at(cells);
        let (here, there) = (nodes, cells.nodes.clone());
        self.v[here.clone()].copy_from_slice(&plan.nodes.v[there.clone()]);
        for (s, var, values) in &mut self.ions {
            values[here.clone()].copy_from_slice(&plan.ions[*s].get(*var)[there.clone()]);
        }
        for (((b, states), mine), theirs) in
            plan.blocks.iter().zip(&mut self.states).zip(instances).zip(&cells.instances)
        {
            for (state, saved) in b.states.iter().zip(states) {
                saved[mine.clone()].copy_from_slice(&state[theirs.clone()]);
            }
        }
    }

    /// The saved voltages of `cells` (some of its own).
    pub(super) fn v(&self, cells: &Cells) -> &[f64] {
        &self.v[self.at(cells).0]
    }

    /// Puts the saved state of `cells` (some of its own) back into the plan.
    pub(super) fn restore(&self, plan: &mut Plan, cells: &Cells) {
        let (here, instances) = self.at(cells);
        let there = cells.nodes.clone();
        plan.nodes.v[there.clone()].copy_from_slice(&self.v[here.clone()]);
        for (s, var, values) in &self.ions {
            plan.ions[*s].get_mut(*var)[there.clone()].copy_from_slice(&values[here.clone()]);
        }
        // In place: compiled kernels hold pointers to these arrays.
        let blocks = plan.blocks.iter_mut().zip(&self.states).zip(instances).zip(&cells.instances);
        for (((b, states), mine), theirs) in blocks {
            for (state, saved) in b.states.iter_mut().zip(states) {
                state[theirs.clone()].copy_from_slice(&saved[mine.clone()]);
            }
        }
    }
}

pub(super) struct Run {
    /// Per recorded row (row 0: after initialisation), every probe's value in internal units.
    pub rows: Vec<Vec<f64>>,
    /// Per step, the events it delivered, in delivery order.
    pub events: Vec<Vec<DueEvent>>,
    /// (step, state at its start), every K steps from step 0.
    pub checkpoints: Vec<(u64, Snapshot)>,
    pub steps: u64,
    /// The ion arrays a snapshot keeps.
    pub saved: Vec<(usize, IonVar)>,
}

/// Runs `plan` (uninitialised) for `steps` steps with `code`; `checkpoint_every`: keep the
/// events and the state every so many steps (for the reverse run), or nothing but the rows.
pub(super) fn run(plan: &Plan, code: &Code, steps: u64, checkpoint_every: Option<u64>) -> Result<Run, GradError> {
    let mut p = plan.clone();
    p.initialize();
    let mut host = Host::new(&mut p, steps);
    let mut above = std::mem::take(&mut p.above);
    let saved = saved_ion_arrays(&p);
    let mut run = Run { rows: vec![probe_row(&p)], events: Vec::new(), checkpoints: Vec::new(), steps, saved };
    let mut m = Machine::new(p, code, false);
    for n in 0..steps {
        if checkpoint_every.is_some_and(|k| n % k == 0) {
            run.checkpoints.push((n, Snapshot::take(&m.plan, &run.saved, &m.cells)));
        }
        let mut events = Vec::new();
        while let Some(e) = host.pop_due(n) {
            events.push(e);
        }
        m.step(&events, host.time_of(n));
        let p = &m.plan;
        let t_next = host.time_of(n + 1);
        check_finite(p, n + 1, t_next)?;
        for (d, was_above) in p.detectors.iter().zip(&mut above) {
            let now = p.nodes.v[d.node] >= d.threshold;
            if now && !*was_above {
                host.spike(d.gid, t_next);
            }
            *was_above = now;
        }
        run.rows.push(probe_row(p));
        host.finish_steps(1);
        if checkpoint_every.is_some() {
            run.events.push(events);
        }
    }
    Ok(run)
}

fn probe_row(p: &Plan) -> Vec<f64> {
    p.probes.iter().map(|probe| p.probe_value(probe)).collect()
}

fn check_finite(p: &Plan, step: u64, time: f64) -> Result<(), GradError> {
    blowup::of_plan(p, step, time).map_or(Ok(()), |b| Err(GradError::Diverged(b)))
}
