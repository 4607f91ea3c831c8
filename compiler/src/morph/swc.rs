//! SWC reading and NEURON Import3d's grouping of samples into sections.
//!
//! The grouping follows `read_swc.hoc` (`Import3d_SWC_read`: `mark_branch`, `sectionify`,
//! `check_soma3geom`, `mksection`) and `import3d_gui.hoc` (`instantiate`, `chk_valid`,
//! `sphere_rep`) of NEURON; `docs/morphology.md` states each rule.

use std::collections::HashMap;

use super::cable::{Geometry, Nseg, Point3, SectionKind, SectionSpec};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// One SWC line: `id type x y z radius parent`.
#[derive(Clone, Debug, PartialEq)]
pub struct SwcSample {
    pub id: i64,
    /// The SWC structure type (1 soma, 2 axon, 3 basal dendrite, 4 apical dendrite, ...).
    pub swc_type: u32,
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub radius: f64,
    /// The parent id; negative (conventionally -1) for the root.
    pub parent: i64,
    /// The sample's line in the SWC file (without the line break).
    pub span: Span,
}

/// Options of the SWC import.
#[derive(Clone, Debug, PartialEq)]
pub struct SwcOptions {
    /// Reproduce the two text round trips of NEURON's hoc Import3d (default true):
    /// `Import3d_SWC_read` reads every number with `sscanf("%f")`, i.e. as a single-precision
    /// float (x, y, z and the radius are rounded to `f32` before anything else, the diameter
    /// is then `2·r` in double precision), and `Import3d_GUI.instantiate` writes every 3-D
    /// point with `pt3dadd(%.8g, %.8g, %.8g, %.8g)` (8 significant digits). Off: the values
    /// are used as written in the file.
    pub neuron_g_rounding: bool,
    /// Micrometres per unit of the file's coordinates and radii (1 for µm, 0.001 for nm),
    /// applied before anything else.
    pub um_per_unit: f64,
}

impl Default for SwcOptions {
    fn default() -> SwcOptions {
        SwcOptions { neuron_g_rounding: true, um_per_unit: 1.0 }
    }
}

/// One section built from SWC samples.
#[derive(Clone, Debug, PartialEq)]
pub struct SwcSection {
    /// NEURON's name after Import3d: `soma[0]`, `dend[3]`, `apic[0]`, `axon[1]`,
    /// `dend_5[0]` for type 5.
    pub name: String,
    /// The array name without the index: `soma`, `axon`, `dend`, `apic`, `dend_5`.
    pub base: String,
    /// The index within `base`, numbered in section order (file order of first samples).
    pub index: u32,
    pub swc_type: u32,
    pub kind: SectionKind,
    /// Parent section (index into the section list, always smaller) and location.
    pub parent: Option<(usize, f64)>,
    /// The 3-D points NEURON ends up with (after the `%.8g` rounding when enabled).
    pub points: Vec<Point3>,
    /// Ids of the SWC samples this section owns (not the copied parent sample).
    pub sample_ids: Vec<i64>,
    /// The line of its first own sample.
    pub span: Span,
}

impl SwcSection {
    /// A [`SectionSpec`] with these points.
    pub fn to_spec(&self, nseg: Nseg, ra_ohm_cm: f64, cm_uf_cm2: f64) -> SectionSpec {
        SectionSpec {
            name: self.name.clone(),
            parent: self.parent,
            geometry: Geometry::Points(self.points.clone()),
            nseg,
            ra_ohm_cm,
            cm_uf_cm2,
            kind: self.kind,
        }
    }
}

/// The result of [`swc_to_sections`].
#[derive(Clone, Debug, PartialEq)]
pub struct SwcCell {
    /// Root first; every parent before its children.
    pub sections: Vec<SwcSection>,
    /// Non-fatal findings (sections that NEURON drops, ...).
    pub warnings: Vec<Diagnostic>,
}

fn swc_error(span: Span, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(Code::SwcError, span, message)
}

/// At most this many diagnostics of one kind per file: a file with one systematic problem
/// (7,000 samples, each wrong the same way) must not bury everything else.
const CAP: usize = 10;

/// The diagnostics of one SWC file, at most [`CAP`] of each kind; the last one shown says how
/// many more there are.
#[derive(Default)]
struct Capped {
    out: Vec<Diagnostic>,
    /// Per kind: how many were reported, and the index in `out` of the last one kept.
    kinds: HashMap<&'static str, (usize, usize)>,
}

