use std::collections::HashMap;
use std::f64::consts::PI;

use super::*;
use crate::diagnostics::Code;
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

fn ball_and_stick() -> Vec<SectionSpec> {
    vec![cyl("soma", None, 20.0, 20.0, 1), cyl("dend", Some((0, 1.0)), 500.0, 1.0, 21)]
}

#[test]
fn ball_and_stick_matches_spec() {
    let t = discretize(&ball_and_stick()).unwrap();
    check_invariants(&t);
    assert_eq!(t.nodes.len(), 25);
    let (soma, dend) = (&t.sections[0], &t.sections[1]);
    // soma(0), soma centre, soma(1) = dend(0).
    assert_eq!((soma.start, soma.centres[0], soma.end), (0, 1, 2));
    assert_eq!(dend.start, soma.end);
    assert_close(t.nodes[1].area_um2, 1256.637, 1e-6);
    assert_close(t.nodes[1].r_to_parent_mohm, 0.0318310, 1e-5);
    assert_close(t.nodes[2].r_to_parent_mohm, 0.0318310, 1e-5);
    for (i, &c) in dend.centres.iter().enumerate() {
        let n = &t.nodes[c as usize];
        assert_close(n.area_um2, 74.79983, 1e-6);
        assert_close(n.r_to_parent_mohm, if i == 0 { 15.15761 } else { 30.31523 }, 1e-6);
        assert_close(n.x, (i as f64 + 0.5) / 21.0, 1e-15);
    }
    assert_close(t.nodes[dend.end as usize].r_to_parent_mohm, 15.15761, 1e-6);
    assert_close(t.total_area_um2(), 1256.637 + 500.0 * PI, 1e-6);
    // Recordings.
    assert_eq!(t.node_at(0, 0.5), 1);
    assert_eq!(t.node_at(1, 0.5), dend.centres[10]);
    assert_eq!(t.nodes[dend.centres[10] as usize].x, 0.5);
    assert_eq!(t.node_at(1, 1.0), dend.end);
    assert_eq!(t.node_at(1, 0.0), 2);
    // dend(0.5) is 250 µm from soma(1), 260 µm from soma(0.5).
    assert_close(t.nodes[dend.centres[10] as usize].distance_um, 260.0, 1e-12);
    assert_close(t.path_distance_um(1, 1.0), 510.0, 1e-12);
}

#[test]
fn hh_soma_has_three_nodes() {
    let t = discretize(&[cyl("soma", None, 20.0, 20.0, 1)]).unwrap();
    assert_eq!(t.nodes.len(), 3);
    assert_close(t.nodes[1].area_um2, 1256.637, 1e-6);
    assert_eq!(t.node_at(0, 0.5), 1);
}

#[test]
fn passive_cable_matches_spec() {
    let t = discretize(&[cyl("cable", None, 1000.0, 2.0, 101)]).unwrap();
    check_invariants(&t);
    assert_eq!(t.nodes.len(), 103);
    let s = &t.sections[0];
    for (i, &c) in s.centres.iter().enumerate() {
        // spec.md says 62.20982; π·2·1000/101 = 62.209756 (the spec's figure is off by 1e-6 relative).
        assert_close(t.nodes[c as usize].area_um2, 62.20982, 2e-6);
        assert_close(t.nodes[c as usize].area_um2, PI * 2.0 * 1000.0 / 101.0, 1e-15);
        // spec.md's 3.151576 / 1.575788 are 2e-6 low; the formula gives 3.1515830 / 1.5757915.
        assert_close(t.nodes[c as usize].r_to_parent_mohm, if i == 0 { 1.575788 } else { 3.151576 }, 5e-6);
        let half = 4.0 * 100.0 * (1000.0 / 202.0) / (PI * 4.0) * 1e-2;
        assert_close(t.nodes[c as usize].r_to_parent_mohm, if i == 0 { half } else { 2.0 * half }, 1e-14);
    }
    assert_close(t.nodes[s.end as usize].r_to_parent_mohm, 1.575788, 5e-6);
    assert_eq!(t.node_at(0, 0.0), 0);
    assert_eq!(t.node_at(0, 0.25), s.centres[25]);
    assert_close(t.nodes[s.centres[25] as usize].x, 25.5 / 101.0, 1e-15);
    assert_eq!(t.node_at(0, 0.5), s.centres[50]);
    assert_eq!(t.nodes[s.centres[50] as usize].x, 0.5);
    assert_eq!(t.node_at(0, 1.0), 102);
}

#[test]
fn y_tree_matches_spec() {
    let secs = vec![
        cyl("soma", None, 20.0, 20.0, 1),
        cyl("trunk", Some((0, 1.0)), 200.0, 3.0, 9),
        cyl("daughter1", Some((1, 1.0)), 300.0, 1.5, 11),
        cyl("daughter2", Some((1, 1.0)), 150.0, 0.8, 7),
    ];
    let t = discretize(&secs).unwrap();
    check_invariants(&t);
    assert_eq!(t.nodes.len(), 33);
    let (trunk, d1, d2) = (&t.sections[1], &t.sections[2], &t.sections[3]);
    let branch = trunk.end;
    assert_eq!(d1.start, branch);
    assert_eq!(d2.start, branch);
    assert_eq!(t.nodes.iter().filter(|n| n.parent == Some(branch)).count(), 2);
    assert_close(t.nodes[branch as usize].r_to_parent_mohm, 1.571901, 1e-6);
    assert_close(t.nodes[d1.centres[0] as usize].r_to_parent_mohm, 7.716603, 1e-6);
    assert_close(t.nodes[d2.centres[0] as usize].r_to_parent_mohm, 21.315394, 1e-6);
    assert_close(t.nodes[d1.end as usize].r_to_parent_mohm, 7.716603, 1e-6);
    assert_close(t.nodes[trunk.centres[1] as usize].r_to_parent_mohm, 2.0 * 1.571901, 1e-6);
    assert_close(t.nodes[trunk.centres[0] as usize].area_um2, 209.4395, 1e-6);
    assert_close(t.nodes[d1.centres[0] as usize].area_um2, 128.5196, 1e-6);
    assert_close(t.nodes[d2.centres[0] as usize].area_um2, 53.8559, 1e-5);
    // Recordings: soma(0.5), trunk(0.5) = centre 4, daughter tips.
    assert_eq!(t.node_at(0, 0.5), 1);
    assert_eq!(t.node_at(1, 0.5), trunk.centres[4]);
    assert_eq!(t.nodes[trunk.centres[4] as usize].x, 0.5);
    assert_eq!(t.node_at(2, 1.0), d1.end);
    assert_eq!(t.node_at(3, 1.0), d2.end);
    // Depth-first order: soma, trunk, daughter1, daughter2.
    assert_eq!(t.section_order, vec![0, 1, 2, 3]);
    assert_eq!(d2.centres[0], d1.end + 1);
}

