//! Sections to a cable tree of nodes, exactly as NEURON discretizes them.
//!
//! See `docs/morphology.md` for the rules; the comments here only point at them.

use std::f64::consts::PI;

use crate::diagnostics::Code;
use crate::limits::{self, MAX_CELL_COMPARTMENTS};

/// One 3-D sample along a section (µm). `diam` is the diameter, not the radius.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Point3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub diam: f64,
}

/// The shape of one section.
#[derive(Clone, Debug, PartialEq)]
pub enum Geometry {
    /// A uniform cylinder (NEURON's `L` and `diam` without 3-D points).
    Cylinder { length_um: f64, diam_um: f64 },
    /// 3-D samples along the section (NEURON's `pt3dadd`); consecutive samples are frusta.
    /// The section length is the arc length of the samples.
    Points(Vec<Point3>),
}

/// How many segments a section gets.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Nseg {
    Fixed(u32),
    /// NEURON's d_lambda rule (`fixnseg.hoc`): the odd number of segments such that none is
    /// longer than `d_lambda` times the AC length constant at `frequency_hz`.
    DLambda {
        d_lambda: f64,
        frequency_hz: f64,
    },
}

/// What a section is, for region selection (`soma`, `axon`, `dend`, `apic` in SWC terms).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    Soma,
    Axon,
    Dend,
    Apic,
    /// Any other SWC type code.
    Other(u32),
}

/// One section as the caller resolved it.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionSpec {
    pub name: String,
    /// Index of the parent section in the same list (any order) and the location `x` on the
    /// parent that this section's `x = 0` end attaches to. `None` for the root.
    pub parent: Option<(usize, f64)>,
    pub geometry: Geometry,
    pub nseg: Nseg,
    pub ra_ohm_cm: f64,
    pub cm_uf_cm2: f64,
    pub kind: SectionKind,
}

/// A problem with the section list. Indices refer to the input list.
#[derive(Clone, Debug, PartialEq)]
pub enum MorphError {
    /// The list is empty.
    Empty,
    /// Every section has a parent.
    NoRoot,
    /// More than one section has no parent.
    MultipleRoots { roots: Vec<usize> },
    /// `parent` is not an index into the list.
    MissingParent { section: usize, parent: usize },
    /// These sections attach to each other in a cycle (listed in parent order).
    Cycle { sections: Vec<usize> },
    /// The attachment location on the parent is outside `[0, 1]` (or not a number).
    LocationOutOfRange { section: usize, x: f64 },
    /// A length, diameter, segment count, Ra, cm or d_lambda parameter that is not positive,
    /// or a 3-D point or length beyond single precision. `what` names the quantity.
    NonPositive { section: usize, what: &'static str, value: f64 },
    /// A `Points` geometry with fewer than two samples.
    TooFewPoints { section: usize, count: usize },
    /// The cell would have more than [`MAX_CELL_COMPARTMENTS`] compartments; `section` is the
    /// one with the most segments, `nseg` its count (as computed, before any cap).
    TooManyCompartments { total: f64, section: usize, nseg: f64 },
}

/// The most segments a section may be given with `nseg` (the d_lambda rule is bounded by the
/// cell's limit, [`MAX_CELL_COMPARTMENTS`]).
pub const MAX_NSEG: u32 = 1_000_000;

impl MorphError {
    /// The diagnostic code the caller should report this under.
    pub fn code(&self) -> Code {
        match self {
            MorphError::Empty | MorphError::NoRoot | MorphError::MultipleRoots { .. } => Code::RootCount,
            MorphError::MissingParent { .. } => Code::MissingParent,
            MorphError::Cycle { .. } => Code::MorphologyCycle,
            MorphError::LocationOutOfRange { .. } => Code::LocationOutOfRange,
            MorphError::NonPositive { .. } | MorphError::TooFewPoints { .. } => Code::NonPositiveGeometry,
            MorphError::TooManyCompartments { .. } => Code::TooLarge,
        }
    }

