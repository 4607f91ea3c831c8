//! The intra-cell parallel Hines schedule (after DeepDendrite's DHS). The tree is cut into
//! unbranched chains (a chain starts at the root and at every child of a branch point, so a
//! chain's head hangs from the bottom node of its parent chain); one workgroup lane walks a
//! chain serially, and the chains run in rounds with a barrier after each. The elimination
//! takes, per round, the ready chains deepest first, as many as the lanes allow; the back
//! substitution runs root chain first, chain depth by chain depth.
//!
//! Walking a chain bottom-up, each node `p` gathers its children, highest index first:
//! `f = g_c / d_c; d_p -= f g_c; rhs_p += f rhs_c` — exactly the updates `p` receives in the
//! serial elimination (which walks nodes from the last to the first), in the same order, so the
//! parallel solve gives the serial solve's bits. A chain is ready when the chains hanging from
//! it are done. Chains cut the rounds from the tree's depth in nodes to its depth in branches.
//!
//! **Split chains** ([`Solve::Split`]; the partition method of Wang, 1981). A long chain keeps
//! its bottom node (the branch point its children hang from) on the chain's own path and cuts
//! the nodes above into pieces of `m`, each walked by a lane of its own. A piece eliminates its
//! nodes from its bottom up to its head as a chain does, except that its bottom couples to the
//! next piece's head `a'` (or the chain's bottom node), which it does not eliminate: each
//! eliminated node `j` passes to the node above a fill coupling to `a'` (`w_{j-1} = g_j w_j /
//! d_j`, starting from `g_{a'}`) and adds its share `w_j²/d_j`, `w_j rhs_j / d_j` to `a'` (kept
//! apart, as `a'` is another lane's). A piece depends on nothing below it, so every piece of
//! every chain runs in the first rounds. What is left of a chain is the chain of its piece
//! heads and its bottom node, coupled by the fills: when the chain is ready, one lane gathers
//! the bottom's children and eliminates that reduced system, `⌈(L-1)/m⌉` nodes instead of `L`.
//! The substitution mirrors it: per chain depth one lane solves the heads and the bottom, and
//! the pieces' nodes follow in the last rounds, `Δv_j = (rhs_j + g_j Δv_{j-1} + w_j Δv_{a'}) /
//! d_j`. The order of the arithmetic changes, so the results differ from the serial solve in
//! the last bits. `m` is chosen per tree to minimise the step-cost model ([`TreeSchedule::cost`]).

/// How a workgroup solves a cell's tree.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Solve {
    /// Long chains cut into pieces solved concurrently (where that shortens the serial path).
    #[default]
    Split,
    /// Every chain walked by one lane: the serial solve's order, and its bits.
    Chains,
}

impl std::str::FromStr for Solve {
    type Err = String;
    fn from_str(s: &str) -> Result<Solve, String> {
        match s {
            "split" => Ok(Solve::Split),
            "chains" => Ok(Solve::Chains),
            _ => Err(format!("GPU solve `{s}` is not `split` or `chains`")),
        }
    }
}

/// A barrier costs about this many dependent node updates (each a division, a multiply-add
/// and workgroup-memory traffic) in the step-cost model that picks the piece length.
pub const BARRIER_COST: u32 = 2;

/// The longest piece the schedule considers.
const MAX_PIECE: u32 = 256;

/// A lane's work in one round of the solve.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// A piece `first..last` of a split chain: eliminates nodes `last - 1` up to `first + 1`
    /// into their parents, with the fill to `last` (the next piece's head or the chain's
    /// bottom); its shares of `last` go to fill slot `slot`.
    EliminatePiece { first: u32, last: u32, slot: u32 },
    /// Chain `head..end`: its bottom piece gathers the bottom node's children and is walked up
    /// (the whole chain when `piece` covers it, else the bottom node alone), then the reduced
    /// system of its piece heads (piece `k`'s shares at fill slot `slot + k`) is eliminated.
    EliminateChain { head: u32, end: u32, piece: u32, slot: u32 },
    /// Δv of a chain's head from its parent, of its piece heads through their fills, then of
    /// its bottom piece's nodes.
    SubstituteChain { head: u32, end: u32, piece: u32 },
    /// Δv of a piece's nodes `first + 1 .. last` from the node above and from `last`.
    SubstitutePiece { first: u32, last: u32 },
}

/// The kind of a round's tasks, as the GPU code reads it.
pub const ELIMINATE_PIECE: u32 = 0;
pub const ELIMINATE_CHAIN: u32 = 1;
pub const SUBSTITUTE_CHAIN: u32 = 2;
pub const SUBSTITUTE_PIECE: u32 = 3;