#[test]
fn sections_in_any_order_and_interior_attachment() {
    // Child listed before its parent, attached at the parent's interior and x = 0.
    let secs = vec![
        cyl("b", Some((1, 0.3)), 100.0, 1.0, 3),
        cyl("a", None, 100.0, 2.0, 5),
        cyl("c", Some((0, 0.0)), 50.0, 1.0, 1),
    ];
    let t = discretize(&secs).unwrap();
    check_invariants(&t);
    assert_eq!(t.root, 1);
    assert_eq!(t.sections[0].start, t.sections[1].centres[1]); // 0.3*5 = 1.5 -> segment 1
    assert_eq!(t.sections[2].start, t.sections[0].start); // b(0) is a's centre 1
    assert_eq!(t.node_at(0, 0.0), t.sections[1].centres[1]);
    // No interpolation: b's first half-segment joins straight to a's centre.
    assert_close(
        t.nodes[t.sections[0].centres[0] as usize].r_to_parent_mohm,
        1e-2 * 100.0 * (100.0 / 6.0) / (PI / 4.0),
        1e-12,
    );
    // Distances use the attachment location: a(0.3) is 20 µm from a(0.5).
    assert_close(t.path_distance_um(0, 0.5), 20.0 + 50.0, 1e-12);
    assert_eq!(t.node_at(1, 0.999_999), t.sections[1].centres[4]);
}

#[test]
fn errors() {
    let e = discretize(&[]).unwrap_err();
    assert_eq!(e, vec![MorphError::Empty]);
    let e = discretize(&[cyl("a", None, 1.0, 1.0, 1), cyl("b", None, 1.0, 1.0, 1)]).unwrap_err();
    assert_eq!(e, vec![MorphError::MultipleRoots { roots: vec![0, 1] }]);
    assert_eq!(e[0].code(), Code::RootCount);
    let e = discretize(&[cyl("a", Some((1, 1.0)), 1.0, 1.0, 1), cyl("b", Some((0, 1.0)), 1.0, 1.0, 1)]).unwrap_err();
    assert_eq!(e, vec![MorphError::NoRoot]);
    let e = discretize(&[
        cyl("r", None, 1.0, 1.0, 1),
        cyl("a", Some((2, 1.0)), 1.0, 1.0, 1),
        cyl("b", Some((1, 1.0)), 1.0, 1.0, 1),
        cyl("c", Some((2, 1.0)), 1.0, 1.0, 1),
    ])
    .unwrap_err();
    assert_eq!(e, vec![MorphError::Cycle { sections: vec![1, 2] }]);
    assert_eq!(
        e[0].message(|i| ["r", "a", "b", "c"][i].to_string()),
        "sections `a` -> `b` are attached to each other in a cycle"
    );
    let e = discretize(&[
        cyl("r", None, 0.0, -1.0, 0),
        cyl("a", Some((0, 1.5)), 1.0, 1.0, 1),
        cyl("b", Some((7, 1.0)), 1.0, 1.0, 1),
    ])
    .unwrap_err();
    assert_eq!(
        e,
        vec![
            MorphError::NonPositive { section: 0, what: "length", value: 0.0 },
            MorphError::NonPositive { section: 0, what: "diam", value: -1.0 },
            MorphError::NonPositive { section: 0, what: "nseg", value: 0.0 },
            MorphError::LocationOutOfRange { section: 1, x: 1.5 },
            MorphError::MissingParent { section: 2, parent: 7 },
        ]
    );
    let mut one_point = cyl("p", None, 1.0, 1.0, 1);
    one_point.geometry = Geometry::Points(vec![Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 1.0 }]);
    assert_eq!(discretize(&[one_point]).unwrap_err(), vec![MorphError::TooFewPoints { section: 0, count: 1 }]);
    // A negative 3-D diameter is refused (0 is NEURON's "no membrane" and accepted).
    let mut negative = cyl("a", None, 1.0, 1.0, 1);
    negative.geometry = Geometry::Points(vec![
        Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 1.0 },
        Point3 { x: 5.0, y: 0.0, z: 0.0, diam: -1.0 },
    ]);
    let e = discretize(&[negative]).unwrap_err();
    assert!(matches!(e[..], [MorphError::NonPositive { what: "3-D point diam", .. }]), "{e:?}");
    assert_eq!(e[0].message(|_| "a".into()), "section `a` has 3-D point diam = -1, which must be positive");
}

