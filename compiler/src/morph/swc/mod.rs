//! SWC reading: samples with spanned diagnostics (at most [`CAP`] of a kind per file), the
//! header's unit, and the tree check. `import3d` groups the samples into sections as NEURON's
//! Import3d does.

use std::collections::HashMap;

use super::cable::{Geometry, Nseg, Point3, SectionKind, SectionSpec};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

mod import3d;

pub use import3d::swc_to_sections;

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