impl Capped {
    fn push(&mut self, kind: &'static str, d: Diagnostic) {
        let (count, last) = self.kinds.entry(kind).or_insert((0, 0));
        *count += 1;
        if *count <= CAP {
            *last = self.out.len();
            self.out.push(d);
        }
    }

    fn finish(mut self) -> Vec<Diagnostic> {
        for (count, last) in self.kinds.into_values().filter(|(count, _)| *count > CAP) {
            self.out[last].notes.push(format!("and {} more like this in this file", count - CAP));
        }
        self.out
    }
}

/// A positive radius that NEURON's single-precision read (`sscanf("%f")`) turns into 0.
fn underflows_f32(v: f64) -> bool {
    v != 0.0 && v as f32 == 0.0
}

/// Reads SWC text. Comments (`#` to the end of the line) and blank lines are skipped; every
/// other line must hold seven numbers. Also checks the tree: unique ids, every parent defined
/// with a smaller id (NEURON's rule), exactly one root. Samples are returned in file order;
/// lines with errors are left out. Diagnostics of one kind are capped at [`CAP`] per file.
pub fn parse_swc(file: FileId, text: &str) -> (Vec<SwcSample>, Vec<Diagnostic>) {
    let mut samples = Vec::new();
    let mut diagnostics = Capped::default();
    // Radius fields that are 0 as NEURON reads them: (span, text, line number).
    let mut zero_radius: Vec<(Span, &str, usize)> = Vec::new();
    let mut offset = 0;
    for (line_index, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let content = raw.trim_end_matches(['\n', '\r']);
        let data = match content.find('#') {
            Some(i) => &content[..i],
            None => content,
        };
        if data.trim().is_empty() {
            continue;
        }
        let line_span = Span::new(file, line_start..line_start + data.trim_end().len());
        let fields = line_fields(file, line_start, data);
        let Some(values) = field_values(&fields, line_span, &mut diagnostics) else { continue };
        let Some(sample) = sample_of(&fields, &values, line_span, &mut diagnostics) else { continue };
        if values[5] == 0.0 || underflows_f32(values[5]) {
            zero_radius.push((fields[5].1, fields[5].0, line_index + 1));
        }
        samples.push(sample);
    }
    if let Some(d) = zero_radius_report(&zero_radius, samples.len()) {
        diagnostics.out.push(d);
    }
    check_tree(file, &samples, &mut diagnostics);
    (samples, diagnostics.finish())
}

/// The names of an SWC line's seven fields.
const FIELD_NAMES: [&str; 7] = ["id", "type", "x", "y", "z", "radius", "parent"];

/// The words of a line's data (the line up to any comment, starting at `line_start` in the
/// file), each with its span.
fn line_fields(file: FileId, line_start: usize, data: &str) -> Vec<(&str, Span)> {
    let mut fields = Vec::new();
    let mut pos = 0;
    for word in data.split_whitespace() {
        let at = pos + data[pos..].find(word).expect("word is in the line");
        pos = at + word.len();
        fields.push((word, Span::new(file, line_start + at..line_start + pos)));
    }
    fields
}

