//! The GPU memory layout: from the CPU engine's [`Built`] (after initialisation on the host) to
//! three flat arrays. Per cell type, node arrays and per-instance arrays are interleaved
//! (element `(j, c)` at `j * ncells + c`) when one invocation runs a cell, and cell by cell
//! (at `c * nnodes + j`) when a workgroup runs a cell; the tree, areas, diameters, C/dt, axial
//! conductances and per-instance parameters are shared by all cells of the type.
//!
//! * `data` (read-write reals): v, rhs, diagonal, the ion arrays, the detector flags, states,
//!   stored currents and derived values.
//! * `shared` (read-only reals): area, diameter, C/dt, axial conductance, per-instance params.
//! * `meta` (read-only u32): parents, instance nodes, gids of each type, the probe table.

use sylva_compiler::ir::Model;
use sylva_compiler::ir::expr::IonVar;
use sylva_compiler::ir::kernel::Kernels;

use super::builder::Prec;
use super::schedule::{TreeSchedule, schedule};
use super::stimuli;
use super::{DeviceFit, GpuError, Options};
use crate::cpu::build::{Built, ProbeSource};

pub const NO_PARENT: u32 = u32::MAX;

/// The offset of an array a type does not keep in `data`.
pub const NOT_STORED: u32 = u32::MAX;

pub struct BlockLayout {
    /// The CPU engine's block index.
    pub block: usize,
    /// The model's mechanism index.
    pub mechanism: u32,
    pub kernels: Kernels,
    /// Instances per cell; for a group of stimuli, its members.
    pub per_cell: u32,
    /// A group of stimuli (`gpu::stimuli`): the offset in `meta` of each cell's members (CSR by
    /// rank); member `k`'s values are element `k` of the block's arrays.
    pub group: Option<u32>,
    /// Local node of each instance within a cell (of each member of a group).
    pub nodes: Vec<u32>,
    /// Per-instance parameters: (parameter, offset in `shared`).
    pub params: Vec<(u32, u32)>,
    pub states: Vec<u32>,
    /// Stored currents: (current index, offset).
    pub currents: Vec<(u32, u32)>,
    /// (derived index, offset).
    pub derived: Vec<(u32, u32)>,
    /// Species index of each ion use.
    pub species: Vec<usize>,
    /// Two instances in a cell share a node: a workgroup runs the block on one invocation
    /// (their accumulations must not race).
    pub shares_nodes: bool,
}

impl BlockLayout {
    /// Offset of instance `k` of cell `c` within a per-instance array.
    pub fn slot(&self, ncells: u32, cell_major: bool, k: u32, c: u32) -> u32 {
        match (self.group, cell_major) {
            (Some(_), _) => k,
            (None, false) => k * ncells + c,
            (None, true) => c * self.per_cell + k,
        }
    }
}

/// Most workgroups along one dimension of a dispatch (WebGPU's limit): cell `c` runs as
/// workgroup `(c % GRID_X, c / GRID_X)`.
pub const GRID_X: u32 = 65535;

/// A type run by one workgroup per cell: its size and the solve's tables in `meta`.
pub struct WorkgroupLayout {
    pub size: u32,
    /// The solve's diagonal and right-hand side live in workgroup memory (they fit), so its
    /// rounds need only workgroup barriers; else in `data`.
    pub local_solve: bool,
    /// `nnodes + 1` offsets, then the children (ascending) at `children`.
    pub child_start: u32,
    pub children: u32,
    /// Each chain's head, then the node count: chain `c` is nodes `meta[chain_start + c]` to
    /// `meta[chain_start + c + 1]` (`schedule::TreeSchedule::chain_start`).
    pub chain_start: u32,
    pub longest_chain: u32,
    /// Rounds: `rounds + 1` offsets, then the chains at `nodes`.
    pub elimination: Rounds,
    pub substitution: Rounds,
}

#[derive(Copy, Clone)]
pub struct Rounds {
    pub count: u32,
    pub offsets: u32,
    pub nodes: u32,
}