/// A chain `head..end` cut into pieces of `piece` nodes: the number of pieces (the bottom node
/// alone the last) and the first node of the bottom piece.
pub fn pieces(head: u32, end: u32, piece: u32) -> (u32, u32) {
    let len = end - head;
    if piece >= len { (1, head) } else { (1 + (len - 1).div_ceil(piece), end - 1) }
}

impl Task {
    pub fn kind(&self) -> u32 {
        match self {
            Task::EliminatePiece { .. } => ELIMINATE_PIECE,
            Task::EliminateChain { .. } => ELIMINATE_CHAIN,
            Task::SubstituteChain { .. } => SUBSTITUTE_CHAIN,
            Task::SubstitutePiece { .. } => SUBSTITUTE_PIECE,
        }
    }

    /// Four words for the GPU, in the order of the fields (unused ones 0).
    pub fn words(&self) -> [u32; 4] {
        match *self {
            Task::EliminatePiece { first, last, slot } => [first, last, slot, 0],
            Task::EliminateChain { head, end, piece, slot } => [head, end, piece, slot],
            Task::SubstituteChain { head, end, piece } => [head, end, piece, 0],
            Task::SubstitutePiece { first, last } => [first, last, 0, 0],
        }
    }

    /// Dependent node updates on the task's path (`children`: of each node).
    fn depth(&self, children: impl Fn(u32) -> u32) -> u32 {
        match *self {
            Task::EliminatePiece { first, last, .. } | Task::SubstitutePiece { first, last } => last - first - 1,
            Task::EliminateChain { head, end, piece, .. } => {
                let (n, bottom) = pieces(head, end, piece);
                children(end - 1) + (end - bottom - 1) + (n - 1)
            }
            Task::SubstituteChain { head, end, piece } => {
                let (n, bottom) = pieces(head, end, piece);
                n + (end - bottom - 1)
            }
        }
    }

    /// Loop iterations of the task's walks (for llvmpipe's loop limiter).
    pub fn steps(&self) -> u32 {
        match *self {
            Task::EliminatePiece { first, last, .. } | Task::SubstitutePiece { first, last } => last - first,
            Task::EliminateChain { head, end, piece, .. } | Task::SubstituteChain { head, end, piece } => {
                let (n, bottom) = pieces(head, end, piece);
                n + (end - bottom)
            }
        }
    }
}

/// One round: its tasks (all of one kind; lane `l` takes the `l`-th), then a barrier unless
/// the next round can do without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    pub tasks: Vec<Task>,
    /// `false` when this round and the next are one task each: lane 0 runs both, and program
    /// order makes its writes visible to itself.
    pub barrier_after: bool,
}

/// Children lists, chains and the rounds of one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSchedule {
    /// CSR offsets into `children` (one more than nodes).
    pub child_start: Vec<u32>,
    /// Children of each node, ascending.
    pub children: Vec<u32>,
    /// The head of each chain, then the node count: chain `c` is the run of nodes
    /// `chain_start[c]..chain_start[c + 1]`, from its head down.
    pub chain_start: Vec<u32>,
    /// Nodes per piece of the split chains (`u32::MAX`: none split).
    pub piece: u32,
    /// The rounds of the elimination, then of the substitution.
    pub rounds: Vec<Round>,
    /// Fill slots: one per piece of a split chain.
    pub slots: u32,
}

impl TreeSchedule {
    /// Dependent node updates on the solve's longest path: each round's longest task, summed.
    pub fn serial_depth(&self) -> u32 {
        let children = |j: u32| self.child_start[j as usize + 1] - self.child_start[j as usize];
        self.rounds.iter().map(|r| r.tasks.iter().map(|t| t.depth(children)).max().unwrap_or(0)).sum()
    }

    /// Barriers of the rounds (the solve adds one after assembly).
    pub fn barriers(&self) -> u32 {
        self.rounds.iter().filter(|r| r.barrier_after).count() as u32
    }

    /// The step-cost model of the solve: its serial depth, and [`BARRIER_COST`] per barrier.
    pub fn cost(&self) -> u32 {
        self.serial_depth() + BARRIER_COST * self.barriers()
    }

    /// Some chain is cut into pieces.
    pub fn split(&self) -> bool {
        self.slots > 0
    }
}

/// The chains of a tree: runs of consecutive nodes along only children.
struct Chains {
    /// Each chain's head, then the node count.
    start: Vec<u32>,
    /// The chain of each chain's head's parent.
    parent: Vec<Option<u32>>,
    /// Depth in nodes of each chain's head.
    head_depth: Vec<u32>,
    /// The chain has a node with children (so it is eliminated).
    inner: Vec<bool>,
}

impl Chains {
    fn nodes(&self, c: usize) -> std::ops::Range<u32> {
        self.start[c]..self.start[c + 1]
    }
}

