//! The reverse run's segments on the device, the last first: each one's input (its events as
//! the forward's control words, the loss's derivatives after its steps), the numbering of the
//! event records across segments, and the check that every cell undid every step.

use super::super::codegen::SPIKE_HEADER;
use super::super::layout::ProbeLoc;
use super::super::{EventRecord, GpuEngine, GpuError};
use super::GpuGradient;
use super::device::{Results, SegmentInput};
use super::forward::Forward;
use super::host::RecordIndex;

impl GpuGradient {
    /// The reverse run on the device, segment by segment from the last; returns what it left
    /// and each event's record index.
    pub(super) fn undo_segments(
        &mut self,
        forward: &Forward,
        row_cotangents: &[Vec<f64>],
    ) -> Result<(Results, RecordIndex), GpuError> {
        let engine = &self.engine;
        let mut records: RecordIndex = forward.events.iter().map(|step| vec![0; step.len()]).collect();
        let segments: Vec<(u64, SegmentInput)> = (0..forward.bounds.len() - 1)
            .rev()
            .map(|i| (i as u64, segment_input(engine, forward, row_cotangents, i)))
            .collect();
        let max_records = segments.iter().map(|(_, s)| s.records).max().unwrap_or(0);
        let total: u64 = segments.iter().map(|(_, s)| s.records).sum();
        self.reverse.start(&engine.gpu, &self.grad, max_records, total);
        let mut base = 0;
        for (i, input) in &segments {
            number_records(forward, *i as usize, base, &mut records, engine);
            base += input.records;
            self.reverse.segment(&engine.gpu, &self.grad, input);
        }
        let (results, spikes) = self.reverse.results(&engine.gpu, &self.grad)?;
        check_undone(engine, &spikes, *forward.bounds.last().expect("bounds"))?;
        Ok((results, records))
    }
}

/// The events of segment `i` as records grouped by cell (the forward's control words), in
/// delivery order within a cell: (gid, step in the segment, block, instance in the cell,
/// weight), with the step and delivery index of each.
fn segment_records(engine: &GpuEngine, forward: &Forward, i: usize) -> Vec<(EventRecord, usize, usize)> {
    let (start, end) = (forward.bounds[i] as usize, forward.bounds[i + 1] as usize);
    let mut list = Vec::new();
    for (s, step) in forward.events[start..end].iter().enumerate() {
        for (d, e) in step.iter().enumerate() {
            let (gids, per) = &engine.blocks[e.block as usize];
            let gid = gids[e.instance as usize / per];
            let k = (e.instance as usize % per) as u32;
            list.push(((gid, s as u32, e.block, k, e.weight), start + s, d));
        }
    }
    // Stable: each cell's events stay in delivery order.
    list.sort_by_key(|(record, _, _)| record.0);
    list
}

/// Numbers segment `i`'s records from `base` (the records of the segments undone before it).
fn number_records(forward: &Forward, i: usize, base: u64, records: &mut RecordIndex, engine: &GpuEngine) {
    for (r, (_, step, d)) in segment_records(engine, forward, i).into_iter().enumerate() {
        records[step][d] = base + r as u64;
    }
}

/// What segment `i`'s dispatch reads: its events and the loss's derivatives after its steps.
fn segment_input(engine: &GpuEngine, forward: &Forward, row_cotangents: &[Vec<f64>], i: usize) -> SegmentInput {
    let (start, end) = (forward.bounds[i], forward.bounds[i + 1]);
    let records: Vec<EventRecord> =
        segment_records(engine, forward, i).into_iter().map(|(record, _, _)| record).collect();
    let control = engine.control(start, (end - start) as u32, &records);
    let cols = engine.layout.gpu_probes as usize;
    let mut rows = vec![0.0; (end - start) as usize * cols];
    for (s, row) in row_cotangents[start as usize + 1..=end as usize].iter().enumerate() {
        for (probe, &d) in engine.layout.probes.iter().zip(row) {
            if let ProbeLoc::Gpu { col, .. } = *probe {
                rows[s * cols + col as usize] = d;
            }
        }
    }
    SegmentInput { control, weights: records.iter().map(|r| r.4).collect(), rows, records: records.len() as u64 }
}

/// Every cell undid every step (llvmpipe stops an invocation after 65535 loop iterations).
fn check_undone(engine: &GpuEngine, spikes: &[u32], steps: u64) -> Result<(), GpuError> {
    let stride = (engine.spike_cap + SPIKE_HEADER) as usize;
    for gid in 0..engine.layout.ncells as usize {
        let undone = spikes[gid * stride + 2];
        if u64::from(undone) != steps {
            return Err(GpuError::Device(format!(
                "the reverse run undid {undone} of {steps} steps of cell {gid} (llvmpipe ends an invocation \
                 after 65535 loop iterations: save the state more often)"
            )));
        }
    }
    Ok(())
}
