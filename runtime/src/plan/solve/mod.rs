//! The Hines solve of the cable equation on a tree, as NEURON does it: the reference every
//! engine's [`super::schedule::Stage::Solve`] reproduces operation for operation.

use std::ops::Range;

use super::Cable;

mod lanes;

/// How many cells [`solve_side_by_side`] eliminates and substitutes side by side. Each cell's
/// elimination is one serial chain (a division, a product and a difference per node, each
/// waiting for the last); a few cells at a time let the processor overlap their chains.
const SIDE_BY_SIDE: usize = 4;

/// Assembles (C/dt + G + axial) Δv = rhs + axial currents for the nodes `range` (whole cells)
/// and solves it on the tree (Hines: eliminate children into parents from the last node up,
/// then substitute down), then updates v. The slices start at node `offset`, so that disjoint
/// ranges can be solved in parallel.
pub fn solve_range(
    v: &mut [f64],
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &Cable,
    offset: usize,
    range: Range<usize>,
) {
    solve_side_by_side(v, rhs, diagonal, cable, offset, &[range]);
}

/// The cells of a chunk arranged for the solve, once when the chunk is made: adjacent cells
/// of one shape in groups of [`lanes::LANES`] solved in SIMD lanes, the others side by side,
/// each in its order by depth.
#[derive(Default, Debug)]
pub struct SolveCells {
    laned: lanes::Groups,
    side_by_side: Vec<ByDepth>,
}

/// A cell's nodes in an order of elimination; substituted in the reverse order.
trait EliminationOrder {
    fn nodes(&self) -> Range<usize>;
    /// The `j`-th node eliminated.
    fn nth(&self, j: usize) -> usize;

    /// The `j`-th node substituted.
    #[inline(always)]
    fn nth_substituted(&self, j: usize) -> usize {
        self.nth(self.nodes().len() - 1 - j)
    }
}

/// From the last node to the first ([`solve_range`]'s order).
impl EliminationOrder for Range<usize> {
    fn nodes(&self) -> Range<usize> {
        self.clone()
    }

    #[inline(always)]
    fn nth(&self, j: usize) -> usize {
        self.end - 1 - j
    }
}

/// A cell with its nodes [`by_depth`].
#[derive(Debug)]
struct ByDepth {
    nodes: Range<usize>,
    /// Relative to the first node.
    order: Vec<u32>,
}

impl EliminationOrder for ByDepth {
    fn nodes(&self) -> Range<usize> {
        self.nodes.clone()
    }

    #[inline(always)]
    fn nth(&self, j: usize) -> usize {
        self.nodes.start + self.order[j] as usize
    }
}

