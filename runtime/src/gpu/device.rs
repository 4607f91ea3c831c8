//! The wgpu side of the GPU engine: adapter and device, buffers, pipelines, one dispatch per
//! window and the read-back of spikes and probe rows.

use std::borrow::Cow;

use super::builder::Prec;
use super::{GpuError, Prepared, codegen, layout};

pub(super) struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    /// The pipelines in dispatch order (`codegen::entry_points`: per pass of the step, every
    /// cell type's) and their grids of workgroups. WebGPU makes a dispatch's storage writes
    /// visible to the next, so a pass sees every cell's previous one.
    pipelines: Vec<(wgpu::ComputePipeline, [u32; 2])>,
    /// Coupled cells: the pipelines run once per step of the window, after the spike headers
    /// are zeroed (`codegen`'s `coupled_step`).
    per_step: bool,
    layout: wgpu::BindGroupLayout,
    pub(super) data: wgpu::Buffer,
    pub(super) shared: wgpu::Buffer,
    pub(super) meta: wgpu::Buffer,
    control: wgpu::Buffer,
    weights: wgpu::Buffer,
    pub(super) spikes: wgpu::Buffer,
    pub(super) probes: wgpu::Buffer,
    spikes_back: wgpu::Buffer,
    probes_back: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    pub(super) adapter: String,
    /// A CPU implementation (llvmpipe): windows are limited by its loop limiter.
    pub(super) cpu_device: bool,
}

/// An adapter and its device.
pub(super) struct Opened {
    device: wgpu::Device,
    queue: wgpu::Queue,
    name: String,
    cpu_device: bool,
}

impl Opened {
    pub(super) fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// A CPU implementation (llvmpipe).
    pub(super) fn cpu_device(&self) -> bool {
        self.cpu_device
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

/// Opens the best adapter with every limit it offers (and f64 when asked).
pub(super) fn open(prec: Prec) -> Result<Opened, GpuError> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|_| GpuError::NoAdapter)?;
    let info = adapter.get_info();
    let name = format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type);
    let f64_needed = prec == Prec::F64;
    if f64_needed && !adapter.features().contains(wgpu::Features::SHADER_F64) {
        return Err(GpuError::NoF64 { adapter: name });
    }
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("sylva"),
        required_features: if f64_needed { wgpu::Features::SHADER_F64 } else { wgpu::Features::empty() },
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .map_err(|e| GpuError::Device(e.to_string()))?;
    Ok(Opened { device, queue, name, cpu_device: info.device_type == wgpu::DeviceType::Cpu })
}

/// Writes `values` in the device's precision, converting a piece at a time (no second copy of
/// a large array on the host).
fn upload(queue: &wgpu::Queue, buffer: &wgpu::Buffer, prec: Prec, values: &[f64]) {
    const PIECE: usize = 1 << 22;
    for (i, piece) in values.chunks(PIECE).enumerate() {
        queue.write_buffer(buffer, (i * PIECE) as u64 * prec.bytes(), &to_bytes(prec, piece));
    }
}

pub(super) fn to_bytes(prec: Prec, values: &[f64]) -> Vec<u8> {
    match prec {
        Prec::F64 => bytemuck::cast_slice(values).to_vec(),
        Prec::F32 => {
            let v: Vec<f32> = values.iter().map(|x| *x as f32).collect();
            bytemuck::cast_slice(&v).to_vec()
        }
    }
}

pub(super) fn from_bytes(prec: Prec, bytes: &[u8]) -> Vec<f64> {
    match prec {
        Prec::F64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
        Prec::F32 => {
            bytes.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes")))).collect()
        }
    }
}

pub(super) fn storage_buffer(device: &wgpu::Device, label: &str, size: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16).next_multiple_of(8),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | extra,
        mapped_at_creation: false,
    })
}