/// The seven numbers of a line, `None` (reported) when there are fewer, one is not a finite
/// number, or an id, type or parent is not an integer; extra fields are warned about.
fn field_values(fields: &[(&str, Span)], line_span: Span, diagnostics: &mut Capped) -> Option<[f64; 7]> {
    if fields.len() < 7 {
        diagnostics.push(
            "fields",
            swc_error(line_span, format!("an SWC sample needs 7 fields, this line has {}", fields.len()))
                .label("expected `id type x y z radius parent`"),
        );
        return None;
    }
    if fields.len() > 7 {
        diagnostics.push(
            "extra",
            Diagnostic::warning(Code::SwcError, fields[7].1.to(fields[fields.len() - 1].1), "extra fields ignored")
                .note("an SWC sample has 7 fields: `id type x y z radius parent`"),
        );
    }
    let mut values = [0.0; 7];
    let mut ok = true;
    for k in 0..7 {
        let (word, span) = fields[k];
        match word.parse::<f64>() {
            Ok(v) if v.is_finite() => values[k] = v,
            // `1e999`: a number, but beyond double precision.
            Ok(v) if !v.is_nan() && word.bytes().any(|b| b.is_ascii_digit()) => {
                diagnostics.push(
                    "number",
                    swc_error(span, format!("the {} field `{word}` is too large", FIELD_NAMES[k]))
                        .label("beyond double precision"),
                );
                ok = false;
            }
            _ => {
                diagnostics.push(
                    "number",
                    swc_error(span, format!("the {} field `{word}` is not a number", FIELD_NAMES[k]))
                        .label("expected a number"),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    for k in [0, 1, 6] {
        if values[k].fract() != 0.0 || values[k].abs() > 1e15 {
            diagnostics.push(
                "integer",
                swc_error(fields[k].1, format!("the {} field `{}` is not an integer", FIELD_NAMES[k], fields[k].0)),
            );
            ok = false;
        }
    }
    ok.then_some(values)
}

/// The sample of a line's numbers, `None` (reported) for a negative id, type or radius.
fn sample_of(
    fields: &[(&str, Span)],
    values: &[f64; 7],
    line_span: Span,
    diagnostics: &mut Capped,
) -> Option<SwcSample> {
    let id = values[0] as i64;
    if id < 0 {
        diagnostics.push("id", swc_error(fields[0].1, format!("sample id {id} is negative")));
        return None;
    }
    if values[1] < 0.0 {
        diagnostics.push(
            "type",
            swc_error(fields[1].1, format!("sample {id} has the negative type {}", values[1]))
                .note("SWC types are 0 (undefined), 1 (soma), 2 (axon), 3 (basal dendrite), 4 (apical dendrite) or a custom positive number"),
        );
        return None;
    }
    if values[5] < 0.0 {
        diagnostics.push(
            "radius",
            swc_error(fields[5].1, format!("sample {id} has radius {}; radii cannot be negative", fields[5].0))
                .label("negative"),
        );
        return None;
    }
    Some(SwcSample {
        id,
        swc_type: values[1] as u32,
        x: values[2],
        y: values[3],
        z: values[4],
        radius: values[5],
        parent: values[6] as i64,
        span: line_span,
    })
}

/// The unit an SWC header declares for the coordinates and radii, in a comment before the
/// first sample such as `# Units: nm`, `# units = micrometer` or `# Unit: 1 nanometer`:
/// micrometres per unit and the comment's span. `None` without such a comment; a comment
/// whose unit is not a length gives a warning (the file is then read in µm).
pub fn swc_header_units(file: FileId, text: &str) -> Option<Result<(f64, Span), Diagnostic>> {
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let Some(comment) = line.trim_start().strip_prefix('#') else {
            if line.trim().is_empty() {
                continue;
            }
            return None;
        };
        let lower = comment.trim().to_ascii_lowercase();
        let Some(value) = lower.strip_prefix("units").or_else(|| lower.strip_prefix("unit")) else { continue };
        let Some(value) = value.trim_start().strip_prefix([':', '=']) else { continue };
        let span = Span::new(file, line_start..line_start + line.len());
        let value = value.trim();
        // An optional number, then the unit's symbol or name.
        let (number, word) = value.rsplit_once(char::is_whitespace).unwrap_or(("1", value));
        let symbol = match word.strip_suffix('s').unwrap_or(word) {
            "nanometer" | "nanometre" => "nm",
            "micron" | "micrometer" | "micrometre" => "um",
            "millimeter" | "millimetre" => "mm",
            _ => word,
        };
        let quantity = number
            .trim()
            .parse::<f64>()
            .ok()
            .zip(crate::units::parse_unit(symbol).ok())
            .map(|(n, unit)| (n * unit.scale, unit));
        return Some(match quantity {
            Some((um, unit)) if unit.dim == crate::units::Dimension::LENGTH && um > 0.0 && um.is_finite() => {
                Ok((um, span))
            }
            _ => Err(Diagnostic::warning(
                Code::SwcError,
                span,
                format!("the header declares the units `{}`, which are not a length", value),
            )
            .label("not understood")
            .note("the coordinates and radii are read in um")
            .help("give the unit in the model: `swc(\"...\") { units = nm }`")),
        });
    }
    None
}

/// One diagnostic for every radius that is 0 as NEURON reads it: a warning (NEURON accepts
/// them), or an error when no sample has a radius, since the cell would have no membrane.
fn zero_radius_report(zero: &[(Span, &str, usize)], samples: usize) -> Option<Diagnostic> {
    let &(first, first_text, _) = zero.first()?;
    const SHOWN: usize = 5;
    let mut lines: Vec<String> = zero.iter().take(SHOWN).map(|z| z.2.to_string()).collect();
    if zero.len() > SHOWN {
        lines.push(format!("{} more", zero.len() - SHOWN));
    }
    let lines = match lines.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("lines {} and {last}", rest.join(", ")),
        _ => format!("line {}", lines[0]),
    };
    let label = |text: &str| {
        if underflows_f32(text.parse().unwrap_or(0.0)) {
            format!("`{text}` is 0 in single precision, as NEURON reads it")
        } else {
            "radius 0".to_string()
        }
    };
    let mut d = if zero.len() == samples {
        swc_error(first, format!("all {samples} samples have radius 0 ({lines}), so the cell has no membrane"))
            .help("check that the sixth column of the file holds the radii")
    } else {
        let n = zero.len();
        let samples = if n == 1 { "sample has" } else { "samples have" };
        Diagnostic::warning(Code::SwcError, first, format!("{n} {samples} radius 0 ({lines})"))
            .note(
                "NEURON's Import3d accepts them: the membrane there has no area, and the axial resistance next \
                 to such a point is practically infinite, so the cable is cut there",
            )
            .help("check the file: tracing tools write radius 0 where they did not measure one")
    };
    d = d.label(label(first_text));
    for &(span, text, _) in zero.iter().skip(1).take(SHOWN - 1) {
        d = d.secondary(span, label(text));
    }
    Some(d)
}

/// Unique ids, parents defined with smaller ids, exactly one root.
fn check_tree(file: FileId, samples: &[SwcSample], diagnostics: &mut Capped) {
    if samples.is_empty() {
        if !diagnostics.out.iter().any(Diagnostic::is_error) {
            diagnostics.push("empty", swc_error(Span::new(file, 0..0), "the SWC file contains no samples"));
        }
        return;
    }
    let mut by_id: HashMap<i64, &SwcSample> = HashMap::new();
    for s in samples {
        if let Some(first) = by_id.get(&s.id) {
            diagnostics.push(
                "duplicate",
                swc_error(s.span, format!("sample id {} is defined twice", s.id))
                    .label("second definition")
                    .secondary(first.span, "first definition"),
            );
        } else {
            by_id.insert(s.id, s);
        }
    }
    for s in samples {
        if s.parent < 0 {
            continue;
        }
        match by_id.get(&s.parent) {
            None => diagnostics.push(
                "parent",
                swc_error(s.span, format!("sample {} refers to parent {}, which is not defined", s.id, s.parent))
                    .label("unknown parent"),
            ),
            Some(p) if s.parent >= s.id => diagnostics.push(
                "order",
                swc_error(
                    s.span,
                    format!("sample {} refers to parent {}, which is not defined before it", s.id, s.parent),
                )
                .secondary(p.span, "the parent")
                .note("NEURON's Import3d requires every parent id to be smaller than the id of its child")
                .help("renumber the samples so that every parent has a smaller id than its children"),
            ),
            Some(_) => {}
        }
    }
    let roots: Vec<&SwcSample> = samples.iter().filter(|s| s.parent < 0).collect();
    if roots.is_empty() {
        diagnostics.push("root", swc_error(samples[0].span, "the SWC file has no root sample (one with parent -1)"));
    }
    for r in roots.iter().skip(1) {
        diagnostics.push(
            "roots",
            swc_error(
                r.span,
                format!(
                    "sample {} is a second root (parent {}); the first root is sample {}",
                    r.id, r.parent, roots[0].id
                ),
            )
            .label("second root")
            .secondary(roots[0].span, "first root")
            .note("a cell is one tree; NEURON's Import3d rejects a file with several roots")
            .help("split the file into one file per cell, or connect the trees"),
        );
    }
}

/// Import3d's 8-significant-digit `%.8g` text round trip (`import3d_gui.hoc`, `instantiate`).
fn g8(v: f64) -> f64 {
    format!("{v:.7e}").parse().expect("formatted float parses")
}

/// NEURON's `type2name`.
fn type_name(t: u32) -> String {
    match t {
        1 => "soma".into(),
        2 => "axon".into(),
        3 => "dend".into(),
        4 => "apic".into(),
        t => format!("dend_{t}"),
    }
}

fn kind_of(t: u32) -> SectionKind {
    match t {
        1 => SectionKind::Soma,
        2 => SectionKind::Axon,
        3 => SectionKind::Dend,
        4 => SectionKind::Apic,
        t => SectionKind::Other(t),
    }
}

/// A section while it is being built: point indices (into the id-sorted samples).
struct Draft {
    /// First own point.
    first: usize,
    /// Own points, `first..=last`.
    last: usize,
    /// The copied parent point, if any (not for the root).
    parent_point: Option<usize>,
    /// Whether the copied parent point is left out (Import3d's `sec.first = 1`).
    skip_parent_point: bool,
    parent: Option<(usize, f64)>,
    /// Diameter of the copied parent point.
    parent_point_diam: f64,
}

/// Groups samples into sections as NEURON's Import3d does. The samples need not be sorted;
/// they are processed in id order. Fails with the same diagnostics as [`parse_swc`]'s tree
/// check if the samples do not form one tree.
pub fn swc_to_sections(file: FileId, samples: &[SwcSample], options: &SwcOptions) -> Result<SwcCell, Vec<Diagnostic>> {
    tree_errors(file, samples)?;
    let samples = read_as_neuron(samples, options)?;
    let mut points = Points::in_id_order(&samples);
    let (mut nchild, connect2prox) = mark_branch(&points);
    let (nchild_soma, nsoma) = soma_children(&points);
    let soma3geom = check_soma3geom(&mut points, &nchild, nsoma);
    keep_adjacent_soma_points_together(&points, &nchild_soma, &mut nchild);
    let (point2sec, runs) = runs_of_points(&nchild);
    let marks = Marks { connect2prox, nchild_soma, point2sec };
    let mut drafts = mksection(&points, &marks, &runs, soma3geom);
    let alive = chk_valid(&mut drafts, &points.pts);
    let warnings = zero_length_warnings(&drafts, &alive, &points.pts);
    let sections = build_sections(&drafts, &alive, &points, options);
    check_single_precision_distances(&sections)?;
    Ok(SwcCell { sections, warnings: warnings.finish() })
}

/// The errors of [`check_tree`], if the samples do not form one tree.
fn tree_errors(file: FileId, samples: &[SwcSample]) -> Result<(), Vec<Diagnostic>> {
    let mut tree = Capped::default();
    check_tree(file, samples, &mut tree);
    let errors: Vec<Diagnostic> = tree.finish().into_iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(())
}

/// The samples with coordinates and radii as NEURON holds them: to µm, then read_swc.hoc's
/// `sscanf("%f")`, which stores single-precision values. Fails for values beyond single
/// precision.
fn read_as_neuron(samples: &[SwcSample], options: &SwcOptions) -> Result<Vec<SwcSample>, Vec<Diagnostic>> {
    let mut too_large = Capped::default();
    let mut read = |s: &SwcSample, what: &str, v: f64| {
        let v = v * options.um_per_unit;
        if !(v as f32).is_finite() {
            too_large.push(
                "too large",
                swc_error(s.span, format!("sample {} has {what} = {v:e} um, too large for a 3-D point", s.id))
                    .note("NEURON stores 3-D points as single-precision numbers, at most 3.4e38 um"),
            );
        }
        if options.neuron_g_rounding { v as f32 as f64 } else { v }
    };
    let samples: Vec<SwcSample> = samples
        .iter()
        .map(|s| SwcSample {
            x: read(s, "x", s.x),
            y: read(s, "y", s.y),
            z: read(s, "z", s.z),
            radius: read(s, "radius", s.radius),
            ..s.clone()
        })
        .collect();
    let too_large = too_large.finish();
    if !too_large.is_empty() {
        return Err(too_large);
    }
    Ok(samples)
}

/// The samples in id order, as Import3d indexes them ("points").
struct Points<'s> {
    pts: Vec<&'s SwcSample>,
    /// Per point: its parent point (none for the root).
    parent: Vec<Option<usize>>,
    /// Per point: its SWC type.
    ty: Vec<u32>,
    /// Per point: its diameter, 2·r.
    diam: Vec<f64>,
}

impl<'s> Points<'s> {
    fn in_id_order(samples: &'s [SwcSample]) -> Points<'s> {
        let mut pts: Vec<&SwcSample> = samples.iter().collect();
        pts.sort_by_key(|s| s.id);
        let index: HashMap<i64, usize> = pts.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        let parent: Vec<Option<usize>> = pts.iter().map(|s| (s.parent >= 0).then(|| index[&s.parent])).collect();
        let ty: Vec<u32> = pts.iter().map(|s| s.swc_type).collect();
        let diam: Vec<f64> = pts.iter().map(|s| s.radius * 2.0).collect();
        Points { pts, parent, ty, diam }
    }

    fn len(&self) -> usize {
        self.pts.len()
    }
}

/// mark_branch: child counts in hundredths. A contiguous child (the next sample) adds 100,
/// any other child 101, a change of type 1 more; a point ends a section unless its count
/// is exactly 100. Also, per point, whether its section connects to its parent's x = 0.
fn mark_branch(points: &Points<'_>) -> (Vec<u32>, Vec<bool>) {
    let (parent, ty, n) = (&points.parent, &points.ty, points.len());
    let mut nchild = vec![0u32; n];
    let mut connect2prox = vec![false; n];
    for i in 0..n {
        let Some(p) = parent[i] else { continue };
        nchild[p] += 100;
        if p + 1 != i {
            nchild[p] += 1;
            // A branch from the first point of a dendrite that hangs off the soma connects to
            // that dendrite's x = 0.
            if p > 1 {
                if ty[p] != 1 && parent[p].is_some_and(|pp| ty[pp] == 1) {
                    connect2prox[i] = true;
                    nchild[p] = 100;
                }
            } else if p == 0 && ty[0] != 1 {
                // A branch from a non-soma root sample attaches at the root's x = 0, and the
                // root sample does not end the root section (`mark_branch`'s `p == 0` case).
                connect2prox[i] = true;
                nchild[p] = 100;
            }
        }
        if ty[p] != ty[i] {
            nchild[p] += 1;
        }
    }
    (nchild, connect2prox)
}

/// Soma children of soma points, and the number of soma points.
fn soma_children(points: &Points<'_>) -> (Vec<u32>, usize) {
    let (parent, ty, n) = (&points.parent, &points.ty, points.len());
    let mut nchild_soma = vec![0u32; n];
    let mut nsoma = usize::from(ty[0] == 1);
    for i in 1..n {
        if ty[i] == 1 {
            nsoma += 1;
            if let Some(p) = parent[i]
                && ty[p] == 1
            {
                nchild_soma[p] += 1;
            }
        }
    }
    (nchild_soma, nsoma)
}

/// check_soma3geom: whether the soma is the NeuroMorpho 3-point sphere.
fn check_soma3geom(points: &mut Points<'_>, nchild: &[u32], nsoma: usize) -> bool {
    let (pts, parent, diam, n) = (&points.pts, &mut points.parent, &points.diam, points.pts.len());
    let dist = |a: &SwcSample, b: &SwcSample| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2) + (a.z - b.z).powi(2)).sqrt();
    if nsoma == 3
        && n >= 3
        && parent[1] == Some(0)
        && parent[2] == Some(0)
        && nchild[1] == 0
        && nchild[2] == 0
        && diam[1] == diam[0]
        && diam[2] == diam[0]
        && ((dist(pts[1], pts[0]) + dist(pts[2], pts[0])) / diam[0] - 1.0).abs() < 0.01
    {
        // Import3d re-parents the third point so the two outer points form one run; they are
        // then discarded.
        parent[2] = Some(1);
        return true;
    }
    false
}