    /// A message in the compiler's style, naming sections through `name`.
    pub fn message(&self, name: impl Fn(usize) -> String) -> String {
        match self {
            MorphError::Empty => "the morphology has no sections".to_string(),
            MorphError::NoRoot => "every section is attached to another one, so there is no root section".to_string(),
            MorphError::MultipleRoots { roots } => {
                let names: Vec<String> = roots.iter().map(|&r| format!("`{}`", name(r))).collect();
                format!(
                    "the morphology has {} root sections ({}); a cell needs exactly one",
                    roots.len(),
                    names.join(", ")
                )
            }
            MorphError::MissingParent { section, parent } => {
                format!("section `{}` is attached to section #{parent}, which does not exist", name(*section))
            }
            MorphError::Cycle { sections } => {
                let names: Vec<String> = sections.iter().map(|&s| format!("`{}`", name(s))).collect();
                format!("sections {} are attached to each other in a cycle", names.join(" -> "))
            }
            MorphError::LocationOutOfRange { section, x } => {
                format!("section `{}` is attached at x = {x}, outside [0, 1]", name(*section))
            }
            // Too large: 3-D points (and so lengths computed from them) are single precision.
            MorphError::NonPositive { section, what, value } if value.abs() > f64::from(f32::MAX) => {
                format!("section `{}` has {what} = {value:e}, beyond single precision (at most 3.4e38)", name(*section))
            }
            MorphError::NonPositive { section, what, value } => {
                format!("section `{}` has {what} = {value}, which must be positive", name(*section))
            }
            MorphError::TooFewPoints { section, count } => {
                format!("section `{}` has {count} 3-D point(s); a section needs at least two", name(*section))
            }
            MorphError::TooManyCompartments { total, section, nseg } => format!(
                "this cell would have {} compartments ({} in section `{}`), more than the limit of {}",
                limits::count(*total),
                limits::count(*nseg),
                name(*section),
                limits::count(MAX_CELL_COMPARTMENTS)
            ),
        }
    }
}

/// One node of the cable tree (one unknown voltage).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node this one is joined to, always a smaller index. `None` only for node 0.
    pub parent: Option<u32>,
    /// Membrane area (µm²); 0 for the zero-area end nodes.
    pub area_um2: f64,
    /// Axial resistance to `parent` (MΩ), the sum of the half-segment resistances between
    /// them (NEURON's `seg.ri()`). 0 for node 0.
    pub r_to_parent_mohm: f64,
    /// The section that owns the node (for a connection node, the parent section).
    pub section: u32,
    /// Position on `section`: `(i + 0.5)/nseg` for centres, 0 or 1 for end nodes.
    pub x: f64,
    /// Path distance (µm) along the tree from the distance origin ([`CableTree::distance_origin`],
    /// by default the root section's midpoint, `root(0.5)`).
    pub distance_um: f64,
}

/// Where one section's nodes are.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionNodes {
    pub nseg: u32,
    /// Section length (µm): `L`, or the arc length of the 3-D points.
    pub length_um: f64,
    /// The node at x = 0: for the root its own zero-area node, for a child the parent's
    /// connection node.
    pub start: u32,
    /// Segment centre nodes, from x = 0 to x = 1.
    pub centres: Vec<u32>,
    /// The zero-area node at x = 1.
    pub end: u32,
    /// Diameter of each segment (µm): `diam`, or for 3-D points the segment average.
    pub seg_diam_um: Vec<f64>,
    /// Parent section and attachment location, as given.
    pub parent: Option<(u32, f64)>,
    pub kind: SectionKind,
}

/// The discretized cell.
#[derive(Clone, Debug, PartialEq)]
pub struct CableTree {
    /// Nodes numbered parent-before-child; node 0 is the root section's x = 0 end.
    pub nodes: Vec<Node>,
    /// Per input section, in input order.
    pub sections: Vec<SectionNodes>,
    /// The order in which sections were numbered (depth-first from the root).
    pub section_order: Vec<u32>,
    /// Index of the root section.
    pub root: u32,
    /// Where path distances are measured from: a section and x (NEURON's `h.distance(0, sec(x))`);
    /// `(root, 0.5)` unless [`CableTree::set_distance_origin`] moved it.
    pub distance_origin: (u32, f64),
}