fn push_rounds(meta: &mut Vec<u32>, rounds: &[Vec<u32>]) -> Rounds {
    let offsets = meta.len() as u32;
    let mut acc = 0u32;
    for r in rounds {
        meta.push(acc);
        acc += r.len() as u32;
    }
    meta.push(acc);
    let nodes = meta.len() as u32;
    for r in rounds {
        meta.extend(r);
    }
    Rounds { count: rounds.len() as u32, offsets, nodes }
}

pub struct TypeLayout {
    pub ncells: u32,
    pub nnodes: u32,
    pub v: u32,
    /// `NOT_STORED` when the solve keeps them in workgroup memory.
    pub rhs: u32,
    pub diagonal: u32,
    pub above: u32,
    /// Per species: reversal, inside, outside, current.
    pub ions: Vec<[u32; 4]>,
    pub parent: u32,
    pub gid: u32,
    pub area: u32,
    pub diam: u32,
    pub cdt: u32,
    pub axial: u32,
    pub blocks: Vec<BlockLayout>,
    pub detector: Option<(u32, f64)>,
    /// `Some`: one workgroup per cell (and cell-major arrays); `None`: one invocation per cell.
    pub workgroup: Option<WorkgroupLayout>,
}

impl TypeLayout {
    /// Offset of node `j` of cell `c` within a node array.
    pub fn node_slot(&self, j: u32, c: u32) -> u32 {
        node_slot(self.workgroup.is_some(), self.ncells, self.nnodes, j, c)
    }

    pub fn cell_major(&self) -> bool {
        self.workgroup.is_some()
    }
}

fn node_slot(cell_major: bool, ncells: u32, nnodes: u32, j: u32, c: u32) -> u32 {
    if cell_major { c * nnodes + j } else { j * ncells + c }
}

pub fn ion_slot(var: IonVar) -> usize {
    match var {
        IonVar::Reversal => 0,
        IonVar::Inside => 1,
        IonVar::Outside => 2,
        IonVar::Current => 3,
    }
}

/// What a probe column reads.
#[derive(Copy, Clone, Debug)]
pub enum ProbeLoc {
    /// GPU column `col`, read from `data[index]`.
    Gpu {
        col: u32,
        index: u32,
    },
    Constant(f64),
}

pub struct Layout {
    pub types: Vec<TypeLayout>,
    pub data: Vec<f64>,
    pub shared: Vec<f64>,
    pub meta: Vec<u32>,
    pub ncells: u32,
    /// (charge, Nernst factor RT/zF in mV) of each species whose reversal follows Nernst.
    pub nernst: Vec<Option<f64>>,
    /// Per species: some kernel reads its current (else nothing is summed into it: the GPU
    /// skips those writes and the zeroing).
    pub current_read: Vec<bool>,
    pub probes: Vec<ProbeLoc>,
    pub gpu_probes: u32,
    /// Offset in `meta` of the probe CSR: ncells + 1 offsets, then (column, index) pairs at
    /// `probe_pairs`.
    pub probe_offsets: u32,
    pub probe_pairs: u32,
    /// Per CPU block: offset in `meta` of its instances' local nodes.
    pub node_tables: Vec<u32>,
}

pub(super) fn alloc(v: &mut Vec<f64>, len: usize) -> u32 {
    let off = v.len();
    v.resize(off + len, 0.0);
    off as u32
}