#[test]
fn d_lambda_rule() {
    let dl = |l: f64, d: f64| {
        let mut s = cyl("s", None, l, d, 1);
        s.nseg = Nseg::DLambda { d_lambda: 0.1, frequency_hz: 100.0 };
        nseg_for(&s)
    };
    // lambda_100 = 1e5*sqrt(d/(4π·100·100·1)): d = 1 -> 282.09 µm; 500/28.209 = 17.72 -> 19.
    assert_eq!(dl(500.0, 1.0), 19);
    // d = 20 -> 1261.6 µm; 20/126.16 = 0.16 -> 1.
    assert_eq!(dl(20.0, 20.0), 1);
    // d = 2 -> 398.94 µm; 1000/39.894 = 25.07 -> int(25.97/2)*2+1 = 25.
    assert_eq!(dl(1000.0, 2.0), 25);
    // Just below and above a step: L/(0.1·λ) = 1.1 -> 1, 1.1 + 0.01 -> 3.
    let lam = 1e5 * (1.0 / (4.0 * PI * 100.0 * 100.0)).sqrt();
    assert_eq!(dl(1.09 * 0.1 * lam, 1.0), 1);
    assert_eq!(dl(1.11 * 0.1 * lam, 1.0), 3);
    // Ra and cm enter as their product: Ra = 150, cm = 2 -> lambda_100 = 230.33 µm for d = 2;
    // 500/23.033 = 21.71 -> 23 (Ra / cm or Ra + cm would give 11 or 17).
    let mut s = cyl("s", None, 500.0, 2.0, 1);
    (s.ra_ohm_cm, s.cm_uf_cm2) = (150.0, 2.0);
    s.nseg = Nseg::DLambda { d_lambda: 0.1, frequency_hz: 100.0 };
    assert_eq!(nseg_for(&s), 23);
    // Uniform 3-D points give the cylinder's answer.
    let mut s = cyl("s", None, 1.0, 1.0, 1);
    s.nseg = Nseg::DLambda { d_lambda: 0.1, frequency_hz: 100.0 };
    s.geometry = Geometry::Points(vec![
        Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 1.0 },
        Point3 { x: 300.0, y: 0.0, z: 0.0, diam: 1.0 },
        Point3 { x: 300.0, y: 200.0, z: 0.0, diam: 1.0 },
    ]);
    assert_eq!(nseg_for(&s), 19);
    let t = discretize(&[s.clone()]).unwrap();
    assert_eq!(t.sections[0].nseg, 19);
    // A taper (diameters 1, 1, 3) with Ra = 150, cm = 2: fixnseg.hoc's sum of
    // Δx/sqrt(d_i-1 + d_i) gives 29 (d_i + d_i would give 27, Ra / cm 15).
    s.geometry = Geometry::Points(vec![
        Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 1.0 },
        Point3 { x: 300.0, y: 0.0, z: 0.0, diam: 1.0 },
        Point3 { x: 300.0, y: 200.0, z: 0.0, diam: 3.0 },
    ]);
    (s.ra_ohm_cm, s.cm_uf_cm2) = (150.0, 2.0);
    assert_eq!(nseg_for(&s), 29);
    assert_eq!(t.section_length(0), 500.0);
}

#[test]
fn points_uniform_equal_cylinder() {
    let mut p = cyl("p", None, 1.0, 1.0, 7);
    p.geometry = Geometry::Points(vec![
        Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 2.0 },
        Point3 { x: 100.0, y: 0.0, z: 0.0, diam: 2.0 },
        Point3 { x: 100.0, y: 60.0, z: 80.0, diam: 2.0 },
        Point3 { x: 100.0, y: 120.0, z: 160.0, diam: 2.0 },
    ]);
    let tp = discretize(&[p]).unwrap();
    let tc = discretize(&[cyl("c", None, 300.0, 2.0, 7)]).unwrap();
    for (a, b) in tp.nodes.iter().zip(&tc.nodes) {
        assert_close(a.area_um2 + 1.0, b.area_um2 + 1.0, 1e-12);
        assert_close(a.r_to_parent_mohm + 1.0, b.r_to_parent_mohm + 1.0, 1e-12);
    }
    assert_close(tp.section_diam_at(0, 0.3), 2.0, 1e-12);
}

#[test]
fn points_taper_frustum_formulas() {
    // One frustum, diam 4 -> 2 over 10 µm, nseg = 1: halves split at 5 µm (diam 3).
    let mut p = cyl("p", None, 1.0, 1.0, 1);
    p.geometry = Geometry::Points(vec![
        Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 4.0 },
        Point3 { x: 10.0, y: 0.0, z: 0.0, diam: 2.0 },
    ]);
    let t = discretize(&[p]).unwrap();
    let slant = (25.0f64 + 0.25).sqrt();
    let area = PI * (4.0 + 3.0) / 2.0 * slant + PI * (3.0 + 2.0) / 2.0 * slant;
    assert_close(t.nodes[1].area_um2, area, 1e-12);
    // 4 Ra dx/(π d1 d2) · 1e-2 per half.
    assert_close(t.nodes[1].r_to_parent_mohm, 4.0 * 100.0 * 5.0 / (PI * 12.0) * 1e-2, 1e-12);
    assert_close(t.nodes[2].r_to_parent_mohm, 4.0 * 100.0 * 5.0 / (PI * 6.0) * 1e-2, 1e-12);
    assert_close(t.section_diam_at(0, 0.5), 3.0, 1e-12);
    // nseg = 2: segment boundaries at 2.5, 5, 7.5 µm.
    let mut p2 = cyl("p", None, 1.0, 1.0, 2);
    p2.geometry = Geometry::Points(vec![
        Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 4.0 },
        Point3 { x: 3.0, y: 0.0, z: 0.0, diam: 3.4 },
        Point3 { x: 10.0, y: 0.0, z: 0.0, diam: 2.0 },
    ]);
    let t2 = discretize(&[p2]).unwrap();
    // Total area is the sum of the two frusta whatever the split.
    let total = PI * (4.0 + 3.4) / 2.0 * (9.0f64 + 0.09).sqrt() + PI * (3.4 + 2.0) / 2.0 * (49.0f64 + 0.49).sqrt();
    assert_close(t2.total_area_um2(), total, 1e-6);
}

// ---------------------------------------------------------------- SWC

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

fn names(cell: &SwcCell) -> Vec<(&str, Option<(usize, f64)>)> {
    cell.sections.iter().map(|s| (s.name.as_str(), s.parent)).collect()
}

/// The points as NEURON stores them (`f32`), so that expectations can be written as decimals.
fn xyzd(s: &SwcSection) -> Vec<[f32; 4]> {
    s.points.iter().map(|p| [p.x as f32, p.y as f32, p.z as f32, p.diam as f32]).collect()
}