impl CableTree {
    /// The node that NEURON uses for `sec(x)`: x = 0 is the section's start node (for a child,
    /// the parent's connection node), x = 1 its end node, otherwise the centre of segment
    /// `min(floor(x*nseg), nseg - 1)`. `x` is clamped to [0, 1].
    pub fn node_at(&self, section: usize, x: f64) -> u32 {
        let s = &self.sections[section];
        debug_assert!((0.0..=1.0).contains(&x), "x = {x} outside [0, 1]");
        if x <= 0.0 {
            s.start
        } else if x >= 1.0 {
            s.end
        } else {
            s.centres[segment_index(x, s.nseg)]
        }
    }

    pub fn section_length(&self, section: usize) -> f64 {
        self.sections[section].length_um
    }

    /// NEURON's `sec(x).diam`: the diameter of the segment containing x (at x = 0 the first
    /// segment, at x = 1 the last).
    pub fn section_diam_at(&self, section: usize, x: f64) -> f64 {
        let s = &self.sections[section];
        s.seg_diam_um[segment_index(x.clamp(0.0, 1.0), s.nseg)]
    }

    /// Path distance (µm) from the distance origin to the point x of a section, along the
    /// sections (attachment at the exact parent location, not at the parent's node).
    pub fn path_distance_um(&self, section: usize, x: f64) -> f64 {
        self.distance_from(&OriginPath::of(self), (section, x))
    }

    /// Measures distances from `section(x)` from now on, every node's `distance_um` included.
    pub fn set_distance_origin(&mut self, section: usize, x: f64) {
        self.distance_origin = (section as u32, x);
        set_distances(self);
    }

    /// The path length (µm) from the origin to `(section, x)`: up from the point to the first
    /// section of the origin's path to the root, and along that section between where the two
    /// paths enter it. Summed from that section outwards, so that from `root(0.5)` it is
    /// `|x − 0.5|·L_root + x₁·L₁ + …` in that order.
    fn distance_from(&self, origin: &OriginPath, (section, x): (usize, f64)) -> f64 {
        let mut up = vec![(section, x)];
        let mut here = section;
        while origin.index[here].is_none() {
            let (p, px) = self.sections[here].parent.expect("the origin's path ends at the root");
            up.push((p as usize, px));
            here = p as usize;
        }
        let along = origin.index[here].expect("on the origin's path");
        let (meeting, xa) = up[up.len() - 1];
        let mut d = (xa - origin.path[along].1).abs() * self.sections[meeting].length_um;
        for &(s, x) in up[..up.len() - 1].iter().rev().chain(origin.path[..along].iter().rev()) {
            d += x * self.sections[s].length_um;
        }
        d
    }

    /// Where the path from the distance origin to the root enters `section` (the origin's own
    /// x on its section), or `None` when it does not pass it: then distances grow along the
    /// section from x = 0, else both ways from that x.
    pub fn origin_entry(&self, section: usize) -> Option<f64> {
        let origin = OriginPath::of(self);
        origin.index[section].map(|i| origin.path[i].1)
    }

    /// Total membrane area (µm²).
    pub fn total_area_um2(&self) -> f64 {
        self.nodes.iter().map(|n| n.area_um2).sum()
    }
}

/// The sections from the distance origin to the root, each with the x where the path enters
/// it, and per section its place on that path (if on it): built once for many distances.
struct OriginPath {
    path: Vec<(usize, f64)>,
    index: Vec<Option<usize>>,
}

impl OriginPath {
    fn of(tree: &CableTree) -> OriginPath {
        let (section, x) = (tree.distance_origin.0 as usize, tree.distance_origin.1);
        let mut path = vec![(section, x)];
        let mut here = section;
        while let Some((p, px)) = tree.sections[here].parent {
            path.push((p as usize, px));
            here = p as usize;
        }
        let mut index = vec![None; tree.sections.len()];
        for (i, &(s, _)) in path.iter().enumerate() {
            index[s] = Some(i);
        }
        OriginPath { path, index }
    }
}

/// NEURON's segment index for an interior location.
fn segment_index(x: f64, nseg: u32) -> usize {
    ((x * nseg as f64) as usize).min(nseg as usize - 1)
}