/// Adjacent soma parent and child: the parent does not end a section unless it has more
/// than one soma child (the root point never ends one this way).
fn keep_adjacent_soma_points_together(points: &Points<'_>, nchild_soma: &[u32], nchild: &mut [u32]) {
    let (parent, ty, n) = (&points.parent, &points.ty, points.len());
    for i in 0..n.saturating_sub(1) {
        if ty[i] == 1 && ty[i + 1] == 1 && parent[i + 1] == Some(i) && !(i != 0 && nchild_soma[i] > 1) {
            nchild[i] = 100;
        }
    }
}

/// Sections are the runs of consecutive points ending where nchild != 100: per point, its
/// run; and the runs, `(first, last)`.
fn runs_of_points(nchild: &[u32]) -> (Vec<usize>, Vec<(usize, usize)>) {
    let n = nchild.len();
    let mut point2sec = vec![0usize; n];
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut first = 0;
    for i in 0..n {
        point2sec[i] = runs.len();
        if nchild[i] != 100 || i == n - 1 {
            runs.push((first, i));
            first = i + 1;
        }
    }
    (point2sec, runs)
}

/// What mksection reads per point besides the points.
struct Marks {
    /// Whether the section starting at the point connects to its parent section's x = 0.
    connect2prox: Vec<bool>,
    /// Soma children of soma points.
    nchild_soma: Vec<u32>,
    /// The run (section) of each point.
    point2sec: Vec<usize>,
}

