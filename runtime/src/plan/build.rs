//! From a checked model to the plan's arrays: nodes of every cell side by side (in gid order),
//! mechanism blocks, ion species, probes and spike detectors.

use std::collections::HashMap;

use sylva_compiler::ir::expr::{Builtin, Expr, IonVar};
use sylva_compiler::ir::kernel::{self, Kernels, Stored};
use sylva_compiler::ir::{self, Model, ParamValue, ProbeTarget, Var};

use super::block::{Block, IonArrays, Nodes, Placement};
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

pub struct Detector {
    pub gid: u32,
    pub node: usize,
    pub threshold: f64,
}

/// The plan's arrays before initialisation (wiring, events and the initial state are added by
/// [`Plan::new`]).
pub(super) fn build(model: &Model, dt: f64, celsius: f64) -> Plan {
    let net = &model.network;
    // Cells in gid order.
    let mut gids_of_type: Vec<Vec<u32>> = vec![Vec::new(); model.cells.len()];
    let mut type_of_gid = Vec::new();
    for p in &net.populations {
        for k in 0..p.count {
            gids_of_type[p.cell.index()].push(p.first_gid + k);
            type_of_gid.push(p.cell.index());
        }
    }
    let mut nodes = Nodes::default();
    let mut cable = Cable::default();
    let mut cell_offset = Vec::with_capacity(type_of_gid.len());
    for &t in &type_of_gid {
        let cell = &model.cells[t];
        let offset = nodes.v.len();
        cell_offset.push(offset);
        for (i, n) in cell.tree.nodes.iter().enumerate() {
            nodes.v.push(cell.v_init);
            nodes.area.push(n.area_um2);
            let section = n.section as usize;
            nodes.diam.push(cell.tree.section_diam_at(section, n.x));
            cable.parent.push(n.parent.map_or(u32::MAX, |p| (p as usize + offset) as u32));
            cable.axial.push(if n.r_to_parent_mohm > 0.0 { 1.0 / n.r_to_parent_mohm } else { 0.0 });
            cable.capacitance_dt.push(cell.cm[i] * n.area_um2 / dt);
        }
    }
    let total = nodes.v.len();
    nodes.rhs = vec![0.0; total];
    nodes.diagonal = vec![0.0; total];

    // Species used by any mechanism, filled per node from each cell's species.
    let mut species: Vec<Species> = Vec::new();
    for m in &model.mechanisms {
        for u in &m.ions {
            if !species.iter().any(|s| s.name == u.species) {
                let def = model.cells.iter().flat_map(|c| &c.species).find(|s| s.name == u.species);
                // As NEURON: the reversal follows Nernst when asked for, or when any mechanism
                // writes a concentration of the species.
                let written = model.mechanisms.iter().any(|m| {
                    m.states
                        .iter()
                        .any(|st| st.writes_ion.is_some_and(|(i, _)| m.ions[i as usize].species == u.species))
                });
                species.push(Species {
                    name: u.species.clone(),
                    charge: def.map_or(1, |s| s.charge),
                    nernst: written || def.is_some_and(|s| s.reversal.is_none()),
                });
            }
        }
    }
    let mut ions: Vec<IonArrays> = species
        .iter()
        .map(|_| IonArrays {
            reversal: vec![0.0; total],
            inside: vec![0.0; total],
            outside: vec![0.0; total],
            current: vec![0.0; total],
        })
        .collect();
    for (gid, &t) in type_of_gid.iter().enumerate() {
        let cell = &model.cells[t];
        let range = cell_offset[gid]..cell_offset[gid] + cell.tree.nodes.len();
        for (s, Species { name, .. }) in species.iter().enumerate() {
            let Some(def) = cell.species.iter().find(|x| x.name == *name) else { continue };
            for n in range.clone() {
                ions[s].inside[n] = def.inside;
                ions[s].outside[n] = def.outside;
                ions[s].reversal[n] =
                    def.reversal.unwrap_or_else(|| nernst(def.charge, celsius, def.inside, def.outside));
            }
        }
    }

    // Derived values that probes read, per placement.
    let mut stored: HashMap<Placement, Stored> = HashMap::new();
    for p in &net.probes {
        let Some((pop, _)) = model.locate_gid(p.gid) else { continue };
        let cell = pop.cell.0;
        let (placement, var) = match p.target {
            ProbeTarget::Density { instance, var, .. } => (Placement::Density { cell, instance }, var),
            ProbeTarget::Synapse { index, var } => (Placement::Synapse { cell, index }, var),
            ProbeTarget::Stimulus { index, var } => (Placement::Stimulus(index), var),
            ProbeTarget::Voltage { .. } | ProbeTarget::Ion { .. } => continue,
        };
        let entry = stored.entry(placement).or_default();
        let list = match var {
            Var::Derived(d) => Some((&mut entry.derived, d)),
            Var::Current(c) => Some((&mut entry.currents, c)),
            Var::State(_) | Var::Param(_) => None,
        };
        if let Some((list, i)) = list
            && !list.contains(&i)
        {
            list.push(i);
        }
    }

    let species_of = |m: &ir::Mechanism| -> Vec<usize> {
        m.ions.iter().map(|u| species.iter().position(|s| s.name == u.species).expect("collected")).collect()
    };
    let mut blocks = Vec::new();
    let mut index: HashMap<Placement, usize> = HashMap::new();
    let mut synapse_blocks = HashMap::new();
    for (t, cell) in model.cells.iter().enumerate() {
        let gids = &gids_of_type[t];
        if gids.is_empty() {
            continue;
        }
        for (k, d) in cell.density.iter().enumerate() {
            let m = &model.mechanisms[d.mechanism.index()];
            let placement = Placement::Density { cell: t as u32, instance: k as u32 };
            let offsets = &cell_offset;
            let node_index: Vec<u32> = gids
                .iter()
                .flat_map(|g| d.nodes.iter().map(move |n| (offsets[*g as usize] + *n as usize) as u32))
                .collect();
            let per_instance = |values: &ParamValue| match values {
                ParamValue::Uniform(_) => None,
                ParamValue::PerNode(list) => Some(gids.iter().flat_map(|_| list.iter().copied()).collect::<Vec<f64>>()),
            };
            let params: Vec<(u32, Vec<f64>)> =
                d.params.iter().enumerate().filter_map(|(i, v)| per_instance(v).map(|a| (i as u32, a))).collect();
            let constants: Vec<(u32, f64)> = d
                .params
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    ParamValue::Uniform(x) => Some((i as u32, *x)),
                    ParamValue::PerNode(_) => None,
                })
                .collect();
            index.insert(placement, blocks.len());
            blocks.push(block(
                m,
                Placed {
                    placement,
                    mechanism: d.mechanism.0,
                    node_index,
                    params,
                    constants,
                    gids: gids.clone(),
                    per_cell: d.nodes.len(),
                },
                stored.get(&placement),
                species_of(m),
                dt,
                celsius,
            ));
        }
        for (s, syn) in cell.synapses.iter().enumerate() {
            let m = &model.mechanisms[syn.mechanism.index()];
            let placement = Placement::Synapse { cell: t as u32, index: s as u32 };
            let node_index: Vec<u32> =
                gids.iter().map(|g| (cell_offset[*g as usize] + syn.node as usize) as u32).collect();
            let constants = syn.params.iter().enumerate().map(|(i, v)| (i as u32, *v)).collect();
            let b = blocks.len();
            index.insert(placement, b);
            for (rank, g) in gids.iter().enumerate() {
                synapse_blocks.insert((*g, s as u32), (b as u32, rank as u32));
            }
            blocks.push(block(
                m,
                Placed {
                    placement,
                    mechanism: syn.mechanism.0,
                    node_index,
                    params: Vec::new(),
                    constants,
                    gids: gids.clone(),
                    per_cell: 1,
                },
                stored.get(&placement),
                species_of(m),
                dt,
                celsius,
            ));
        }
    }
    for (i, stim) in net.stimuli.iter().enumerate() {
        let m = &model.mechanisms[stim.mechanism.index()];
        let placement = Placement::Stimulus(i as u32);
        let node_index = vec![(cell_offset[stim.gid as usize] + stim.node as usize) as u32];
        let constants = stim.params.iter().enumerate().map(|(i, v)| (i as u32, *v)).collect();
        index.insert(placement, blocks.len());
        blocks.push(block(
            m,
            Placed {
                placement,
                mechanism: stim.mechanism.0,
                node_index,
                params: Vec::new(),
                constants,
                gids: vec![stim.gid],
                per_cell: 1,
            },
            stored.get(&placement),
            species_of(m),
            dt,
            celsius,
        ));
    }

    let probes = net
        .probes
        .iter()
        .map(|p| {
            let (pop, _) = model.locate_gid(p.gid).expect("validated gid");
            let cell = pop.cell.0;
            let rank = gids_of_type[cell as usize].iter().position(|g| *g == p.gid).expect("gid of its type");
            let offset = cell_offset[p.gid as usize];
            let (placement, instance, var) = match p.target {
                ProbeTarget::Voltage { node } => return ProbeSource::Voltage(offset + node as usize),
                ProbeTarget::Ion { species: s, var, node } => {
                    let name = &model.cells[cell as usize].species[s as usize].name;
                    let species = species.iter().position(|s| s.name == *name).expect("a species some mechanism uses");
                    return ProbeSource::Ion { species, var, node: offset + node as usize };
                }
                ProbeTarget::Density { instance, node, var } => {
                    let d = &model.cells[cell as usize].density[instance as usize];
                    let position = d.nodes.binary_search(&node).expect("validated node");
                    (Placement::Density { cell, instance }, rank * d.nodes.len() + position, var)
                }
                ProbeTarget::Synapse { index, var } => (Placement::Synapse { cell, index }, rank, var),
                ProbeTarget::Stimulus { index, var } => (Placement::Stimulus(index), 0, var),
            };
            let block = index[&placement];
            match var {
                Var::State(s) => ProbeSource::State { block, state: s as usize, instance },
                Var::Current(c) => {
                    let slot = blocks[block].currents.iter().position(|(x, _)| *x == c).expect("stored for the probe");
                    ProbeSource::Current { block, slot, instance }
                }
                Var::Derived(d) => {
                    let slot = blocks[block].derived.iter().position(|(x, _)| *x == d).expect("stored for the probe");
                    ProbeSource::Derived { block, slot, instance }
                }
                Var::Param(p) => ProbeSource::Param { block, param: p, instance },
            }
        })
        .collect();

    let detectors = type_of_gid
        .iter()
        .enumerate()
        .filter_map(|(gid, &t)| {
            model.cells[t].detector.as_ref().map(|d| Detector {
                gid: gid as u32,
                node: cell_offset[gid] + d.node as usize,
                threshold: d.threshold,
            })
        })
        .collect();
    let probe_scales = net.probes.iter().map(|p| p.dim.display_scale()).collect();
    let types = (0..model.cells.len() as u32)
        .zip(gids_of_type)
        .filter(|(_, gids)| !gids.is_empty())
        .map(|(cell, gids)| CellType { cell, gids })
        .collect();
    Plan {
        nodes,
        cable,
        ions,
        species,
        blocks,
        probes,
        probe_scales,
        detectors,
        cell_offset,
        type_of_gid: type_of_gid.iter().map(|t| *t as u32).collect(),
        types,
        synapse_targets: synapse_blocks,
        wiring: super::events::Wiring::default(),
        source_events: Vec::new(),
        above: Vec::new(),
        dt,
        celsius,
    }
}

