//! Section specs → cable trees: NEURON's geometry, areas and resistances, d_lambda, errors.

use std::f64::consts::PI;

use super::*;
use crate::diagnostics::Code;

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

/// From the default origin, `root(0.5)`, path distances are the recursive formula
/// `distance(parent, px) + x·L` bit for bit (what every model without `distance from` had), on
/// every node and at three points of every section of the CA1 reconstruction; from another
/// origin, the distance is symmetric: from a to b as from b to a.
#[test]
fn distances_from_the_default_origin_keep_their_bits() {
    fn recursive(t: &CableTree, section: usize, x: f64) -> f64 {
        let s = &t.sections[section];
        match s.parent {
            None => (x - 0.5).abs() * s.length_um,
            Some((p, px)) => recursive(t, p as usize, px) + x * s.length_um,
        }
    }
    let mut t = tree_of(&import("morph_ca1_n120.swc"));
    for node in &t.nodes {
        assert_eq!(node.distance_um.to_bits(), recursive(&t, node.section as usize, node.x).to_bits());
    }
    for s in 0..t.sections.len() {
        for x in [0.0, 0.3, 1.0] {
            assert_eq!(t.path_distance_um(s, x).to_bits(), recursive(&t, s, x).to_bits(), "section {s} at {x}");
        }
    }
    let (a, b) = ((40, 0.25), (130, 0.75));
    t.set_distance_origin(a.0, a.1);
    let a_to_b = t.path_distance_um(b.0, b.1);
    t.set_distance_origin(b.0, b.1);
    let b_to_a = t.path_distance_um(a.0, a.1);
    assert!((a_to_b - b_to_a).abs() <= 1e-12 * a_to_b && a_to_b > 0.0, "{a_to_b} vs {b_to_a}");
    assert_eq!(t.path_distance_um(b.0, b.1), 0.0);
}
