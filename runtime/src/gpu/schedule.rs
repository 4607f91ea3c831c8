//! The intra-cell parallel Hines schedule (DeepDendrite's DHS): the elimination runs in rounds,
//! each round taking at most `k` of the ready nodes, deepest first; the back substitution runs
//! root first, depth by depth. One workgroup executes a round with a barrier after it.
//!
//! A round "processes" a node `p` by gathering its children, highest index first:
//! `f = g_c / d_c; d_p -= f g_c; rhs_p += f rhs_c` — exactly the updates `p` receives in the
//! serial elimination (which walks nodes from the last to the first), in the same order, so the
//! parallel solve gives the serial solve's bits. A node is ready when every child that has
//! children of its own has been processed; leaves need no round.

/// Children lists and the rounds of one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSchedule {
    /// CSR offsets into `children` (one more than nodes).
    pub child_start: Vec<u32>,
    /// Children of each node, ascending.
    pub children: Vec<u32>,
    /// Elimination rounds: nodes with children, each round after the rounds of its children.
    pub elimination: Vec<Vec<u32>>,
    /// Substitution rounds: every node, each round after the round of its parent.
    pub substitution: Vec<Vec<u32>>,
}

/// `parent[j] < j` for every non-root node (the engine's topological order); `None` marks a
/// root. `k` is the most nodes a round may take (the workgroup size).
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
    let mut depth = vec![0u32; n];
    for j in 0..n {
        if let Some(p) = parent[j] {
            depth[j] = depth[p as usize] + 1;
        }
    }
    let inner = |j: usize| count[j] > 0;
    // Children that have children of their own and are not processed yet.
    let mut pending: Vec<u32> = vec![0; n];
    for (j, p) in parent.iter().enumerate() {
        if let Some(p) = p
            && inner(j)
        {
            pending[*p as usize] += 1;
        }
    }
    // Ready nodes, deepest first (ties: highest index first, so the order is deterministic).
    let mut ready: std::collections::BinaryHeap<(u32, u32)> =
        (0..n).filter(|&j| inner(j) && pending[j] == 0).map(|j| (depth[j], j as u32)).collect();
    let mut elimination = Vec::new();
    while !ready.is_empty() {
        let round: Vec<u32> = (0..k).map_while(|_| ready.pop()).map(|(_, j)| j).collect();
        for &j in &round {
            if let Some(p) = parent[j as usize] {
                pending[p as usize] -= 1;
                if pending[p as usize] == 0 {
                    ready.push((depth[p as usize], p));
                }
            }
        }
        elimination.push(round);
    }
    let levels = depth.iter().max().map_or(0, |d| *d as usize + 1);
    let mut by_depth: Vec<Vec<u32>> = vec![Vec::new(); levels];
    for j in 0..n {
        by_depth[depth[j] as usize].push(j as u32);
    }
    let substitution =
        by_depth.into_iter().flat_map(|level| level.chunks(k).map(<[u32]>::to_vec).collect::<Vec<_>>()).collect();
    TreeSchedule { child_start, children, elimination, substitution }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the invariants of a schedule: every inner node once, after its inner children;
    /// every node substituted once, after its parent; rounds no wider than k.
    fn check(parent: &[Option<u32>], k: usize) -> TreeSchedule {
        let s = schedule(parent, k);
        let n = parent.len();
        let mut round_of = vec![usize::MAX; n];
        for (r, round) in s.elimination.iter().enumerate() {
            assert!(!round.is_empty() && round.len() <= k);
            for &j in round {
                assert_eq!(round_of[j as usize], usize::MAX, "node {j} twice");
                round_of[j as usize] = r;
            }
        }
        for j in 0..n {
            let kids = &s.children[s.child_start[j] as usize..s.child_start[j + 1] as usize];
            assert!(kids.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(kids.is_empty(), round_of[j] == usize::MAX, "node {j}: processed iff it has children");
            for &c in kids {
                assert_eq!(parent[c as usize], Some(j as u32));
                if round_of[c as usize] != usize::MAX {
                    assert!(round_of[c as usize] < round_of[j]);
                }
            }
        }
        let mut sub_of = vec![usize::MAX; n];
        for (r, round) in s.substitution.iter().enumerate() {
            assert!(!round.is_empty() && round.len() <= k);
            for &j in round {
                assert_eq!(sub_of[j as usize], usize::MAX);
                sub_of[j as usize] = r;
            }
        }
        for j in 0..n {
            assert_ne!(sub_of[j], usize::MAX);
            if let Some(p) = parent[j] {
                assert!(sub_of[p as usize] < sub_of[j]);
            }
        }
        s
    }

    #[test]
    fn chain_takes_one_round_per_inner_node() {
        let parent: Vec<Option<u32>> = (0..5).map(|j| if j == 0 { None } else { Some(j - 1) }).collect();
        let s = check(&parent, 8);
        assert_eq!(s.elimination, vec![vec![3], vec![2], vec![1], vec![0]]);
        assert_eq!(s.substitution.len(), 5);
    }

    #[test]
    fn binary_tree_rounds_follow_height_and_respect_k() {
        // A full binary tree of 63 nodes in breadth-first order: 31 inner nodes, height 5.
        let parent: Vec<Option<u32>> = (0..63u32).map(|j| if j == 0 { None } else { Some((j - 1) / 2) }).collect();
        let s = check(&parent, 64);
        assert_eq!(s.elimination.iter().map(Vec::len).collect::<Vec<_>>(), vec![16, 8, 4, 2, 1]);
        assert_eq!(s.substitution.len(), 6);
        let s = check(&parent, 4);
        // 31 inner nodes, 4 per round at most: at least 8 rounds, and the tree allows exactly that
        // plus the narrow top.
        assert!(s.elimination.len() >= 8);
        assert_eq!(s.elimination.iter().map(Vec::len).sum::<usize>(), 31);
    }

    #[test]
    fn deepest_ready_nodes_go_first() {
        // Root 0 with a long chain 1-2-3-4 (ending in leaf 5) and a short branch 6 (leaf 7).
        let parent = [None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(0), Some(6)];
        let s = check(&parent, 1);
        // With one node per round, the deepest ready node (4) comes before the shallow 6.
        assert_eq!(s.elimination[0], vec![4]);
        assert_eq!(s.elimination.len(), 6);
    }

    #[test]
    fn forests_and_single_nodes() {
        let s = check(&[None], 4);
        assert!(s.elimination.is_empty());
        assert_eq!(s.substitution, vec![vec![0]]);
        check(&[None, Some(0), None, Some(2), Some(2)], 2);
    }
}
