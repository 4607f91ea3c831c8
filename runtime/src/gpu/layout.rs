//! The GPU memory layout: from the [`Plan`] (initialised) to
//! three flat arrays. Per cell type, node arrays and per-instance arrays are interleaved
//! (element `(j, c)` at `j * ncells + c`) when one invocation runs a cell, and cell by cell
//! (at `c * nnodes + j`) when a workgroup runs a cell; the tree, areas, diameters, C/dt, axial
//! conductances and per-instance parameters are shared by all cells of the type.
//!
//! * `data` (read-write reals): v, rhs, diagonal, the ion arrays, the detector flags, states,
//!   stored currents and derived values.
//! * `shared` (read-only reals): area, diameter, C/dt, axial conductance, per-instance params.
//! * `meta` (read-only u32): parents, instance nodes, gids of each type, the probe table.

use sylva_compiler::artifact::{Artifact, Placement};
use sylva_compiler::ir::expr::IonVar;
use sylva_compiler::ir::kernel::Kernels;

use super::builder::Prec;
use super::schedule::{ELIMINATE_PIECE, Solve, TreeSchedule, schedule};
use super::stimuli;
use super::{DeviceFit, GpuError, Options};
use crate::plan::{Plan, ProbeSource, nernst_factor};

pub const NO_PARENT: u32 = u32::MAX;

/// The offset of an array a type does not keep in `data`.
pub const NOT_STORED: u32 = u32::MAX;

pub struct BlockLayout {
    /// The plan block (the first member's, for a group of stimuli).
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
    /// Parameters of `params` stored for every instance (in the order of [`BlockLayout::slot`]),
    /// not once for the type's cells: the plan's `Block::varying`.
    pub varying: Vec<u32>,
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
    /// A mechanism reading `v_pre`: the offset in `meta` of each instance's index in `data` of
    /// the voltage it reads (another cell's, in the order of [`BlockLayout::slot`]).
    pub pre_voltage: Option<u32>,
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
    /// The rounds of the solve (`schedule::TreeSchedule::rounds`).
    pub rounds: Rounds,
    /// Where split chains keep their fills; `None` when no chain is split.
    pub fill: Option<Fill>,
    /// Nodes per piece of the split chains (`TreeSchedule::piece`).
    pub piece: u32,
    /// The most loop iterations of one task (a chain's walk, or a reduced system's heads).
    pub longest_task: u32,
    /// Dependent node updates on the solve's longest path (`TreeSchedule::serial_depth`).
    pub serial_depth: u32,
    /// Barriers of the rounds (`TreeSchedule::barriers`).
    pub round_barriers: u32,
}

/// The rounds of a solve in `meta`: `count + 1` offsets into the tasks (four words each,
/// `schedule::Task::words`) at `tasks`, and per round its kind and its barrier
/// ([`BARRIER_AFTER`], [`STORAGE_BARRIER`]) at `flags`.
#[derive(Copy, Clone)]
pub struct Rounds {
    pub count: u32,
    pub offsets: u32,
    pub flags: u32,
    pub tasks: u32,
}

/// A round's flag: a barrier follows it.
pub const BARRIER_AFTER: u32 = 4;
/// A round's flag: the barrier after it is for storage too (it ends the fills' writes, when
/// they are in `data` while the diagonal and rhs are in workgroup memory).
pub const STORAGE_BARRIER: u32 = 8;

/// The fills of split chains, per cell: the fill of each node of a piece, then two values (the
/// shares of the next head) per fill slot.
#[derive(Copy, Clone)]
pub struct Fill {
    pub len: u32,
    /// In workgroup memory (where it fits beside the diagonal and rhs), else in `data` at
    /// `offset`, cell by cell.
    pub local: bool,
    pub offset: u32,
}

