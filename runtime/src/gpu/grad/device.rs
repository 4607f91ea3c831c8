//! The reverse kernel on the device: its pipelines and buffers, the checkpoints saved during
//! the forward run (a dispatch that packs each cell's state), one submit per segment (its
//! checkpoint restored into `data`, the segment's events and row cotangents, the dispatch, the
//! event records' weight gradients kept), and the read-back at the end.

use std::borrow::Cow;

use super::super::builder::Prec;
use super::super::codegen::{self, REVERSE_BINDINGS, checkpoint_entry_name, reverse_dispatch_names};
use super::super::device::{Gpu, from_bytes, read, storage_buffer, to_bytes, workgroup_grid};
use super::super::{GpuEngine, GpuError, layout};
use super::layout::GradLayout;

pub(super) struct Reverse {
    /// The reverse kernel's dispatches of a segment, in order (per cell type a pass, or for
    /// coupled cells each pass and the gather after it), each with its grid of workgroups.
    pipelines: Vec<(wgpu::ComputePipeline, [u32; 2])>,
    savers: Vec<(wgpu::ComputePipeline, [u32; 2])>,
    restorers: Vec<(wgpu::ComputePipeline, [u32; 2])>,
    /// Every segment's state at its start, packed (`GradLayout::state_len` reals each).
    checkpoints: wgpu::Buffer,
    layout: wgpu::BindGroupLayout,
    control: wgpu::Buffer,
    weights: wgpu::Buffer,
    adj: wgpu::Buffer,
    work: wgpu::Buffer,
    grads: wgpu::Buffer,
    /// Every segment's event records' weight gradients, one after another.
    event_grads: wgpu::Buffer,
    /// Where the next segment's records go in `event_grads`.
    records_done: u64,
    prec: Prec,
}

/// One segment's upload: its control words (as the forward's), its events' weights and the
/// loss's derivative in each GPU probe column after each of its steps.
pub(super) struct SegmentInput {
    pub control: Vec<u32>,
    pub weights: Vec<f64>,
    pub rows: Vec<f64>,
    pub records: u64,
}

/// What the reverse run leaves: the cotangents (a mirror of `data`), the per-instance
/// parameter gradients and every event record's weight gradient.
pub(super) struct Results {
    pub adj: Vec<f64>,
    pub params: Vec<f64>,
    pub events: Vec<f64>,
}

impl Reverse {
    /// The pipelines of `module` and the buffers of a run of `segments` segments (coupled
    /// cells keep the run's last state as one more checkpoint).
    pub(super) fn new(
        engine: &GpuEngine,
        module: naga::Module,
        grad: &GradLayout,
        segments: u64,
    ) -> Result<Reverse, GpuError> {
        let (gpu, prec) = (&engine.gpu, engine.prec);
        let b = prec.bytes();
        let layout = bind_group_layout(&gpu.device);
        let ntypes = engine.layout.types.len();
        let names = reverse_dispatch_names(&engine.layout)
            .into_iter()
            .flatten()
            .chain((0..ntypes).map(|t| checkpoint_entry_name(t, true)))
            .chain((0..ntypes).map(|t| checkpoint_entry_name(t, false)));
        let mut all = pipelines(gpu, &engine.layout, module, &layout, names.collect())?;
        let restorers = all.split_off(all.len() - ntypes);
        let savers = all.split_off(all.len() - ntypes);
        let checkpoints = segments + u64::from(grad.coupled);
        let copies = wgpu::BufferUsages::COPY_SRC;
        let rw = |label: &str, reals: u64| storage_buffer(&gpu.device, label, reals * b, copies);
        Ok(Reverse {
            pipelines: all,
            savers,
            restorers,
            checkpoints: rw("checkpoints", checkpoints * u64::from(grad.state_len)),
            layout,
            control: rw("reverse control", 4 * (u64::from(engine.layout.ncells) + 64)),
            weights: rw("reverse weights", 64),
            adj: rw("adj", u64::from(grad.adj_len)),
            work: rw("work", grad.work_len),
            grads: rw("grads", grad.grads_len + 1),
            event_grads: rw("event gradients", 1),
            records_done: 0,
            prec,
        })
    }