/// The kernels of a mechanism storing `stored` for probes, with `constant_params`, dt and the
/// temperature folded into the code.
pub(crate) fn specialized_kernels(
    m: &ir::Mechanism,
    stored: &Stored,
    constant_params: &[(u32, f64)],
    dt: f64,
    celsius: f64,
) -> Kernels {
    let lowered = kernel::lower(m, stored);
    let constant = |leaf: Expr| match leaf {
        Expr::Param(p) => constant_params.iter().find(|(i, _)| *i == p).map(|(_, v)| *v),
        Expr::Builtin(Builtin::Dt) => Some(dt),
        Expr::Builtin(Builtin::Celsius) => Some(celsius),
        _ => None,
    };
    Kernels {
        init: kernel::specialize(&lowered.init, &constant),
        current: kernel::specialize(&lowered.current, &constant),
        advance: kernel::specialize(&lowered.advance, &constant),
        event: lowered.event.as_ref().map(|k| kernel::specialize(k, &constant)),
    }
}

/// One placement of a mechanism, replicated over the cells `gids`.
struct Placed {
    placement: Placement,
    mechanism: u32,
    node_index: Vec<u32>,
    /// Per-instance parameters; the others are `constants`, folded into the kernels.
    params: Vec<(u32, Vec<f64>)>,
    constants: Vec<(u32, f64)>,
    gids: Vec<u32>,
    per_cell: usize,
}

