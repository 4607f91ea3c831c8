//! The barriers of a workgroup's step. Lanes share the cell's node data (v, the solve's
//! diagonal and rhs, the ion values): a barrier is needed only before work that touches a node
//! which another lane touched since the last barrier. Every stage touches nodes in a known way
//! (a node pass: node `j` on lane `j % size`; a block: instance `k`'s node on lane `k % size`,
//! or all on lane 0; detection: the detector's node on lane 0), so the code emits a barrier
//! exactly where one is needed: two blocks inserted on the same nodes, or on disjoint ones, run
//! without one between them. Work that reads anything (the probes) waits for everything.
//!
//! Per-instance data (states, stored values) is touched only by its block's kernels, instance
//! `k` always on the same lane; event kernels (lane 0) are followed by a barrier. `v` is
//! written only by the solve's `v += Δv` and read at other nodes only by the assembly, after
//! the barrier that ends every step.
//!
//! The barriers are counted per stage as they are emitted (`StepBarriers`), for the step-cost
//! model: the count is the code's, not an estimate of it.

use super::Cx;
use crate::gpu::builder::Fb;
use crate::gpu::layout::BlockLayout;

/// What a piece of work touches.
pub(super) enum Work<'a> {
    /// Every node, node `j` on lane `j % size`.
    Nodes,
    /// The nodes of a block's instances.
    Block(&'a BlockLayout),
    /// One node, on lane 0.
    FirstLane(u32),
}

/// Barriers of one step, by stage (as the code runs them: a round of the solve counts each
/// time it runs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepBarriers {
    pub stages: Vec<(&'static str, u32)>,
}

impl StepBarriers {
    pub fn total(&self) -> u32 {
        self.stages.iter().map(|(_, n)| n).sum()
    }

    pub(super) fn add_all(&mut self, other: &StepBarriers) {
        for &(stage, n) in &other.stages {
            self.add(stage, n);
        }
    }

    fn add(&mut self, stage: &'static str, n: u32) {
        match self.stages.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, count)) => *count += n,
            None => self.stages.push((stage, n)),
        }
    }
}

/// The lanes that touched each node since the last barrier, and the barriers so far.
pub(super) struct Sync {
    /// The lane that touched each node since the last barrier.
    owner: Vec<Option<u32>>,
    /// Something was touched since the last barrier.
    dirty: bool,
    /// The stage being emitted inside the step loop; barriers elsewhere are not counted.
    pub(super) stage: Option<&'static str>,
    pub(super) counted: StepBarriers,
}

impl Sync {
    pub(super) fn new(nnodes: u32) -> Sync {
        Sync { owner: vec![None; nnodes as usize], dirty: false, stage: None, counted: StepBarriers::default() }
    }

    /// A barrier that runs `times` per step was emitted: nothing is pending.
    pub(super) fn passed(&mut self, times: u32) {
        self.owner.fill(None);
        self.dirty = false;
        if let Some(stage) = self.stage {
            self.counted.add(stage, times);
        }
    }
}

/// (node, lane) of each node a piece of work touches.
fn touches<'a>(work: &'a Work, nnodes: u32, size: u32) -> Box<dyn Iterator<Item = (u32, u32)> + 'a> {
    match work {
        Work::Nodes => Box::new((0..nnodes).map(move |j| (j, j % size))),
        Work::Block(b) if b.group.is_some() || b.per_cell == 1 || b.shares_nodes => {
            Box::new(b.nodes.iter().map(|&n| (n, 0)))
        }
        Work::Block(b) => Box::new(b.nodes.iter().enumerate().map(move |(k, &n)| (n, k as u32 % size))),
        Work::FirstLane(n) => Box::new(std::iter::once((*n, 0))),
    }
}

impl Cx<'_> {
    /// Before `work`: a barrier if it touches a node another lane touched since the last one.
    pub(super) fn sync_for(&self, fb: &mut Fb, work: Work) {
        let Some(lane) = self.lane else { return };
        let conflict = {
            let sync = self.sync.borrow();
            touches(&work, self.ty.nnodes, lane.size).any(|(n, l)| sync.owner[n as usize].is_some_and(|o| o != l))
        };
        if conflict {
            self.barrier(fb);
        }
        let mut sync = self.sync.borrow_mut();
        for (n, l) in touches(&work, self.ty.nnodes, lane.size) {
            sync.owner[n as usize] = Some(l);
        }
        sync.dirty = true;
    }

    /// Before work that reads any node or instance: a barrier if anything was touched since
    /// the last one.
    pub(super) fn sync_all(&self, fb: &mut Fb) {
        if self.lane.is_some() && self.sync.borrow().dirty {
            self.barrier(fb);
        }
    }

    /// The stage whose barriers are being emitted (`None`: outside the step loop).
    pub(super) fn count_as(&self, stage: Option<&'static str>) {
        self.sync.borrow_mut().stage = stage;
    }
}