#[test]
fn swc_single_point_soma_three_types() {
    let cell = import("morph_3_types_single_point_soma.swc");
    assert_eq!(names(&cell), vec![("soma[0]", None), ("axon[0]", Some((0, 0.5))), ("dend[0]", Some((0, 0.5)))]);
    // Sphere r = 1 -> cylinder along x, L = diam = 2.
    assert_eq!(xyzd(&cell.sections[0]), vec![[-1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 2.0], [1.0, 0.0, 0.0, 2.0]]);
    // Branches start at their own first sample (no wire to the soma centre).
    assert_eq!(xyzd(&cell.sections[1]), vec![[2.0, 0.0, 0.0, 0.2], [3.0, 0.0, 0.0, 0.2]]);
    assert_eq!(cell.sections[2].points.len(), 3);
    let t = tree_of(&cell);
    assert_close(t.nodes[t.sections[0].centres[0] as usize].area_um2, 4.0 * PI, 1e-6);
    assert_close(t.nodes[t.sections[1].centres[0] as usize].area_um2, PI * 0.2, 1e-6);
    let dend = PI * 0.5 * (1.0f64 + 0.01).sqrt() + PI * 0.3 * (1.0f64 + 0.01).sqrt();
    assert_close(t.nodes[t.sections[2].centres[0] as usize].area_um2, dend, 1e-6);
    // Both branches hang off the soma centre.
    assert_eq!(t.sections[1].start, t.sections[0].centres[0]);
}

#[test]
fn swc_soma_both_ends() {
    let cell = import("morph_soma_both_ends.swc");
    assert_eq!(names(&cell), vec![("soma[0]", None), ("dend[0]", Some((0, 1.0))), ("dend[1]", Some((0, 0.0)))]);
    // The copied soma point takes the dendrite's first diameter.
    assert_eq!(xyzd(&cell.sections[1]), vec![[1.0, 0.0, 0.0, 2.0], [2.1, 0.0, 0.0, 2.0], [3.2, 0.0, 0.0, 2.0]]);
    assert_eq!(xyzd(&cell.sections[2])[0], [0.0, 0.0, 0.0, 2.0]);
    let t = tree_of(&cell);
    assert_close(t.section_length(1), 2.2, 1e-6);
    assert_close(t.section_length(2), 2.6, 1e-6);
    assert_eq!(t.sections[2].start, 0);
}

#[test]
fn swc_somatic_branchpoint() {
    let cell = import("morph_somatic_branchpoint.swc");
    assert_eq!(
        names(&cell),
        vec![("soma[0]", None), ("axon[0]", Some((0, 0.0))), ("soma[1]", Some((0, 0.0))), ("dend[0]", Some((0, 1.0)))]
    );
    // The axon leaves a somatic branch point, so it does not include it.
    assert_eq!(xyzd(&cell.sections[1]), vec![[0.0, -2.0, 0.0, 2.0], [0.0, -3.0, 0.0, 2.0]]);
    // The second soma piece and the dendrite start at the parent point.
    assert_eq!(xyzd(&cell.sections[2])[0], [0.0, 0.0, 0.0, 2.0]);
    assert_eq!(xyzd(&cell.sections[3])[0], [1.0, 0.0, 0.0, 2.0]);
    assert_eq!(cell.sections[3].points.len(), 3);
}

/// Per-section NEURON 9.0.2 numbers (nseg = 1, Ra = 100 ohm*cm): (name, area um2, ri MOhm
/// of the centre node, ri MOhm of the x = 1 node). Produced by
///
/// ```text
/// /tmp/nrnvenv/bin/python -c "
/// import sys
/// from neuron import h
/// h.load_file('import3d.hoc')
/// r = h.Import3d_SWC_read(); r.input(sys.argv[1])
/// h.Import3d_GUI(r, False).instantiate(None)
/// secs = list(h.allsec())
/// for s in secs: s.nseg = 1; s.Ra = 100
/// print(len(secs), '%.17g' % sum(seg.area() for s in secs for seg in s))
/// for s in secs: print(s.name(), s.parentseg(), '%.17g %.17g %.17g' % (s(0.5).area(), s(0.5).ri(), s(1).ri()))
/// " tests/data/swc/FILE.swc
/// ```
#[track_caller]
fn assert_neuron_sections(cell: &SwcCell, expect: &[(&str, f64, f64, f64)]) {
    let t = tree_of(cell);
    for &(name, area, ri, ri_end) in expect {
        let i = cell.sections.iter().position(|s| s.name == name).unwrap_or_else(|| panic!("no {name}"));
        let sn = &t.sections[i];
        assert_close(t.nodes[sn.centres[0] as usize].area_um2, area, 1e-12);
        assert_close(t.nodes[sn.centres[0] as usize].r_to_parent_mohm, ri, 1e-12);
        assert_close(t.nodes[sn.end as usize].r_to_parent_mohm, ri_end, 1e-12);
    }
}

#[test]
// NEURON's %.17g output, kept verbatim.
#[allow(clippy::excessive_precision, clippy::approx_constant)]
fn swc_non_somatic_branchpoint() {
    let cell = import("morph_non_somatic_branchpoint.swc");
    // The root sample is not soma, so its non-contiguous children attach at the root's x = 0
    // and do not make it a branch point (`mark_branch`, `p == 0`): apic[0] is samples 1-2, not
    // a one-point sphere.
    assert_eq!(
        names(&cell),
        vec![("apic[0]", None), ("axon[0]", Some((0, 0.0))), ("apic[1]", Some((0, 0.0))), ("dend[0]", Some((0, 1.0)))]
    );
    assert_eq!(xyzd(&cell.sections[0]), vec![[0.0, 0.0, 0.0, 2.0], [1.0, 0.0, 0.0, 2.0]]);
    assert_eq!(xyzd(&cell.sections[1]), vec![[0.0, 0.0, 0.0, 2.0], [0.0, -2.0, 0.0, 2.0], [0.0, -3.0, 0.0, 2.0]]);
    assert_eq!(xyzd(&cell.sections[2]), vec![[0.0, 0.0, 0.0, 2.0], [-1.0, 0.0, 0.0, 2.0], [-2.0, 0.0, 0.0, 2.0]]);
    assert_eq!(xyzd(&cell.sections[3]), vec![[1.0, 0.0, 0.0, 2.0], [5.0, 0.0, 0.0, 2.0], [6.0, 0.0, 0.0, 2.0]]);
    // NEURON 9.0.2 (command at `assert_neuron_sections`): 4 sections, 69.115038378975456 um2.
    assert_neuron_sections(
        &cell,
        &[
            ("axon[0]", 18.849555921538759, 0.47746482927568606, 0.47746482927568606),
            ("dend[0]", 31.415926535897931, 0.79577471545947676, 0.79577471545947676),
            ("apic[0]", 6.2831853071795862, 0.15915494309189535, 0.15915494309189535),
            ("apic[1]", 12.566370614359178, 0.31830988618379108, 0.31830988618379069),
        ],
    );
    assert_close(tree_of(&cell).total_area_um2(), 69.115038378975456, 1e-12);
}