fn block(
    m: &ir::Mechanism,
    placed: Placed,
    stored: Option<&Stored>,
    species: Vec<usize>,
    dt: f64,
    celsius: f64,
) -> Block {
    let Placed { placement, mechanism, node_index, params, constants: constant_params, gids, per_cell } = placed;
    let stored: Stored = stored.cloned().unwrap_or_default();
    let kernels = specialized_kernels(m, &stored, &constant_params, dt, celsius);
    let n = node_index.len();
    Block {
        placement,
        mechanism,
        node_index,
        params,
        constant_params,
        states: vec![vec![0.0; n]; m.states.len()],
        currents: stored.currents.iter().map(|c| (*c, vec![0.0; n])).collect(),
        derived: stored.derived.iter().map(|d| (*d, vec![0.0; n])).collect(),
        species,
        kernels: std::sync::Arc::new(kernels),
        gids,
        per_cell,
    }
}

/// The Nernst potential (mV) at `celsius` for concentrations in mM.
pub fn nernst(charge: i32, celsius: f64, inside: f64, outside: f64) -> f64 {
    // R T / F in mV, with the 2019 SI values NEURON uses.
    const R: f64 = 8.314462618;
    const FARADAY: f64 = 96485.33212331001;
    1e3 * R * (celsius + 273.15) / (FARADAY * f64::from(charge)) * (outside / inside).ln()
}
