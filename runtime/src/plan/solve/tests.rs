//! The arranged solve (lanes and side by side) against [`solve_range`] over all the nodes, bit
//! for bit.

use super::*;

type Tree = &'static [Option<usize>];

const CABLE: Tree = &[None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)];
const FORK: Tree = &[None, Some(0), Some(1), Some(1), Some(3), Some(2)];
const STAR: Tree = &[None, Some(0), Some(0), Some(0), Some(0)];
const ONE: Tree = &[None];
const TWO_BRANCHES: Tree = &[None, Some(0), Some(1), Some(0), Some(3), Some(4), Some(5), Some(2), Some(7)];
const SHORT: Tree = &[None, Some(0), Some(1)];
const EIGHT: Tree = &[None, Some(0), Some(1), Some(1), Some(0), Some(4), Some(5), Some(5)];
/// The fork's length, another tree.
const OTHER_FORK: Tree = &[None, Some(0), Some(0), Some(1), Some(3), Some(2)];
/// Two roots in one cell's range: never in lanes.
const FOREST: Tree = &[None, Some(0), None, Some(2)];

/// A deterministic value in [0, 1) for node `i` and the quantity `salt`, with all the bits of
/// its mantissa in use (sums of such values in another order rarely round alike).
fn spread(i: usize, salt: u64) -> f64 {
    let mut z = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 31;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The cells `trees` side by side from node 0, with a deterministic spread of values.
fn cells_and_cable(trees: &[Tree]) -> (Vec<Range<usize>>, Cable) {
    let (mut cells, mut cable) = (Vec::new(), Cable::default());
    for tree in trees {
        let first = cable.parent.len();
        for (k, parent) in tree.iter().enumerate() {
            let i = first + k;
            cable.parent.push(parent.map_or(u32::MAX, |p| (first + p) as u32));
            cable.axial.push(0.3 + 0.2 * spread(i, 1));
            // Small beside the axial conductances, so that a parent's diagonal is mostly its
            // children's terms, whose order then shows in its last bits.
            cable.capacitance_dt.push(0.02 + 0.03 * spread(i, 2));
        }
        cells.push(first..cable.parent.len());
    }
    (cells, cable)
}

/// How the nodes from the first of `cells` on are solved.
#[derive(Copy, Clone, Debug)]
enum Solve {
    OneRange,
    Arranged,
    /// Arranged, the lanes without the choice of instructions (no AVX).
    ArrangedPortably,
}

/// The voltages before a solve: a spread (every axial current differs), or zero everywhere,
/// where v after the solve is Δv to the last bit (a spread of v around −65 mV rounds off the last
/// bits of Δv, which would hide a term summed in another order).
#[derive(Copy, Clone, Debug)]
enum Before {
    Spread,
    Zero,
}

impl Before {
    fn v(self, i: usize) -> f64 {
        match self {
            Before::Spread => -65.0 + 3.1 * (i * 3 % 17) as f64,
            Before::Zero => 0.0,
        }
    }
}

/// The bits of v, rhs and the diagonal after solving the nodes from the first of `cells` on.
fn solved(cable: &Cable, cells: &[Range<usize>], how: Solve, before: Before) -> [Vec<u64>; 3] {
    let (offset, end) = (cells[0].start, cable.parent.len());
    let mut v: Vec<f64> = (offset..end).map(|i| before.v(i)).collect();
    let mut rhs: Vec<f64> = (offset..end).map(|i| 0.18 * spread(i, 3) - 0.07).collect();
    let mut diagonal: Vec<f64> = (offset..end).map(|i| 0.05 + 0.01 * spread(i, 4)).collect();
    let arranged = SolveCells::new(cable, cells);
    match how {
        Solve::OneRange => solve_range(&mut v, &mut rhs, &mut diagonal, cable, offset, offset..end),
        Solve::Arranged => solve_cells(&mut v, &mut rhs, &mut diagonal, cable, offset, &arranged),
        Solve::ArrangedPortably => {
            solve_arranged(&mut v, &mut rhs, &mut diagonal, cable, offset, &arranged, lanes::solve_portably)
        }
    }
    let bits = |x: &[f64]| x.iter().map(|x| x.to_bits()).collect();
    [bits(&v), bits(&rhs), bits(&diagonal)]
}

/// Both arranged solves of the cells from `from` on give the bits of v of one range (from
/// either voltages before), and leave rhs and the diagonal zero.
fn assert_same_bits(trees: &[Tree], from: usize) {
    let (cells, cable) = cells_and_cable(trees);
    for before in [Before::Spread, Before::Zero] {
        let [reference, delta, _] = solved(&cable, &cells[from..], Solve::OneRange, before);
        assert_ne!(reference[0], before.v(cells[from].start).to_bits(), "the solve moves v");
        if let Before::Zero = before {
            assert_eq!(reference, delta, "from zero, v after the solve is Δv");
        }
        let zeros = vec![0; reference.len()];
        for how in [Solve::Arranged, Solve::ArrangedPortably] {
            let [v, rhs, diagonal] = solved(&cable, &cells[from..], how, before);
            assert_eq!(v, reference, "{how:?} from cell {from}, {before:?}");
            let accumulators = (rhs, diagonal);
            assert_eq!(accumulators, (zeros.clone(), zeros.clone()), "{how:?} from cell {from}: accumulators zero");
        }
    }
}

/// Each tree as many times as it says, in order.
fn repeated(runs: &[(Tree, usize)]) -> Vec<Tree> {
    runs.iter().flat_map(|&(tree, count)| std::iter::repeat_n(tree, count)).collect()
}

fn laned_groups(trees: &[Tree]) -> usize {
    let (cells, cable) = cells_and_cable(trees);
    SolveCells::new(&cable, &cells).laned_groups()
}

#[test]
fn cells_side_by_side_give_the_bits_of_one_range() {
    let trees = [CABLE, FORK, STAR, ONE, TWO_BRANCHES, SHORT];
    assert_eq!(laned_groups(&trees), 0);
    // A group of four and one of two; then, from the second cell, a chunk that does not start
    // at node 0.
    for from in [0, 1] {
        assert_same_bits(&trees, from);
    }
}

#[test]
fn cells_in_lanes_give_the_bits_of_one_range() {
    // Five forks (a group and one left over), four of the two-branch tree, three cables (an odd
    // count, none in lanes), a fork of another tree between forks, a forest, single cells.
    let trees = repeated(&[
        (FORK, 5),
        (TWO_BRANCHES, 4),
        (CABLE, 3),
        (FORK, 1),
        (OTHER_FORK, 1),
        (FORK, 2),
        (ONE, 1),
        (FOREST, 4),
        (ONE, 4),
        (STAR, 1),
    ]);
    assert_eq!(laned_groups(&trees), 3, "the forks, the two-branch trees and four single nodes");
    // From node 0; from the second cell (the first group starts a cell later); from the cables
    // on.
    for from in [0, 1, 9] {
        assert_same_bits(&trees, from);
    }
}

#[test]
fn cells_of_one_shape_give_the_bits_of_one_range() {
    // The ringtest's case, all cells alike: 4, 8 and 9 of them (one left over), and one alone;
    // trees of 9, 3 and 8 nodes (the gathers' blocks of four nodes with 1, 3 and 0 left).
    for tree in [TWO_BRANCHES, SHORT, EIGHT] {
        for count in [4, 8, 9] {
            let trees = vec![tree; count];
            assert_eq!(laned_groups(&trees), count / lanes::LANES);
            assert_same_bits(&trees, 0);
        }
        assert_eq!(laned_groups(&[tree]), 0);
        assert_same_bits(&[tree], 0);
    }
}

#[test]
fn runs_are_the_groups_in_lanes_and_the_single_cells() {
    let trees = repeated(&[(FORK, 5), (CABLE, 2), (FORK, 4)]);
    let (cells, cable) = cells_and_cable(&trees);
    assert_eq!(SolveCells::runs(&cable, &cells), [4, 1, 1, 1, 4]);
}