#[test]
// NEURON's %.17g output, kept verbatim.
#[allow(clippy::excessive_precision, clippy::approx_constant)]
fn swc_allen_matches_neuron() {
    let cell = import("morph_allen_485574832.swc");
    assert_eq!(cell.sections.len(), 99);
    // One-point soma of radius 6.0176 at x = 497.529: NEURON reads both as f32 (`sscanf %f`),
    // takes d = 2r and x -+ d/2 in double, writes them with %.8g and stores f32.
    assert_eq!(
        xyzd(&cell.sections[0]),
        vec![
            [491.51139, 630.93091, 41.6346, 12.0352],
            [497.529, 630.93091, 41.6346, 12.0352],
            [503.5466, 630.93091, 41.6346, 12.0352]
        ]
    );
    // NEURON 9.0.2 (command at `assert_neuron_sections`): 99 sections, 6681.8924654509474 um2.
    assert_neuron_sections(
        &cell,
        &[
            ("soma[0]", 455.04791019620768, 0.052896559600192773, 0.052896559600192752),
            ("axon[0]", 181.48172279903559, 147.32336241986906, 194.28269653088122),
            ("dend[0]", 9.2372626989463402, 3.6450317044001501, 3.6450317044001501),
            ("dend[39]", 40.004866298815088, 37.549881116287338, 99.934872736615546),
            ("apic[0]", 56.158683077522056, 12.36716398105473, 17.973042192015729),
            ("apic[1]", 37.07884865178049, 14.582377024580026, 12.727159623048557),
            ("apic[54]", 63.074333647694338, 80.113144199424241, 100.85234499345792),
            ("apic[56]", 47.915170623997803, 58.690739951725085, 94.471506103414299),
        ],
    );
    let t = tree_of(&cell);
    assert_close(t.total_area_um2(), 6681.8924654509474, 1e-12);
    let parent = |n: &str| {
        let s = cell.sections.iter().find(|s| s.name == n).unwrap();
        s.parent.map(|(p, x)| (cell.sections[p].name.as_str(), x))
    };
    assert_eq!(parent("axon[0]"), Some(("soma[0]", 0.5)));
    assert_eq!(parent("dend[39]"), Some(("dend[37]", 1.0)));
    assert_eq!(parent("apic[56]"), Some(("apic[52]", 1.0)));
}

#[test]
fn swc_interrupted_soma() {
    let cell = import("morph_interrupted_soma.swc");
    assert_eq!(names(&cell), vec![("soma[0]", None), ("dend[0]", Some((0, 1.0))), ("soma[1]", Some((0, 0.0)))]);
    assert_eq!(cell.sections[2].sample_ids, vec![5, 6]);
    assert_eq!(cell.sections[2].points.len(), 3);
    tree_of(&cell);
}

#[test]
fn swc_minimal() {
    let cell = import("morph_minimal.swc");
    assert_eq!(
        names(&cell),
        vec![("soma[0]", None), ("apic[0]", Some((0, 1.0))), ("apic[1]", Some((0, 0.0))), ("dend[0]", Some((0, 1.0)))]
    );
    // Copied soma point with the dendrite's diameter (2 × 1.66).
    assert_eq!(xyzd(&cell.sections[1])[0], [0.0, 1.2, 0.0, 3.32]);
    tree_of(&cell);
}

#[test]
fn swc_variable_radius_single_section() {
    let cell = import("morph_variable_radiuses_within_branch.swc");
    assert_eq!(names(&cell), vec![("soma[0]", None)]);
    let t = tree_of(&cell);
    let area = PI * (30.0 + 0.4) / 2.0 * (1600.0f64 + 14.8 * 14.8).sqrt() + 2.0 * PI * 0.4 * 40.0;
    assert_close(t.total_area_um2(), area, 1e-6);
    assert_close(t.section_length(0), 120.0, 1e-12);
}

#[test]
fn swc_three_point_soma_is_a_sphere() {
    let text = "1 1 0 0 0 5 -1\n2 1 0 -5 0 5 1\n3 1 0 5 0 5 1\n4 3 0 -8 0 1 2\n5 3 0 -12 0 1 4\n";
    // Point 2 has a child, so this is not the NeuroMorpho sphere: a 3-point chain instead.
    let (s, d) = parse_swc(FileId(0), text);
    assert!(d.is_empty());
    let cell = swc_to_sections(FileId(0), &s, &SwcOptions::default()).unwrap();
    assert!(cell.sections.len() > 1);
    let text =
        "1 1 0 0 0 5 -1\n2 1 0 -5 0 5 1\n3 1 0 5 0 5 1\n4 3 3 0 0 1 1\n5 3 9 0 0 1 4\n6 2 -3 0 0 1 1\n7 2 -9 0 0 1 6\n";
    let (s, _) = parse_swc(FileId(0), text);
    let cell = swc_to_sections(FileId(0), &s, &SwcOptions::default()).unwrap();
    assert_eq!(names(&cell), vec![("soma[0]", None), ("dend[0]", Some((0, 0.5))), ("axon[0]", Some((0, 0.5)))]);
    assert_eq!(xyzd(&cell.sections[0]), vec![[-5.0, 0.0, 0.0, 10.0], [0.0, 0.0, 0.0, 10.0], [5.0, 0.0, 0.0, 10.0]]);
    // The dendrite starts at its own first sample: the gap to the soma is not modelled.
    assert_eq!(xyzd(&cell.sections[1]), vec![[3.0, 0.0, 0.0, 2.0], [9.0, 0.0, 0.0, 2.0]]);
    let t = tree_of(&cell);
    assert_close(t.nodes[1].area_um2, 4.0 * PI * 25.0, 1e-6);
}

