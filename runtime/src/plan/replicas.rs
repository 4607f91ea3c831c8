//! Replicas: B plans of one shape (a problem's sample plans, each with its inputs set) side by
//! side as one plan, so that one engine runs a batch of samples at once. Replica r's gid g is
//! r·G + g (G: a replica's cells), its node n is r·Nn + n, its probe p is r·P + p; each
//! placement's block holds every replica's instances, replica r's from r·len (so a parameter
//! shared by a type's cells stays shared by the replicas, and a `varying` one is per instance),
//! except the stimuli's: a stimulus is one instance on one cell, so replica r's stimulus blocks
//! come after replica r − 1's, at the end (replica 0's are the plan's own). Connections,
//! sources and their events stay within a replica: replica r's events reach only its cells.
//! Building the batch at the plan level keeps every engine's layout, forward and reverse code
//! as it is (`docs/training.md`, "Batched replicas on the GPU").

use std::collections::HashMap;

use sylva_compiler::artifact::Placement;

use super::events::{Connection, Target, Wiring};
use super::{Block, Cable, CellType, Detector, IonArrays, Nodes, Plan, ProbeSource};

/// Where each replica's cells, nodes, instances and probes are in the replicated plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replicas {
    pub count: usize,
    /// Cells, nodes and probes of one replica.
    cells: u32,
    nodes: usize,
    probes: usize,
    /// The first stimulus block (the stimuli are a plan's last blocks) and a replica's blocks.
    stimuli: usize,
    blocks: usize,
    /// Instances of each block of one replica.
    block_len: Vec<usize>,
}

impl Replicas {
    /// `count` replicas of plans shaped as `plan`.
    pub fn of(plan: &Plan, count: usize) -> Replicas {
        let is_stimulus = |b: &Block| matches!(b.placement, Placement::Stimulus(_));
        let stimuli = plan.blocks.iter().position(is_stimulus).unwrap_or(plan.blocks.len());
        debug_assert!(plan.blocks[stimuli..].iter().all(is_stimulus), "the stimuli are the last blocks");
        Replicas {
            count: count.max(1),
            cells: plan.cell_offset.len() as u32,
            nodes: plan.nodes.v.len(),
            probes: plan.probes.len(),
            stimuli,
            blocks: plan.blocks.len(),
            block_len: plan.blocks.iter().map(Block::len).collect(),
        }
    }

    /// Block `b` of replica `r`: its block in the replicated plan and its first instance there.
    pub fn block(&self, r: usize, b: usize) -> (usize, usize) {
        if b < self.stimuli {
            (b, r * self.block_len[b])
        } else {
            (self.stimuli + r * (self.blocks - self.stimuli) + (b - self.stimuli), 0)
        }
    }

    /// The replica of a gid of the replicated plan.
    pub fn replica_of(&self, gid: u32) -> usize {
        (gid / self.cells) as usize
    }

    /// A gid of the replicated plan as its replica's own.
    pub fn local_gid(&self, gid: u32) -> u32 {
        gid % self.cells
    }