/// Per-section electrical geometry, before numbering.
struct SegGeom {
    length: f64,
    area: Vec<f64>,
    r_left: Vec<f64>,
    r_right: Vec<f64>,
    diam: Vec<f64>,
}

/// Builds the cable tree. Returns every problem found (the caller turns them into
/// diagnostics); names and references are assumed resolved.
pub fn discretize(sections: &[SectionSpec]) -> Result<CableTree, Vec<MorphError>> {
    validate_sections(sections)?;
    let root = find_root(sections)?;
    let order = depth_first_order(sections, root)?;
    check_compartment_count(sections)?;
    let geoms: Vec<SegGeom> = sections.iter().map(seg_geom).collect();
    let (nodes, layout) = number_nodes(sections, &geoms, &order);
    let mut tree = CableTree {
        nodes,
        sections: layout,
        section_order: order.iter().map(|&s| s as u32).collect(),
        root: root as u32,
        distance_origin: (root as u32, 0.5),
    };
    set_distances(&mut tree);
    Ok(tree)
}

/// Every problem of the sections' values (none at all is one).
fn validate_sections(sections: &[SectionSpec]) -> Result<(), Vec<MorphError>> {
    if sections.is_empty() {
        return Err(vec![MorphError::Empty]);
    }
    let mut errors = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        validate_section(i, s, sections.len(), &mut errors);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(())
}

/// The one section without a parent.
fn find_root(sections: &[SectionSpec]) -> Result<usize, Vec<MorphError>> {
    let roots: Vec<usize> = (0..sections.len()).filter(|&i| sections[i].parent.is_none()).collect();
    match roots.len() {
        0 => Err(vec![MorphError::NoRoot]),
        1 => Ok(roots[0]),
        _ => Err(vec![MorphError::MultipleRoots { roots }]),
    }
}

/// Depth-first preorder from the root, children in input order; sections it does not reach
/// are in cycles.
fn depth_first_order(sections: &[SectionSpec], root: usize) -> Result<Vec<usize>, Vec<MorphError>> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); sections.len()];
    for (i, s) in sections.iter().enumerate() {
        if let Some((p, _)) = s.parent {
            children[p].push(i);
        }
    }
    let mut order = Vec::with_capacity(sections.len());
    let mut stack = vec![root];
    while let Some(s) = stack.pop() {
        order.push(s);
        stack.extend(children[s].iter().rev());
    }
    if order.len() < sections.len() {
        return Err(find_cycles(sections, &order));
    }
    Ok(order)
}

/// Count before allocating: a d_lambda or Ra off by orders of magnitude asks for billions.
fn check_compartment_count(sections: &[SectionSpec]) -> Result<(), Vec<MorphError>> {
    let counts: Vec<f64> = sections.iter().map(segment_count).collect();
    let total: f64 = counts.iter().sum();
    if total.is_nan() || total > MAX_CELL_COMPARTMENTS {
        let section = (0..counts.len()).max_by(|&a, &b| counts[a].total_cmp(&counts[b])).expect("not empty");
        return Err(vec![MorphError::TooManyCompartments { total, section, nseg: counts[section] }]);
    }
    Ok(())
}

/// Numbers the nodes section by section in `order`, parents before children: the nodes, and
/// per input section where its nodes are.
fn number_nodes(sections: &[SectionSpec], geoms: &[SegGeom], order: &[usize]) -> (Vec<Node>, Vec<SectionNodes>) {
    let mut nodes: Vec<Node> = Vec::new();
    let mut layout: Vec<Option<SectionNodes>> = vec![None; sections.len()];
    for &s in order {
        let spec = &sections[s];
        let start = start_node(spec, s, &mut nodes, &layout);
        layout[s] = Some(number_section(spec, s, &geoms[s], start, &mut nodes));
    }
    (nodes, layout.into_iter().map(|l| l.expect("every section numbered")).collect())
}