#[test]
fn swc_real_cells() {
    for (name, expect) in [
        ("morph_ca1_n120.swc", [("soma", 2usize), ("dend", 0), ("apic", 0)]),
        ("morph_allen_485574832.swc", [("soma", 1), ("dend", 0), ("apic", 0)]),
    ] {
        let cell = import(name);
        let count = |b: &str| cell.sections.iter().filter(|s| s.base == b).count();
        assert_eq!(count("soma"), expect[0].1, "{name}");
        assert!(count("dend") > 10 && count("apic") > 10, "{name}");
        for (i, s) in cell.sections.iter().enumerate() {
            assert!(s.parent.is_none_or(|(p, _)| p < i));
        }
        let t = tree_of(&cell);
        assert!(t.total_area_um2() > 1000.0);
        println!(
            "{name}: {} sections (soma {}, axon {}, dend {}, apic {}), area {:.3} µm², {} nodes",
            cell.sections.len(),
            count("soma"),
            count("axon"),
            count("dend"),
            count("apic"),
            t.total_area_um2(),
            t.nodes.len()
        );
    }
}

#[test]
fn swc_multiple_roots_is_an_error() {
    let text = read("morph_multiple_roots.swc");
    let (samples, diags) = parse_swc(FileId(3), &text);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.iter().all(|d| d.code == Code::SwcError));
    let root = errors.iter().find(|d| d.message.contains("second root")).expect("a multiple-root diagnostic");
    assert_eq!(root.message, "sample 3 is a second root (parent -1); the first root is sample 1");
    assert_eq!(&text[root.primary.span.range()], "3 1 2 0 0 1 -1");
    assert!(errors.iter().any(|d| d.message == "sample id 3 is defined twice"));
    assert!(swc_to_sections(FileId(3), &samples, &SwcOptions::default()).is_err());
}

#[test]
fn swc_line_errors_have_spans() {
    let text = "# header\n\n1 1 0 0 0 5 -1\n2 3 0 1 0 abc 1\n3 3 0 2 0 1\n4 3 0 3 0 -1 1\n12 3 0 4 0 1 40\n13 3 0 4 0 1 14\n14 3 0 4 0 1 1\n";
    let (samples, diags) = parse_swc(FileId(0), text);
    let msg = |d: &crate::diagnostics::Diagnostic| (d.message.clone(), text[d.primary.span.range()].to_string());
    let got: Vec<(String, String)> = diags.iter().map(msg).collect();
    assert_eq!(
        got,
        vec![
            ("the radius field `abc` is not a number".to_string(), "abc".to_string()),
            ("an SWC sample needs 7 fields, this line has 6".to_string(), "3 3 0 2 0 1".to_string()),
            ("sample 4 has radius -1; radii cannot be negative".to_string(), "-1".to_string()),
            ("sample 12 refers to parent 40, which is not defined".to_string(), "12 3 0 4 0 1 40".to_string()),
            (
                "sample 13 refers to parent 14, which is not defined before it".to_string(),
                "13 3 0 4 0 1 14".to_string()
            ),
        ]
    );
    assert_eq!(samples.len(), 4);
    assert!(diags.iter().all(|d| d.code == Code::SwcError && d.is_error()));
    let (_, d) = parse_swc(FileId(0), "# nothing\n");
    assert_eq!(d[0].message, "the SWC file contains no samples");
}

#[test]
fn swc_unsorted_ids_are_sorted() {
    // Parent ids smaller than child ids, lines out of order: NEURON sorts by id.
    let text = "3 3 0 2 0 1 2\n1 1 0 0 0 5 -1\n2 3 0 1 0 1 1\n";
    let (samples, d) = parse_swc(FileId(0), text);
    assert!(d.is_empty());
    let cell = swc_to_sections(FileId(0), &samples, &SwcOptions::default()).unwrap();
    assert_eq!(names(&cell), vec![("soma[0]", None), ("dend[0]", Some((0, 0.5)))]);
    assert_eq!(cell.sections[1].sample_ids, vec![2, 3]);
}

#[test]
fn swc_g_rounding() {
    let text = "1 1 497.529 630.9309 41.6346 6.0176 -1\n2 3 502.6473 631.234 42.0 0.4004 1\n3 3 503.789 631.3061 42.9313 0.4004 2\n";
    let (s, _) = parse_swc(FileId(0), text);
    let on = swc_to_sections(FileId(0), &s, &SwcOptions::default()).unwrap();
    // f32(630.9309) = 630.930908..., printed with %.8g.
    assert_eq!(on.sections[0].points[1].y, 630.93091);
    // f32(497.529) - f32(6.0176) = 491.5113916..., printed with %.8g.
    assert_eq!(on.sections[0].points[0].x, 491.51139);
    let off =
        swc_to_sections(FileId(0), &s, &SwcOptions { neuron_g_rounding: false, ..SwcOptions::default() }).unwrap();
    assert_eq!(off.sections[0].points[1].y, 630.9309);
}

// ------------------------------------------- SWC against NEURON (tests/data/neuron/swc_areas.csv)

/// One row of `tests/data/neuron/swc_areas.csv` (written by `tests/data/neuron/swc_areas.py`).
struct NrnSection {
    section: String,
    parent: String,
    parent_x: Option<f64>,
    n3d: usize,
    length: f64,
    area: f64,
    ri: f64,
    ri_end: f64,
}

/// The reference rows per file, in file order; `None` for a file NEURON refused.
fn neuron_swc_reference() -> Vec<(String, Option<Vec<NrnSection>>)> {
    let path = format!("{}/../tests/data/neuron/swc_areas.csv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("file,section,parent,parent_x,n3d,L,area,ri,ri_end"));
    let mut files: Vec<(String, Option<Vec<NrnSection>>)> = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 9, "{line}");
        if files.last().is_none_or(|(name, _)| name != f[0]) {
            files.push((f[0].to_string(), (f[1] != "<error>").then(Vec::new)));
        }
        if f[1] == "<error>" {
            continue;
        }
        let num = |s: &str| s.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        files.last_mut().unwrap().1.as_mut().unwrap().push(NrnSection {
            section: f[1].into(),
            parent: f[2].into(),
            parent_x: (!f[3].is_empty()).then(|| num(f[3])),
            n3d: f[4].parse().unwrap(),
            length: num(f[5]),
            area: num(f[6]),
            ri: num(f[7]),
            ri_end: num(f[8]),
        });
    }
    files
}

