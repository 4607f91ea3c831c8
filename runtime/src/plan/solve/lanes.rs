//! Cells of one shape solved in SIMD lanes: [`LANES`] adjacent cells with the same tree go
//! through assembly, elimination and substitution together, lane `l` holding cell `l`'s node.
//! Every lane does the scalar solve's IEEE operations in its order (a lane's divpd is its
//! divsd), so the bits of v are those of [`super::solve_range`]; what is shared is the
//! instruction, above all the divisions, which bound the scalar solve.
//!
//! The group's v, rhs and diagonal are gathered into a scratch array of lane vectors (its cable
//! constants are in lanes already, since the group was found), assembled and solved there in
//! the order by depth, and v is scattered back; both moves take four nodes of a cell at a time.
//! rhs and the diagonal are left zero for the next step ([`super::solve_cells`]).

use std::cell::RefCell;
use std::ops::{Add, Div, Mul, Range, Sub};

use super::Cable;

/// Cells per group: four f64 lanes fill an AVX register (two SSE2 registers without AVX).
pub(super) const LANES: usize = 4;

/// A cell's tree relative to its first node: node 0 its only root, `parent[k] < k` for the
/// others (`parent[0]` is unused).
#[derive(Debug)]
struct Shape {
    parent: Vec<u32>,
    /// The nodes but the root in [`super::by_depth`]'s order: eliminated in it, substituted
    /// in reverse, the branches' chains overlap.
    by_depth: Vec<u32>,
}

impl Shape {
    fn new(parent: Vec<u32>) -> Shape {
        let by_depth = by_depth(&parent);
        Shape { parent, by_depth }
    }

    fn len(&self) -> usize {
        self.parent.len()
    }
}

/// The tree of `cell` relative to its first node; `None` for an empty cell or one with a root
/// besides its first node.
fn parents(cable: &Cable, cell: Range<usize>) -> Option<Vec<u32>> {
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
    Some(parent)
}

/// The tree shared by `cells[..LANES]` if they make a group: adjacent and of one shape.
fn group_parents(cable: &Cable, cells: &[Range<usize>]) -> Option<Vec<u32>> {
    let run = cells.get(..LANES)?;
    if !run.windows(2).all(|w| w[0].end == w[1].start) {
        return None;
    }
    let parent = parents(cable, run[0].clone())?;
    run[1..].iter().all(|cell| parents(cable, cell.clone()).as_ref() == Some(&parent)).then_some(parent)
}

/// The nodes but the root of the tree `parent` in [`super::by_depth`]'s order.
fn by_depth(parent: &[u32]) -> Vec<u32> {
    let mut order = super::by_depth(parent.len(), |k| (k > 0).then(|| parent[k] as usize));
    // The only root, node 0, is last.
    order.pop();
    order
}

/// [`LANES`] adjacent cells of one shape: cell `l` holds the nodes from `start + l·n` on.
#[derive(Debug)]
struct Group {
    start: usize,
    /// Its index in [`Groups::shapes`].
    shape: usize,
    /// The cable's constants of its nodes in lanes, node k of cell l in lane l of entry k:
    /// gathered once here, not at every step.
    constants: Vec<Constants>,
}

/// A node's cable constants in every lane of a group.
#[derive(Copy, Clone, Debug)]
struct Constants {
    axial: Lanes,
    capacitance_dt: Lanes,
}

impl Constants {
    /// The constants of the `n` nodes of each of the [`LANES`] cells from node `start`.
    fn of(cable: &Cable, start: usize, n: usize) -> Vec<Constants> {
        let lanes = |values: &[f64], k: usize| Lanes(std::array::from_fn(|l| values[start + l * n + k]));
        (0..n)
            .map(|k| Constants { axial: lanes(&cable.axial, k), capacitance_dt: lanes(&cable.capacitance_dt, k) })
            .collect()
    }
}

/// The groups of a set of cells, found once when the cells are split into chunks (for the
/// cable they are found on: they hold its constants).
#[derive(Default, Debug)]
pub(super) struct Groups {
    shapes: Vec<Shape>,
    groups: Vec<Group>,
}

impl Groups {
    /// Whether `cells[..LANES]` make a group: adjacent and of one shape.
    pub(super) fn fit(cable: &Cable, cells: &[Range<usize>]) -> bool {
        group_parents(cable, cells).is_some()
    }

    /// Takes `cells[..LANES]` as a group if they make one.
    pub(super) fn take(&mut self, cable: &Cable, cells: &[Range<usize>]) -> bool {
        let Some(parent) = group_parents(cable, cells) else { return false };
        let constants = Constants::of(cable, cells[0].start, parent.len());
        let index = match self.shapes.iter().position(|s| s.parent == parent) {
            Some(index) => index,
            None => {
                self.shapes.push(Shape::new(parent));
                self.shapes.len() - 1
            }
        };
        self.groups.push(Group { start: cells[0].start, shape: index, constants });
        true
    }

    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }
}

