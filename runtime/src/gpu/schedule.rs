//! The intra-cell parallel Hines schedule (after DeepDendrite's DHS). The tree is cut into
//! unbranched chains (a chain starts at the root and at every child of a branch point); one
//! workgroup lane walks a chain serially, and the chains run in rounds with a barrier after
//! each. The elimination takes, per round, at most `k` of the ready chains, deepest first; the
//! back substitution runs root chain first, chain depth by chain depth.
//!
//! Walking a chain bottom-up, each node `p` gathers its children, highest index first:
//! `f = g_c / d_c; d_p -= f g_c; rhs_p += f rhs_c` — exactly the updates `p` receives in the
//! serial elimination (which walks nodes from the last to the first), in the same order, so the
//! parallel solve gives the serial solve's bits. A chain is ready when the chains hanging from
//! it are done. Chains cut the rounds from the tree's depth in nodes to its depth in branches.

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
    /// Elimination rounds of chains: chains with a node that has children, each round after
    /// the rounds of the chains hanging from it.
    pub elimination: Vec<Vec<u32>>,
    /// Substitution rounds of chains: every chain, each round after its parent chain's round.
    pub substitution: Vec<Vec<u32>>,
}

/// `parent[j] < j` for every non-root node (the engine's topological order); `None` marks a
/// root. `k` is the most chains a round may take (the workgroup size).
pub fn schedule(parent: &[Option<u32>], k: usize) -> TreeSchedule {
    let n = parent.len();
    let k = k.max(1);
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
    // Chains: a node continues its parent's chain when it is the parent's only child and the
    // previous node. So the chains are the runs of consecutive nodes they cut 0..n into, which
    // the GPU walks without reading a node list.
    let mut chain_of = vec![0u32; n];
    let mut chain_start: Vec<u32> = Vec::new();
    let mut chain_parent: Vec<Option<u32>> = Vec::new();
    let mut depth = vec![0u32; n];
    for j in 0..n {
        match parent[j] {
            Some(p) if count[p as usize] == 1 && p as usize + 1 == j => chain_of[j] = chain_of[p as usize],
            p => {
                chain_of[j] = chain_start.len() as u32;
                chain_start.push(j as u32);
                chain_parent.push(p.map(|p| chain_of[p as usize]));
            }
        }
        if let Some(p) = parent[j] {
            depth[j] = depth[p as usize] + 1;
        }
    }
    let nchains = chain_start.len();
    chain_start.push(n as u32);
    let chain = |c: usize| chain_start[c] as usize..chain_start[c + 1] as usize;
    let has_inner = |c: usize| chain(c).any(|j| count[j] > 0);
    // Chains hanging from each chain that still need their elimination.
    let mut pending = vec![0u32; nchains];
    for (c, pc) in chain_parent.iter().enumerate() {
        if let Some(pc) = pc
            && has_inner(c)
        {
            pending[*pc as usize] += 1;
        }
    }
    // Ready chains, deepest head first (ties: highest index first, so the order is fixed).
    let head_depth = |c: usize| depth[chain_start[c] as usize];
    let mut ready: std::collections::BinaryHeap<(u32, u32)> =
        (0..nchains).filter(|&c| has_inner(c) && pending[c] == 0).map(|c| (head_depth(c), c as u32)).collect();
    let mut elimination = Vec::new();
    while !ready.is_empty() {
        let round: Vec<u32> = (0..k).map_while(|_| ready.pop()).map(|(_, c)| c).collect();
        for &c in &round {
            if let Some(pc) = chain_parent[c as usize] {
                pending[pc as usize] -= 1;
                if pending[pc as usize] == 0 {
                    ready.push((head_depth(pc as usize), pc));
                }
            }
        }
        elimination.push(round);
    }
    let mut level = vec![0usize; nchains];
    for c in 0..nchains {
        if let Some(pc) = chain_parent[c] {
            level[c] = level[pc as usize] + 1;
        }
    }
    let levels = level.iter().max().map_or(0, |l| l + 1);
    let mut by_level: Vec<Vec<u32>> = vec![Vec::new(); levels];
    for c in 0..nchains {
        by_level[level[c]].push(c as u32);
    }
    let substitution = by_level.iter().flat_map(|l| l.chunks(k).map(<[u32]>::to_vec)).collect();
    TreeSchedule { child_start, children, chain_start, elimination, substitution }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the invariants of a schedule: chains partition the nodes top-down along single
    /// children; every chain with an inner node is eliminated once, after the chains hanging
    /// from it; every chain is substituted once, after its parent chain; rounds are at most k.
    fn check(parent: &[Option<u32>], k: usize) -> TreeSchedule {
        let s = schedule(parent, k);
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
        for (r, round) in s.elimination.iter().enumerate() {
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
        for (r, round) in s.substitution.iter().enumerate() {
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
        s
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
}
