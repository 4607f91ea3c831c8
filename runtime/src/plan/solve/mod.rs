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
/// of one shape in groups of [`lanes::LANES`] solved in SIMD lanes, the others side by side.
#[derive(Default, Debug)]
pub struct SolveCells {
    laned: lanes::Groups,
    side_by_side: Vec<Range<usize>>,
}

impl SolveCells {
    /// `cells`: the node range of each cell, in order.
    pub fn new(cable: &Cable, cells: &[Range<usize>]) -> SolveCells {
        SolveCells::arrange(cable, cells).0
    }

    /// The arrangement of `cells` and the number of cells in each of its runs, in order: a
    /// group of [`lanes::LANES`] solved in lanes, or one cell.
    fn arrange(cable: &Cable, cells: &[Range<usize>]) -> (SolveCells, Vec<usize>) {
        let mut arranged = SolveCells::default();
        let mut runs = Vec::new();
        let mut first = 0;
        while first < cells.len() {
            let run = if arranged.laned.take(cable, &cells[first..]) {
                lanes::LANES
            } else {
                arranged.side_by_side.push(cells[first].clone());
                1
            };
            runs.push(run);
            first += run;
        }
        (arranged, runs)
    }

    /// How [`SolveCells::new`] would split `cells` into runs: the number of cells in each, in
    /// order. Splitting the cells between runs keeps every group of lanes whole (a cell left
    /// over from a group is solved alone at several times the cost per node).
    pub fn runs(cable: &Cable, cells: &[Range<usize>]) -> Vec<usize> {
        SolveCells::arrange(cable, cells).1
    }

    /// `cells` all side by side, none in lanes (what the lanes are measured against).
    pub fn side_by_side(cells: &[Range<usize>]) -> SolveCells {
        SolveCells { laned: lanes::Groups::default(), side_by_side: cells.to_vec() }
    }

    /// How many groups of cells are solved in lanes.
    pub fn laned_groups(&self) -> usize {
        self.laned.len()
    }
}

/// [`solve_range`] for the cells `cells` (arranged on `cable`; their union is what the slices from `offset` hold):
/// same-shape cells in SIMD lanes, the others several side by side. Every node sees the same
/// operations in the same order as in [`solve_range`] (cells share no node), so the bits of v
/// are the same. Unlike `solve_range` it leaves `rhs` and `diagonal` zero, ready to accumulate
/// the next step's currents (the lanes store zeros where they would scatter Δv and the
/// eliminated diagonal back, and no step has to clear them first).
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
        let local = cell.start - offset..cell.end - offset;
        rhs[local.clone()].fill(0.0);
        diagonal[local].fill(0.0);
    }
}

/// [`solve_range`] for the cells `cells`, several side by side.
fn solve_side_by_side(
    v: &mut [f64],
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &Cable,
    offset: usize,
    cells: &[Range<usize>],
) {
    for cell in cells {
        assemble(v, rhs, diagonal, cable, offset, cell.clone());
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

/// Eliminates every node of the cells `group` into its parent, from each cell's last node up:
/// the last nodes of all of them in lockstep, then what the longer ones have left.
fn eliminate_side_by_side(rhs: &mut [f64], diagonal: &mut [f64], cable: &Cable, offset: usize, group: &[Range<usize>]) {
    let common = group.iter().map(Range::len).min().unwrap_or(0);
    for from_end in 1..=common {
        for cell in group {
            eliminate(rhs, diagonal, cable, offset, cell.end - from_end);
        }
    }
    for cell in group {
        for i in (cell.start..cell.end - common).rev() {
            eliminate(rhs, diagonal, cable, offset, i);
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

/// After the elimination: `rhs` becomes the solution, parents first (they have smaller
/// indices), the first nodes of the cells `group` in lockstep, then what the longer ones have
/// left; calls `solved(local node, value)` as each node's solution is found.
fn substitute_side_by_side(
    rhs: &mut [f64],
    diagonal: &[f64],
    cable: &Cable,
    offset: usize,
    group: &[Range<usize>],
    mut solved: impl FnMut(usize, f64),
) {
    let common = group.iter().map(Range::len).min().unwrap_or(0);
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
    for from_start in 0..common {
        for cell in group {
            substitute(cell.start + from_start);
        }
    }
    for cell in group {
        (cell.start + common..cell.end).for_each(&mut substitute);
    }
}

#[cfg(test)]
mod tests;
