//! Cells of one shape solved in SIMD lanes: [`LANES`] adjacent cells with the same tree go
//! through assembly, elimination and substitution together, lane `l` holding cell `l`'s node.
//! Every lane does the scalar solve's IEEE operations in its order (a lane's divpd is its
//! divsd), so the bits are those of [`super::solve_range`]; what is shared is the instruction,
//! above all the divisions, which bound the scalar solve.
//!
//! The group's nodes are gathered into a scratch array of lane vectors while they are
//! assembled, solved there, and scattered back as the substitution finds them.

use std::cell::RefCell;
use std::ops::{Add, Div, Mul, Range, Sub};

use super::Cable;

/// Cells per group: four f64 lanes fill an AVX register (two SSE2 registers without AVX).
pub(super) const LANES: usize = 8;

/// A cell's tree relative to its first node: node 0 its only root, `parent[k] < k` for the
/// others (`parent[0]` is unused).
#[derive(PartialEq, Debug)]
struct Shape {
    parent: Vec<u32>,
}

impl Shape {
    /// `None` for an empty cell or one with a root besides its first node.
    fn of(cable: &Cable, cell: Range<usize>) -> Option<Shape> {
        if cell.is_empty() || cable.parent[cell.start] != u32::MAX {
            return None;
        }
        let mut parent = vec![0; cell.len()];
        for (k, i) in cell.clone().enumerate().skip(1) {
            // A root's u32::MAX is never below i.
            let p = cable.parent[i] as usize;
            if !(cell.start..i).contains(&p) {
                return None;
            }
            parent[k] = (p - cell.start) as u32;
        }
        Some(Shape { parent })
    }

    fn len(&self) -> usize {
        self.parent.len()
    }
}

/// [`LANES`] adjacent cells of one shape: cell `l` holds the nodes from `start + l·n` on.
#[derive(Debug)]
struct Group {
    start: usize,
    shape: usize,
}

/// The groups of a set of cells, found once when the cells are split into chunks.
#[derive(Default, Debug)]
pub(super) struct Groups {
    shapes: Vec<Shape>,
    groups: Vec<Group>,
}

impl Groups {
    /// Takes `cells[..LANES]` as a group if they are adjacent and of one shape.
    pub(super) fn take(&mut self, cable: &Cable, cells: &[Range<usize>]) -> bool {
        let Some(run) = cells.get(..LANES) else { return false };
        if !run.windows(2).all(|w| w[0].end == w[1].start) {
            return false;
        }
        let Some(shape) = Shape::of(cable, run[0].clone()) else { return false };
        if !run[1..].iter().all(|cell| Shape::of(cable, cell.clone()).as_ref() == Some(&shape)) {
            return false;
        }
        let index = self.shapes.iter().position(|s| *s == shape).unwrap_or(self.shapes.len());
        if index == self.shapes.len() {
            self.shapes.push(shape);
        }
        self.groups.push(Group { start: run[0].start, shape: index });
        true
    }

    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }
}

/// One f64 per lane; the operators work lane by lane (LLVM makes them vector instructions).
#[derive(Copy, Clone, Default)]
struct Lanes([f64; LANES]);

macro_rules! lane_by_lane {
    ($trait:ident, $method:ident, $op:tt) => {
        impl $trait for Lanes {
            type Output = Lanes;
            #[inline(always)]
            fn $method(self, other: Lanes) -> Lanes {
                Lanes(std::array::from_fn(|l| self.0[l] $op other.0[l]))
            }
        }
    };
}
lane_by_lane!(Add, add, +);
lane_by_lane!(Sub, sub, -);
lane_by_lane!(Mul, mul, *);
lane_by_lane!(Div, div, /);

/// A node of every lane in the scratch array: the solve's values while it runs.
#[derive(Copy, Clone, Default)]
struct Node {
    v: Lanes,
    rhs: Lanes,
    diagonal: Lanes,
    axial: Lanes,
}

thread_local! {
    /// The scratch array, kept from step to step (each chunk runs on one thread at a time).
    static SCRATCH: RefCell<Vec<Node>> = const { RefCell::new(Vec::new()) };
}

/// Solves the cells of `groups` ([`super::solve_range`]'s bits), with AVX where the processor
/// has it, else with the baseline instructions (SSE2 on x86-64).
pub(super) fn solve(v: &mut [f64], rhs: &mut [f64], diagonal: &mut [f64], cable: &Cable, offset: usize, groups: &Groups) {
    let arrays = Arrays { v, rhs, diagonal, cable, offset };
    SCRATCH.with_borrow_mut(|scratch| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the processor has AVX.
            return unsafe { solve_with_avx(arrays, groups, scratch) };
        }
        solve_groups(arrays, groups, scratch);
    });
}

/// [`solve_groups`] compiled for AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn solve_with_avx(arrays: Arrays, groups: &Groups, scratch: &mut Vec<Node>) {
    solve_groups(arrays, groups, scratch);
}