/// `fill_in_data`: the barrier after the last round of pieces' eliminations (the last that
/// writes fills) is for storage too.
fn push_rounds(meta: &mut Vec<u32>, s: &TreeSchedule, fill_in_data: bool) -> Rounds {
    let offsets = meta.len() as u32;
    let mut acc = 0u32;
    for r in &s.rounds {
        meta.push(acc);
        acc += r.tasks.len() as u32;
    }
    meta.push(acc);
    let flags = meta.len() as u32;
    let last_fills = s.rounds.iter().rposition(|r| r.tasks[0].kind() == ELIMINATE_PIECE);
    meta.extend(s.rounds.iter().enumerate().map(|(i, r)| {
        let barrier = if r.barrier_after { BARRIER_AFTER } else { 0 };
        let storage = if fill_in_data && Some(i) == last_fills { STORAGE_BARRIER } else { 0 };
        r.tasks[0].kind() | barrier | storage
    }));
    let tasks = meta.len() as u32;
    meta.extend(s.rounds.iter().flat_map(|r| r.tasks.iter().flat_map(|t| t.words())));
    Rounds { count: s.rounds.len() as u32, offsets, flags, tasks }
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
    /// Per plan block: offset in `meta` of its instances' local nodes.
    pub node_tables: Vec<u32>,
    /// Some mechanism reads `v_pre`, so cells read each other's voltages within a step: the
    /// step runs as `schedule::step_passes(true)`, a dispatch per pass.
    pub coupled: bool,
    /// Where the reverse run of a gradient gathers the cotangents of presynaptic voltages.
    pub pre_gather: PreGather,
}

/// The `v_pre` tables as the reverse run of a gradient sees them: every instance reading
/// `v_pre` has a slot (its entry's place among the tables, which lie one after another in
/// `meta`), where its products leave the cotangent of the presynaptic voltage; the cell owning
/// that voltage adds its slots into its cotangent (`gpu::grad`, "Coupled cells").
#[derive(Default)]
pub struct PreGather {
    /// Offset in `meta` of the first table, and the slots (entries of all tables).
    pub tables: u32,
    pub slots: u32,
    /// Per cell type: offset in `meta` of its CSR (ncells + 1 offsets of pairs, counted from
    /// `pairs`; `pairs` at `offsets + ncells + 1`), each pair (index in `data` of a voltage of
    /// the cell, slot), by voltage then slot.
    pub per_type: Vec<u32>,
}

pub(super) fn alloc(v: &mut Vec<f64>, len: usize) -> u32 {
    let off = v.len();
    v.resize(off + len, 0.0);
    off as u32
}

/// A per-instance array (instance i = rank · per_cell + k) in a type's order: cell-major, or
/// instance k of every cell together.
fn instance_order(values: &[f64], per_cell: usize, ncells: usize, cell_major: bool) -> Vec<f64> {
    let mut out = vec![0.0; ncells * per_cell];
    for (i, x) in values.iter().enumerate() {
        let (rank, k) = (i / per_cell, i % per_cell);
        out[if cell_major { rank * per_cell + k } else { k * ncells + rank }] = *x;
    }
    out
}

pub fn layout(
    artifact: &Artifact,
    plan: &Plan,
    options: Options,
    fit: DeviceFit,
    prec: Prec,
) -> Result<Layout, GpuError> {
    let ncells = plan.cell_offset.len();
    let coupled = plan.blocks.iter().any(|b| !b.pre_node.is_empty());
    let mut b = Builder {
        plan,
        data: Vec::new(),
        shared: Vec::new(),
        meta: Vec::new(),
        home: vec![(0, 0); ncells],
        block_home: vec![(usize::MAX, 0); plan.blocks.len()],
        node_tables: vec![0; plan.blocks.len()],
        member_of: vec![0; plan.blocks.len()],
        coupled,
    };
    let mut types = Vec::new();
    for (ti, ty) in plan.types.iter().enumerate() {
        types.push(b.cell_type(artifact, ti, &ty.gids, options, fit, prec)?);
    }
    let (probes, gpu_probes, probe_offsets, probe_pairs) = b.probes(&types);
    let pre_gather = b.pre_voltages(&mut types);
    let nernst = plan
        .species
        .iter()
        .map(|species| species.nernst.then(|| nernst_factor(species.charge, plan.celsius)))
        .collect();
    let current_read = current_read(plan, &types);
    let Builder { mut data, mut shared, meta, node_tables, .. } = b;
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
        gpu_probes,
        probe_offsets,
        probe_pairs,
        node_tables,
        coupled,
        pre_gather,
    })
}

/// The arrays being laid out and where each cell and block went.
struct Builder<'a> {
    plan: &'a Plan,
    data: Vec<f64>,
    shared: Vec<f64>,
    meta: Vec<u32>,
    /// Per gid: (type index, rank within the type).
    home: Vec<(usize, u32)>,
    /// Per plan block: (type index, index among the type's GPU blocks).
    block_home: Vec<(usize, usize)>,
    /// Per plan block: offset in `meta` of its instances' local nodes.
    node_tables: Vec<u32>,
    /// Per plan block of a stimulus: its index in its group.
    member_of: Vec<u32>,
    /// Some mechanism reads `v_pre` (`Layout::coupled`).
    coupled: bool,
}

