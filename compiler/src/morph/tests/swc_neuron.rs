//! Every file of `tests/data/swc/` against NEURON 9.0.2's Import3d
//! (`tests/data/neuron/swc_areas.csv`).

use std::collections::HashMap;

use super::*;
use crate::source::FileId;

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