/// mksection: a draft section per run, attached to the section of its first point's parent.
fn mksection(points: &Points<'_>, marks: &Marks, runs: &[(usize, usize)], soma3geom: bool) -> Vec<Draft> {
    let mut drafts: Vec<Draft> = Vec::with_capacity(runs.len());
    for (k, &(first, last)) in runs.iter().enumerate() {
        if k == 0 {
            let last = if soma3geom { 0 } else { last };
            drafts.push(Draft {
                first,
                last,
                parent_point: None,
                skip_parent_point: false,
                parent: None,
                parent_point_diam: 0.0,
            });
            continue;
        }
        let draft = child_draft(points, marks, &drafts, first, last);
        drafts.push(draft);
    }
    drafts
}

/// The draft of a non-root run `first..=last`: where on its parent section it attaches and
/// whether the copied parent point is left out.
fn child_draft(points: &Points<'_>, marks: &Marks, drafts: &[Draft], first: usize, last: usize) -> Draft {
    let (parent, ty, diam) = (&points.parent, &points.ty, &points.diam);
    let nchild_soma = &marks.nchild_soma;
    let own = last - first + 1;
    let pp = parent[first].expect("a non-root section starts at a point with a parent");
    let psec = marks.point2sec[pp];
    let ptype = ty[drafts[psec].first];
    let den_con_soma = ptype == 1 && ty[first] != 1;
    // Import3d's psec.d.size: the root holds its own points, others also the parent copy.
    let psize =
        if psec == 0 { drafts[0].last - drafts[0].first + 1 } else { drafts[psec].last - drafts[psec].first + 2 };
    let mut x = 1.0;
    let mut skip = false;
    let mut handled = false;
    if psec == 0 {
        handled = true;
        if den_con_soma && psize == 1 {
            x = 0.5;
            skip = own > 1;
        } else if pp == drafts[0].first {
            x = 0.0;
            skip = ty[first] != 1 && nchild_soma[pp] > 1;
        } else {
            handled = false;
        }
    }
    if !handled && ptype == 1 {
        let limit = drafts[psec].first as isize + psize as isize + if psec == 0 { -1 } else { -2 };
        if (pp as isize) < limit {
            // Interior point of a multi-point soma.
            x = 0.5;
            skip = den_con_soma && own > 1;
        } else if own > 1 && nchild_soma[pp] > 1 && ty[first] != 1 {
            skip = true;
        }
    }
    if marks.connect2prox[first] {
        x = 0.0;
    }
    let parent_point_diam = if ptype == 1 && ty[first] != 1 { diam[first] } else { diam[pp] };
    Draft { first, last, parent_point: Some(pp), skip_parent_point: skip, parent: Some((psec, x)), parent_point_diam }
}

