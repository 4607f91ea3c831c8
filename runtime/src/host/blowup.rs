//! The divergence report every engine gives when a voltage becomes non-finite or huge: which
//! cell, which node, its value, and the mechanisms there (with the states that are not finite).

use crate::plan::Plan;

/// A stopped run: which quantity went bad, where and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Blowup {
    pub step: u64,
    pub time: f64,
    pub gid: u32,
    /// The node within its cell.
    pub node: usize,
    pub value: f64,
    /// The mechanisms at that node, with a state that is not finite when there is one.
    pub suspects: Vec<(u32, Option<u32>)>,
}

/// Whether a voltage means the run diverged.
pub fn is_bad(v: f64) -> bool {
    !v.is_finite() || v.abs() > 1e6
}

/// Whether no voltage is non-finite or above 1e6 mV. Engines check every step: one
/// branch-free pass (`!(|v| <= 1e6)` holds for NaN too) costs a few µs per 1e4 nodes;
/// [`worst_node`]'s search, 5 % of a step.
pub fn all_good(v: &[f64]) -> bool {
    v.iter().fold(true, |good, x| good & (x.abs() <= 1e6))
}

/// The node a divergence report names, when some voltage is non-finite or above 1e6 mV: among
/// the bad nodes with membrane (where mechanisms are), or all bad nodes when none has any, the
/// first non-finite one, else the largest |v|.
pub fn worst_node(v: &[f64], area: &[f64]) -> Option<usize> {
    if all_good(v) {
        return None;
    }
    let bad = |n: usize| is_bad(v[n]);
    let membrane: Vec<usize> = (0..v.len()).filter(|&n| area[n] > 0.0 && bad(n)).collect();
    let candidates = if membrane.is_empty() { (0..v.len()).filter(|&n| bad(n)).collect() } else { membrane };
    candidates
        .iter()
        .copied()
        .find(|&n| !v[n].is_finite())
        .or_else(|| candidates.iter().copied().max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs())))
}

/// One mechanism instance of the diverged cell: its mechanism, its node within the cell and its
/// states' values.
pub struct InstanceState {
    pub mechanism: u32,
    pub node: usize,
    pub states: Vec<f64>,
}

/// The report of cell `gid`, whose nodes hold `v` (with membrane `area`), stopped after step
/// `step`; `None` when no voltage of the cell is bad. `instances` are the cell's mechanism
/// instances in the engine's block and instance order.
pub fn report(
    step: u64,
    time: f64,
    gid: u32,
    v: &[f64],
    area: &[f64],
    instances: impl IntoIterator<Item = InstanceState>,
) -> Option<Blowup> {
    let node = worst_node(v, area)?;
    let mut suspects = Vec::new();
    for instance in instances.into_iter().filter(|i| i.node == node) {
        for (s, x) in instance.states.iter().enumerate() {
            let suspect = (instance.mechanism, Some(s as u32));
            if !x.is_finite() && !suspects.contains(&suspect) {
                suspects.push(suspect);
            }
        }
        if !suspects.iter().any(|(m, _)| *m == instance.mechanism) {
            suspects.push((instance.mechanism, None));
        }
    }
    Some(Blowup { step, time, gid, node, value: v[node], suspects })
}

/// The report of the first cell with a bad voltage in the plan's arrays (an engine that steps
/// them in place), after step `step`.
pub fn of_plan(p: &Plan, step: u64, time: f64) -> Option<Blowup> {
    of_plan_voltages(p, &p.nodes.v, step, time)
}

/// [`of_plan`] with the cell found among the voltages `v` (the plan's, or a copy in which
/// nodes that a step-by-step run would have found good are set to a good value).
pub fn of_plan_voltages(p: &Plan, v: &[f64], step: u64, time: f64) -> Option<Blowup> {
    let node = worst_node(v, &p.nodes.area)?;
    let gid = p.cell_offset.partition_point(|&o| o <= node) as u32 - 1;
    let first = p.cell_offset[gid as usize];
    let end = p.cell_offset.get(gid as usize + 1).copied().unwrap_or(p.nodes.v.len());
    let instances = p.blocks.iter().flat_map(|block| {
        block.node_index.iter().enumerate().filter(|(_, n)| (first..end).contains(&(**n as usize))).map(
            move |(i, n)| InstanceState {
                mechanism: block.mechanism,
                node: *n as usize - first,
                states: block.states.iter().map(|s| s[i]).collect(),
            },
        )
    });
    report(step, time, gid, &p.nodes.v[first..end], &p.nodes.area[first..end], instances)
}
