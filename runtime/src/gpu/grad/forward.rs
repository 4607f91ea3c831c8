//! The forward run of a GPU gradient: the engine's windows, cut at every K steps, where the
//! caller saves each cell's state into a checkpoint in device memory (no host round trip); the
//! probes' rows and the events the host fed each step come back as the engine's windows bring
//! them.

use super::super::GpuEngine;
use crate::grad::GradError;
use crate::host::{DueEvent, Host};
use crate::simulation::RunError;

pub(super) struct Forward {
    /// Per recorded row (row 0: after initialisation), every probe's value in internal units.
    pub rows: Vec<Vec<f64>>,
    /// Per step, the events it delivered, in delivery order.
    pub events: Vec<Vec<DueEvent>>,
    /// The first step of each segment, then the run's steps.
    pub bounds: Vec<u64>,
}

/// Saves the engine's state as the checkpoint of the segment that starts at the given step.
pub(super) type Save<'a> = dyn FnMut(&GpuEngine, u64) + 'a;

/// Runs `steps` steps from the engine's initial state (whose probe row is `row0`), calling
/// `save` at the start of every segment of `k` steps, and for coupled cells at the end too
/// (their reverse run's `v_pre` reads the state after each step).
pub(super) fn run(
    engine: &mut GpuEngine,
    host: &mut Host,
    row0: Vec<f64>,
    (steps, k): (u64, u64),
    save: &mut Save<'_>,
) -> Result<Forward, GradError> {
    let mut forward = Forward { rows: vec![row0], events: Vec::new(), bounds: Vec::new() };
    let mut start = 0;
    while start < steps {
        save(engine, start);
        forward.bounds.push(start);
        let mut left = k.min(steps - start);
        while left > 0 {
            let n = left.min(u64::from(engine.window)) as u32;
            let rows = engine.window_once(host, n, Some(&mut forward.events)).map_err(|e| match e {
                RunError::Diverged(b) => GradError::Diverged(b),
                RunError::Gpu(e) => GradError::Gpu(e),
            })?;
            forward.rows.extend(rows);
            left -= u64::from(n);
        }
        start = (start + k).min(steps);
    }
    if engine.layout.coupled {
        save(engine, steps);
    }
    forward.bounds.push(steps);
    Ok(forward)
}