/// chk_valid: drop non-root sections of one point, or of two points at the same place;
/// their children move to their parent. Returns, per draft, whether it is kept.
fn chk_valid(drafts: &mut [Draft], pts: &[&SwcSample]) -> Vec<bool> {
    let mut alive = vec![true; drafts.len()];
    for k in (1..drafts.len()).rev() {
        let d = &drafts[k];
        let mut idx: Vec<usize> = d.parent_point.into_iter().chain(d.first..=d.last).collect();
        if d.skip_parent_point {
            idx.remove(0);
        }
        let same_place = |a: usize, b: usize| pts[a].x == pts[b].x && pts[a].y == pts[b].y && pts[a].z == pts[b].z;
        let remove = idx.len() <= 1 || (idx.len() == 2 && same_place(idx[0], idx[1]));
        if remove {
            alive[k] = false;
            let new_parent = d.parent;
            for c in drafts.iter_mut().skip(k + 1) {
                if c.parent.is_some_and(|(p, _)| p == k) {
                    c.parent = new_parent;
                }
            }
        }
    }
    alive
}

/// A warning per section that chk_valid left out.
fn zero_length_warnings(drafts: &[Draft], alive: &[bool], pts: &[&SwcSample]) -> Capped {
    let mut warnings = Capped::default();
    for k in (1..drafts.len()).filter(|&k| !alive[k]) {
        let last = pts[drafts[k].last];
        warnings.push(
            "zero length",
            Diagnostic::warning(
                Code::SwcError,
                last.span,
                format!("the section ending at sample {} has zero length and is left out", last.id),
            )
            .note("NEURON's Import3d removes such sections and reattaches their children to the parent"),
        );
    }
    warnings
}