/// The nodes `0..n` of a tree whose node k has the parent `parent(k) < k` (roots `None`), the
/// deepest first, the higher index first among nodes of one depth (the roots last).
///
/// Node after node, each elimination into a parent would wait for the one before it in its
/// chain (a division, a product, a difference), and each substitution likewise; by depth, the
/// chains of the branches alternate and overlap. Eliminated in this order, every node still
/// comes after its children and the children of a node still in descending index order, so
/// every parent takes its children's terms in [`solve_range`]'s order; substituted in the
/// reverse order, every node comes after its parent: the bits are `solve_range`'s.
fn by_depth(n: usize, parent: impl Fn(usize) -> Option<usize>) -> Vec<u32> {
    let mut depth = vec![0u32; n];
    for k in 0..n {
        depth[k] = parent(k).map_or(0, |p| depth[p] + 1);
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by_key(|&k| std::cmp::Reverse((depth[k as usize], k)));
    order
}

impl SolveCells {
    /// `cells`: the node range of each cell, in order.
    pub fn new(cable: &Cable, cells: &[Range<usize>]) -> SolveCells {
        let mut arranged = SolveCells::default();
        let mut first = 0;
        while first < cells.len() {
            first += if arranged.laned.take(cable, &cells[first..]) {
                lanes::LANES
            } else {
                arranged.push_side_by_side(cable, cells[first].clone());
                1
            };
        }
        arranged
    }

    /// How [`SolveCells::new`] would split `cells` into runs (a group of [`lanes::LANES`]
    /// solved in lanes, or one cell): the number of cells in each, in order, found without
    /// arranging them. Splitting the cells between runs keeps every group of lanes whole (a
    /// cell left over from a group is solved alone at several times the cost per node).
    pub fn runs(cable: &Cable, cells: &[Range<usize>]) -> Vec<usize> {
        let mut runs = Vec::new();
        let mut first = 0;
        while first < cells.len() {
            let run = if lanes::Groups::fit(cable, &cells[first..]) { lanes::LANES } else { 1 };
            runs.push(run);
            first += run;
        }
        runs
    }

    /// `cells` all side by side, none in lanes (what the lanes are measured against).
    pub fn side_by_side(cable: &Cable, cells: &[Range<usize>]) -> SolveCells {
        let mut arranged = SolveCells::default();
        cells.iter().for_each(|cell| arranged.push_side_by_side(cable, cell.clone()));
        arranged
    }

    /// Adds `cell` in its order by depth. A cell's nodes are a forest of their own, each parent
    /// before its children (the plan's cells, one tree each, are).
    fn push_side_by_side(&mut self, cable: &Cable, cell: Range<usize>) {
        let parent = |k: usize| match cable.parent[cell.start + k] {
            u32::MAX => None,
            p => {
                debug_assert!((cell.start..cell.start + k).contains(&(p as usize)), "a parent within the cell");
                Some(p as usize - cell.start)
            }
        };
        let order = by_depth(cell.len(), parent);
        self.side_by_side.push(ByDepth { nodes: cell, order });
    }

    /// How many groups of cells are solved in lanes.
    pub fn laned_groups(&self) -> usize {
        self.laned.len()
    }
}

/// [`solve_range`] for the cells `cells` (arranged on `cable`; their union is what the slices
/// from `offset` hold): same-shape cells in SIMD lanes, the others several side by side, each
/// in its order by depth. Every node sees the same operations in the same order as in
/// [`solve_range`] (cells share no node, and [`by_depth`] keeps each parent's terms in order),
/// so the bits of v are the same. Unlike `solve_range` it leaves `rhs` and `diagonal` zero,
/// ready to accumulate the next step's currents (the lanes store zeros where they would scatter
/// Δv and the eliminated diagonal back, and no step has to clear them first).
pub fn solve_cells(
    v: &mut [f64],
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &Cable,
    offset: usize,
    cells: &SolveCells,
) {
    solve_arranged(v, rhs, diagonal, cable, offset, cells, lanes::solve);
}

/// [`solve_cells`] with the lanes solved by `lanes` ([`lanes::solve`], or in the tests the same
/// without the choice of instructions).
fn solve_arranged(
    v: &mut [f64],
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &Cable,
    offset: usize,
    cells: &SolveCells,
    lanes: fn(&mut [f64], &mut [f64], &mut [f64], usize, &lanes::Groups),
) {
    lanes(v, rhs, diagonal, offset, &cells.laned);
    solve_side_by_side(v, rhs, diagonal, cable, offset, &cells.side_by_side);
    for cell in &cells.side_by_side {
        let local = cell.nodes.start - offset..cell.nodes.end - offset;
        rhs[local.clone()].fill(0.0);
        diagonal[local].fill(0.0);
    }
}

/// [`solve_range`] for the cells `cells`, several side by side, each in its order.
fn solve_side_by_side(
    v: &mut [f64],
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &Cable,
    offset: usize,
    cells: &[impl EliminationOrder],
) {
    for cell in cells {
        assemble(v, rhs, diagonal, cable, offset, cell.nodes());
    }
    for group in cells.chunks(SIDE_BY_SIDE) {
        eliminate_side_by_side(rhs, diagonal, cable, offset, group);
        // v += Δv as each Δv is found: one pass over the nodes, not two.
        substitute_side_by_side(rhs, diagonal, cable, offset, group, |li, dv| v[li] += dv);
    }
}

/// Adds C/dt and the axial conductances to the diagonal and the axial currents at v to rhs.
fn assemble(v: &[f64], rhs: &mut [f64], diagonal: &mut [f64], cable: &Cable, offset: usize, range: Range<usize>) {
    for i in range {
        let li = i - offset;
        diagonal[li] += cable.capacitance_dt[i];
        let p = cable.parent[i];
        if p != u32::MAX {
            let (lp, g) = (p as usize - offset, cable.axial[i]);
            let current = g * (v[lp] - v[li]);
            rhs[li] += current;
            rhs[lp] -= current;
            diagonal[li] += g;
            diagonal[lp] += g;
        }
    }
}

/// Solves the assembled tree system in place: `rhs` becomes the solution (Δv), `diagonal` is
/// consumed. The matrix is symmetric (off-diagonals −g on every parent–child edge), so the
/// same elimination also solves the transposed system the adjoint needs.
pub fn solve_tree(rhs: &mut [f64], diagonal: &mut [f64], cable: &Cable, offset: usize, range: Range<usize>) {
    let cells = [range];
    eliminate_side_by_side(rhs, diagonal, cable, offset, &cells);
    substitute_side_by_side(rhs, diagonal, cable, offset, &cells, |_, _| {});
}

/// Eliminates every node of the cells `group` into its parent, in each cell's order: the first
/// nodes of all of them in lockstep, then what the longer ones have left.
fn eliminate_side_by_side(
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &Cable,
    offset: usize,
    group: &[impl EliminationOrder],
) {
    let common = group.iter().map(|cell| cell.nodes().len()).min().unwrap_or(0);
    for j in 0..common {
        for cell in group {
            eliminate(rhs, diagonal, cable, offset, cell.nth(j));
        }
    }
    for cell in group {
        for j in common..cell.nodes().len() {
            eliminate(rhs, diagonal, cable, offset, cell.nth(j));
        }
    }
}

/// Node `i` eliminated into its parent (nothing for a root).
#[inline(always)]
fn eliminate(rhs: &mut [f64], diagonal: &mut [f64], cable: &Cable, offset: usize, i: usize) {
    let p = cable.parent[i];
    if p == u32::MAX {
        return;
    }
    let g = cable.axial[i];
    let (li, lp) = (i - offset, p as usize - offset);
    let factor = g / diagonal[li];
    diagonal[lp] -= factor * g;
    rhs[lp] += factor * rhs[li];
}

/// After the elimination: `rhs` becomes the solution, in each cell's order reversed (parents
/// first), the first nodes of the cells `group` in lockstep, then what the longer ones have
/// left; calls `solved(local node, value)` as each node's solution is found.
fn substitute_side_by_side(
    rhs: &mut [f64],
    diagonal: &[f64],
    cable: &Cable,
    offset: usize,
    group: &[impl EliminationOrder],
    mut solved: impl FnMut(usize, f64),
) {
    let common = group.iter().map(|cell| cell.nodes().len()).min().unwrap_or(0);
    let mut substitute = |i: usize| {
        let p = cable.parent[i];
        let li = i - offset;
        let x = if p == u32::MAX {
            rhs[li] / diagonal[li]
        } else {
            (rhs[li] + cable.axial[i] * rhs[p as usize - offset]) / diagonal[li]
        };
        rhs[li] = x;
        solved(li, x);
    };
    for j in 0..common {
        for cell in group {
            substitute(cell.nth_substituted(j));
        }
    }
    for cell in group {
        (common..cell.nodes().len()).for_each(|j| substitute(cell.nth_substituted(j)));
    }
}

#[cfg(test)]
mod tests;