/// A section's x = 0 node: for the root a new zero-area node 0, for a child the parent's node
/// at the attachment point.
fn start_node(spec: &SectionSpec, s: usize, nodes: &mut Vec<Node>, layout: &[Option<SectionNodes>]) -> u32 {
    match spec.parent {
        None => {
            nodes.push(Node {
                parent: None,
                area_um2: 0.0,
                r_to_parent_mohm: 0.0,
                section: s as u32,
                x: 0.0,
                distance_um: 0.0,
            });
            0
        }
        Some((p, px)) => {
            let pl = layout[p].as_ref().expect("parent numbered first");
            if px <= 0.0 {
                pl.start
            } else if px >= 1.0 {
                pl.end
            } else {
                pl.centres[segment_index(px, pl.nseg)]
            }
        }
    }
}

/// A section's segment centres and its zero-area x = 1 node, chained from `start`.
fn number_section(spec: &SectionSpec, s: usize, g: &SegGeom, start: u32, nodes: &mut Vec<Node>) -> SectionNodes {
    let n = g.area.len();
    let mut centres = Vec::with_capacity(n);
    let mut prev = start;
    let mut r_prev_right = 0.0;
    for i in 0..n {
        let id = nodes.len() as u32;
        nodes.push(Node {
            parent: Some(prev),
            area_um2: g.area[i],
            r_to_parent_mohm: r_prev_right + g.r_left[i],
            section: s as u32,
            x: (i as f64 + 0.5) / n as f64,
            distance_um: 0.0,
        });
        centres.push(id);
        prev = id;
        r_prev_right = g.r_right[i];
    }
    let end = nodes.len() as u32;
    nodes.push(Node {
        parent: Some(prev),
        area_um2: 0.0,
        r_to_parent_mohm: r_prev_right,
        section: s as u32,
        x: 1.0,
        distance_um: 0.0,
    });
    SectionNodes {
        nseg: n as u32,
        length_um: g.length,
        start,
        centres,
        end,
        seg_diam_um: g.diam.clone(),
        parent: spec.parent.map(|(p, x)| (p as u32, x)),
        kind: spec.kind,
    }
}

/// Each node's path distance from the distance origin.
fn set_distances(tree: &mut CableTree) {
    let origin = OriginPath::of(tree);
    for i in 0..tree.nodes.len() {
        let (s, x) = (tree.nodes[i].section as usize, tree.nodes[i].x);
        tree.nodes[i].distance_um = tree.distance_from(&origin, (s, x));
    }
}

fn validate_section(i: usize, s: &SectionSpec, count: usize, errors: &mut Vec<MorphError>) {
    // 3-D points are stored in single precision, as NEURON does. NEURON accepts diameter 0
    // (an SWC radius of 0): no membrane there, and the axial resistance uses 1e-15 for the
    // product of the diameters.
    if let Geometry::Points(points) = &s.geometry {
        let single = |v: f64| (v as f32).is_finite();
        if let Some(value) = points.iter().flat_map(|p| [p.x, p.y, p.z]).find(|v| !single(*v)) {
            errors.push(MorphError::NonPositive { section: i, what: "3-D point coordinate", value });
        }
        if let Some(p) = points.iter().find(|p| !(p.diam >= 0.0 && single(p.diam))) {
            errors.push(MorphError::NonPositive { section: i, what: "3-D point diam", value: p.diam });
        }
    }
    let mut positive = |what: &'static str, value: f64| {
        if !(value > 0.0 && value.is_finite()) {
            errors.push(MorphError::NonPositive { section: i, what, value });
        }
    };
    positive("Ra", s.ra_ohm_cm);
    positive("cm", s.cm_uf_cm2);
    match &s.geometry {
        Geometry::Cylinder { length_um, diam_um } => {
            positive("length", *length_um);
            positive("diam", *diam_um);
        }
        Geometry::Points(points) => {
            if points.len() >= 2 {
                let (arcs, _) = pt3d(points);
                positive("length", *arcs.last().unwrap());
            }
        }
    }
    match s.nseg {
        Nseg::Fixed(n) => positive("nseg", n as f64),
        Nseg::DLambda { d_lambda, frequency_hz } => {
            positive("d_lambda", d_lambda);
            positive("d_lambda frequency", frequency_hz);
        }
    }
    if let Geometry::Points(points) = &s.geometry
        && points.len() < 2
    {
        errors.push(MorphError::TooFewPoints { section: i, count: points.len() });
    }
    if let Some((p, x)) = s.parent {
        if p >= count {
            errors.push(MorphError::MissingParent { section: i, parent: p });
        }
        if !(0.0..=1.0).contains(&x) {
            errors.push(MorphError::LocationOutOfRange { section: i, x });
        }
    }
}