    /// Replica `r`'s probe values in a row of the replicated plan.
    pub fn row<'a>(&self, row: &'a [f64], r: usize) -> &'a [f64] {
        &row[r * self.probes..(r + 1) * self.probes]
    }

    /// The plans `plans` (`count` of them, shaped as the one this was made of) as one plan.
    pub fn plan(&self, plans: &[Plan]) -> Plan {
        assert_eq!(plans.len(), self.count, "one plan per replica");
        let first = &plans[0];
        let mut blocks: Vec<Block> = (0..self.stimuli).map(|b| self.merged_block(plans, b)).collect();
        for (r, plan) in plans.iter().enumerate() {
            blocks.extend(plan.blocks[self.stimuli..].iter().map(|b| self.moved_block(b, r)));
        }
        Plan {
            nodes: Nodes {
                v: concat(plans, |p| &p.nodes.v),
                rhs: concat(plans, |p| &p.nodes.rhs),
                diagonal: concat(plans, |p| &p.nodes.diagonal),
                area: concat(plans, |p| &p.nodes.area),
                diam: concat(plans, |p| &p.nodes.diam),
            },
            cable: Cable {
                parent: self.each(plans, |r, p| p.cable.parent.iter().map(move |&n| self.moved_parent(n, r))),
                axial: concat(plans, |p| &p.cable.axial),
                capacitance_dt: concat(plans, |p| &p.cable.capacitance_dt),
            },
            ions: (0..first.ions.len()).map(|s| ion_arrays(plans, s)).collect(),
            species: first.species.clone(),
            blocks,
            probes: self.each(plans, |r, p| p.probes.iter().map(move |s| self.moved_probe(*s, r))),
            probe_scales: concat(plans, |p| &p.probe_scales),
            detectors: self.each(plans, |r, p| p.detectors.iter().map(move |d| self.moved_detector(d, r))),
            cell_offset: self.each(plans, |r, p| p.cell_offset.iter().map(move |o| o + r * self.nodes)),
            type_of_gid: concat(plans, |p| &p.type_of_gid),
            types: first.types.iter().enumerate().map(|(t, ty)| self.cell_type(ty, t, plans)).collect(),
            synapse_targets: self.synapse_targets(plans),
            wiring: self.wiring(plans),
            source_events: self.each(plans, |r, p| {
                p.source_events.iter().map(move |(time, target)| (*time, self.moved_target(*target, r)))
            }),
            above: concat(plans, |p| &p.above),
            dt: first.dt,
            celsius: first.celsius,
        }
    }

    /// Every replica's items of `items(r, plan)`, replica by replica.
    fn each<'a, T, I: Iterator<Item = T>>(&'a self, plans: &'a [Plan], items: impl Fn(usize, &'a Plan) -> I) -> Vec<T> {
        plans.iter().enumerate().flat_map(|(r, p)| items(r, p)).collect()
    }

    fn gid(&self, gid: u32, r: usize) -> u32 {
        gid + r as u32 * self.cells
    }

    fn node(&self, node: usize, r: usize) -> usize {
        node + r * self.nodes
    }

    fn moved_parent(&self, parent: u32, r: usize) -> u32 {
        if parent == u32::MAX { parent } else { self.node(parent as usize, r) as u32 }
    }

    /// Block `b` of every replica as one block: their instances one replica after another.
    fn merged_block(&self, plans: &[Plan], b: usize) -> Block {
        let mut block = self.moved_block(&plans[0].blocks[b], 0);
        for (r, plan) in plans.iter().enumerate().skip(1) {
            let other = self.moved_block(&plan.blocks[b], r);
            block.node_index.extend(other.node_index);
            for ((_, values), (_, more)) in block.params.iter_mut().zip(other.params) {
                values.extend(more);
            }
            for (values, more) in block.states.iter_mut().zip(other.states) {
                values.extend(more);
            }
            for ((_, values), (_, more)) in
                block.currents.iter_mut().chain(&mut block.derived).zip(other.currents.into_iter().chain(other.derived))
            {
                values.extend(more);
            }
            block.gids.extend(other.gids);
            block.pre_node.extend(other.pre_node);
        }
        block
    }

    /// A block of replica `r` with its nodes and cells moved to the replica's.
    fn moved_block(&self, block: &Block, r: usize) -> Block {
        let mut moved = block.clone();
        let node = |n: &mut u32| *n = self.node(*n as usize, r) as u32;
        moved.node_index.iter_mut().for_each(node);
        moved.pre_node.iter_mut().for_each(node);
        moved.gids.iter_mut().for_each(|g| *g = self.gid(*g, r));
        moved
    }

    fn moved_probe(&self, probe: ProbeSource, r: usize) -> ProbeSource {
        let instance = |block: usize, instance: usize| {
            let (block, first) = self.block(r, block);
            (block, first + instance)
        };
        match probe {
            ProbeSource::Voltage(n) => ProbeSource::Voltage(self.node(n, r)),
            ProbeSource::Ion { species, var, node } => ProbeSource::Ion { species, var, node: self.node(node, r) },
            ProbeSource::State { block, state, instance: i } => {
                let (block, instance) = instance(block, i);
                ProbeSource::State { block, state, instance }
            }
            ProbeSource::Current { block, slot, instance: i } => {
                let (block, instance) = instance(block, i);
                ProbeSource::Current { block, slot, instance }
            }
            ProbeSource::Derived { block, slot, instance: i } => {
                let (block, instance) = instance(block, i);
                ProbeSource::Derived { block, slot, instance }
            }
            ProbeSource::Param { block, param, instance: i } => {
                let (block, instance) = instance(block, i);
                ProbeSource::Param { block, param, instance }
            }
        }
    }

    fn moved_detector(&self, d: &Detector, r: usize) -> Detector {
        Detector { gid: self.gid(d.gid, r), node: self.node(d.node, r), threshold: d.threshold }
    }

    fn moved_target(&self, target: Target, r: usize) -> Target {
        let (block, first) = self.block(r, target.block as usize);
        Target { block: block as u32, instance: (first + target.instance as usize) as u32, ..target }
    }

    fn cell_type(&self, ty: &CellType, t: usize, plans: &[Plan]) -> CellType {
        let gids = self.each(plans, |r, p| p.types[t].gids.iter().map(move |g| self.gid(*g, r)));
        CellType { cell: ty.cell, gids }
    }

    fn synapse_targets(&self, plans: &[Plan]) -> HashMap<(u32, u32), (u32, u32)> {
        let moved = |r: usize, ((gid, synapse), target): (&(u32, u32), &(u32, u32))| {
            let t = self.moved_target(Target { block: target.0, instance: target.1, weight: 0.0, connection: 0 }, r);
            ((self.gid(*gid, r), *synapse), (t.block, t.instance))
        };
        plans.iter().enumerate().flat_map(|(r, p)| p.synapse_targets.iter().map(move |e| moved(r, e))).collect()
    }

    /// Each replica's connections to its own cells; replica r's sources after replica r − 1's.
    fn wiring(&self, plans: &[Plan]) -> Wiring {
        let moved = |r: usize, list: &Vec<Connection>| -> Vec<Connection> {
            list.iter().map(|c| Connection { post_gid: self.gid(c.post_gid, r), ..*c }).collect()
        };
        Wiring {
            from_cell: self.each(plans, |r, p| p.wiring.from_cell.iter().map(move |l| moved(r, l))),
            from_source: self.each(plans, |r, p| p.wiring.from_source.iter().map(move |l| moved(r, l))),
        }
    }
}

/// An array of every plan, one after another.
fn concat<T: Clone>(plans: &[Plan], array: impl Fn(&Plan) -> &Vec<T>) -> Vec<T> {
    plans.iter().flat_map(|p| array(p).iter().cloned()).collect()
}

fn ion_arrays(plans: &[Plan], s: usize) -> IonArrays {
    IonArrays {
        reversal: concat(plans, |p| &p.ions[s].reversal),
        inside: concat(plans, |p| &p.ions[s].inside),
        outside: concat(plans, |p| &p.ions[s].outside),
        current: concat(plans, |p| &p.ions[s].current),
    }
}
