//! Tests of the cable discretization and the SWC import: helpers shared by the topics, which
//! live in `cable.rs` (section specs → cable trees), `swc.rs` (Import3d's rules on small and real
//! files), `swc_errors.rs` (files with problems: diagnostics, spans, caps) and `swc_neuron.rs`
//! (every file of `tests/data/swc/` against NEURON's numbers).

mod cable;
mod swc;
mod swc_errors;
mod swc_neuron;

use super::*;
use crate::source::FileId;

fn cyl(name: &str, parent: Option<(usize, f64)>, l: f64, d: f64, nseg: u32) -> SectionSpec {
    SectionSpec {
        name: name.into(),
        parent,
        geometry: Geometry::Cylinder { length_um: l, diam_um: d },
        nseg: Nseg::Fixed(nseg),
        ra_ohm_cm: 100.0,
        cm_uf_cm2: 1.0,
        kind: SectionKind::Dend,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

#[track_caller]
fn assert_close(a: f64, b: f64, rel: f64) {
    assert!(close(a, b, rel), "{a} != {b} (rel {rel})");
}

fn check_invariants(t: &CableTree) {
    assert_eq!(t.nodes[0].parent, None);
    for (i, n) in t.nodes.iter().enumerate().skip(1) {
        let p = n.parent.expect("only node 0 has no parent");
        assert!((p as usize) < i, "node {i} has parent {p}");
        assert!(n.r_to_parent_mohm > 0.0);
        assert!(n.area_um2 >= 0.0);
    }
    for s in &t.sections {
        assert_eq!(s.centres.len(), s.nseg as usize);
        assert_eq!(t.nodes[s.end as usize].area_um2, 0.0);
        assert_eq!(t.nodes[s.end as usize].x, 1.0);
    }
}

fn read(name: &str) -> String {
    let path = format!("{}/../tests/data/swc/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn import(name: &str) -> SwcCell {
    let (samples, diags) = parse_swc(FileId(0), &read(name));
    assert!(diags.iter().all(|d| !d.is_error()), "{name}: {diags:#?}");
    swc_to_sections(FileId(0), &samples, &SwcOptions::default()).unwrap()
}

fn tree_of(cell: &SwcCell) -> CableTree {
    let specs: Vec<SectionSpec> = cell.sections.iter().map(|s| s.to_spec(Nseg::Fixed(1), 100.0, 1.0)).collect();
    let t = discretize(&specs).unwrap();
    check_invariants(&t);
    t
}

/// The points as NEURON stores them (`f32`), so that expectations can be written as decimals.
fn xyzd(s: &SwcSection) -> Vec<[f32; 4]> {
    s.points.iter().map(|p| [p.x as f32, p.y as f32, p.z as f32, p.diam as f32]).collect()
}

/// `n` samples in a chain along x, radius `r(i)` for sample i (1-based); sample 1 is the root.
fn chain(n: usize, r: impl Fn(usize) -> String) -> String {
    (1..=n)
        .map(|i| format!("{i} {} {} 0 0 {} {}\n", if i == 1 { 1 } else { 3 }, i * 2, r(i), i as i64 - 1))
        .map(|l| if l.ends_with(" 0\n") { l.replacen(" 0\n", " -1\n", 1) } else { l })
        .collect()
}