    /// Prepares a reverse run of segments of at most `max_records` event records, `total` in
    /// all: the buffers grown where they are too small, the cotangents, gradients and each
    /// cell's count of steps undone (summed over the segments, in its spike header) zeroed.
    pub(super) fn start(&mut self, gpu: &Gpu, grad: &GradLayout, max_records: u64, total: u64) {
        let b = self.prec.bytes();
        if (grad.grads_len + max_records.max(1)) * b > self.grads.size() {
            self.grads = storage_buffer(
                &gpu.device,
                "grads",
                2 * (grad.grads_len + max_records) * b,
                wgpu::BufferUsages::COPY_SRC,
            );
        }
        if total.max(1) * b > self.event_grads.size() {
            self.event_grads =
                storage_buffer(&gpu.device, "event gradients", 2 * total * b, wgpu::BufferUsages::COPY_SRC);
        }
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("zero") });
        // `work`: the presynaptic voltages' slots start empty (the rest is written before read).
        for buffer in [&self.adj, &self.grads, &gpu.spikes, &self.work] {
            encoder.clear_buffer(buffer, 0, None);
        }
        gpu.queue.submit([encoder.finish()]);
        self.records_done = 0;
    }

    /// Saves the state in `data` as the checkpoint of the segment starting at step `start`.
    pub(super) fn save_checkpoint(&self, gpu: &Gpu, start: u64) {
        gpu.queue.write_buffer(&self.control, 0, bytemuck::cast_slice(&[start as u32, 0]));
        let bind_group = self.bind_group(gpu);
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("save") });
        dispatch_all(&mut encoder, &bind_group, &self.savers);
        gpu.queue.submit([encoder.finish()]);
    }

    /// Undoes one segment: its checkpoint restored, then the reverse kernels.
    pub(super) fn segment(&mut self, gpu: &Gpu, grad: &GradLayout, input: &SegmentInput) {
        let b = self.prec.bytes();
        let control: &[u8] = bytemuck::cast_slice(&input.control);
        let weights = to_bytes(self.prec, if input.weights.is_empty() { &[0.0] } else { &input.weights });
        if control.len() as u64 > self.control.size() {
            self.control =
                storage_buffer(&gpu.device, "reverse control", 2 * control.len() as u64, wgpu::BufferUsages::empty());
        }
        if weights.len() as u64 > self.weights.size() {
            self.weights =
                storage_buffer(&gpu.device, "reverse weights", 2 * weights.len() as u64, wgpu::BufferUsages::empty());
        }
        gpu.queue.write_buffer(&self.control, 0, control);
        gpu.queue.write_buffer(&self.weights, 0, &weights);
        gpu.queue.write_buffer(&self.work, u64::from(grad.rows) * b, &to_bytes(self.prec, &input.rows));
        let bind_group = self.bind_group(gpu);
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("segment") });
        let events_at = u64::from(grad.event_grads) * b;
        encoder.clear_buffer(&self.grads, events_at, None);
        // The restores' writes are visible to the reverse kernels' dispatches after them.
        dispatch_all(&mut encoder, &bind_group, &self.restorers);
        dispatch_all(&mut encoder, &bind_group, &self.pipelines);
        if input.records > 0 {
            let bytes = input.records * b;
            encoder.copy_buffer_to_buffer(&self.grads, events_at, &self.event_grads, self.records_done * b, bytes);
        }
        self.records_done += input.records;
        gpu.queue.submit([encoder.finish()]);
    }

    /// The cotangents, the parameter gradients and the event records' weight gradients, and
    /// the spike buffer (each cell's count of steps undone).
    pub(super) fn results(&self, gpu: &Gpu, grad: &GradLayout) -> Result<(Results, Vec<u32>), GpuError> {
        let b = self.prec.bytes();
        let back = |buffer: &wgpu::Buffer, bytes: u64| -> Result<Vec<u8>, GpuError> {
            let bytes = bytes.max(4).next_multiple_of(4).min(buffer.size());
            let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("gradient back"),
                size: bytes.next_multiple_of(8),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder =
                gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("back") });
            encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes);
            let index = gpu.queue.submit([encoder.finish()]);
            read(&gpu.device, &staging, bytes, index)
        };
        let adj = from_bytes(self.prec, &back(&self.adj, u64::from(grad.data_len) * b)?);
        let params = from_bytes(self.prec, &back(&self.grads, grad.grads_len * b)?);
        let events = from_bytes(self.prec, &back(&self.event_grads, self.records_done * b)?);
        let spikes = bytemuck::cast_slice(&back(&gpu.spikes, gpu.spikes.size())?).to_vec();
        let trim = |mut v: Vec<f64>, n: u64| {
            v.truncate(n as usize);
            v
        };
        let results = Results {
            adj: trim(adj, u64::from(grad.data_len)),
            params: trim(params, grad.grads_len),
            events: trim(events, self.records_done),
        };
        Ok((results, spikes))
    }

    fn bind_group(&self, gpu: &Gpu) -> wgpu::BindGroup {
        let buffers = [
            &gpu.data,
            &gpu.shared,
            &gpu.meta,
            &self.control,
            &self.weights,
            &gpu.spikes,
            &gpu.probes,
            &self.adj,
            &self.work,
            &self.grads,
            &self.checkpoints,
        ];
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("reverse"),
            layout: &self.layout,
            entries: &entries,
        })
    }
}

/// The forward's bindings (read-only as there), then `adj`, `work` and `grads`, read-write.
fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = (0..REVERSE_BINDINGS)
        .map(|b| wgpu::BindGroupLayoutEntry {
            binding: b,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: matches!(
                        b,
                        codegen::B_SHARED | codegen::B_META | codegen::B_CONTROL | codegen::B_WEIGHTS
                    ),
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("reverse"), entries: &entries })
}

/// One compute pass running `pipelines` one after another.
fn dispatch_all(
    encoder: &mut wgpu::CommandEncoder,
    bind_group: &wgpu::BindGroup,
    pipelines: &[(wgpu::ComputePipeline, [u32; 2])],
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
    pass.set_bind_group(0, bind_group, &[]);
    for (pipeline, [x, y]) in pipelines {
        pass.set_pipeline(pipeline);
        pass.dispatch_workgroups(*x, *y, 1);
    }
}

/// The pipelines of the entry points `names` (the `i`-th of cell type `i % types`), each with
/// its grid of workgroups.
fn pipelines(
    gpu: &Gpu,
    layout: &layout::Layout,
    module: naga::Module,
    bind: &wgpu::BindGroupLayout,
    names: Vec<String>,
) -> Result<Vec<(wgpu::ComputePipeline, [u32; 2])>, GpuError> {
    let device = &gpu.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("reverse"),
        source: wgpu::ShaderSource::Naga(Cow::Owned(module)),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("reverse"),
        bind_group_layouts: &[Some(bind)],
        ..Default::default()
    });
    let pipelines = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ty = &layout.types[i % layout.types.len()];
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(name),
                compilation_options: Default::default(),
                cache: None,
            });
            (pipeline, workgroup_grid(ty))
        })
        .collect();
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(GpuError::Shader(e.to_string()));
    }
    Ok(pipelines)
}