/// Renumber, name and build the points of the sections kept.
fn build_sections(drafts: &[Draft], alive: &[bool], points: &Points<'_>, options: &SwcOptions) -> Vec<SwcSection> {
    let (pts, ty) = (&points.pts, &points.ty);
    let mut new_index = vec![usize::MAX; drafts.len()];
    let mut counts: HashMap<u32, u32> = HashMap::new();
    let mut sections = Vec::new();
    for (k, d) in drafts.iter().enumerate() {
        if !alive[k] {
            continue;
        }
        new_index[k] = sections.len();
        let t = ty[d.first];
        let count = counts.entry(t).or_insert(0);
        let index = *count;
        *count += 1;
        let base = type_name(t);
        sections.push(SwcSection {
            name: format!("{base}[{index}]"),
            base,
            index,
            swc_type: t,
            kind: kind_of(t),
            parent: d.parent.map(|(p, x)| (new_index[p], x)),
            points: section_points(d, points, options),
            sample_ids: (d.first..=d.last).map(|i| pts[i].id).collect(),
            span: pts[d.first].span,
        });
    }
    sections
}

/// The 3-D points of a section: the parent point's copy unless left out, its own points, a
/// lone point as sphere_rep's cylinder; through Import3d's `%.8g` if asked.
fn section_points(d: &Draft, points: &Points<'_>, options: &SwcOptions) -> Vec<Point3> {
    let (pts, diam) = (&points.pts, &points.diam);
    let round = |v: f64| if options.neuron_g_rounding { g8(v) } else { v };
    let mut raw: Vec<Point3> = Vec::new();
    if let Some(pp) = d.parent_point
        && !d.skip_parent_point
    {
        raw.push(Point3 { x: pts[pp].x, y: pts[pp].y, z: pts[pp].z, diam: d.parent_point_diam });
    }
    for i in d.first..=d.last {
        raw.push(Point3 { x: pts[i].x, y: pts[i].y, z: pts[i].z, diam: diam[i] });
    }
    if raw.len() == 1 {
        // sphere_rep: a one-point section becomes a cylinder along x with L = diam.
        let p = raw[0];
        raw = vec![Point3 { x: p.x - p.diam / 2.0, ..p }, p, Point3 { x: p.x + p.diam / 2.0, ..p }];
    }
    raw.into_iter().map(|p| Point3 { x: round(p.x), y: round(p.y), z: round(p.z), diam: round(p.diam) }).collect()
}

/// Fails for sections two of whose consecutive 3-D points are too far apart for NEURON's
/// single-precision points.
fn check_single_precision_distances(sections: &[SwcSection]) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Capped::default();
    for s in sections {
        let f32_point = |p: &Point3| [p.x as f32, p.y as f32, p.z as f32];
        let overflows = s.points.windows(2).any(|w| {
            let (a, b) = (f32_point(&w[0]), f32_point(&w[1]));
            (0..3).any(|i| !(b[i] - a[i]).is_finite())
        });
        if overflows {
            errors.push(
                "distance",
                swc_error(
                    s.span,
                    format!("the 3-D points of section `{}` are too far apart for single precision", s.name),
                )
                .note(
                    "NEURON stores 3-D points as single-precision numbers (at most 3.4e38 um), and a distance \
                       between two of them overflows",
                ),
            );
        }
    }
    let errors = errors.finish();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(())
}