/// Sections not reachable from the root lie on or hang off a cycle; report each cycle once.
fn find_cycles(sections: &[SectionSpec], reached: &[usize]) -> Vec<MorphError> {
    let mut done = vec![false; sections.len()];
    for &s in reached {
        done[s] = true;
    }
    let mut errors = Vec::new();
    for start in 0..sections.len() {
        if done[start] {
            continue;
        }
        // Walk up the parents until a section repeats.
        let mut path = Vec::new();
        let mut on_path = vec![false; sections.len()];
        let mut s = start;
        while !on_path[s] && !done[s] {
            on_path[s] = true;
            path.push(s);
            s = sections[s].parent.expect("unreached sections have parents").0;
        }
        if on_path[s] {
            let at = path.iter().position(|&p| p == s).unwrap();
            errors.push(MorphError::Cycle { sections: path[at..].to_vec() });
        }
        for p in path {
            done[p] = true;
        }
    }
    errors
}

/// NEURON stores 3-D points as single-precision floats and accumulates the arc length in
/// double precision from single-precision differences (`nrn_pt3dmodified`). Returns the arc
/// length at each point and the diameters as NEURON reads them back.
fn pt3d(points: &[Point3]) -> (Vec<f64>, Vec<f64>) {
    let mut arcs = Vec::with_capacity(points.len());
    let mut diams = Vec::with_capacity(points.len());
    let mut arc = 0.0;
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            let q = &points[i - 1];
            let t1 = (p.x as f32 - q.x as f32) as f64;
            let t2 = (p.y as f32 - q.y as f32) as f64;
            let t3 = (p.z as f32 - q.z as f32) as f64;
            arc += (t1 * t1 + t2 * t2 + t3 * t3).sqrt();
        }
        arcs.push(arc);
        diams.push((p.diam as f32).abs() as f64);
    }
    (arcs, diams)
}

/// NEURON's `fixnseg.hoc` `lambda_f(freq)` in µm.
fn lambda_f(spec: &SectionSpec, frequency_hz: f64) -> f64 {
    let (ra, cm) = (spec.ra_ohm_cm, spec.cm_uf_cm2);
    match &spec.geometry {
        Geometry::Cylinder { diam_um, .. } => 1e5 * (diam_um / (4.0 * PI * frequency_hz * ra * cm)).sqrt(),
        Geometry::Points(points) => {
            let (arcs, d) = pt3d(points);
            let mut lam = 0.0;
            // Pieces of zero length add nothing (and would be 0/0 between diameters 0).
            for i in (1..arcs.len()).filter(|&i| arcs[i] > arcs[i - 1]) {
                lam += (arcs[i] - arcs[i - 1]) / (d[i - 1] + d[i]).sqrt();
            }
            lam *= 2f64.sqrt() * 1e-5 * (4.0 * PI * frequency_hz * ra * cm).sqrt();
            arcs[arcs.len() - 1] / lam
        }
    }
}

/// The segment count a section gets (the d_lambda rule evaluated where asked for). Only for
/// sections that [`discretize`] accepts: the count fits a `u32`.
pub fn nseg_for(spec: &SectionSpec) -> u32 {
    segment_count(spec) as u32
}

/// The segment count as a float, so that an absurd d_lambda gives an absurd count to refuse
/// (not one saturated to `u32::MAX`).
fn segment_count(spec: &SectionSpec) -> f64 {
    match spec.nseg {
        Nseg::Fixed(n) => f64::from(n),
        Nseg::DLambda { d_lambda, frequency_hz } => d_lambda_nseg(spec, d_lambda, frequency_hz),
    }
}