/// Compares Sylva's import of `name` (nseg = 1, Ra = 100) with NEURON's sections; returns the
/// mismatches (empty when all agree) and the largest relative difference of area and ri.
fn compare_with_neuron(name: &str, nrn: &[NrnSection], rel: f64) -> (Vec<String>, f64) {
    let cell = import(name);
    let t = tree_of(&cell);
    let mut bad = Vec::new();
    let mut worst = 0.0f64;
    if cell.sections.len() != nrn.len() {
        bad.push(format!("{} sections, NEURON {}", cell.sections.len(), nrn.len()));
    }
    let by_name: HashMap<&str, usize> = cell.sections.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    for r in nrn {
        let Some(&i) = by_name.get(r.section.as_str()) else {
            bad.push(format!("{}: missing", r.section));
            continue;
        };
        let s = &cell.sections[i];
        let (parent, px) = match s.parent {
            Some((p, x)) => (cell.sections[p].name.as_str(), Some(x)),
            None => ("", None),
        };
        if parent != r.parent || px != r.parent_x {
            bad.push(format!("{}: parent {parent}({px:?}), NEURON {}({:?})", r.section, r.parent, r.parent_x));
        }
        if s.points.len() != r.n3d {
            bad.push(format!("{}: {} points, NEURON {}", r.section, s.points.len(), r.n3d));
        }
        let sn = &t.sections[i];
        let area = t.nodes[sn.centres[0] as usize].area_um2;
        let ri = t.nodes[sn.centres[0] as usize].r_to_parent_mohm;
        let ri_end = t.nodes[sn.end as usize].r_to_parent_mohm;
        for (what, ours, theirs) in [
            ("L", t.section_length(i), r.length),
            ("area", area, r.area),
            ("ri", ri, r.ri),
            ("ri_end", ri_end, r.ri_end),
        ] {
            let d = (ours - theirs).abs() / theirs.abs();
            worst = worst.max(d);
            if d > rel {
                bad.push(format!("{}: {what} {ours:.17e}, NEURON {theirs:.17e} (rel {d:.1e})", r.section));
            }
        }
    }
    (bad, worst)
}