pub fn layout(
    model: &Model,
    built: &Built,
    celsius: f64,
    options: Options,
    fit: DeviceFit,
    prec: Prec,
) -> Result<Layout, GpuError> {
    let workgroup_reals = u64::from(fit.workgroup_memory) / prec.bytes();
    let ncells = built.cell_offset.len();
    let mut type_of_gid = Vec::with_capacity(ncells);
    for p in &model.network.populations {
        for _ in 0..p.count {
            type_of_gid.push(p.cell.index());
        }
    }
    let stimuli = model.network.stimuli.len();
    let type_blocks = built.blocks.len() - stimuli;
    let mut data = Vec::new();
    let mut shared = Vec::new();
    let mut meta: Vec<u32> = Vec::new();
    let mut types = Vec::new();
    let mut home = vec![(0usize, 0u32); ncells];
    let mut block_home = vec![(usize::MAX, 0usize); built.blocks.len()];
    let mut node_tables = vec![0u32; built.blocks.len()];
    // Per CPU block of a stimulus: its index in its group.
    let mut member_of = vec![0u32; built.blocks.len()];
    let nspecies = built.species.len();
    for (t, cell) in model.cells.iter().enumerate() {
        let gids: Vec<u32> = (0..ncells as u32).filter(|g| type_of_gid[*g as usize] == t).collect();
        if gids.is_empty() {
            continue;
        }
        let ti = types.len();
        for (rank, g) in gids.iter().enumerate() {
            home[*g as usize] = (ti, rank as u32);
        }
        let n = gids.len();
        let nn = cell.tree.nodes.len();
        let wg_size = options.strategy.workgroup_size(nn as u32, fit, options.lanes);
        let cell_major = wg_size.is_some();
        let slot = |j: usize, rank: usize| node_slot(cell_major, n as u32, nn as u32, j as u32, rank as u32) as usize;
        let v = alloc(&mut data, n * nn);
        // A solve in workgroup memory needs no rhs and diagonal in `data`.
        let local_solve = cell_major && 2 * nn as u64 <= workgroup_reals;
        let [rhs, diagonal] = if local_solve { [NOT_STORED; 2] } else { [(); 2].map(|_| alloc(&mut data, n * nn)) };
        let above = alloc(&mut data, n);
        let ions: Vec<[u32; 4]> = (0..nspecies)
            .map(|_| {
                let mut a = [0; 4];
                for x in &mut a {
                    *x = alloc(&mut data, n * nn);
                }
                a
            })
            .collect();
        let first = built.cell_offset[gids[0] as usize];
        let parent = meta.len() as u32;
        meta.extend(
            built.cable.parent[first..first + nn]
                .iter()
                .map(|p| if *p == u32::MAX { NO_PARENT } else { p - first as u32 }),
        );
        let gid = meta.len() as u32;
        meta.extend(&gids);
        let workgroup = wg_size.map(|size| {
            let parents: Vec<Option<u32>> =
                meta[parent as usize..parent as usize + nn].iter().map(|p| (*p != NO_PARENT).then_some(*p)).collect();
            let TreeSchedule { child_start: starts, children: kids, chain_start: chains, elimination, substitution } =
                schedule(&parents, size as usize);
            let child_start = meta.len() as u32;
            meta.extend(&starts);
            let children = meta.len() as u32;
            meta.extend(&kids);
            let longest_chain = chains.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
            let chain_start = meta.len() as u32;
            meta.extend(&chains);
            let elimination = push_rounds(&mut meta, &elimination);
            let substitution = push_rounds(&mut meta, &substitution);
            WorkgroupLayout {
                size,
                local_solve,
                child_start,
                children,
                chain_start,
                longest_chain,
                elimination,
                substitution,
            }
        });
        let area = shared.len() as u32;
        shared.extend(&built.nodes.area[first..first + nn]);
        let diam = shared.len() as u32;
        shared.extend(&built.nodes.diam[first..first + nn]);
        let cdt = shared.len() as u32;
        shared.extend(&built.cable.capacitance_dt[first..first + nn]);
        let axial = shared.len() as u32;
        shared.extend(&built.cable.axial[first..first + nn]);
        // Node arrays, interleaved.
        for (rank, g) in gids.iter().enumerate() {
            let o = built.cell_offset[*g as usize];
            for j in 0..nn {
                let at = slot(j, rank);
                data[v as usize + at] = built.nodes.v[o + j];
                if !local_solve {
                    data[rhs as usize + at] = built.nodes.rhs[o + j];
                    data[diagonal as usize + at] = built.nodes.diagonal[o + j];
                }
                for (s, offs) in ions.iter().enumerate() {
                    let ion = &built.ions[s];
                    for (slot, src) in [&ion.reversal, &ion.inside, &ion.outside, &ion.current].iter().enumerate() {
                        data[offs[slot] as usize + at] = src[o + j];
                    }
                }
            }
        }
        let detector = cell.detector.as_ref().map(|d| (d.node, d.threshold));
        if let Some((node, threshold)) = detector {
            for (rank, g) in gids.iter().enumerate() {
                let o = built.cell_offset[*g as usize];
                data[above as usize + rank] = f64::from(u8::from(built.nodes.v[o + node as usize] >= threshold));
            }
        }
        let mut blocks = Vec::new();
        // The type's stimuli by mechanism, in declaration order.
        let mut stimuli: Vec<(u32, Vec<usize>)> = Vec::new();
        for (b, block) in built.blocks.iter().enumerate() {
            let is_stimulus = b >= type_blocks;
            let Some(&g0) = block.gids.first() else { continue };
            if type_of_gid[g0 as usize] != t {
                continue;
            }
            if is_stimulus {
                match stimuli.iter_mut().find(|(m, _)| *m == block.mechanism) {
                    Some((_, members)) => members.push(b),
                    None => stimuli.push((block.mechanism, vec![b])),
                }
                continue;
            }
            let per_cell = block.per_cell as u32;
            let cell_first = built.cell_offset[g0 as usize] as u32;
            let nodes: Vec<u32> = block.node_index[..per_cell as usize].iter().map(|x| x - cell_first).collect();
            let shares_nodes = {
                let mut sorted = nodes.clone();
                sorted.sort_unstable();
                sorted.windows(2).any(|w| w[0] == w[1])
            };
            node_tables[b] = meta.len() as u32;
            meta.extend(&nodes);
            let mut params = Vec::new();
            for (p, values) in &block.params {
                let pc = per_cell as usize;
                if (0..values.len()).any(|i| values[i] != values[i % pc]) {
                    return Err(GpuError::Internal(format!(
                        "parameter {p} of block {b} differs between cells of type {}",
                        cell.name
                    )));
                }
                let off = shared.len() as u32;
                shared.extend(&values[..pc]);
                params.push((*p, off));
            }
            // Copy of a per-instance array in the type's order: instance i = rank * per_cell + k.
            let instance_slot = |rank: usize, k: usize| match cell_major {
                false => k * n + rank,
                true => rank * per_cell as usize + k,
            };
            let mut per_instance = |src: &Vec<f64>| {
                let off = alloc(&mut data, n * per_cell as usize);
                for (i, x) in src.iter().enumerate() {
                    let (rank, k) = (i / per_cell as usize, i % per_cell as usize);
                    data[off as usize + instance_slot(rank, k)] = *x;
                }
                off
            };
            let states = block.states.iter().map(&mut per_instance).collect();
            let currents = block.currents.iter().map(|(c, values)| (*c, per_instance(values))).collect();
            let derived = block.derived.iter().map(|(d, values)| (*d, per_instance(values))).collect();
            block_home[b] = (ti, blocks.len());
            blocks.push(BlockLayout {
                block: b,
                mechanism: block.mechanism,
                kernels: (*block.kernels).clone(),
                per_cell,
                group: None,
                nodes,
                params,
                states,
                currents,
                derived,
                species: block.species.clone(),
                shares_nodes,
            });
        }
        for (_, members) in &stimuli {
            let rank_of = |b: usize| home[built.blocks[b].gids[0] as usize].1;
            let first_node = |b: usize| built.cell_offset[built.blocks[b].gids[0] as usize] as u32;
            let arrays = stimuli::Arrays { data: &mut data, shared: &mut shared, meta: &mut meta };
            let (group, indices) = stimuli::group(model, built, members, n as u32, rank_of, first_node, arrays);
            for (b, k) in indices {
                block_home[b] = (ti, blocks.len());
                member_of[b] = k;
            }
            node_tables[members[0]] = meta.len() as u32;
            meta.extend(&group.nodes);
            blocks.push(group);
        }
        types.push(TypeLayout {
            ncells: n as u32,
            nnodes: nn as u32,
            v,
            rhs,
            diagonal,
            above,
            ions,
            parent,
            gid,
            area,
            diam,
            cdt,
            axial,
            blocks,
            detector,
            workgroup,
        });
    }
    // Probes.
    let mut per_gid: Vec<Vec<(u32, u32)>> = vec![Vec::new(); ncells];
    let mut probes = Vec::new();
    let mut cols = 0u32;
    for (p, source) in model.network.probes.iter().zip(&built.probes) {
        let (ti, rank) = home[p.gid as usize];
        let ty = &types[ti];
        let inst = |b: usize, off: u32, instance: usize| -> u32 {
            let (bt, bi) = block_home[b];
            debug_assert_eq!(bt, ti);
            let bl = &ty.blocks[bi];
            if bl.group.is_some() {
                return off + member_of[b];
            }
            let pc = bl.per_cell as usize;
            let (r, k) = (instance / pc, instance % pc);
            off + bl.slot(ty.ncells, ty.cell_major(), k as u32, r as u32)
        };
        // A stored value's array in the GPU block, by the CPU block's slot.
        let stored = |list: &[(u32, u32)], cpu: &[(u32, Vec<f64>)], slot: usize| -> u32 {
            list.iter().find(|(x, _)| *x == cpu[slot].0).expect("stored on the GPU as on the CPU").1
        };
        let index = match *source {
            ProbeSource::Voltage(node) => {
                let j = node - built.cell_offset[p.gid as usize];
                ty.v + ty.node_slot(j as u32, rank)
            }
            ProbeSource::Ion { species, var, node } => {
                let j = node - built.cell_offset[p.gid as usize];
                ty.ions[species][ion_slot(var)] + ty.node_slot(j as u32, rank)
            }
            ProbeSource::State { block, state, instance } => {
                inst(block, ty.blocks[block_home[block].1].states[state], instance)
            }
            ProbeSource::Current { block, slot, instance } => {
                let list = &ty.blocks[block_home[block].1].currents;
                inst(block, stored(list, &built.blocks[block].currents, slot), instance)
            }
            ProbeSource::Derived { block, slot, instance } => {
                let list = &ty.blocks[block_home[block].1].derived;
                inst(block, stored(list, &built.blocks[block].derived, slot), instance)
            }
            ProbeSource::Param { block, param, instance } => {
                let blk = &built.blocks[block];
                let value = match blk.params.iter().find(|(q, _)| *q == param) {
                    Some((_, values)) => values[instance],
                    None => blk.constant_params.iter().find(|(q, _)| *q == param).map_or(f64::NAN, |(_, v)| *v),
                };
                probes.push(ProbeLoc::Constant(value));
                continue;
            }
        };
        per_gid[p.gid as usize].push((cols, index));
        probes.push(ProbeLoc::Gpu { col: cols, index });
        cols += 1;
    }
    let probe_offsets = meta.len() as u32;
    let mut acc = 0u32;
    for list in &per_gid {
        meta.push(acc);
        acc += list.len() as u32;
    }
    meta.push(acc);
    let probe_pairs = meta.len() as u32;
    for list in &per_gid {
        for (c, i) in list {
            meta.push(*c);
            meta.push(*i);
        }
    }
    let nernst =
        built.species.iter().map(|(_, charge, nernst)| nernst.then(|| nernst_factor(*charge, celsius))).collect();
    // A probed current is read too.
    let mut current_read: Vec<bool> = (0..nspecies)
        .map(|s| {
            built
                .probes
                .iter()
                .any(|p| matches!(p, ProbeSource::Ion { species, var: IonVar::Current, .. } if *species == s))
        })
        .collect();
    for b in types.iter().flat_map(|t| &t.blocks) {
        let k = &b.kernels;
        for kernel in [&k.current, &k.advance].into_iter().chain(&k.event) {
            for (_, e) in kernel.exprs.iter() {
                if let sylva_compiler::ir::expr::Expr::Ion(u, IonVar::Current) = e {
                    current_read[b.species[u as usize]] = true;
                }
            }
        }
    }
    if data.is_empty() {
        data.push(0.0);
    }
    if shared.is_empty() {
        shared.push(0.0);
    }
    Ok(Layout {
        types,
        data,
        shared,
        meta,
        ncells: ncells as u32,
        nernst,
        current_read,
        probes,
        gpu_probes: cols,
        probe_offsets,
        probe_pairs,
        node_tables,
    })
}

/// RT/(zF) in mV: `cpu::build::nernst` is this times ln(outside/inside), evaluated in the same
/// order (checked by a test).
pub fn nernst_factor(charge: i32, celsius: f64) -> f64 {
    const R: f64 = 8.314462618;
    const FARADAY: f64 = 96485.33212331001;
    1e3 * R * (celsius + 273.15) / (FARADAY * f64::from(charge))
}