/// `parent[j] < j` for every non-root node (the engine's topological order); `None` marks a
/// root. `k` is the most lanes a round may take (the workgroup size). With [`Solve::Split`]
/// the piece length is the one of least [`TreeSchedule::cost`] (whole chains if none beats
/// them).
pub fn schedule(parent: &[Option<u32>], k: usize, solve: Solve) -> TreeSchedule {
    let k = k.max(1) as u32;
    let (child_start, children) = children_of(parent);
    let chains = chains_of(parent, &child_start);
    let whole = build(child_start.clone(), children.clone(), &chains, u32::MAX, k);
    if solve == Solve::Chains {
        return whole;
    }
    // Pieces longer than a few hundred nodes would leave a long path anyway: the search stays
    // short for cells of very long chains.
    let longest = (0..chains.parent.len()).map(|c| chains.nodes(c).len() as u32).max().unwrap_or(0);
    (1..longest.min(MAX_PIECE))
        .map(|m| build(child_start.clone(), children.clone(), &chains, m, k))
        .fold(whole, |best, s| if s.cost() < best.cost() { s } else { best })
}

/// The schedule with pieces of `piece` nodes (chains longer than `piece + 1` are split).
fn build(child_start: Vec<u32>, children: Vec<u32>, chains: &Chains, piece: u32, k: u32) -> TreeSchedule {
    let n = chains.parent.len();
    let cut = Cut { chains, piece, slot: slots_of(chains, piece) };
    let mut rounds = cut.elimination(k);
    rounds.extend(cut.substitution(k));
    for r in 0..rounds.len() {
        let single = |r: usize| rounds.get(r).is_some_and(|x: &Round| x.tasks.len() == 1);
        rounds[r].barrier_after = !(single(r) && single(r + 1));
    }
    let slots = (0..n).map(|c| cut.count(c) - 1).sum();
    TreeSchedule { child_start, children, chain_start: chains.start.clone(), piece, rounds, slots }
}

/// The first fill slot of each chain's pieces.
fn slots_of(chains: &Chains, piece: u32) -> Vec<u32> {
    let mut next = 0;
    (0..chains.parent.len())
        .map(|c| {
            let nodes = chains.nodes(c);
            let first = next;
            next += pieces(nodes.start, nodes.end, piece).0 - 1;
            first
        })
        .collect()
}

/// The children of each node as CSR: offsets, then the children ascending.
fn children_of(parent: &[Option<u32>]) -> (Vec<u32>, Vec<u32>) {
    let n = parent.len();
    let mut count = vec![0u32; n];
    for p in parent.iter().flatten() {
        count[*p as usize] += 1;
    }
    let mut child_start = Vec::with_capacity(n + 1);
    let mut acc = 0u32;
    for c in &count {
        child_start.push(acc);
        acc += c;
    }
    child_start.push(acc);
    let mut children = vec![0u32; acc as usize];
    let mut fill = child_start.clone();
    for (j, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            children[fill[*p as usize] as usize] = j as u32;
            fill[*p as usize] += 1;
        }
    }
    (child_start, children)
}

/// A node continues its parent's chain when it is the parent's only child and the next node.
/// So the chains are the runs of consecutive nodes they cut 0..n into, which the GPU walks
/// without reading a node list.
fn chains_of(parent: &[Option<u32>], child_start: &[u32]) -> Chains {
    let n = parent.len();
    let count = |j: usize| child_start[j + 1] - child_start[j];
    let mut chain_of = vec![0u32; n];
    let mut start: Vec<u32> = Vec::new();
    let mut chain_parent: Vec<Option<u32>> = Vec::new();
    let mut depth = vec![0u32; n];
    for j in 0..n {
        match parent[j] {
            Some(p) if count(p as usize) == 1 && p as usize + 1 == j => chain_of[j] = chain_of[p as usize],
            p => {
                chain_of[j] = start.len() as u32;
                start.push(j as u32);
                chain_parent.push(p.map(|p| chain_of[p as usize]));
            }
        }
        if let Some(p) = parent[j] {
            depth[j] = depth[p as usize] + 1;
        }
    }
    let head_depth = start.iter().map(|&h| depth[h as usize]).collect();
    start.push(n as u32);
    let inner = (0..chain_parent.len()).map(|c| (start[c]..start[c + 1]).any(|j| count(j as usize) > 0)).collect();
    Chains { start, parent: chain_parent, head_depth, inner }
}

/// The chains cut into pieces of `piece` nodes, with their fill slots: the rounds.
struct Cut<'a> {
    chains: &'a Chains,
    piece: u32,
    slot: Vec<u32>,
}

