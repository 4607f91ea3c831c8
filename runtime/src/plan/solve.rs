//! The Hines solve of the cable equation on a tree, as NEURON does it: the reference every
//! engine's [`super::schedule::Stage::Solve`] reproduces operation for operation.

use std::ops::Range;

use super::Cable;

/// How many cells [`solve_cells`] eliminates and substitutes side by side. Each cell's
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
    solve_cells(v, rhs, diagonal, cable, offset, &[range]);
}

/// [`solve_range`] for the cells `cells` (each the node range of whole cells; their union is
/// what the slices from `offset` hold), several cells side by side. Every node sees the same
/// operations in the same order as in [`solve_range`] (cells share no node), so the bits are
/// the same.
pub fn solve_cells(
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
mod tests {
    use super::*;

    /// Cells of different lengths and shapes (an unbranched cable, a fork, a star, one node),
    /// side by side from node 0, with a deterministic spread of values.
    fn cells_and_cable() -> (Vec<Range<usize>>, Cable) {
        let shapes: [&[Option<usize>]; 6] = [
            &[None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)],
            &[None, Some(0), Some(1), Some(1), Some(3), Some(2)],
            &[None, Some(0), Some(0), Some(0), Some(0)],
            &[None],
            &[None, Some(0), Some(1), Some(0), Some(3), Some(4), Some(5), Some(2), Some(7)],
            &[None, Some(0), Some(1)],
        ];
        let (mut cells, mut cable) = (Vec::new(), Cable::default());
        for shape in shapes {
            let first = cable.parent.len();
            for (k, parent) in shape.iter().enumerate() {
                let i = first + k;
                cable.parent.push(parent.map_or(u32::MAX, |p| (first + p) as u32));
                cable.axial.push(0.3 + 0.01 * (i * 7 % 11) as f64);
                cable.capacitance_dt.push(1.7 + 0.13 * (i * 5 % 13) as f64);
            }
            cells.push(first..cable.parent.len());
        }
        (cells, cable)
    }

    /// The bits of v and rhs after solving the nodes from the first of `cells` on.
    fn solved(cable: &Cable, cells: &[Range<usize>], side_by_side: bool) -> (Vec<u64>, Vec<u64>) {
        let (offset, end) = (cells[0].start, cable.parent.len());
        let mut v: Vec<f64> = (offset..end).map(|i| -65.0 + 3.1 * (i * 3 % 17) as f64).collect();
        let mut rhs: Vec<f64> = (offset..end).map(|i| 0.01 * (i * 13 % 19) as f64 - 0.07).collect();
        let mut diagonal: Vec<f64> = (offset..end).map(|i| 0.05 + 0.002 * (i % 5) as f64).collect();
        if side_by_side {
            solve_cells(&mut v, &mut rhs, &mut diagonal, cable, offset, cells);
        } else {
            solve_range(&mut v, &mut rhs, &mut diagonal, cable, offset, offset..end);
        }
        let bits = |x: &[f64]| x.iter().map(|x| x.to_bits()).collect();
        (bits(&v), bits(&rhs))
    }

    #[test]
    fn cells_side_by_side_give_the_bits_of_one_range() {
        let (cells, cable) = cells_and_cable();
        // A group of four and one of two; then, from the second cell, a chunk that does not
        // start at node 0.
        for from in [0, 1] {
            let (v, rhs) = solved(&cable, &cells[from..], true);
            let before = -65.0 + 3.1 * (cells[from].start * 3 % 17) as f64;
            assert_ne!(v[0], f64::to_bits(before), "the solve moves v");
            assert_eq!((v, rhs), solved(&cable, &cells[from..], false), "from cell {from}");
        }
    }
}