/// One f64 per lane; the operators work lane by lane (LLVM makes them vector instructions).
#[derive(Copy, Clone, Default, Debug)]
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
}

thread_local! {
    /// The scratch array, one per thread and kept from step to step: no allocation per solve.
    static SCRATCH: RefCell<Vec<Node>> = const { RefCell::new(Vec::new()) };
}

/// Solves the cells of `groups` ([`super::solve_range`]'s bits on the cable the groups were
/// found on), with AVX where the processor has it, else with the baseline instructions (SSE2
/// on x86-64).
pub(super) fn solve(v: &mut [f64], rhs: &mut [f64], diagonal: &mut [f64], offset: usize, groups: &Groups) {
    if groups.groups.is_empty() {
        return;
    }
    let arrays = Arrays { v, rhs, diagonal, offset };
    SCRATCH.with_borrow_mut(|scratch| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the processor has AVX.
            return unsafe { solve_with_avx(arrays, groups, scratch) };
        }
        solve_groups::<false>(arrays, groups, scratch);
    });
}

/// [`solve_groups`] compiled for AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn solve_with_avx(arrays: Arrays, groups: &Groups, scratch: &mut Vec<Node>) {
    solve_groups::<true>(arrays, groups, scratch);
}

/// [`solve`] without the choice of instructions (the tests run it to check both paths);
/// `AVX` only where compiled for AVX.
#[inline(always)]
fn solve_groups<const AVX: bool>(mut arrays: Arrays, groups: &Groups, scratch: &mut Vec<Node>) {
    for group in &groups.groups {
        let shape = &groups.shapes[group.shape];
        scratch.resize(shape.len(), Node::default());
        let mut cells = arrays.cells(group.start, shape.len());
        assemble::<AVX>(&cells, &shape.parent, &group.constants, scratch);
        eliminate(shape, &group.constants, scratch);
        substitute::<AVX>(&mut cells, shape, &group.constants, scratch);
    }
}

/// The chunk's arrays, as [`super::solve_cells`] takes them.
struct Arrays<'a> {
    v: &'a mut [f64],
    rhs: &'a mut [f64],
    diagonal: &'a mut [f64],
    offset: usize,
}

impl Arrays<'_> {
    /// The arrays of the group of cells from node `start`, `n` nodes each.
    #[inline(always)]
    fn cells(&mut self, start: usize, n: usize) -> Cells<'_> {
        let local = start - self.offset..start - self.offset + LANES * n;
        Cells { v: &mut self.v[local.clone()], rhs: &mut self.rhs[local.clone()], diagonal: &mut self.diagonal[local] }
    }
}

/// A group's node arrays: cell after cell, `LANES · n` values each.
struct Cells<'a> {
    v: &'a mut [f64],
    rhs: &'a mut [f64],
    diagonal: &'a mut [f64],
}

/// Nodes gathered and scattered at a time: each lane's consecutive nodes are one load or
/// store, and a transposition in registers makes them lane vectors.
const BLOCK: usize = LANES;

/// Rows to columns of a block: the lanes' nodes to the nodes' lanes and back.
#[inline(always)]
fn transpose<const AVX: bool>(rows: [[f64; BLOCK]; LANES]) -> [[f64; LANES]; BLOCK] {
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is only true in code compiled for AVX, which runs where the processor
        // has it (`solve`).
        return unsafe { avx::transpose(rows) };
    }
    std::array::from_fn(|j| std::array::from_fn(|l| rows[l][j]))
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::{
        _mm256_loadu_pd, _mm256_permute2f128_pd, _mm256_storeu_pd, _mm256_unpackhi_pd, _mm256_unpacklo_pd,
    };

    /// [`super::transpose`] of a 4×4 block in AVX registers (what LLVM does not find itself).
    #[inline]
    #[target_feature(enable = "avx")]
    pub(super) fn transpose(rows: [[f64; 4]; 4]) -> [[f64; 4]; 4] {
        // SAFETY: every pointer is to four f64.
        let [r0, r1, r2, r3] = unsafe { [0, 1, 2, 3].map(|l| _mm256_loadu_pd(rows[l].as_ptr())) };
        // [r0[0], r1[0], r0[2], r1[2]], [r0[1], r1[1], r0[3], r1[3]], and so for r2, r3.
        let (low01, high01) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
        let (low23, high23) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
        let columns = [
            _mm256_permute2f128_pd::<0x20>(low01, low23),
            _mm256_permute2f128_pd::<0x20>(high01, high23),
            _mm256_permute2f128_pd::<0x31>(low01, low23),
            _mm256_permute2f128_pd::<0x31>(high01, high23),
        ];
        let mut out = [[0.0; 4]; 4];
        for (column, out) in columns.into_iter().zip(&mut out) {
            // SAFETY: `out` holds four f64.
            unsafe { _mm256_storeu_pd(out.as_mut_ptr(), column) };
        }
        out
    }
}