/// [`solve`] without the choice of instructions (the tests run it to check both paths).
#[inline(always)]
fn solve_groups(mut arrays: Arrays, groups: &Groups, scratch: &mut Vec<Node>) {
    for group in &groups.groups {
        let shape = &groups.shapes[group.shape];
        scratch.resize(shape.len(), Node::default());
        let mut cells = arrays.cells(group.start, shape.len());
        assemble(&mut cells, &shape.parent, scratch);
        eliminate(&shape.parent, scratch);
        substitute(&mut cells, &shape.parent, scratch);
    }
}

/// The chunk's arrays, as [`super::solve_cells`] takes them.
struct Arrays<'a> {
    v: &'a mut [f64],
    rhs: &'a mut [f64],
    diagonal: &'a mut [f64],
    cable: &'a Cable,
    offset: usize,
}

impl Arrays<'_> {
    /// The arrays of the group of cells from node `start`, `n` nodes each, split by lane.
    #[inline(always)]
    fn cells(&mut self, start: usize, n: usize) -> Cells<'_> {
        let (local, global) = (start - self.offset..start - self.offset + LANES * n, start..start + LANES * n);
        Cells {
            v: by_lane(&mut self.v[local.clone()], n),
            rhs: by_lane(&mut self.rhs[local.clone()], n),
            diagonal: by_lane(&mut self.diagonal[local], n),
            axial: by_lane_read(&self.cable.axial[global.clone()], n),
            capacitance_dt: by_lane_read(&self.cable.capacitance_dt[global], n),
        }
    }
}

/// A group's node arrays by lane: `v[l][k]` is node k of cell l; every slice is n long.
struct Cells<'a> {
    v: [&'a mut [f64]; LANES],
    rhs: [&'a mut [f64]; LANES],
    diagonal: [&'a mut [f64]; LANES],
    axial: [&'a [f64]; LANES],
    capacitance_dt: [&'a [f64]; LANES],
}

#[inline(always)]
fn by_lane(nodes: &mut [f64], n: usize) -> [&mut [f64]; LANES] {
    let mut cells = nodes.chunks_exact_mut(n);
    std::array::from_fn(|_| cells.next().expect("LANES cells of n nodes"))
}

#[inline(always)]
fn by_lane_read(nodes: &[f64], n: usize) -> [&[f64]; LANES] {
    let mut cells = nodes.chunks_exact(n);
    std::array::from_fn(|_| cells.next().expect("LANES cells of n nodes"))
}

/// Node `k` of every lane.
#[inline(always)]
fn gather(lanes: &[impl AsRef<[f64]>; LANES], k: usize) -> Lanes {
    Lanes(std::array::from_fn(|l| lanes[l].as_ref()[k]))
}

/// Gathers every node into `scratch` and assembles it as [`super::solve_range`] does: C/dt on
/// the diagonal, then per edge the axial current and conductance into the child and its parent.
#[inline(always)]
fn assemble(cells: &mut Cells, parent: &[u32], scratch: &mut [Node]) {
    for (k, &p) in parent.iter().enumerate() {
        let mut node = Node {
            v: gather(&cells.v, k),
            rhs: gather(&cells.rhs, k),
            diagonal: gather(&cells.diagonal, k) + gather(&cells.capacitance_dt, k),
            axial: gather(&cells.axial, k),
        };
        if k > 0 {
            let (g, parent) = (node.axial, &mut scratch[p as usize]);
            let current = g * (parent.v - node.v);
            node.rhs = node.rhs + current;
            parent.rhs = parent.rhs - current;
            node.diagonal = node.diagonal + g;
            parent.diagonal = parent.diagonal + g;
        }
        scratch[k] = node;
    }
}

/// Every node but the root eliminated into its parent, from the last node up.
#[inline(always)]
fn eliminate(parent: &[u32], scratch: &mut [Node]) {
    for k in (1..parent.len()).rev() {
        let node = scratch[k];
        let parent = &mut scratch[parent[k] as usize];
        let factor = node.axial / node.diagonal;
        parent.diagonal = parent.diagonal - factor * node.axial;
        parent.rhs = parent.rhs + factor * node.rhs;
    }
}

/// Substitutes down from the root and scatters each node as it is solved: rhs becomes Δv,
/// v += Δv, and the diagonal is left eliminated, as [`super::solve_range`] leaves them.
#[inline(always)]
fn substitute(cells: &mut Cells, parent: &[u32], scratch: &mut [Node]) {
    for (k, &p) in parent.iter().enumerate() {
        let node = scratch[k];
        let dv = if k == 0 {
            node.rhs / node.diagonal
        } else {
            (node.rhs + node.axial * scratch[p as usize].rhs) / node.diagonal
        };
        scratch[k].rhs = dv;
        for l in 0..LANES {
            cells.rhs[l][k] = dv.0[l];
            cells.v[l][k] = node.v.0[l] + dv.0[l];
            cells.diagonal[l][k] = node.diagonal.0[l];
        }
    }
}

#[cfg(test)]
pub(super) fn solve_portably(v: &mut [f64], rhs: &mut [f64], diagonal: &mut [f64], cable: &Cable, offset: usize, groups: &Groups) {
    let arrays = Arrays { v, rhs, diagonal, cable, offset };
    solve_groups(arrays, groups, &mut Vec::new());
}
