//! The simulation plan: what every engine runs, independent of the device. Built once from the
//! model: the nodes of all cells side by side in gid order with their cable data, the cell
//! types and their gids, the mechanism blocks (one per placement, with specialised kernels),
//! ion species, probe descriptors, spike detectors, the wiring and the artificial sources'
//! events, and the [`schedule`] of a step. [`Plan::new`] also initialises the state with the
//! reference interpreter, so an engine starts from the same bits whatever runs its steps.
//!
//! An engine derives its own memory layout from the plan (the CPU engine keeps these arrays;
//! the GPU engine interleaves them per cell type) and runs the stages of [`schedule::STEP`].

pub mod block;
mod build;
pub mod events;
mod init;
pub mod replicas;
pub mod schedule;
pub mod solve;

use std::collections::HashMap;

use sylva_compiler::artifact::Artifact;

pub use block::{Block, IonArrays, Nodes};
pub use build::{Cable, Detector, ProbeSource, nernst, nernst_factor};
use events::{Target, Wiring};

/// A cell type that has cells in the network, and their gids (ascending).
#[derive(Clone, Debug)]
pub struct CellType {
    /// Index into the model's cells.
    pub cell: u32,
    pub gids: Vec<u32>,
}

/// An ion species every mechanism using it shares, per node.
#[derive(Clone, Debug, PartialEq)]
pub struct Species {
    pub name: String,
    pub charge: i32,
    /// The reversal follows the Nernst equation at every step (else it keeps its initial value).
    pub nernst: bool,
}

#[derive(Clone)]
pub struct Plan {
    pub nodes: Nodes,
    pub cable: Cable,
    /// Per species (same index as `species`).
    pub ions: Vec<IonArrays>,
    pub species: Vec<Species>,
    /// Per placement: every cell type's density mechanisms and synapses (types in model order),
    /// then the stimuli in declaration order.
    pub blocks: Vec<Block>,
    pub probes: Vec<ProbeSource>,
    /// Per probe, internal units per displayed unit (`Dimension::display_scale`).
    pub probe_scales: Vec<f64>,
    pub detectors: Vec<Detector>,
    /// First node of each gid.
    pub cell_offset: Vec<usize>,
    /// Index into `types` of each gid.
    pub type_of_gid: Vec<u32>,
    pub types: Vec<CellType>,
    /// (gid, synapse index) → (block, instance): where a connection's events go.
    pub synapse_targets: HashMap<(u32, u32), (u32, u32)>,
    pub wiring: Wiring,
    /// The events of the artificial spike sources, in the order they are queued.
    pub source_events: Vec<(f64, Target)>,
    /// Per detector: whether its voltage is at or above threshold in the initial state.
    pub above: Vec<bool>,
    pub dt: f64,
    pub celsius: f64,
}

impl Plan {
    /// Builds the plan of a compiled model and initialises its state (see [`schedule::INIT`]).
    pub fn new(artifact: &Artifact) -> Plan {
        let mut plan = Plan::uninitialized(artifact, &[]);
        plan.initialize();
        plan
    }

    /// The plan before [`schedule::INIT`], with the parameters `unfolded` ((block, parameter)
    /// pairs) kept as per-instance arrays (see `grad`).
    pub(crate) fn uninitialized(artifact: &Artifact, unfolded: &[(usize, u32)]) -> Plan {
        let model = &artifact.model;
        let sim = &model.simulation;
        let mut plan = build::build(artifact, sim.dt, sim.celsius, unfolded);
        plan.wiring = events::wire(model);
        for (s, source) in model.network.sources.iter().enumerate() {
            for t in events::source_times(&source.kind, sim.duration) {
                for c in &plan.wiring.from_source[s] {
                    let (block, instance) = plan.synapse_targets[&(c.post_gid, c.synapse)];
                    plan.source_events
                        .push((t + c.delay, Target { block, instance, weight: c.weight, connection: c.rule }));
                }
            }
        }
        plan
    }

    /// The gid of the cell a probe reads.
    pub fn probe_gid(&self, probe: &ProbeSource) -> u32 {
        let of_node = |node: usize| (self.cell_offset.partition_point(|first| *first <= node) - 1) as u32;
        match *probe {
            ProbeSource::Voltage(node) | ProbeSource::Ion { node, .. } => of_node(node),
            ProbeSource::State { block, instance, .. }
            | ProbeSource::Current { block, instance, .. }
            | ProbeSource::Derived { block, instance, .. }
            | ProbeSource::Param { block, instance, .. } => {
                let b = &self.blocks[block];
                b.gids[instance / b.per_cell]
            }
        }
    }

    /// A probe's value in internal units, read from the plan's arrays.
    pub fn probe_value(&self, probe: &ProbeSource) -> f64 {
        match *probe {
            ProbeSource::Voltage(n) => self.nodes.v[n],
            ProbeSource::State { block, state, instance } => self.blocks[block].states[state][instance],
            ProbeSource::Current { block, slot, instance } => self.blocks[block].currents[slot].1[instance],
            ProbeSource::Derived { block, slot, instance } => self.blocks[block].derived[slot].1[instance],
            ProbeSource::Ion { species, var, node } => self.ions[species].get(var)[node],
            ProbeSource::Param { block, param, instance } => self.blocks[block].param_value(param, instance),
        }
    }
}