/// `field` of every node of `scratch` from `cells` (cell after cell): node k of lane l is
/// `cells[l·n + k]`.
#[inline(always)]
fn gather<const AVX: bool>(cells: &[f64], scratch: &mut [Node], field: impl Fn(&mut Node) -> &mut Lanes) {
    let n = scratch.len();
    let lanes: [&[f64]; LANES] = std::array::from_fn(|l| &cells[l * n..(l + 1) * n]);
    let mut blocks = scratch.chunks_exact_mut(BLOCK);
    for (b, block) in (&mut blocks).enumerate() {
        let rows = std::array::from_fn(|l| lanes[l][b * BLOCK..(b + 1) * BLOCK].try_into().expect("a block"));
        for (node, column) in block.iter_mut().zip(transpose::<AVX>(rows)) {
            field(node).0 = column;
        }
    }
    let first = n - blocks.into_remainder().len();
    for (k, node) in scratch.iter_mut().enumerate().skip(first) {
        *field(node) = Lanes(std::array::from_fn(|l| lanes[l][k]));
    }
}

/// [`gather`] backwards: `field` of every node of `scratch` into `cells`.
#[inline(always)]
fn scatter<const AVX: bool>(scratch: &[Node], cells: &mut [f64], field: impl Fn(&Node) -> &Lanes) {
    let n = scratch.len();
    let mut lanes = cells.chunks_exact_mut(n);
    let mut lanes: [&mut [f64]; LANES] = std::array::from_fn(|_| lanes.next().expect("LANES cells of n nodes"));
    let blocks = scratch.chunks_exact(BLOCK);
    let first = n - blocks.remainder().len();
    for (b, block) in blocks.enumerate() {
        let columns = std::array::from_fn(|j| field(&block[j]).0);
        for (lane, row) in lanes.iter_mut().zip(transpose::<AVX>(columns)) {
            lane[b * BLOCK..(b + 1) * BLOCK].copy_from_slice(&row);
        }
    }
    for (k, node) in scratch.iter().enumerate().skip(first) {
        for (l, lane) in lanes.iter_mut().enumerate() {
            lane[k] = field(node).0[l];
        }
    }
}

/// Gathers the group into `scratch` and assembles it as [`super::solve_range`] does: C/dt on
/// the diagonal, then per edge the axial current and conductance into the child and its parent.
#[inline(always)]
fn assemble<const AVX: bool>(cells: &Cells, parent: &[u32], constants: &[Constants], scratch: &mut [Node]) {
    gather::<AVX>(cells.v, scratch, |node| &mut node.v);
    gather::<AVX>(cells.rhs, scratch, |node| &mut node.rhs);
    gather::<AVX>(cells.diagonal, scratch, |node| &mut node.diagonal);
    for ((k, &p), constant) in parent.iter().enumerate().zip(constants) {
        let mut node = scratch[k];
        node.diagonal = node.diagonal + constant.capacitance_dt;
        if k > 0 {
            let (g, parent) = (constant.axial, &mut scratch[p as usize]);
            let current = g * (parent.v - node.v);
            node.rhs = node.rhs + current;
            parent.rhs = parent.rhs - current;
            node.diagonal = node.diagonal + g;
            parent.diagonal = parent.diagonal + g;
        }
        scratch[k] = node;
    }
}

/// Every node but the root eliminated into its parent, deepest first ([`Shape::by_depth`]).
#[inline(always)]
fn eliminate(shape: &Shape, constants: &[Constants], scratch: &mut [Node]) {
    for &k in &shape.by_depth {
        let (node, g) = (scratch[k as usize], constants[k as usize].axial);
        let parent = &mut scratch[shape.parent[k as usize] as usize];
        let factor = g / node.diagonal;
        parent.diagonal = parent.diagonal - factor * g;
        parent.rhs = parent.rhs + factor * node.rhs;
    }
}

/// Substitutes down from the root, shallowest first ([`Shape::by_depth`] reversed): rhs
/// becomes Δv, v += Δv; then scatters v back and zeroes rhs and diagonal
/// ([`super::solve_cells`]).
#[inline(always)]
fn substitute<const AVX: bool>(cells: &mut Cells, shape: &Shape, constants: &[Constants], scratch: &mut [Node]) {
    let root = scratch[0];
    scratch[0].rhs = root.rhs / root.diagonal;
    scratch[0].v = root.v + scratch[0].rhs;
    for &k in shape.by_depth.iter().rev() {
        let node = scratch[k as usize];
        let g = constants[k as usize].axial;
        let dv = (node.rhs + g * scratch[shape.parent[k as usize] as usize].rhs) / node.diagonal;
        scratch[k as usize].rhs = dv;
        scratch[k as usize].v = node.v + dv;
    }
    scatter::<AVX>(scratch, cells.v, |node| &node.v);
    cells.rhs.fill(0.0);
    cells.diagonal.fill(0.0);
}

#[cfg(test)]
pub(super) fn solve_portably(v: &mut [f64], rhs: &mut [f64], diagonal: &mut [f64], offset: usize, groups: &Groups) {
    let arrays = Arrays { v, rhs, diagonal, offset };
    solve_groups::<false>(arrays, groups, &mut Vec::new());
}
