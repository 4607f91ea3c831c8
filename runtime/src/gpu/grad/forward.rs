//! The forward run of a GPU gradient: the engine's windows, cut at every K steps, where the
//! whole `data` buffer is copied into the checkpoint buffer in device memory (no host round
//! trip); the probes' rows and the events the host fed each step come back as the engine's
//! windows bring them.

use super::super::GpuEngine;
use crate::grad::GradError;
use crate::host::{DueEvent, Host};
use crate::simulation::RunError;

pub(super) struct Forward {
    /// Per recorded row (row 0: after initialisation), every probe's value in internal units.
    pub rows: Vec<Vec<f64>>,
    /// Per step, the events it delivered, in delivery order.
    pub events: Vec<Vec<DueEvent>>,
    /// Segment `i`'s state at its start, at `i × data bytes`.
    pub checkpoints: wgpu::Buffer,
    /// The first step of each segment, then the run's steps.
    pub bounds: Vec<u64>,
}

/// Bytes of the checkpoints of a run of `steps` steps saved every `k`.
pub(super) fn checkpoint_bytes(engine: &GpuEngine, steps: u64, k: u64) -> u64 {
    steps.div_ceil(k).max(1) * engine.gpu.data.size()
}

/// Runs `steps` steps from the engine's initial state (whose probe row is `row0`), saving the
/// state every `k` steps (the checkpoints' size checked by the caller).
pub(super) fn run(
    engine: &mut GpuEngine,
    host: &mut Host,
    row0: Vec<f64>,
    steps: u64,
    k: u64,
) -> Result<Forward, GradError> {
    let data_bytes = engine.gpu.data.size();
    let bytes = checkpoint_bytes(engine, steps, k);
    let checkpoints = engine.gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("checkpoints"),
        size: bytes,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut forward = Forward { rows: vec![row0], events: Vec::new(), checkpoints, bounds: Vec::new() };
    let mut start = 0;
    while start < steps {
        save(engine, &forward.checkpoints, forward.bounds.len() as u64 * data_bytes);
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
    forward.bounds.push(steps);
    Ok(forward)
}

/// Copies `data` into the checkpoint buffer at `offset`.
fn save(engine: &GpuEngine, checkpoints: &wgpu::Buffer, offset: u64) {
    let gpu = &engine.gpu;
    let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("checkpoint") });
    encoder.copy_buffer_to_buffer(&gpu.data, 0, checkpoints, offset, gpu.data.size());
    gpu.queue.submit([encoder.finish()]);
}