impl Gpu {
    pub(super) fn new(opened: Opened, p: &Prepared, prec: Prec) -> Result<Gpu, GpuError> {
        let Opened { device, queue, name, cpu_device } = opened;
        let limits = device.limits();
        let b = prec.bytes();
        let largest = [
            p.layout.data.len() as u64 * b,
            p.layout.shared.len() as u64 * b,
            p.layout.meta.len() as u64 * 4,
            4 * u64::from(p.layout.ncells) * u64::from(p.spike_cap + codegen::SPIKE_HEADER),
            b * u64::from(p.window) * u64::from(p.layout.gpu_probes),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let binding_limit = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        if largest > binding_limit {
            return Err(GpuError::Unsupported(format!(
                "the model needs a {largest}-byte buffer; '{name}' binds at most {binding_limit} bytes"
            )));
        }
        let groups = workgroup_grid;
        let too_many =
            |t: &&layout::TypeLayout| groups(t).iter().any(|g| *g > limits.max_compute_workgroups_per_dimension);
        if let Some(t) = p.layout.types.iter().find(too_many) {
            return Err(GpuError::Unsupported(format!(
                "{} cells of one type need more than '{name}''s {} workgroups per dispatch",
                t.ncells, limits.max_compute_workgroups_per_dimension,
            )));
        }
        if let Some(size) = p.layout.types.iter().filter_map(|t| t.workgroup.as_ref().map(|w| w.size)).max()
            && size > limits.max_compute_invocations_per_workgroup.min(limits.max_compute_workgroup_size_x)
        {
            return Err(GpuError::Unsupported(format!(
                "'{name}' runs at most {} invocations per workgroup; a cell type needs {size}",
                limits.max_compute_invocations_per_workgroup
            )));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("sylva"),
            source: wgpu::ShaderSource::Naga(Cow::Owned(p.module.clone())),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = (0..codegen::BINDINGS)
            .map(|b| wgpu::BindGroupLayoutEntry {
                binding: b,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: !matches!(b, codegen::B_DATA | codegen::B_SPIKES | codegen::B_PROBES),
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("sylva"), entries: &entries });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("sylva"),
            bind_group_layouts: &[Some(&layout)],
            ..Default::default()
        });
        let pipelines = codegen::entry_points(&p.layout)
            .into_iter()
            .map(|(t, name)| {
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&name),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(&name),
                    compilation_options: Default::default(),
                    cache: None,
                });
                (pipeline, groups(&p.layout.types[t]))
            })
            .collect();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader(e.to_string()));
        }
        let data = storage_buffer(&device, "data", p.layout.data.len() as u64 * b, wgpu::BufferUsages::COPY_SRC);
        upload(&queue, &data, prec, &p.layout.data);
        let shared = storage_buffer(&device, "shared", p.layout.shared.len() as u64 * b, wgpu::BufferUsages::empty());
        upload(&queue, &shared, prec, &p.layout.shared);
        let meta = storage_buffer(&device, "meta", p.layout.meta.len() as u64 * 4, wgpu::BufferUsages::empty());
        if !p.layout.meta.is_empty() {
            queue.write_buffer(&meta, 0, bytemuck::cast_slice(&p.layout.meta));
        }
        let control =
            storage_buffer(&device, "control", 4 * (u64::from(p.layout.ncells) + 64), wgpu::BufferUsages::empty());
        let weights = storage_buffer(&device, "weights", 64 * b, wgpu::BufferUsages::empty());
        let spike_size = 4 * u64::from(p.layout.ncells) * u64::from(p.spike_cap + codegen::SPIKE_HEADER);
        let spikes =
            storage_buffer(&device, "spikes", spike_size, wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST);
        let probe_size = b * u64::from(p.window) * u64::from(p.layout.gpu_probes);
        let probes = storage_buffer(&device, "probes", probe_size, wgpu::BufferUsages::COPY_SRC);
        let readback = |label: &str, size: u64| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16).next_multiple_of(8),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let spikes_back = readback("spikes back", spike_size);
        let probes_back = readback("probes back", probe_size);
        let bind_group = bind(&device, &layout, [&data, &shared, &meta, &control, &weights, &spikes, &probes]);
        Ok(Gpu {
            device,
            queue,
            pipelines,
            per_step: p.layout.coupled,
            layout,
            data,
            shared,
            meta,
            control,
            weights,
            spikes,
            probes,
            spikes_back,
            probes_back,
            bind_group,
            adapter: name,
            cpu_device,
        })
    }

    /// Uploads a new initial state and parameters (a layout of the same shape).
    pub(super) fn upload_state(&self, prec: Prec, data: &[f64], shared: &[f64]) {
        upload(&self.queue, &self.data, prec, data);
        upload(&self.queue, &self.shared, prec, shared);
    }

    /// The whole `data` buffer (for a divergence report).
    pub(super) fn read_data(&self, prec: Prec) -> Result<Vec<f64>, GpuError> {
        let size = self.data.size();
        let back = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("data back"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("data") });
        encoder.copy_buffer_to_buffer(&self.data, 0, &back, 0, size);
        let index = self.queue.submit([encoder.finish()]);
        Ok(from_bytes(prec, &read(&self.device, &back, size, index)?))
    }

    /// Uploads the window's events, runs every cell type, reads back spikes and probe rows.
    pub(super) fn dispatch(
        &mut self,
        prec: Prec,
        control: &[u32],
        weights: &[f64],
        steps: u32,
        cols: u32,
    ) -> Result<(Vec<u8>, Vec<f64>), GpuError> {
        let control_bytes: &[u8] = bytemuck::cast_slice(control);
        let weight_bytes = to_bytes(prec, weights);
        let mut rebind = false;
        if control_bytes.len() as u64 > self.control.size() {
            self.control =
                storage_buffer(&self.device, "control", control_bytes.len() as u64 * 2, wgpu::BufferUsages::empty());
            rebind = true;
        }
        if weight_bytes.len() as u64 > self.weights.size() {
            self.weights =
                storage_buffer(&self.device, "weights", weight_bytes.len() as u64 * 2, wgpu::BufferUsages::empty());
            rebind = true;
        }
        if rebind {
            self.bind_group = bind(
                &self.device,
                &self.layout,
                [&self.data, &self.shared, &self.meta, &self.control, &self.weights, &self.spikes, &self.probes],
            );
        }
        self.queue.write_buffer(&self.control, 0, control_bytes);
        self.queue.write_buffer(&self.weights, 0, &weight_bytes);
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("window") });
        if self.per_step {
            encoder.clear_buffer(&self.spikes, 0, None);
        }
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_bind_group(0, &self.bind_group, &[]);
            for _ in 0..if self.per_step { steps } else { 1 } {
                for (pipeline, [x, y]) in &self.pipelines {
                    pass.set_pipeline(pipeline);
                    pass.dispatch_workgroups(*x, *y, 1);
                }
            }
        }
        let probe_bytes = (prec.bytes() * u64::from(steps) * u64::from(cols)).next_multiple_of(4);
        encoder.copy_buffer_to_buffer(&self.spikes, 0, &self.spikes_back, 0, self.spikes.size());
        if probe_bytes > 0 {
            encoder.copy_buffer_to_buffer(&self.probes, 0, &self.probes_back, 0, probe_bytes);
        }
        let index = self.queue.submit([encoder.finish()]);
        let spikes = read(&self.device, &self.spikes_back, self.spikes.size(), index.clone())?;
        let probes = if probe_bytes > 0 {
            from_bytes(prec, &read(&self.device, &self.probes_back, probe_bytes, index)?)
        } else {
            Vec::new()
        };
        Ok((spikes, probes))
    }
}