impl Builder<'_> {
    /// The arrays of cell type `ti`, whose cells are `gids`.
    fn cell_type(
        &mut self,
        artifact: &Artifact,
        ti: usize,
        gids: &[u32],
        options: Options,
        fit: DeviceFit,
        prec: Prec,
    ) -> Result<TypeLayout, GpuError> {
        let plan = self.plan;
        let cell = &artifact.model.cells[plan.types[ti].cell as usize];
        for (rank, g) in gids.iter().enumerate() {
            self.home[*g as usize] = (ti, rank as u32);
        }
        let n = gids.len();
        let nn = cell.tree.nodes.len();
        let f64 = prec == Prec::F64;
        let wg_size = options.strategy.workgroup_size(nn as u32, n as u32, f64, fit, options.lanes);
        let cell_major = wg_size.is_some();
        let v = alloc(&mut self.data, n * nn);
        // A solve in workgroup memory needs no rhs and diagonal in `data`; coupled cells sum
        // their currents and solve in different dispatches, which workgroup memory outlives not.
        let workgroup_reals = u64::from(fit.workgroup_memory) / prec.bytes();
        let local_solve = cell_major && !self.coupled && 2 * nn as u64 <= workgroup_reals;
        let [rhs, diagonal] =
            if local_solve { [NOT_STORED; 2] } else { [(); 2].map(|_| alloc(&mut self.data, n * nn)) };
        let above = alloc(&mut self.data, n);
        let ions: Vec<[u32; 4]> = plan.species.iter().map(|_| [(); 4].map(|_| alloc(&mut self.data, n * nn))).collect();
        let first = plan.cell_offset[gids[0] as usize];
        let parent = self.meta.len() as u32;
        self.meta.extend(
            plan.cable.parent[first..first + nn]
                .iter()
                .map(|p| if *p == u32::MAX { NO_PARENT } else { p - first as u32 }),
        );
        let gid = self.meta.len() as u32;
        self.meta.extend(gids);
        let spare = if local_solve { workgroup_reals - 2 * nn as u64 } else { 0 };
        let workgroup = wg_size.map(|size| {
            // Cells that fill the GPU hide a solve's latency behind each other's work, where the
            // split's extra arithmetic would only cost throughput: split chains while the GPU
            // idles (as the f64 lanes rule, `Strategy::workgroup_size`).
            let fills_gpu = n as u64 * u64::from(size) > super::RESIDENT_INVOCATIONS;
            let solve = if fills_gpu { Solve::Chains } else { options.solve };
            self.workgroup(parent, (n, nn), size, solve, (local_solve, spare))
        });
        let [area, diam, cdt, axial] =
            [&plan.nodes.area, &plan.nodes.diam, &plan.cable.capacitance_dt, &plan.cable.axial].map(|values| {
                let off = self.shared.len() as u32;
                self.shared.extend(&values[first..first + nn]);
                off
            });
        let mut ty = TypeLayout {
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
            blocks: Vec::new(),
            detector: cell.detector.as_ref().map(|d| (d.node, d.threshold)),
            workgroup,
        };
        self.node_state(&ty, gids);
        ty.blocks = self.blocks(artifact, ti, &ty, &cell.name)?;
        Ok(ty)
    }

    /// The tables of the parallel solve of a type of `n` cells of `nn` nodes run by workgroups
    /// of `size` lanes; `local`: whether the diagonal and rhs are in workgroup memory, and how
    /// many reals of it are left.
    fn workgroup(
        &mut self,
        parent: u32,
        (n, nn): (usize, usize),
        size: u32,
        solve: Solve,
        (local_solve, spare): (bool, u64),
    ) -> WorkgroupLayout {
        let meta = &mut self.meta;
        let parents: Vec<Option<u32>> =
            meta[parent as usize..parent as usize + nn].iter().map(|p| (*p != NO_PARENT).then_some(*p)).collect();
        let s = schedule(&parents, size as usize, solve);
        let child_start = meta.len() as u32;
        meta.extend(&s.child_start);
        let children = meta.len() as u32;
        meta.extend(&s.children);
        let fill = s.split().then(|| {
            let len = nn as u32 + 2 * s.slots;
            let local = local_solve && u64::from(len) <= spare;
            let offset = if local { NOT_STORED } else { alloc(&mut self.data, n * len as usize) };
            Fill { len, local, offset }
        });
        let rounds = push_rounds(&mut self.meta, &s, fill.is_some_and(|f| !f.local));
        WorkgroupLayout {
            size,
            local_solve,
            child_start,
            children,
            rounds,
            fill,
            piece: s.piece,
            longest_task: s.rounds.iter().flat_map(|r| &r.tasks).map(|t| t.steps()).max().unwrap_or(0),
            serial_depth: s.serial_depth(),
            round_barriers: s.barriers(),
        }
    }

    /// The initial node values (v, the solve's accumulators, ions) and detector flags of the
    /// type's cells, interleaved or cell by cell.
    fn node_state(&mut self, ty: &TypeLayout, gids: &[u32]) {
        let plan = self.plan;
        let data = &mut self.data;
        for (rank, g) in gids.iter().enumerate() {
            let o = plan.cell_offset[*g as usize];
            for j in 0..ty.nnodes {
                let at = ty.node_slot(j, rank as u32) as usize;
                let src = o + j as usize;
                data[ty.v as usize + at] = plan.nodes.v[src];
                if ty.rhs != NOT_STORED {
                    data[ty.rhs as usize + at] = plan.nodes.rhs[src];
                    data[ty.diagonal as usize + at] = plan.nodes.diagonal[src];
                }
                for (ion, offs) in plan.ions.iter().zip(&ty.ions) {
                    for (slot, values) in [&ion.reversal, &ion.inside, &ion.outside, &ion.current].iter().enumerate() {
                        data[offs[slot] as usize + at] = values[src];
                    }
                }
            }
            if let Some((node, threshold)) = ty.detector {
                data[ty.above as usize + rank] = f64::from(u8::from(plan.nodes.v[o + node as usize] >= threshold));
            }
        }
    }

    /// The GPU blocks of type `ti`: its density mechanisms and synapses as in the plan, then its
    /// stimuli, one group per mechanism (`gpu::stimuli`).
    fn blocks(
        &mut self,
        artifact: &Artifact,
        ti: usize,
        ty: &TypeLayout,
        name: &str,
    ) -> Result<Vec<BlockLayout>, GpuError> {
        let plan = self.plan;
        let mut blocks = Vec::new();
        // The type's stimuli by mechanism, in declaration order.
        let mut stimuli: Vec<(u32, Vec<usize>)> = Vec::new();
        for (b, block) in plan.blocks.iter().enumerate() {
            let Some(&g0) = block.gids.first() else { continue };
            if plan.type_of_gid[g0 as usize] as usize != ti {
                continue;
            }
            if let Placement::Stimulus(_) = block.placement {
                match stimuli.iter_mut().find(|(m, _)| *m == block.mechanism) {
                    Some((_, members)) => members.push(b),
                    None => stimuli.push((block.mechanism, vec![b])),
                }
                continue;
            }
            self.block_home[b] = (ti, blocks.len());
            blocks.push(self.block(b, ty, name)?);
        }
        for (_, members) in &stimuli {
            let home = &self.home;
            let rank_of = |b: usize| home[plan.blocks[b].gids[0] as usize].1;
            let first_node = |b: usize| plan.cell_offset[plan.blocks[b].gids[0] as usize] as u32;
            let arrays = stimuli::Arrays { data: &mut self.data, shared: &mut self.shared, meta: &mut self.meta };
            let (group, indices) = stimuli::group(artifact, plan, members, ty.ncells, rank_of, first_node, arrays);
            for (b, k) in indices {
                self.block_home[b] = (ti, blocks.len());
                self.member_of[b] = k;
            }
            self.node_tables[members[0]] = self.meta.len() as u32;
            self.meta.extend(&group.nodes);
            blocks.push(group);
        }
        Ok(blocks)
    }

    /// Plan block `b` (a density mechanism or synapse) of a type: its node table, parameters
    /// (shared by the type's cells) and per-instance arrays.
    fn block(&mut self, b: usize, ty: &TypeLayout, name: &str) -> Result<BlockLayout, GpuError> {
        let block = &self.plan.blocks[b];
        let per_cell = block.per_cell;
        let cell_first = self.plan.cell_offset[block.gids[0] as usize] as u32;
        let nodes: Vec<u32> = block.node_index[..per_cell].iter().map(|x| x - cell_first).collect();
        let shares_nodes = {
            let mut sorted = nodes.clone();
            sorted.sort_unstable();
            sorted.windows(2).any(|w| w[0] == w[1])
        };
        self.node_tables[b] = self.meta.len() as u32;
        self.meta.extend(&nodes);
        let (n, cell_major) = (ty.ncells as usize, ty.cell_major());
        let mut params = Vec::new();
        for (p, values) in &block.params {
            if block.varying.contains(p) {
                let off = self.shared.len() as u32;
                self.shared.extend(instance_order(values, per_cell, n, cell_major));
                params.push((*p, off));
                continue;
            }
            if (0..values.len()).any(|i| values[i] != values[i % per_cell]) {
                return Err(GpuError::Internal(format!(
                    "parameter {p} of block {b} differs between cells of type {name}"
                )));
            }
            let off = self.shared.len() as u32;
            self.shared.extend(&values[..per_cell]);
            params.push((*p, off));
        }
        let data = &mut self.data;
        let mut per_instance = |src: &Vec<f64>| {
            let off = alloc(data, n * per_cell);
            data[off as usize..].copy_from_slice(&instance_order(src, per_cell, n, cell_major));
            off
        };
        let states = block.states.iter().map(&mut per_instance).collect();
        let currents = block.currents.iter().map(|(c, values)| (*c, per_instance(values))).collect();
        let derived = block.derived.iter().map(|(d, values)| (*d, per_instance(values))).collect();
        Ok(BlockLayout {
            block: b,
            mechanism: block.mechanism,
            kernels: (*block.kernels).clone(),
            per_cell: per_cell as u32,
            group: None,
            nodes,
            params,
            varying: block.varying.clone(),
            states,
            currents,
            derived,
            species: block.species.clone(),
            shares_nodes,
            pre_voltage: None,
        })
    }

    /// The table of each block reading `v_pre`: per instance (in the type's order), the index
    /// in `data` of the voltage of the plan's `pre_node`, which may belong to another type;
    /// then the tables of the cells whose voltages they read (`PreGather`).
    fn pre_voltages(&mut self, types: &mut [TypeLayout]) -> PreGather {
        let plan = self.plan;
        // Per presynaptic node: its index in `data`, and its cell's type and rank.
        let v_index = |node: u32| {
            let gid = plan.cell_offset.partition_point(|first| *first <= node as usize) - 1;
            let (ti, rank) = self.home[gid];
            let ty = &types[ti];
            (ty.v + ty.node_slot(node - plan.cell_offset[gid] as u32, rank), ti, rank)
        };
        let mut tables = Vec::new();
        let mut owners = Vec::new();
        for (ti, ty) in types.iter().enumerate() {
            for (bi, b) in ty.blocks.iter().enumerate() {
                let pre_node = &plan.blocks[b.block].pre_node;
                if b.group.is_some() || pre_node.is_empty() {
                    continue;
                }
                let mut table = vec![0; pre_node.len()];
                let mut owner = vec![(0, 0); pre_node.len()];
                for (i, node) in pre_node.iter().enumerate() {
                    let (rank, k) = ((i / b.per_cell as usize) as u32, (i % b.per_cell as usize) as u32);
                    let slot = b.slot(ty.ncells, ty.cell_major(), k, rank) as usize;
                    let (index, pre_type, pre_rank) = v_index(*node);
                    table[slot] = index;
                    owner[slot] = (pre_type, pre_rank);
                }
                tables.push((ti, bi, table));
                owners.extend(owner);
            }
        }
        if owners.is_empty() {
            return PreGather::default();
        }
        let first = self.meta.len() as u32;
        for (ti, bi, table) in tables {
            types[ti].blocks[bi].pre_voltage = Some(self.meta.len() as u32);
            self.meta.extend(table);
        }
        let slots = self.meta.len() as u32 - first;
        let per_type = (0..types.len()).map(|ti| self.gather_table(types[ti].ncells, ti, first, &owners)).collect();
        PreGather { tables: first, slots, per_type }
    }

    /// Type `ti`'s CSR of `PreGather::per_type`, from each slot's owner (type, rank).
    fn gather_table(&mut self, ncells: u32, ti: usize, first: u32, owners: &[(usize, u32)]) -> u32 {
        let mut per_cell: Vec<Vec<(u32, u32)>> = vec![Vec::new(); ncells as usize];
        for (slot, &(owner_type, rank)) in owners.iter().enumerate() {
            if owner_type == ti {
                per_cell[rank as usize].push((self.meta[first as usize + slot], slot as u32));
            }
        }
        let at = self.meta.len() as u32;
        let mut count = 0;
        self.meta.push(0);
        for pairs in &mut per_cell {
            pairs.sort_unstable();
            count += pairs.len() as u32;
            self.meta.push(count);
        }
        self.meta.extend(per_cell.into_iter().flatten().flat_map(|(index, slot)| [index, slot]));
        at
    }

    /// Where each probe reads, and the probe table by cell: (probes, GPU columns, offset of the
    /// CSR's offsets, offset of its (column, index) pairs).
    fn probes(&mut self, types: &[TypeLayout]) -> (Vec<ProbeLoc>, u32, u32, u32) {
        let plan = self.plan;
        let mut per_gid: Vec<Vec<(u32, u32)>> = vec![Vec::new(); plan.cell_offset.len()];
        let mut probes = Vec::new();
        let mut cols = 0u32;
        for source in &plan.probes {
            let gid = plan.probe_gid(source);
            match self.probe_index(types, gid, source) {
                Ok(index) => {
                    per_gid[gid as usize].push((cols, index));
                    probes.push(ProbeLoc::Gpu { col: cols, index });
                    cols += 1;
                }
                Err(constant) => probes.push(ProbeLoc::Constant(constant)),
            }
        }
        let meta = &mut self.meta;
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
                meta.extend([*c, *i]);
            }
        }
        (probes, cols, probe_offsets, probe_pairs)
    }

    /// The index in `data` a probe of cell `gid` reads, or `Err(value)` for a parameter (a
    /// constant of the run).
    fn probe_index(&self, types: &[TypeLayout], gid: u32, source: &ProbeSource) -> Result<u32, f64> {
        let plan = self.plan;
        let (ti, rank) = self.home[gid as usize];
        let ty = &types[ti];
        let inst = |b: usize, off: u32, instance: usize| -> u32 {
            let (bt, bi) = self.block_home[b];
            debug_assert_eq!(bt, ti);
            let bl = &ty.blocks[bi];
            if bl.group.is_some() {
                return off + self.member_of[b];
            }
            let pc = bl.per_cell as usize;
            let (r, k) = (instance / pc, instance % pc);
            off + bl.slot(ty.ncells, ty.cell_major(), k as u32, r as u32)
        };
        // A stored value's array in the GPU block, by the plan block's slot.
        let stored = |list: &[(u32, u32)], cpu: &[(u32, Vec<f64>)], slot: usize| -> u32 {
            list.iter().find(|(x, _)| *x == cpu[slot].0).expect("stored on the GPU as in the plan").1
        };
        let local = |node: usize| (node - plan.cell_offset[gid as usize]) as u32;
        Ok(match *source {
            ProbeSource::Voltage(node) => ty.v + ty.node_slot(local(node), rank),
            ProbeSource::Ion { species, var, node } => {
                ty.ions[species][ion_slot(var)] + ty.node_slot(local(node), rank)
            }
            ProbeSource::State { block, state, instance } => {
                inst(block, ty.blocks[self.block_home[block].1].states[state], instance)
            }
            ProbeSource::Current { block, slot, instance } => {
                let list = &ty.blocks[self.block_home[block].1].currents;
                inst(block, stored(list, &plan.blocks[block].currents, slot), instance)
            }
            ProbeSource::Derived { block, slot, instance } => {
                let list = &ty.blocks[self.block_home[block].1].derived;
                inst(block, stored(list, &plan.blocks[block].derived, slot), instance)
            }
            ProbeSource::Param { block, param, instance } => {
                return Err(plan.blocks[block].param_value(param, instance));
            }
        })
    }
}

/// Per species: whether a kernel or a probe reads its summed current (else nothing is summed
/// into it).
fn current_read(plan: &Plan, types: &[TypeLayout]) -> Vec<bool> {
    let mut read: Vec<bool> = (0..plan.species.len())
        .map(|s| {
            plan.probes
                .iter()
                .any(|p| matches!(p, ProbeSource::Ion { species, var: IonVar::Current, .. } if *species == s))
        })
        .collect();
    for b in types.iter().flat_map(|t| &t.blocks) {
        let k = &b.kernels;
        for kernel in [&k.current, &k.advance].into_iter().chain(&k.event) {
            for (_, e) in kernel.exprs.iter() {
                if let sylva_compiler::ir::expr::Expr::Ion(u, IonVar::Current) = e {
                    read[b.species[u as usize]] = true;
                }
            }
        }
    }
    read
}
