//! The host side every engine shares: the event queue and spike routing, the time grid, the
//! probes' read-out in displayed units, the recording, and the divergence report
//! ([`blowup`]). An engine runs the per-cell stages of the schedule on its own memory and
//! hands the host what crossed a threshold and what the probes read.

pub mod blowup;

use std::collections::HashMap;

use crate::plan::Plan;
use crate::plan::events::{Queue, Target, Wiring};

/// Times, probe columns (in displayed units) and spikes `(gid, time)` of a run so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recording {
    pub times: Vec<f64>,
    pub columns: Vec<Vec<f64>>,
    pub spikes: Vec<(u32, f64)>,
}

/// An event due in a step: an instance of a block, the weight, and the connection that sent it.
pub type DueEvent = Target;

pub struct Host {
    queue: Queue,
    wiring: Wiring,
    synapse_targets: HashMap<(u32, u32), (u32, u32)>,
    /// Per probe, internal units per displayed unit.
    probe_scales: Vec<f64>,
    dt: f64,
    /// Steps done.
    step: u64,
    steps: u64,
    recording: Recording,
    /// The shortest delay of a connection from a cell (infinite without any).
    min_delay: f64,
}

impl Host {
    /// The host of a run of `steps` steps from the plan's initial state; takes the plan's wiring
    /// and queues its source events. Recording starts with [`Host::record`] of row 0.
    pub fn new(plan: &mut Plan, steps: u64) -> Host {
        let mut queue = Queue::default();
        for (time, target) in std::mem::take(&mut plan.source_events) {
            queue.push(time, target);
        }
        let wiring = std::mem::take(&mut plan.wiring);
        Host {
            queue,
            min_delay: wiring.min_delay(),
            wiring,
            synapse_targets: std::mem::take(&mut plan.synapse_targets),
            probe_scales: plan.probe_scales.clone(),
            dt: plan.dt,
            step: 0,
            steps,
            recording: Recording { columns: vec![Vec::new(); plan.probes.len()], ..Recording::default() },
        }
    }

    /// The time of grid point `n`: `n / (1/dt)` when 1/dt is a whole number (so 284 steps of
    /// 0.025 ms are 7.1 ms, not 7.1000000000000005), otherwise `n * dt`.
    pub fn time_of(&self, n: u64) -> f64 {
        time_of(self.dt, n)
    }

    /// Steps done so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The shortest delay of a connection from a cell (infinite without any): a spike's
    /// events are due at least this long after it.
    pub fn min_delay(&self) -> f64 {
        self.min_delay
    }

    /// Steps not run yet.
    pub fn steps_left(&self) -> u64 {
        self.steps - self.step
    }

    /// Marks `n` more steps done (their rows recorded).
    pub fn finish_steps(&mut self, n: u64) {
        self.step += n;
    }

    /// The next event due in step `step` (by its midpoint), in delivery order.
    pub fn pop_due(&mut self, step: u64) -> Option<DueEvent> {
        let until = self.time_of(step) + self.dt / 2.0;
        self.queue.pop_due(until)
    }

    /// Cell `gid` spiked at `t`: recorded, and its connections' events queued (spike time plus
    /// delay). Returns the earliest of those events' times (infinite when none).
    pub fn spike(&mut self, gid: u32, t: f64) -> f64 {
        self.recording.spikes.push((gid, t));
        let mut earliest = f64::INFINITY;
        for c in &self.wiring.from_cell[gid as usize] {
            let (block, instance) = self.synapse_targets[&(c.post_gid, c.synapse)];
            let time = t + c.delay;
            earliest = earliest.min(time);
            self.queue.push(time, Target { block, instance, weight: c.weight, connection: c.rule });
        }
        earliest
    }

    /// Records one row at time `t`: `values` are the probes' values in internal units, in probe
    /// order; they are stored in the quantity's usual unit (mA/cm2 for current densities, …).
    pub fn record(&mut self, t: f64, values: impl IntoIterator<Item = f64>) {
        self.recording.times.push(t);
        for ((column, value), scale) in self.recording.columns.iter_mut().zip(values).zip(&self.probe_scales) {
            column.push(value / scale);
        }
    }

    /// Reserves the trace of `steps` more rows (at the start of a run, not when it is built: a
    /// simulation built only for its state records nothing).
    pub fn reserve(&mut self, steps: u64) {
        let rows = steps as usize;
        self.recording.times.reserve(rows);
        for column in &mut self.recording.columns {
            column.reserve(rows);
        }
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    pub fn into_recording(self) -> Recording {
        self.recording
    }
}

/// The time of grid point `n` (see [`Host::time_of`]).
pub fn time_of(dt: f64, n: u64) -> f64 {
    let per_ms = 1.0 / dt;
    if per_ms == per_ms.round() { n as f64 / per_ms } else { n as f64 * dt }
}
