//! From the compiled artifact to the plan's arrays: nodes of every cell side by side (in gid
//! order), mechanism blocks (one per placement of the artifact, in its order, with the kernels
//! the compiler specialised), ion species, probes and spike detectors.

use std::collections::HashMap;

use sylva_compiler::artifact::{Artifact, Placement, PlacementId};
use sylva_compiler::ir::expr::IonVar;
use sylva_compiler::ir::{Model, ParamValue, ProbeTarget, Var};

use super::block::{Block, IonArrays, Nodes};
use super::{CellType, Plan, Species};

/// Constant per-node data of the cable equation.
#[derive(Clone, Debug, Default)]
pub struct Cable {
    /// Parent node, `u32::MAX` for the root of each cell. Always smaller than the child.
    pub parent: Vec<u32>,
    /// Axial conductance to the parent (µS).
    pub axial: Vec<f64>,
    /// Membrane capacitance of the node over the time step, C/dt (µS).
    pub capacitance_dt: Vec<f64>,
}

/// Where a probe reads.
#[derive(Copy, Clone, Debug)]
pub enum ProbeSource {
    Voltage(usize),
    State {
        block: usize,
        state: usize,
        instance: usize,
    },
    Current {
        block: usize,
        slot: usize,
        instance: usize,
    },
    Derived {
        block: usize,
        slot: usize,
        instance: usize,
    },
    Param {
        block: usize,
        param: u32,
        instance: usize,
    },
    /// An ion variable: species (index in `Plan::species`) and node.
    Ion {
        species: usize,
        var: IonVar,
        node: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Detector {
    pub gid: u32,
    pub node: usize,
    pub threshold: f64,
}

/// The plan's arrays before initialisation (wiring, events and the initial state are added by
/// [`Plan::new`]).
/// `unfolded`: (block, parameter) pairs kept as per-instance arrays although uniform (the
/// parameters a gradient is taken for), so the kernels read them instead of folding them in.
pub(super) fn build(artifact: &Artifact, dt: f64, celsius: f64, unfolded: &[(usize, u32)]) -> Plan {
    let model = &artifact.model;
    let cells = Cells::of(model, dt);
    let species: Vec<Species> = artifact
        .species
        .iter()
        .map(|s| Species { name: s.name.clone(), charge: s.charge, nernst: s.reversal.is_nernst() })
        .collect();
    let ions = ion_arrays(model, &cells, &species, celsius);
    let mut blocks: Vec<Block> = (0..artifact.placements.len())
        .map(|b| block(artifact, &cells, PlacementId(b as u32), dt, celsius, unfolded))
        .collect();
    let mut synapse_targets = HashMap::new();
    for (b, block) in blocks.iter().enumerate() {
        if let Placement::Synapse { index, .. } = block.placement {
            for (rank, g) in block.gids.iter().enumerate() {
                synapse_targets.insert((*g, index.0), (b as u32, rank as u32));
            }
        }
    }
    connect_pre_voltages(model, &cells, &mut blocks, &synapse_targets);
    let probes = model.network.probes.iter().map(|p| probe_source(artifact, &cells, &species, &blocks, p)).collect();
    let detectors = cells
        .type_of_gid
        .iter()
        .enumerate()
        .filter_map(|(gid, &t)| {
            model.cells[t].detector.as_ref().map(|d| Detector {
                gid: gid as u32,
                node: cells.offset[gid] + d.node as usize,
                threshold: d.threshold,
            })
        })
        .collect();
    let Cells { nodes, cable, offset, gids_of_type, type_of_gid } = cells;
    let types: Vec<CellType> = (0..model.cells.len() as u32)
        .zip(gids_of_type)
        .filter(|(_, gids)| !gids.is_empty())
        .map(|(cell, gids)| CellType { cell, gids })
        .collect();
    let type_index =
        |cell: usize| types.iter().position(|t| t.cell as usize == cell).expect("a type with cells") as u32;
    Plan {
        type_of_gid: type_of_gid.iter().map(|&t| type_index(t)).collect(),
        types,
        nodes,
        cable,
        ions,
        species,
        blocks,
        probes,
        probe_scales: model.network.probes.iter().map(|p| p.dim.display_scale()).collect(),
        detectors,
        cell_offset: offset,
        synapse_targets,
        wiring: super::events::Wiring::default(),
        source_events: Vec::new(),
        above: Vec::new(),
        dt,
        celsius,
    }
}

/// Where each instance of a mechanism reading `v_pre` reads it: the detector node of its
/// presynaptic cell (the model's continuous connections), or its own node when nothing
/// connects it (W0007), so that a gap junction there carries no current.
fn connect_pre_voltages(
    model: &Model,
    cells: &Cells,
    blocks: &mut [Block],
    synapse_targets: &HashMap<(u32, u32), (u32, u32)>,
) {
    for block in blocks.iter_mut() {
        if model.mechanisms[block.mechanism as usize].reads_pre_voltage() {
            block.pre_node.clone_from(&block.node_index);
        }
    }
    let net = &model.network;
    for c in &net.continuous {
        for (pre, post) in c.pairs(net) {
            let (b, instance) = synapse_targets[&(post, c.synapse.0)];
            let detector = model.cells[cells.type_of_gid[pre as usize]].detector.as_ref().expect("validated");
            blocks[b as usize].pre_node[instance as usize] =
                (cells.offset[pre as usize] + detector.node as usize) as u32;
        }
    }
}

/// The nodes of every cell side by side, in gid order.
struct Cells {
    nodes: Nodes,
    cable: Cable,
    /// First node of each gid.
    offset: Vec<usize>,
    /// Per model cell type, its gids (ascending).
    gids_of_type: Vec<Vec<u32>>,
    /// Per gid, its model cell type.
    type_of_gid: Vec<usize>,
}

impl Cells {
    fn of(model: &Model, dt: f64) -> Cells {
        let mut gids_of_type: Vec<Vec<u32>> = vec![Vec::new(); model.cells.len()];
        let mut type_of_gid = Vec::new();
        for p in &model.network.populations {
            for k in 0..p.count {
                gids_of_type[p.cell.index()].push(p.first_gid + k);
                type_of_gid.push(p.cell.index());
            }
        }
        let mut nodes = Nodes::default();
        let mut cable = Cable::default();
        let mut offset = Vec::with_capacity(type_of_gid.len());
        for &t in &type_of_gid {
            let cell = &model.cells[t];
            let first = nodes.v.len();
            offset.push(first);
            for (i, n) in cell.tree.nodes.iter().enumerate() {
                nodes.v.push(cell.v_init);
                nodes.area.push(n.area_um2);
                nodes.diam.push(cell.tree.section_diam_at(n.section as usize, n.x));
                cable.parent.push(n.parent.map_or(u32::MAX, |p| (p as usize + first) as u32));
                cable.axial.push(if n.r_to_parent_mohm > 0.0 { 1.0 / n.r_to_parent_mohm } else { 0.0 });
                cable.capacitance_dt.push(cell.cm[i] * n.area_um2 / dt);
            }
        }
        let total = nodes.v.len();
        nodes.rhs = vec![0.0; total];
        nodes.diagonal = vec![0.0; total];
        Cells { nodes, cable, offset, gids_of_type, type_of_gid }
    }
}

/// Per species, its arrays on every node, filled from each cell's declaration of the species.
fn ion_arrays(model: &Model, cells: &Cells, species: &[Species], celsius: f64) -> Vec<IonArrays> {
    let total = cells.nodes.v.len();
    let mut ions: Vec<IonArrays> = species
        .iter()
        .map(|_| IonArrays {
            reversal: vec![0.0; total],
            inside: vec![0.0; total],
            outside: vec![0.0; total],
            current: vec![0.0; total],
        })
        .collect();
    for (gid, &t) in cells.type_of_gid.iter().enumerate() {
        let cell = &model.cells[t];
        let range = cells.offset[gid]..cells.offset[gid] + cell.tree.nodes.len();
        for (ion, Species { name, .. }) in ions.iter_mut().zip(species) {
            let Some(def) = cell.species.iter().find(|x| x.name == *name) else { continue };
            for n in range.clone() {
                ion.inside[n] = def.inside;
                ion.outside[n] = def.outside;
                ion.reversal[n] = def.reversal.unwrap_or_else(|| nernst(def.charge, celsius, def.inside, def.outside));
            }
        }
    }
    ions
}

/// The block of placement `id`: its instances on every cell it applies to, per-instance
/// parameters, zeroed states and stored values, and its kernels with the uniform parameters,
/// dt and the temperature folded in.
fn block(
    artifact: &Artifact,
    cells: &Cells,
    id: PlacementId,
    dt: f64,
    celsius: f64,
    unfolded: &[(usize, u32)],
) -> Block {
    let model = &artifact.model;
    let placed = &artifact.placements[id.index()];
    let (gids, nodes_per_cell, values): (Vec<u32>, Vec<u32>, Vec<ParamValue>) = match placed.placement {
        Placement::Density { cell, instance } => {
            let d = &model.cells[cell.index()].density[instance.index()];
            (cells.gids_of_type[cell.index()].clone(), d.nodes.clone(), d.params.clone())
        }
        Placement::Synapse { cell, index } => {
            let syn = &model.cells[cell.index()].synapses[index.index()];
            let params = syn.params.iter().map(|v| ParamValue::Uniform(*v)).collect();
            (cells.gids_of_type[cell.index()].clone(), vec![syn.node], params)
        }
        Placement::Stimulus(i) => {
            let stim = &model.network.stimuli[i.index()];
            (vec![stim.gid], vec![stim.node], stim.params.iter().map(|v| ParamValue::Uniform(*v)).collect())
        }
    };
    let node_index: Vec<u32> = gids
        .iter()
        .flat_map(|g| nodes_per_cell.iter().map(move |n| (cells.offset[*g as usize] + *n as usize) as u32))
        .collect();
    let mut params = Vec::new();
    let mut constant_params = Vec::new();
    for (p, value) in values.iter().enumerate() {
        match value {
            ParamValue::Uniform(x) if unfolded.contains(&(id.index(), p as u32)) => {
                params.push((p as u32, vec![*x; node_index.len()]))
            }
            ParamValue::Uniform(x) => constant_params.push((p as u32, *x)),
            ParamValue::PerNode(list) => {
                params.push((p as u32, gids.iter().flat_map(|_| list.iter().copied()).collect::<Vec<f64>>()))
            }
        }
    }
    let n = node_index.len();
    let m = &model.mechanisms[placed.mechanism.index()];
    Block {
        placement: placed.placement,
        mechanism: placed.mechanism.0,
        node_index,
        params,
        states: vec![vec![0.0; n]; m.states.len()],
        currents: placed.stored.currents.iter().map(|c| (*c, vec![0.0; n])).collect(),
        derived: placed.stored.derived.iter().map(|d| (*d, vec![0.0; n])).collect(),
        species: artifact.ion_species[placed.mechanism.index()].iter().map(|s| s.index()).collect(),
        kernels: std::sync::Arc::new(artifact.specialize(id, &constant_params, dt, celsius)),
        constant_params,
        varying: Vec::new(),
        gids,
        per_cell: nodes_per_cell.len(),
        pre_node: Vec::new(),
    }
}

/// Where probe `p` reads in the plan's arrays.
fn probe_source(
    artifact: &Artifact,
    cells: &Cells,
    species: &[Species],
    blocks: &[Block],
    p: &sylva_compiler::ir::Probe,
) -> ProbeSource {
    let model = &artifact.model;
    let cell = cells.type_of_gid[p.gid as usize];
    // Gids of a type are consecutive within each population, ascending overall.
    let rank = cells.gids_of_type[cell].partition_point(|g| *g < p.gid);
    let offset = cells.offset[p.gid as usize];
    let cell_id = sylva_compiler::ir::CellId(cell as u32);
    let (placement, instance, var) = match p.target {
        ProbeTarget::Voltage { node } => return ProbeSource::Voltage(offset + node as usize),
        ProbeTarget::Ion { species: s, var, node } => {
            let name = &model.cells[cell].species[s.index()].name;
            let species = species.iter().position(|s| s.name == *name).expect("a species some mechanism uses");
            return ProbeSource::Ion { species, var, node: offset + node as usize };
        }
        ProbeTarget::Density { instance, node, var } => {
            let d = &model.cells[cell].density[instance.index()];
            let position = d.nodes.partition_point(|n| *n < node);
            (Placement::Density { cell: cell_id, instance }, rank * d.nodes.len() + position, var)
        }
        ProbeTarget::Synapse { index, var } => (Placement::Synapse { cell: cell_id, index }, rank, var),
        ProbeTarget::Stimulus { index, var } => (Placement::Stimulus(index), 0, var),
    };
    let block =
        blocks.iter().position(|b| b.placement == placement).expect("the artifact places every probed placement");
    let slot = |list: &[(u32, Vec<f64>)], x: u32| list.iter().position(|(y, _)| *y == x).expect("stored for the probe");
    match var {
        Var::State(s) => ProbeSource::State { block, state: s.index(), instance },
        Var::Current(c) => ProbeSource::Current { block, slot: slot(&blocks[block].currents, c.0), instance },
        Var::Derived(d) => ProbeSource::Derived { block, slot: slot(&blocks[block].derived, d.0), instance },
        Var::Param(p) => ProbeSource::Param { block, param: p.0, instance },
    }
}

/// The Nernst potential (mV) at `celsius` for concentrations in mM.
pub fn nernst(charge: i32, celsius: f64, inside: f64, outside: f64) -> f64 {
    nernst_factor(charge, celsius) * sylva_compiler::ir::math::ln(outside / inside)
}

/// RT/(zF) in mV, with the 2019 SI values NEURON uses: [`nernst`] is this times
/// ln(outside/inside).
pub fn nernst_factor(charge: i32, celsius: f64) -> f64 {
    const R: f64 = 8.314462618;
    const FARADAY: f64 = 96485.33212331001;
    1e3 * R * (celsius + 273.15) / (FARADAY * f64::from(charge))
}
