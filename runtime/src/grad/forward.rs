//! The forward run of a gradient: the interpreter's step (the schedule's stages in order), the
//! probes' rows, the events each step delivered, and the state every K steps.

use super::GradError;
use crate::host::blowup;
use crate::host::{DueEvent, Host};
use crate::plan::schedule::{STEP, Stage};
use crate::plan::solve::solve_range;
use crate::plan::{IonArrays, Plan};

/// The state a step reads and the probes see: what a checkpoint saves.
#[derive(Clone)]
pub(super) struct Snapshot {
    v: Vec<f64>,
    ions: Vec<IonArrays>,
    blocks: Vec<BlockState>,
}

/// A block's states and stored values (per state or value, per instance).
#[derive(Clone)]
struct BlockState {
    states: Vec<Vec<f64>>,
    currents: Vec<Vec<f64>>,
    derived: Vec<Vec<f64>>,
}

impl Snapshot {
    pub(super) fn take(plan: &Plan) -> Snapshot {
        Snapshot {
            v: plan.nodes.v.clone(),
            ions: plan.ions.clone(),
            blocks: plan
                .blocks
                .iter()
                .map(|b| {
                    let stored = |list: &[(u32, Vec<f64>)]| list.iter().map(|(_, v)| v.clone()).collect();
                    BlockState { states: b.states.clone(), currents: stored(&b.currents), derived: stored(&b.derived) }
                })
                .collect(),
        }
    }

    pub(super) fn restore(&self, plan: &mut Plan) {
        plan.nodes.v.copy_from_slice(&self.v);
        for (ion, saved) in plan.ions.iter_mut().zip(&self.ions) {
            ion.clone_from(saved);
        }
        for (b, saved) in plan.blocks.iter_mut().zip(&self.blocks) {
            b.states.clone_from(&saved.states);
            for ((_, values), saved) in b.currents.iter_mut().zip(&saved.currents) {
                values.copy_from_slice(saved);
            }
            for ((_, values), saved) in b.derived.iter_mut().zip(&saved.derived) {
                values.copy_from_slice(saved);
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
}

/// Runs `plan` (uninitialised) for `steps` steps; `checkpoint_every`: keep the events and the
/// state every so many steps (for the reverse run), or nothing but the rows.
pub(super) fn run(plan: &Plan, steps: u64, checkpoint_every: Option<u64>) -> Result<Run, GradError> {
    let mut p = plan.clone();
    p.initialize();
    let mut host = Host::new(&mut p, steps);
    let mut above = std::mem::take(&mut p.above);
    let mut run = Run { rows: vec![probe_row(&p)], events: Vec::new(), checkpoints: Vec::new(), steps };
    for n in 0..steps {
        if checkpoint_every.is_some_and(|k| n % k == 0) {
            run.checkpoints.push((n, Snapshot::take(&p)));
        }
        let mut events = Vec::new();
        while let Some(e) = host.pop_due(n) {
            events.push(e);
        }
        step(&mut p, &events, host.time_of(n));
        let t_next = host.time_of(n + 1);
        check_finite(&p, n + 1, t_next)?;
        for (d, was_above) in p.detectors.iter().zip(&mut above) {
            let now = p.nodes.v[d.node] >= d.threshold;
            if now && !*was_above {
                host.spike(d.gid, t_next);
            }
            *was_above = now;
        }
        run.rows.push(probe_row(&p));
        host.finish_steps(1);
        if checkpoint_every.is_some() {
            run.events.push(events);
        }
    }
    Ok(run)
}

/// One step of the schedule from time `t`, delivering `events` (the interpreter's arithmetic:
/// the same bits as the CPU engine's). Detection and recording are the caller's.
pub(super) fn step(p: &mut Plan, events: &[DueEvent], t: f64) {
    let mid = t + p.dt / 2.0;
    for stage in STEP {
        match stage {
            Stage::DeliverEvents => {
                for e in events {
                    p.interpret_event(e.block, e.instance, e.weight, t);
                }
            }
            Stage::Reversals => p.update_reversals(),
            Stage::Currents => p.currents(mid),
            Stage::Solve => solve(p),
            Stage::Advance => p.interpret(|k| &k.advance, mid),
            Stage::Detect | Stage::Record => {}
        }
    }
}

pub(super) fn solve(p: &mut Plan) {
    let n = p.nodes.v.len();
    let nodes = &mut p.nodes;
    solve_range(&mut nodes.v, &mut nodes.rhs, &mut nodes.diagonal, &p.cable, 0, 0..n);
}

fn probe_row(p: &Plan) -> Vec<f64> {
    p.probes.iter().map(|probe| p.probe_value(probe)).collect()
}

fn check_finite(p: &Plan, step: u64, time: f64) -> Result<(), GradError> {
    blowup::of_plan(p, step, time).map_or(Ok(()), |b| Err(GradError::Diverged(b)))
}
