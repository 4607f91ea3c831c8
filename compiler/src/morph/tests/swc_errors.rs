//! SWC files with problems: which errors and warnings, where their spans point, and how many
//! of one kind are reported.

use super::*;
use crate::diagnostics::Code;
use crate::source::FileId;

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