fn bind(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, buffers: [&wgpu::Buffer; 7]) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("sylva"), layout, entries: &entries })
}

pub(super) fn read(
    device: &wgpu::Device,
    buffer: &wgpu::Buffer,
    size: u64,
    index: wgpu::SubmissionIndex,
) -> Result<Vec<u8>, GpuError> {
    let slice = buffer.slice(0..size);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
        .map_err(|e| GpuError::Device(e.to_string()))?;
    rx.recv().map_err(|e| GpuError::Device(e.to_string()))?.map_err(|e| GpuError::Device(e.to_string()))?;
    let bytes = slice.get_mapped_range().map_err(|e| GpuError::Device(format!("{e:?}")))?.to_vec();
    buffer.unmap();
    Ok(bytes)
}

/// The grid of workgroups of a dispatch of a type's cells: one workgroup per cell in rows of
/// `GRID_X`, or cells in workgroups of `codegen::WORKGROUP` invocations.
pub(in crate::gpu) fn workgroup_grid(t: &layout::TypeLayout) -> [u32; 2] {
    match t.workgroup {
        Some(_) => [t.ncells.min(layout::GRID_X), t.ncells.div_ceil(layout::GRID_X)],
        None => [t.ncells.div_ceil(codegen::WORKGROUP), 1],
    }
}
