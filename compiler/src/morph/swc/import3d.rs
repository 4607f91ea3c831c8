//! NEURON Import3d's grouping of SWC samples into sections.
//!
//! The grouping follows `read_swc.hoc` (`Import3d_SWC_read`: `mark_branch`, `sectionify`,
//! `check_soma3geom`, `mksection`) and `import3d_gui.hoc` (`instantiate`, `chk_valid`,
//! `sphere_rep`) of NEURON; `docs/morphology.md` states each rule. Each named step below is
//! one of those procedures, or one part of one.

use std::collections::HashMap;

use super::{Capped, SwcCell, SwcOptions, SwcSample, SwcSection, check_tree, swc_error};
use crate::diagnostics::{Code, Diagnostic};
use crate::morph::cable::{Point3, SectionKind};
use crate::source::FileId;

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
/// they are processed in id order. Fails with the same diagnostics as
/// [`parse_swc`](super::parse_swc)'s tree check if the samples do not form one tree.
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