/// Every file of `tests/data/swc/` against NEURON 9.0.2's Import3d: same sections (names,
/// parents, parent x, number of 3-D points) and the same length, area and both half-segment
/// resistances per section, to a relative 1e-9.
#[test]
fn swc_all_files_match_neuron() {
    let reference = neuron_swc_reference();
    let mut on_disk: Vec<String> = std::fs::read_dir(format!("{}/../tests/data/swc", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".swc"))
        .collect();
    on_disk.sort();
    let in_csv: Vec<String> = reference.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(in_csv, on_disk, "regenerate tests/data/neuron/swc_areas.csv (swc_areas.py)");
    let mut failures = Vec::new();
    for (name, nrn) in &reference {
        let Some(nrn) = nrn else {
            // NEURON refused the file; so must Sylva.
            let (samples, diags) = parse_swc(FileId(0), &read(name));
            assert!(diags.iter().any(|d| d.is_error()), "{name}: NEURON rejects it, Sylva accepts it");
            assert!(swc_to_sections(FileId(0), &samples, &SwcOptions::default()).is_err());
            println!("{name}: rejected by both");
            continue;
        };
        let (bad, worst) = compare_with_neuron(name, nrn, 1e-9);
        println!("{name}: {} sections, largest relative difference {worst:.1e}", nrn.len());
        for b in &bad {
            println!("  {b}");
        }
        if !bad.is_empty() {
            failures.push(format!("{name}: {} mismatches", bad.len()));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// `n` samples in a chain along x, radius `r(i)` for sample i (1-based); sample 1 is the root.
fn chain(n: usize, r: impl Fn(usize) -> String) -> String {
    (1..=n)
        .map(|i| format!("{i} {} {} 0 0 {} {}\n", if i == 1 { 1 } else { 3 }, i * 2, r(i), i as i64 - 1))
        .map(|l| if l.ends_with(" 0\n") { l.replacen(" 0\n", " -1\n", 1) } else { l })
        .collect()
}

#[test]
fn swc_zero_radius_is_one_warning_and_accepted() {
    // Samples 4, 6 and 9 (lines 4, 6, 9) have radius 0; `1e-300` on sample 9 is 0 in f32.
    let text = chain(10, |i| match i {
        4 | 6 => "0".to_string(),
        9 => "1e-300".to_string(),
        _ => "1".to_string(),
    });
    let (samples, diags) = parse_swc(FileId(0), &text);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert!(!d.is_error());
    assert_eq!(d.message, "3 samples have radius 0 (lines 4, 6 and 9)");
    assert_eq!(&text[d.primary.span.range()], "0");
    assert_eq!(d.secondary[1].message, "`1e-300` is 0 in single precision, as NEURON reads it");
    assert_eq!(&text[d.secondary[1].span.range()], "1e-300");
    // As NEURON: diameter 0 is kept, with no membrane there.
    let cell = swc_to_sections(FileId(0), &samples, &SwcOptions::default()).unwrap();
    let tree = tree_of(&cell);
    assert!(tree.nodes.iter().any(|n| n.area_um2 == 0.0 && n.parent.is_some()));
    assert!(tree.total_area_um2() > 0.0);
}

#[test]
fn swc_all_radii_zero_is_one_error() {
    let text = chain(7213, |_| "0".to_string());
    let (_, diags) = parse_swc(FileId(0), &text);
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        ["all 7213 samples have radius 0 (lines 1, 2, 3, 4, 5 and 7208 more), so the cell has no membrane"]
    );
    assert!(diags[0].is_error());
}

#[test]
fn swc_repeated_problems_are_capped_per_kind() {
    // 30 unreadable radii and 25 parents after their children: 10 of each, the last counting
    // the rest, and no claim that the file has no samples.
    let mut text = chain(30, |_| "abc".to_string());
    text += &(100..125).map(|i| format!("{i} 3 0 0 0 1 {}\n", i + 1)).collect::<String>();
    text += "125 1 0 0 0 1 -1\n";
    let (_, diags) = parse_swc(FileId(0), &text);
    let count = |needle: &str| diags.iter().filter(|d| d.message.contains(needle)).count();
    assert_eq!(count("is not a number"), 10);
    assert_eq!(count("which is not defined before it"), 10);
    assert_eq!(count("no samples"), 0);
    assert_eq!(diags.len(), 20, "{diags:?}");
    let last_number = diags.iter().rfind(|d| d.message.contains("is not a number")).unwrap();
    assert_eq!(last_number.notes, ["and 20 more like this in this file"]);
    let first_order = diags.iter().find(|d| d.message.contains("not defined before it")).unwrap();
    assert_eq!(first_order.message, "sample 100 refers to parent 101, which is not defined before it");
    assert_eq!(&text[first_order.primary.span.range()], "100 3 0 0 0 1 101");
    let last_order = diags.iter().rfind(|d| d.message.contains("not defined before it")).unwrap();
    assert_eq!(last_order.notes.last().unwrap(), "and 15 more like this in this file");
}

#[test]
fn swc_huge_numbers_are_reported_as_too_large() {
    let errors = |text: &str| {
        let (samples, d) = parse_swc(FileId(0), text);
        if d.iter().any(|d| d.is_error()) {
            return d.into_iter().map(|d| d.message).collect::<Vec<_>>();
        }
        swc_to_sections(FileId(0), &samples, &SwcOptions::default())
            .unwrap_err()
            .into_iter()
            .map(|d| d.message)
            .collect()
    };
    assert_eq!(errors("1 1 0 0 0 1 -1\n2 3 1e300 0 0 1 1\n"), ["sample 2 has x = 1e300 um, too large for a 3-D point"]);
    assert_eq!(errors("1 1 0 0 0 1 -1\n2 3 1e999 0 0 1 1\n"), ["the x field `1e999` is too large"]);
    // Each coordinate fits single precision, their distance does not.
    assert_eq!(
        errors("1 1 -3e38 0 0 1 -1\n2 3 -3e38 0 0 1 1\n3 3 3e38 0 0 1 2\n"),
        ["the 3-D points of section `dend[0]` are too far apart for single precision"]
    );
    let points = |x: f64| vec![Point3 { x: 0.0, y: 0.0, z: 0.0, diam: 1.0 }, Point3 { x, y: 0.0, z: 0.0, diam: 1.0 }];
    let spec = |x| SectionSpec { geometry: Geometry::Points(points(x)), ..cyl("a", None, 1.0, 1.0, 1) };
    let e = discretize(&[spec(1e300)]).unwrap_err();
    assert_eq!(
        e[0].message(|_| "a".into()),
        "section `a` has 3-D point coordinate = 1e300, beyond single precision (at most 3.4e38)"
    );
}

#[test]
fn swc_header_declares_units() {
    let units = |text: &str| swc_header_units(FileId(0), text).map(|r| r.map(|(um, _)| um).map_err(|d| d.message));
    assert_eq!(units("# Units: nm\n1 1 0 0 0 1 -1\n"), Some(Ok(1e-3)));
    assert_eq!(units("# flywire export\n#units = nanometers\n\n1 1 0 0 0 1 -1\n"), Some(Ok(1e-3)));
    assert_eq!(units("# Unit: 1 nanometer\n"), Some(Ok(1e-3)));
    assert_eq!(units("# UNITS: micron\n"), Some(Ok(1.0)));
    assert_eq!(units("# units: µm\n"), Some(Ok(1.0)));
    assert_eq!(units("# Units: 8 nm\n"), Some(Ok(8e-3)));
    assert_eq!(
        units("# units: parsecs\n"),
        Some(Err("the header declares the units `parsecs`, which are not a length".into()))
    );
    assert_eq!(units("# units of the radius are voxels\n1 1 0 0 0 1 -1\n"), None);
    assert_eq!(units("1 1 0 0 0 1 -1\n# Units: nm\n"), None);
    // Coordinates and radii are scaled before NEURON's single-precision read.
    let (samples, _) = parse_swc(FileId(0), "1 1 0 0 0 5000 -1\n2 3 10000 0 0 1000 1\n3 3 20000 0 0 1000 2\n");
    let options = SwcOptions { um_per_unit: 1e-3, ..SwcOptions::default() };
    let cell = swc_to_sections(FileId(0), &samples, &options).unwrap();
    assert_eq!(xyzd(&cell.sections[1]), vec![[10.0, 0.0, 0.0, 2.0], [20.0, 0.0, 0.0, 2.0]]);
    assert_eq!(cell.sections[0].points[1].diam, 10.0);
}

#[test]
fn d_lambda_bounded_and_zero_diameters() {
    let points = |d: f64, x: f64| {
        Geometry::Points(vec![Point3 { x: 0.0, y: 0.0, z: 0.0, diam: d }, Point3 { x, y: 0.0, z: 0.0, diam: d }])
    };
    let d_lambda = Nseg::DLambda { d_lambda: 0.1, frequency_hz: 100.0 };
    // 3e38 um of cable asks for ~1e35 segments: an error, not an overflow.
    let long = SectionSpec { geometry: points(1.0, 3e38), nseg: d_lambda, ..cyl("a", None, 1.0, 1.0, 1) };
    let e = discretize(&[long]).unwrap_err();
    assert!(matches!(e[0], MorphError::TooManyCompartments { section: 0, .. }), "{e:?}");
    assert!(e[0].message(|_| "a".into()).starts_with("this cell would have "), "{e:?}");
    // No diameter, no membrane to resolve: one segment.
    let root = cyl("soma", None, 10.0, 10.0, 1);
    let bare = SectionSpec { geometry: points(0.0, 100.0), nseg: d_lambda, ..cyl("b", Some((0, 1.0)), 1.0, 1.0, 1) };
    assert_eq!(nseg_for(&bare), 1);
    assert!(discretize(&[root, bare]).is_ok());
}
