//! SWC import with Import3d's rules: somas of one, two and three points, branch points, real
//! cells, sorting, NEURON's `%.8g` rounding and units declared in the header.

use std::f64::consts::PI;

use super::*;
use crate::source::FileId;

fn names(cell: &SwcCell) -> Vec<(&str, Option<(usize, f64)>)> {
    cell.sections.iter().map(|s| (s.name.as_str(), s.parent)).collect()
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