/// NEURON's `fixnseg.hoc` rule, `int((L/(d_lambda·λ_f) + 0.9)/2)·2 + 1`, unbounded.
fn d_lambda_nseg(spec: &SectionSpec, d_lambda: f64, frequency_hz: f64) -> f64 {
    let length = match &spec.geometry {
        Geometry::Cylinder { length_um, .. } => *length_um,
        Geometry::Points(points) => *pt3d(points).0.last().unwrap(),
    };
    let lambda = lambda_f(spec, frequency_hz);
    // λ is 0 where the diameters are (SWC radius 0): no membrane to resolve, one segment.
    // (NEURON's hoc rule would divide by zero.)
    if lambda == 0.0 {
        return 1.0;
    }
    ((length / (d_lambda * lambda) + 0.9) / 2.0).floor() * 2.0 + 1.0
}

fn seg_geom(spec: &SectionSpec) -> SegGeom {
    let n = nseg_for(spec) as usize;
    let ra = spec.ra_ohm_cm;
    match &spec.geometry {
        Geometry::Cylinder { length_um, diam_um } => {
            // treeset.cpp nrn_area_ri, same operation order.
            let (l, diam) = (*length_um, *diam_um);
            let dx = l / n as f64;
            let area = PI * diam * dx;
            let half = 1e-2 * ra * (dx / 2.0) / (PI * diam * diam / 4.0);
            SegGeom {
                length: l,
                area: vec![area; n],
                r_left: vec![half; n],
                r_right: vec![half; n],
                diam: vec![diam; n],
            }
        }
        Geometry::Points(points) => integrate_points(points, n, ra),
    }
}

/// Trapezoidal integration over the 3-D points, as NEURON's `diam_from_list`: each segment
/// is split into two halves at arc positions `i*ds`, `i*ds + ds/2`, `(i+1)*ds`; the points
/// between are frusta, and a half ends inside a frustum with the diameter interpolated
/// linearly in arc length. Per piece of length `delta` between diameters `d1`, `d2`:
/// area `π (d1+d2)/2 · sqrt(delta² + ((d2-d1)/2)²)`, resistance `4 Ra delta / (π d1 d2)`
/// (the exact integral of `4 Ra / (π d²)` over a linear taper), diameter average by
/// the trapezoid rule.
fn integrate_points(points: &[Point3], n: usize, ra: f64) -> SegGeom {
    let (arcs, d) = pt3d(points);
    let npt = arcs.len();
    let ds = arcs[npt - 1] / n as f64;
    let mut geom = SegGeom {
        length: arcs[npt - 1],
        area: Vec::with_capacity(n),
        r_left: Vec::with_capacity(n),
        r_right: Vec::with_capacity(n),
        diam: Vec::with_capacity(n),
    };
    let mut j = 0;
    let mut x1 = arcs[0];
    let mut y1 = d[0];
    for inode in 0..n {
        let mut si = inode as f64 * ds;
        let mut diam = 0.0;
        let mut area = 0.0;
        for ihalf in 0..2 {
            let mut ri = 0.0;
            let sip = si + ds / 2.0;
            loop {
                let jp = j + 1;
                let (xj, xjp) = (arcs[j], arcs[jp]);
                let (x2, y2, jnext);
                if xjp > sip || jp == npt - 1 {
                    let frac = if (xjp - xj).abs() < 1e-10 { 1.0 } else { (sip - xj) / (xjp - xj) };
                    x2 = sip;
                    y2 = (1.0 - frac) * d[j] + frac * d[jp];
                    jnext = j;
                } else {
                    x2 = xjp;
                    y2 = d[jp];
                    jnext = jp;
                }
                let mut delta = x2 - x1;
                diam += (y2 + y1) * delta;
                if delta < 1e-15 {
                    delta = 1e-15;
                }
                let mut temp = y2 * y1 / delta;
                if temp == 0.0 {
                    temp = 1e-15;
                }
                ri += 1.0 / temp;
                let taper = 0.5 * (y2 - y1);
                area += (y2 + y1) * (delta * delta + taper * taper).sqrt();
                x1 = x2;
                y1 = y2;
                if j == jnext {
                    break;
                }
                j = jnext;
            }
            let r = ri * ra / PI * (4.0 * 0.01);
            if ihalf == 0 {
                geom.r_left.push(r);
            } else {
                geom.r_right.push(r);
            }
            si = sip;
        }
        geom.diam.push(diam * (0.5 / ds));
        geom.area.push(area * 0.5 * PI);
    }
    geom
}