impl Cut<'_> {
    fn count(&self, c: usize) -> u32 {
        let nodes = self.chains.nodes(c);
        pieces(nodes.start, nodes.end, self.piece).0
    }

    /// The pieces above the bottom of every split chain: (first, last, fill slot).
    fn pieces(&self) -> Vec<(u32, u32, u32)> {
        let mut all = Vec::new();
        for c in 0..self.chains.parent.len() {
            let nodes = self.chains.nodes(c);
            let bottom = pieces(nodes.start, nodes.end, self.piece).1;
            let starts = (nodes.start..bottom).step_by(self.piece.max(1) as usize);
            all.extend(
                starts.enumerate().map(|(i, first)| (first, (first + self.piece).min(bottom), self.slot[c] + i as u32)),
            );
        }
        all
    }

    /// Every piece first (they depend on nothing below them), as many rounds as `k` lanes
    /// need; then rounds of ready chains, deepest head first (ties: highest index first, so
    /// the order is fixed), at most `k` a round.
    fn elimination(&self, k: u32) -> Vec<Round> {
        let chains = self.chains;
        let mut rounds: Vec<Round> = self
            .pieces()
            .chunks(k as usize)
            .map(|p| Round {
                tasks: p.iter().map(|&(first, last, slot)| Task::EliminatePiece { first, last, slot }).collect(),
                barrier_after: true,
            })
            .collect();
        let n = chains.parent.len();
        let mut pending = vec![0u32; n];
        for (c, pc) in chains.parent.iter().enumerate() {
            if let Some(pc) = pc
                && chains.inner[c]
            {
                pending[*pc as usize] += 1;
            }
        }
        let mut ready: std::collections::BinaryHeap<(u32, u32)> =
            (0..n).filter(|&c| chains.inner[c] && pending[c] == 0).map(|c| (chains.head_depth[c], c as u32)).collect();
        while !ready.is_empty() {
            let taken: Vec<usize> = (0..k).map_while(|_| ready.pop()).map(|(_, c)| c as usize).collect();
            let tasks = taken.iter().map(|&c| {
                let nodes = chains.nodes(c);
                Task::EliminateChain { head: nodes.start, end: nodes.end, piece: self.piece, slot: self.slot[c] }
            });
            rounds.push(Round { tasks: tasks.collect(), barrier_after: true });
            for &c in &taken {
                if let Some(pc) = chains.parent[c] {
                    pending[pc as usize] -= 1;
                    if pending[pc as usize] == 0 {
                        ready.push((chains.head_depth[pc as usize], pc));
                    }
                }
            }
        }
        rounds
    }

    /// Rounds of chains level by level from the root chain, at most `k` a round (each solves
    /// its head, piece heads and bottom piece); then every piece, as many rounds as `k` lanes
    /// need.
    fn substitution(&self, k: u32) -> Vec<Round> {
        let chains = self.chains;
        let n = chains.parent.len();
        let mut level = vec![0usize; n];
        for c in 0..n {
            if let Some(pc) = chains.parent[c] {
                level[c] = level[pc as usize] + 1;
            }
        }
        let levels = level.iter().max().map_or(0, |l| l + 1);
        let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); levels];
        for c in 0..n {
            by_level[level[c]].push(c);
        }
        let chain_task = |&c: &usize| {
            let nodes = chains.nodes(c);
            Task::SubstituteChain { head: nodes.start, end: nodes.end, piece: self.piece }
        };
        let mut rounds: Vec<Round> = by_level
            .iter()
            .flat_map(|l| {
                l.chunks(k as usize).map(|r| Round { tasks: r.iter().map(chain_task).collect(), barrier_after: true })
            })
            .collect();
        rounds.extend(self.pieces().chunks(k as usize).map(|p| Round {
            tasks: p.iter().map(|&(first, last, _)| Task::SubstitutePiece { first, last }).collect(),
            barrier_after: true,
        }));
        rounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the invariants of a schedule: chains partition the nodes top-down along single
    /// children; every chain with an inner node is eliminated once, after the chains hanging
    /// from it; every chain is substituted once, after its parent chain; rounds are at most k.
    fn check(parent: &[Option<u32>], k: usize) -> Checked {
        let s = schedule(parent, k, Solve::Chains);
        let (elimination, substitution) = chain_rounds(&s);
        let n = parent.len();
        let kids = |j: usize| &s.children[s.child_start[j] as usize..s.child_start[j + 1] as usize];
        let nchains = s.chain_start.len() - 1;
        assert!(s.chain_start.windows(2).all(|w| w[0] < w[1]) && s.chain_start.last() == Some(&(n as u32)));
        let chain = |c: usize| (s.chain_start[c]..s.chain_start[c + 1]).collect::<Vec<u32>>();
        let mut chain_of = vec![usize::MAX; n];
        for c in 0..nchains {
            for (i, &j) in chain(c).iter().enumerate() {
                chain_of[j as usize] = c;
                if i > 0 {
                    let p = chain(c)[i - 1];
                    assert_eq!(parent[j as usize], Some(p));
                    assert_eq!(kids(p as usize), &[j], "a chain continues through an only child");
                }
            }
        }
        // A chain ends where the next node does not continue it (maximal runs).
        for c in 1..nchains {
            let (head, before) = (s.chain_start[c], s.chain_start[c] - 1);
            assert!(parent[head as usize] != Some(before) || kids(before as usize).len() > 1, "chain {c} could go on");
        }
        let parent_chain = |c: usize| parent[chain(c)[0] as usize].map(|p| chain_of[p as usize]);
        let inner = |c: usize| chain(c).iter().any(|&j| !kids(j as usize).is_empty());
        let mut round_of = vec![usize::MAX; nchains];
        for (r, round) in elimination.iter().enumerate() {
            assert!(!round.is_empty() && round.len() <= k);
            for &c in round {
                assert_eq!(round_of[c as usize], usize::MAX, "chain {c} twice");
                round_of[c as usize] = r;
            }
        }
        for c in 0..nchains {
            assert_eq!(inner(c), round_of[c] != usize::MAX, "chain {c}: eliminated iff it has an inner node");
            if let Some(pc) = parent_chain(c)
                && inner(c)
            {
                assert!(round_of[c] < round_of[pc]);
            }
        }
        let mut sub_of = vec![usize::MAX; nchains];
        for (r, round) in substitution.iter().enumerate() {
            assert!(!round.is_empty() && round.len() <= k);
            for &c in round {
                assert_eq!(sub_of[c as usize], usize::MAX);
                sub_of[c as usize] = r;
            }
        }
        for c in 0..nchains {
            assert_ne!(sub_of[c], usize::MAX);
            if let Some(pc) = parent_chain(c) {
                assert!(sub_of[pc] < sub_of[c]);
            }
        }
        for j in 0..n {
            assert!(kids(j).windows(2).all(|w| w[0] < w[1]));
        }
        Checked { chain_start: s.chain_start, elimination, substitution }
    }

    /// A schedule of whole chains as chain indices: (elimination rounds, substitution rounds).
    struct Checked {
        chain_start: Vec<u32>,
        elimination: Vec<Vec<u32>>,
        substitution: Vec<Vec<u32>>,
    }

    fn chain_rounds(s: &TreeSchedule) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let chain = |first: u32| s.chain_start.binary_search(&first).expect("a whole chain") as u32;
        let (mut elimination, mut substitution) = (Vec::new(), Vec::new());
        for round in &s.rounds {
            let chains: Vec<u32> = round.tasks.iter().map(|t| chain(t.words()[0])).collect();
            match round.tasks[0] {
                Task::EliminateChain { .. } => elimination.push(chains),
                _ => substitution.push(chains),
            }
        }
        (elimination, substitution)
    }

    #[test]
    fn a_cable_is_one_chain() {
        let parent: Vec<Option<u32>> = (0..5).map(|j| if j == 0 { None } else { Some(j - 1) }).collect();
        let s = check(&parent, 8);
        assert_eq!(s.chain_start, vec![0, 5]);
        assert_eq!((s.elimination.len(), s.substitution.len()), (1, 1));
    }

    #[test]
    fn binary_tree_rounds_follow_the_branch_depth_and_respect_k() {
        // A full binary tree of 63 nodes in breadth-first order: every node is its own chain,
        // 31 with children, 6 levels.
        let parent: Vec<Option<u32>> = (0..63u32).map(|j| if j == 0 { None } else { Some((j - 1) / 2) }).collect();
        let s = check(&parent, 64);
        assert_eq!(s.elimination.iter().map(Vec::len).collect::<Vec<_>>(), vec![16, 8, 4, 2, 1]);
        assert_eq!(s.substitution.len(), 6);
        let s = check(&parent, 4);
        assert!(s.elimination.len() >= 8);
        assert_eq!(s.elimination.iter().map(Vec::len).sum::<usize>(), 31);
    }

    #[test]
    fn branches_of_a_dendrite_become_chains() {
        // Soma 0; a 3-node branch 1-2-3 forks at 3 into 4-5 and 6-7.
        let parent = [None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(3), Some(6)];
        let s = check(&parent, 8);
        assert_eq!(s.chain_start, vec![0, 4, 6, 8]);
        assert_eq!(s.elimination, vec![vec![2, 1], vec![0]]);
        assert_eq!(s.substitution, vec![vec![0], vec![1, 2]]);
    }

    #[test]
    fn deepest_ready_chains_go_first() {
        // Root 0 forks into 1-2 and 6-7; 2 forks into 3-4 and the leaf 5. Chains: [0], [1, 2],
        // [3, 4], [5], [6, 7]. With one chain per round, [3, 4] (head at depth 3) goes before
        // [6, 7] (depth 1), although both are ready at the start.
        let parent = [None, Some(0), Some(1), Some(2), Some(3), Some(2), Some(0), Some(6)];
        let s = check(&parent, 1);
        assert_eq!(s.chain_start, vec![0, 1, 3, 5, 6, 8]);
        assert_eq!(s.elimination, vec![vec![2], vec![4], vec![1], vec![0]]);
    }

    #[test]
    fn chains_break_where_numbering_jumps() {
        // 0 - 1 - 3 - 4 with 2 hanging from 0: node 3's parent 1 has one child, but 3 is not 2.
        let parent = [None, Some(0), Some(0), Some(1), Some(3)];
        let s = check(&parent, 4);
        assert_eq!(s.chain_start, vec![0, 1, 2, 3, 5]);
        // Chain [1] waits for chain [3, 4] below it.
        assert_eq!(s.elimination, vec![vec![3], vec![1], vec![0]]);
    }

    #[test]
    fn forests_and_single_nodes() {
        let s = check(&[None], 4);
        assert!(s.elimination.is_empty());
        assert_eq!(s.substitution, vec![vec![0]]);
        check(&[None, Some(0), None, Some(2), Some(2)], 2);
    }

    /// A tree's system: parents, axial conductances, diagonal and rhs, diagonally dominant as
    /// the cable's (C/dt plus the conductances of every edge at the node).
    struct System {
        parent: Vec<Option<u32>>,
        g: Vec<f64>,
        d: Vec<f64>,
        r: Vec<f64>,
    }

    fn system(parent: Vec<Option<u32>>, seed: u64) -> System {
        let mut rng = crate::plan::events::Rng::new(seed);
        let n = parent.len();
        let g: Vec<f64> = (0..n).map(|_| 0.5 + 4.0 * rng.uniform()).collect();
        let mut d: Vec<f64> = (0..n).map(|_| 0.01 + 0.2 * rng.uniform()).collect();
        for (j, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                d[j] += g[j];
                d[*p as usize] += g[j];
            }
        }
        let r = (0..n).map(|_| rng.uniform() - 0.5).collect();
        System { parent, g, d, r }
    }

    /// `plan::solve`'s elimination and substitution: Δv.
    fn serial(sys: &System) -> Vec<f64> {
        let (mut d, mut r) = (sys.d.clone(), sys.r.clone());
        for i in (0..d.len()).rev() {
            if let Some(p) = sys.parent[i] {
                let f = sys.g[i] / d[i];
                d[p as usize] -= f * sys.g[i];
                r[p as usize] += f * r[i];
            }
        }
        for i in 0..d.len() {
            r[i] = match sys.parent[i] {
                Some(p) => (r[i] + sys.g[i] * r[p as usize]) / d[i],
                None => r[i] / d[i],
            };
        }
        r
    }

    /// The schedule's tasks as the GPU runs them (`codegen::workgroup`), a round's tasks in
    /// reverse order (they must not depend on each other): Δv.
    fn emulate(s: &TreeSchedule, sys: &System) -> Vec<f64> {
        let n = sys.d.len();
        let mut e =
            Emulator { s, sys, d: sys.d.clone(), r: sys.r.clone(), fill: vec![f64::NAN; n + 2 * s.slots as usize] };
        for round in &s.rounds {
            for task in round.tasks.iter().rev() {
                e.run(*task);
            }
        }
        e.r
    }

    struct Emulator<'a> {
        s: &'a TreeSchedule,
        sys: &'a System,
        d: Vec<f64>,
        r: Vec<f64>,
        fill: Vec<f64>,
    }

    impl Emulator<'_> {
        fn low(&self, slot: u32) -> usize {
            self.sys.d.len() + 2 * slot as usize
        }

        fn run(&mut self, task: Task) {
            match task {
                Task::EliminatePiece { first, last, slot } => self.eliminate(first, last, Some(slot)),
                Task::EliminateChain { head, end, piece, slot } => {
                    let (n, bottom) = pieces(head, end, piece);
                    self.eliminate(bottom, end, None);
                    // The reduced system: the bottom node (the last head) and the piece heads.
                    let a = |k: u32| if k + 1 == n { end as usize - 1 } else { (head + k * piece) as usize };
                    for k in (0..n).rev() {
                        if k + 1 < n {
                            let w = self.fill[a(k)];
                            let f = w / self.d[a(k + 1)];
                            self.d[a(k)] -= f * w;
                            self.r[a(k)] += f * self.r[a(k + 1)];
                        }
                        if k > 0 {
                            let at = self.low(slot + k - 1);
                            self.d[a(k)] += self.fill[at];
                            self.r[a(k)] += self.fill[at + 1];
                        }
                    }
                }
                Task::SubstituteChain { head, end, piece } => {
                    let (n, bottom) = pieces(head, end, piece);
                    self.head_from_parent(head as usize);
                    let mut above = head as usize;
                    for k in 1..n {
                        let a = if k + 1 == n { end as usize - 1 } else { (head + k * piece) as usize };
                        self.r[a] = (self.r[a] + self.fill[above] * self.r[above]) / self.d[a];
                        above = a;
                    }
                    self.substitute(bottom, end, None);
                }
                Task::SubstitutePiece { first, last } => self.substitute(first, last, Some(last)),
            }
        }

        /// Nodes `last - 1 .. first + 1` into their parents: from the bottom's children, or
        /// with the fill to `last` when the piece has a fill slot.
        fn eliminate(&mut self, first: u32, last: u32, slot: Option<u32>) {
            let g = &self.sys.g;
            let b = (last - 1) as usize;
            let mut w = slot.map_or(0.0, |_| g[last as usize]);
            if slot.is_none() {
                let kids = &self.s.children[self.s.child_start[b] as usize..self.s.child_start[b + 1] as usize];
                for &c in kids.iter().rev() {
                    let f = g[c as usize] / self.d[c as usize];
                    self.d[b] -= f * g[c as usize];
                    self.r[b] += f * self.r[c as usize];
                }
            }
            let (mut low_d, mut low_r) = (0.0, 0.0);
            for j in (first as usize + 1..=b).rev() {
                self.fill[j] = w;
                let (dj, rj) = (self.d[j], self.r[j]);
                // A piece multiplies by one reciprocal; a whole chain divides as the serial
                // solve.
                let inv = 1.0 / dj;
                let f = if slot.is_some() { g[j] * inv } else { g[j] / dj };
                self.d[j - 1] -= f * g[j];
                self.r[j - 1] += f * rj;
                let fl = w * inv;
                low_d -= fl * w;
                low_r += fl * rj;
                w *= f;
            }
            if let Some(slot) = slot {
                self.fill[first as usize] = w;
                let at = self.low(slot);
                (self.fill[at], self.fill[at + 1]) = (low_d, low_r);
            }
        }

        /// Δv of nodes `first + 1 .. last` from the one above, and through the fill from
        /// `below`.
        fn substitute(&mut self, first: u32, last: u32, below: Option<u32>) {
            let g = &self.sys.g;
            for (j, gj) in g.iter().enumerate().take(last as usize).skip(first as usize + 1) {
                let mut num = self.r[j] + gj * self.r[j - 1];
                if let Some(b) = below {
                    num += self.fill[j] * self.r[b as usize];
                }
                self.r[j] = num / self.d[j];
            }
        }

        fn head_from_parent(&mut self, j: usize) {
            let coupled = self.sys.parent[j].map_or(0.0, |p| self.sys.g[j] * self.r[p as usize]);
            self.r[j] = if self.sys.parent[j].is_some() { self.r[j] + coupled } else { self.r[j] } / self.d[j];
        }
    }

    fn cable(n: u32) -> Vec<Option<u32>> {
        (0..n).map(|j| j.checked_sub(1)).collect()
    }

    /// A root chain of `a` nodes forking into chains of `b` and `c` nodes.
    fn y_tree(a: u32, b: u32, c: u32) -> Vec<Option<u32>> {
        let mut parent = cable(a);
        parent.extend((0..b).map(|i| Some(if i == 0 { a - 1 } else { a + i - 1 })));
        parent.extend((0..c).map(|i| Some(if i == 0 { a - 1 } else { a + b + i - 1 })));
        parent
    }

    /// The big cell's shape: a soma and a binary tree of 7 levels of `len`-node branches.
    fn binary_tree(len: u32) -> Vec<Option<u32>> {
        let mut parent = vec![None];
        let mut ends = vec![0u32];
        for _ in 0..7 {
            let mut next = Vec::new();
            for &e in &ends {
                for _ in 0..2 {
                    let head = parent.len() as u32;
                    parent.extend((0..len).map(|i| Some(if i == 0 { e } else { head + i - 1 })));
                    next.push(head + len - 1);
                }
            }
            ends = next;
        }
        parent
    }

    /// A forest of `n` nodes: mostly runs of nodes (long chains), branching to any earlier
    /// node now and then (numbering jumps included), a new root rarely.
    fn random_tree(n: u32, seed: u64) -> Vec<Option<u32>> {
        let mut rng = crate::plan::events::Rng::new(seed);
        (0..n)
            .map(|j| match rng.uniform() {
                _ if j == 0 => None,
                u if u < 0.01 => None,
                u if u < 0.1 => Some((rng.uniform() * f64::from(j)) as u32),
                _ => Some(j - 1),
            })
            .collect()
    }

    #[test]
    fn split_chains_solve_the_serial_system() {
        let trees = [
            cable(200),
            y_tree(60, 150, 7),
            binary_tree(17),
            y_tree(3, 40, 40),
            cable(1),
            cable(9),
            random_tree(300, 7),
            random_tree(500, 8),
        ];
        for (i, parent) in trees.into_iter().enumerate() {
            let sys = system(parent, i as u64 + 1);
            let reference = serial(&sys);
            for k in [1, 4, 32, 512] {
                let chains = schedule(&sys.parent, k, Solve::Chains);
                assert_eq!(emulate(&chains, &sys), reference, "tree {i}, {k} lanes: whole chains give the serial bits");
                let split = schedule(&sys.parent, k, Solve::Split);
                let got = emulate(&split, &sys);
                let worst =
                    got.iter().zip(&reference).map(|(a, b)| (a - b).abs() / b.abs().max(1e-3)).fold(0.0, f64::max);
                assert!(worst <= 1e-12, "tree {i}, {k} lanes: {worst:e}");
                for round in &split.rounds {
                    let lanes = round.tasks.len();
                    assert!(lanes <= k.max(1), "tree {i}: {lanes} tasks in a round of {k} lanes");
                }
            }
        }
    }

    /// (kind, tasks) of each round.
    fn shape(s: &TreeSchedule) -> Vec<(u32, usize)> {
        s.rounds.iter().map(|r| (r.tasks[0].kind(), r.tasks.len())).collect()
    }

    #[test]
    fn the_piece_length_is_the_cheapest() {
        for parent in [cable(100), y_tree(30, 40, 5), binary_tree(17), y_tree(60, 150, 7)] {
            let best = schedule(&parent, 64, Solve::Split);
            let (child_start, children) = children_of(&parent);
            let chains = chains_of(&parent, &child_start);
            for m in 1..200 {
                let other = build(child_start.clone(), children.clone(), &chains, m, 64);
                assert!(best.cost() <= other.cost(), "pieces of {m}: {} < {}", other.cost(), best.cost());
            }
            assert!(best.cost() < schedule(&parent, 64, Solve::Chains).cost());
        }
    }

    #[test]
    fn cost_of_a_chain() {
        // 100 nodes, whole: 99 eliminations and 100 substitutions, on lane 0 throughout, so
        // only the last round ends in a barrier.
        let chains = schedule(&cable(100), 64, Solve::Chains);
        assert_eq!((chains.serial_depth(), chains.barriers()), (199, 1));
        // Split: the 99 nodes above the bottom in 11 pieces of 9. Eliminate the pieces (8
        // each), then the reduced chain of 12 (11); substitute it (12), then the pieces (8).
        // 2 (m - 1) + 2 ⌈99/m⌉ + 1 is least, 39, for m = 9, 10, 11; the first is kept.
        let split = schedule(&cable(100), 64, Solve::Split);
        assert_eq!(split.piece, 9);
        let kinds = [(ELIMINATE_PIECE, 11), (ELIMINATE_CHAIN, 1), (SUBSTITUTE_CHAIN, 1), (SUBSTITUTE_PIECE, 11)];
        assert_eq!(shape(&split), kinds);
        // Barriers after the pieces' rounds and after the reduced chain's substitution (lane
        // 0 eliminates and substitutes it one after the other).
        assert_eq!((split.serial_depth(), split.barriers()), (8 + 11 + 12 + 8, 3));
    }

    #[test]
    fn cost_of_a_y_tree() {
        // A root chain of 30 nodes forking into 40 and 5: eliminate both daughters (39 and 4,
        // one round: 39), the root chain (29 and its 2 children: 31); substitute the root
        // chain (30), then both daughters (40 and 5: 40).
        let parent = y_tree(30, 40, 5);
        let chains = schedule(&parent, 64, Solve::Chains);
        assert_eq!(chains.serial_depth(), 39 + 31 + 30 + 40);
        // Barriers: after the daughters, (not between the root chain's two rounds,) after the
        // root chain's substitution and after the daughters'.
        assert_eq!(chains.barriers(), 3);
        // Split into pieces of 8: the root chain's 29 nodes above its bottom in 4 pieces, the
        // long daughter's 39 in 5; the short daughter stays whole.
        let split = schedule(&parent, 64, Solve::Split);
        assert_eq!(split.piece, 8);
        let kinds = [
            (ELIMINATE_PIECE, 9),
            (ELIMINATE_CHAIN, 2),
            (ELIMINATE_CHAIN, 1),
            (SUBSTITUTE_CHAIN, 1),
            (SUBSTITUTE_CHAIN, 2),
            (SUBSTITUTE_PIECE, 9),
        ];
        assert_eq!(shape(&split), kinds);
        // Pieces 7; the daughters 5 (the long one's 6 heads) and 4; the root chain's bottom
        // gathers 2, then 4 heads; substitute the root chain's 5 heads, the daughters' 6 and 5
        // (whole); the pieces 7.
        assert_eq!(split.serial_depth(), 7 + 5 + (2 + 4) + 5 + 6 + 7);
        assert_eq!(split.barriers(), 5);
    }
}
