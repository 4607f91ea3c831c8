//! Stimuli as data: the stimuli of one mechanism on the cells of one type become one block
//! whose members are the stimuli, in declaration order, with per-member parameters, nodes and
//! states, and a table of each cell's members. The generated code loops over the cell's members
//! instead of carrying one branch per stimulus, so its size does not grow with the stimuli.

use sylva_compiler::artifact::{Artifact, PlacementId};

use super::layout::{BlockLayout, alloc};
use crate::plan::{Block, Plan};

/// Where the group's arrays go.
pub(super) struct Arrays<'a> {
    pub data: &'a mut Vec<f64>,
    pub shared: &'a mut Vec<f64>,
    pub meta: &'a mut Vec<u32>,
}

/// The block of the stimuli `members` (plan blocks of one mechanism, each one instance on one
/// cell of the type, in declaration order), and each member's index in it (members are
/// renumbered cell by cell). `rank_of(b)` is the rank of member `b`'s cell in the type,
/// `first_node(b)` the global index of that cell's first node.
pub(super) fn group(
    artifact: &Artifact,
    plan: &Plan,
    members: &[usize],
    ncells: u32,
    rank_of: impl Fn(usize) -> u32,
    first_node: impl Fn(usize) -> u32,
    arrays: Arrays<'_>,
) -> (BlockLayout, Vec<(usize, u32)>) {
    let Arrays { data, shared, meta } = arrays;
    let blocks: Vec<_> = members.iter().map(|&b| &plan.blocks[b]).collect();
    let mechanism = blocks[0].mechanism;
    let model = &artifact.model;
    let m = &model.mechanisms[mechanism as usize];
    // A stimulus block folds every parameter but those a gradient's problem keeps as data (a
    // sample may set them); the group keeps those, and those that differ, as data.
    let value = |b: &Block, p: u32| b.param_value(p, 0);
    let kept = |b: &Block, p: u32| b.params.iter().any(|(q, _)| *q == p);
    let varying: Vec<u32> = (0..m.params.len() as u32)
        .filter(|&p| blocks.iter().any(|b| kept(b, p) || value(b, p).to_bits() != value(blocks[0], p).to_bits()))
        .collect();
    // The artifact gives the stimuli of one mechanism one stored set (for probes) and so one
    // kernel, specialised here to the parameters every member shares.
    let first = PlacementId(members[0] as u32);
    let stored = &artifact.placements[first.index()].stored;
    let uniform: Vec<(u32, f64)> =
        (0..m.params.len() as u32).filter(|p| !varying.contains(p)).map(|p| (p, value(blocks[0], p))).collect();
    let sim = &model.simulation;
    let kernels = artifact.specialize(first, &uniform, sim.dt, sim.celsius);
    // Each cell's members: CSR by rank (members are in declaration order, so within a cell too).
    let group = meta.len() as u32;
    let mut count = vec![0u32; ncells as usize];
    for &b in members {
        count[rank_of(b) as usize] += 1;
    }
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&k| rank_of(members[k]));
    let mut acc = 0u32;
    for c in &count {
        meta.push(acc);
        acc += c;
    }
    meta.push(acc);
    // Members are renumbered cell by cell; `order[k]` is the declaration index of member k.
    let nodes: Vec<u32> = order.iter().map(|&i| blocks[i].node_index[0] - first_node(members[i])).collect();
    let params = varying
        .iter()
        .map(|&p| {
            let off = shared.len() as u32;
            shared.extend(order.iter().map(|&i| value(blocks[i], p)));
            (p, off)
        })
        .collect();
    let mut per_member = |values: &dyn Fn(usize) -> f64| {
        let off = alloc(data, members.len());
        for (k, &i) in order.iter().enumerate() {
            data[off as usize + k] = values(i);
        }
        off
    };
    let states = (0..m.states.len()).map(|s| per_member(&|i| blocks[i].states[s][0])).collect();
    let stored_value = |list: &[(u32, Vec<f64>)], x: u32| list.iter().find(|(y, _)| *y == x).map_or(0.0, |(_, v)| v[0]);
    let currents =
        stored.currents.iter().map(|&c| (c, per_member(&|i| stored_value(&blocks[i].currents, c)))).collect();
    let derived = stored.derived.iter().map(|&d| (d, per_member(&|i| stored_value(&blocks[i].derived, d)))).collect();
    let indices = order.iter().enumerate().map(|(k, &i)| (members[i], k as u32)).collect();
    let block = BlockLayout {
        block: members[0],
        mechanism,
        kernels,
        per_cell: members.len() as u32,
        group: Some(group),
        nodes,
        params,
        varying: Vec::new(),
        states,
        currents,
        derived,
        species: blocks[0].species.clone(),
        shares_nodes: true,
        pre_voltage: None,
    };
    (block, indices)
}
