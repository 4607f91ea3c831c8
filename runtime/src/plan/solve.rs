//! The Hines solve of the cable equation on a tree, as NEURON does it: the reference every
//! engine's [`super::schedule::Stage::Solve`] reproduces operation for operation.

use super::Cable;

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
    range: std::ops::Range<usize>,
) {
    let local = |i: usize| i - offset;
    for i in range.clone() {
        let li = local(i);
        diagonal[li] += cable.capacitance_dt[i];
        let p = cable.parent[i];
        if p != u32::MAX {
            let (lp, g) = (local(p as usize), cable.axial[i]);
            let current = g * (v[lp] - v[li]);
            rhs[li] += current;
            rhs[lp] -= current;
            diagonal[li] += g;
            diagonal[lp] += g;
        }
    }
    // v += Δv as each Δv is found: one pass over the nodes, not two.
    eliminate_and_substitute(rhs, diagonal, cable, offset, range, |li, dv| v[li] += dv);
}

/// Solves the assembled tree system in place: `rhs` becomes the solution (Δv), `diagonal` is
/// consumed. The matrix is symmetric (off-diagonals −g on every parent–child edge), so the
/// same elimination also solves the transposed system the adjoint needs.
pub fn solve_tree(rhs: &mut [f64], diagonal: &mut [f64], cable: &Cable, offset: usize, range: std::ops::Range<usize>) {
    eliminate_and_substitute(rhs, diagonal, cable, offset, range, |_, _| {});
}

/// The elimination and substitution of [`solve_tree`], calling `solved(local node, value)` as
/// each node's solution is found.
fn eliminate_and_substitute(
    rhs: &mut [f64],
    diagonal: &mut [f64],
    cable: &Cable,
    offset: usize,
    range: std::ops::Range<usize>,
    mut solved: impl FnMut(usize, f64),
) {
    let local = |i: usize| i - offset;
    for i in range.clone().rev() {
        let p = cable.parent[i];
        if p == u32::MAX {
            continue;
        }
        let g = cable.axial[i];
        let (li, lp) = (local(i), local(p as usize));
        let factor = g / diagonal[li];
        diagonal[lp] -= factor * g;
        rhs[lp] += factor * rhs[li];
    }
    // rhs becomes the solution, parents first (they have smaller indices).
    for i in range {
        let p = cable.parent[i];
        let li = local(i);
        let x = if p == u32::MAX {
            rhs[li] / diagonal[li]
        } else {
            (rhs[li] + cable.axial[i] * rhs[local(p as usize)]) / diagonal[li]
        };
        rhs[li] = x;
        solved(li, x);
    }
}
