//! Names to declarations, and declarations to the words hover shows.

use std::collections::HashMap;

use super::one_line;
use super::walk::{Decl, Local, Occurrence, Role, Scope};
use crate::driver::Compilation;
use crate::source::{FileId, SourceDb, Span};
use crate::stdlib;
use crate::syntax::ast;
use crate::units::{self, Dimension};

/// What a name stands for.
#[derive(Clone, Debug)]
pub(crate) enum Target<'a> {
    Decl(FileId, Decl<'a>),
    /// A name the language provides (`v`, `FARADAY`, `exp`, the region `all`): its words.
    Builtin(String),
    /// A unit (`mV`, `S/cm2`).
    Unit(String),
    /// An imported file.
    Module(FileId),
}

impl Target<'_> {
    pub fn definition(&self) -> Option<Span> {
        match self {
            Target::Decl(_, d) => d.name().map(|n| n.span),
            Target::Module(file) => Some(Span { file: *file, start: 0, end: 0 }),
            Target::Builtin(_) | Target::Unit(_) => None,
        }
    }
}

/// Names built into every mechanism, with their words.
pub(crate) const MECHANISM_BUILTINS: &[(&str, &str)] = &[
    ("v", "the membrane potential (mV)"),
    ("t", "the simulation time (ms)"),
    ("dt", "the time step (ms)"),
    ("celsius", "the temperature of the simulation (degC)"),
    ("diam", "the diameter of the segment (um)"),
    ("area", "the area of the segment (um2), in point mechanisms only"),
    ("v_pre", "the presynaptic cell's voltage at its detector (mV), in point mechanisms connected continuously"),
];

/// Regions every morphology has.
pub(crate) const BUILTIN_REGIONS: &[(&str, &str)] = &[
    ("all", "every section of the cell"),
    ("soma", "the sections of type soma"),
    ("axon", "the sections of type axon"),
    ("dend", "the sections of type dend (basal dendrites)"),
    ("apic", "the sections of type apic (apical dendrites)"),
];

/// Every top-level item of a compilation, by name, and the checker's expression dimensions.
pub(crate) struct Index<'a> {
    pub db: &'a SourceDb,
    pub compilation: &'a Compilation,
    pub items: HashMap<&'a str, (FileId, Decl<'a>)>,
}

impl<'a> Index<'a> {
    pub fn new(db: &'a SourceDb, compilation: &'a Compilation) -> Index<'a> {
        let mut items = HashMap::new();
        for (file, parsed) in &compilation.files {
            for item in &parsed.items {
                let decl = match item {
                    ast::Item::Param(p) => Decl::Param(p, None),
                    ast::Item::Function(f) => Decl::Function(f, None),
                    ast::Item::Mechanism(m) => Decl::Mechanism(m),
                    ast::Item::Species(s) => Decl::Species(s),
                    ast::Item::Morphology(m) if m.name.is_some() => Decl::Morphology(m),
                    ast::Item::Cell(c) => Decl::Cell(c),
                    ast::Item::Network(n) => Decl::Network(n),
                    _ => continue,
                };
                if let Some(name) = decl.name() {
                    items.entry(name.name.as_str()).or_insert((*file, decl));
                }
            }
        }
        Index { db, compilation, items }
    }

    fn global(&self, name: &str) -> Option<Target<'a>> {
        self.items.get(name).map(|(f, d)| Target::Decl(*f, *d))
    }

    pub fn mechanism(&self, name: &str) -> Option<&'a ast::Mechanism> {
        match self.items.get(name) {
            Some((_, Decl::Mechanism(m))) => Some(m),
            _ => None,
        }
    }

    fn file_of(&self, span: Span) -> FileId {
        span.file
    }

    pub fn resolve(&self, occ: &Occurrence<'a>) -> Option<Target<'a>> {
        let here = self.file_of(occ.span);
        let name = occ.name;
        match &occ.role {
            Role::Decl(d) => Some(Target::Decl(here, *d)),
            Role::Name(scope) => self.name(name, scope),
            Role::Callee(scope) => self.callee(name, scope),
            Role::Global => self.global(name),
            Role::MechParam(mech) => {
                let m = self.mechanism(&mech.name)?;
                mechanism_member(m, name).map(|d| Target::Decl(self.file_of(m.span), d))
            }
            Role::Region(cell) => self.region(cell, name),
            Role::Section(m) => morphology_names(m)
                .into_iter()
                .find(|d| d.name().is_some_and(|n| n.name == name))
                .map(|d| Target::Decl(self.file_of(m.span), d))
                .or_else(|| builtin_region(name)),
            Role::Population(n) => population(n, name).map(|d| Target::Decl(here, d)),
            Role::PopulationSection(n, pop) => self.region(self.cell_of(n, &pop.name)?, name),
            Role::Synapse(n, pop) => {
                let cell = self.cell_of(n, &pop.name)?;
                cell.members.iter().find_map(|m| match m {
                    ast::CellMember::Synapse(p) if p.name.name == name => {
                        Some(Target::Decl(self.file_of(cell.span), Decl::Placement(p)))
                    }
                    _ => None,
                })
            }
            Role::ProbeHead(n) => {
                if name == "v" {
                    return Some(Target::Builtin("`v`: the membrane potential (mV)".to_string()));
                }
                // `eca`, `cai`, … of a species some file declares.
                let ion = self.items.values().find_map(|(_, d)| match d {
                    Decl::Species(sp) => Some((sp.name.name.as_str(), ion_var_words(&sp.name.name, name)))
                        .filter(|(_, words)| *words != "a variable"),
                    _ => None,
                });
                if let Some((species, words)) = ion {
                    return Some(Target::Builtin(format!("`{name}`: {words} of ion `{species}` at the location")));
                }
                population(n, name).map(|d| Target::Decl(here, d)).or_else(|| self.global(name))
            }
            Role::ProbePath(n, probe, k) => self.probe_path(n, probe, *k),
            Role::Unit(text) => Some(Target::Unit(text.to_string())),
            Role::Import(import) => {
                let file_name = crate::check::import_path(self.db, import);
                self.db.find(&file_name).map(Target::Module)
            }
        }
    }

    fn name(&self, name: &str, scope: &Scope<'a>) -> Option<Target<'a>> {
        let here = |span: Span| span.file;
        for local in scope.locals.iter().rev() {
            match *local {
                Local::Let(l) if l.name.name == name => return Some(Target::Decl(here(l.span), Decl::Let(l, None))),
                Local::FnParam(p, f) if p.name.name == name => {
                    return Some(Target::Decl(here(p.span), Decl::FnParam(p, f)));
                }
                Local::Weight(e) if e.weight.name == name => return Some(Target::Decl(here(e.span), Decl::Weight(e))),
                _ => {}
            }
        }
        if scope.function.is_none()
            && let Some(m) = scope.mechanism
        {
            if let Some(d) = mechanism_member(m, name) {
                return Some(Target::Decl(here(m.span), d));
            }
            if let Some((_, words)) = MECHANISM_BUILTINS.iter().find(|(n, _)| *n == name) {
                return Some(Target::Builtin(format!("`{name}`: {words}")));
            }
        }
        if let Some(t) = self.global(name) {
            return Some(t);
        }
        if let Some((_, value, unit)) = crate::check::constants().iter().find(|(n, _, _)| *n == name) {
            return Some(Target::Builtin(format!("`{name}`: a constant, {value} {unit}")));
        }
        if units::lookup_atom(name).is_some() {
            return Some(Target::Unit(name.to_string()));
        }
        None
    }

    fn callee(&self, name: &str, scope: &Scope<'a>) -> Option<Target<'a>> {
        if let Some(m) = scope.mechanism {
            for member in &m.members {
                if let ast::Member::Function(f) = member
                    && f.name.name == name
                {
                    return Some(Target::Decl(m.span.file, Decl::Function(f, Some(m))));
                }
            }
        }
        if let Some(t @ Target::Decl(_, Decl::Function(..))) = self.global(name) {
            return Some(t);
        }
        crate::check::builtin_functions().iter().find(|(n, _)| *n == name).map(|(n, arity)| {
            let args = ["x", "y"][..*arity].join(", ");
            Target::Builtin(format!("```sylva\n{n}({args})\n```\nbuilt-in function"))
        })
    }

    /// The name at index `k` of a probe's path: in `cells[0].syn.g` the synapse `syn` of the
    /// population's cell, then the member `g` of its mechanism; in `clamp.i` the member of the
    /// stimulus's mechanism; in `hh.m` the member of the density mechanism.
    fn probe_path(&self, n: &'a ast::Network, probe: &'a ast::Probe, k: usize) -> Option<Target<'a>> {
        let head = probe.head.name.name.as_str();
        let (mechanism, member_index) = if let Some(cell) = self.cell_of(n, head) {
            let synapse_name = &probe.path.first()?.name;
            let synapse = cell.members.iter().find_map(|m| match m {
                ast::CellMember::Synapse(p) if p.name.name == *synapse_name => Some(p),
                _ => None,
            })?;
            if k == 0 {
                return Some(Target::Decl(self.file_of(cell.span), Decl::Placement(synapse)));
            }
            (synapse.mechanism.name.as_str(), 1)
        } else if let Some(Decl::Stimulus(s)) = population(n, head) {
            (s.mechanism.name.as_str(), 0)
        } else {
            (head, 0)
        };
        if k != member_index {
            return None;
        }
        let m = self.mechanism(mechanism)?;
        mechanism_member(m, &probe.path[k].name).map(|d| Target::Decl(self.file_of(m.span), d))
    }

    /// The cell of a population of a network.
    fn cell_of(&self, n: &'a ast::Network, population_name: &str) -> Option<&'a ast::Cell> {
        let cell = n.members.iter().find_map(|m| match m {
            ast::NetworkMember::Population(p) if p.name.name == population_name => Some(&p.cell.name),
            _ => None,
        })?;
        match self.items.get(cell.as_str()) {
            Some((_, Decl::Cell(c))) => Some(c),
            _ => None,
        }
    }

    /// The morphology of a cell: inline, or named.
    pub fn morphology_of(&self, cell: &'a ast::Cell) -> Option<&'a ast::Morphology> {
        cell.members.iter().find_map(|m| match m {
            ast::CellMember::Morphology(m) => Some(m),
            ast::CellMember::MorphologyRef(name) => match self.items.get(name.name.as_str()) {
                Some((_, Decl::Morphology(m))) => Some(*m),
                _ => None,
            },
            _ => None,
        })
    }

    fn region(&self, cell: &'a ast::Cell, name: &str) -> Option<Target<'a>> {
        if let Some(m) = self.morphology_of(cell)
            && let Some(d) = morphology_names(m).into_iter().find(|d| d.name().is_some_and(|n| n.name == name))
        {
            return Some(Target::Decl(m.span.file, d));
        }
        builtin_region(name)
    }

    /// The dimension the checker gave the expression exactly at `span`.
    pub fn dim_of(&self, span: Span) -> Option<Option<Dimension>> {
        self.compilation.expr_dims.iter().find(|(s, _)| *s == span).map(|(_, d)| *d)
    }

    /// The smallest checked expression of `file` containing `offset`.
    pub fn innermost_expr(&self, file: FileId, offset: u32) -> Option<(Span, Option<Dimension>)> {
        self.compilation
            .expr_dims
            .iter()
            .filter(|(s, _)| s.file == file && s.start <= offset && offset < s.end.max(s.start + 1))
            .min_by_key(|(s, _)| s.end.saturating_sub(s.start))
            .copied()
    }

    fn text(&self, span: Span) -> String {
        one_line(self.db.text(span), 120)
    }

    fn location(&self, file: FileId) -> String {
        let name = &self.db.get(file).name;
        if stdlib::is_std_file(name) {
            format!("standard library, `{name}`")
        } else {
            format!("`{}`", name.rsplit('/').next().unwrap_or(name))
        }
    }

    /// Markdown for hover.
    pub fn describe(&self, target: &Target<'a>) -> String {
        match target {
            Target::Builtin(words) => words.clone(),
            Target::Unit(text) => match units::parse_unit(text) {
                Ok(u) => format!("unit `{text}`: {}", u.dim.describe()),
                Err(e) => format!("`{text}` is not a unit: {}", e.message),
            },
            Target::Module(file) => self.module(*file),
            Target::Decl(file, decl) => self.decl(*file, decl),
        }
    }

    fn module(&self, file: FileId) -> String {
        let source = self.db.get(file);
        let mut out = format!("module `{}`", source.name);
        // The leading `//` comment of the file.
        let intro: Vec<&str> = source
            .text
            .lines()
            .take_while(|l| l.starts_with("//") && !l.starts_with("///"))
            .map(|l| l.trim_start_matches('/').trim())
            .collect();
        if !intro.is_empty() {
            out.push_str("\n\n");
            out.push_str(&intro.join(" "));
        }
        if let Some((_, parsed)) = self.compilation.files.iter().find(|(f, _)| *f == file) {
            let names: Vec<String> = parsed
                .items
                .iter()
                .filter_map(|i| match i {
                    ast::Item::Mechanism(m) => Some(format!("`{}`", m.name.name)),
                    ast::Item::Cell(c) => Some(format!("`{}`", c.name.name)),
                    ast::Item::Species(s) => Some(format!("`{}`", s.name.name)),
                    _ => None,
                })
                .collect();
            if !names.is_empty() {
                out.push_str(&format!("\n\ndefines {}", names.join(", ")));
            }
        }
        out
    }

    /// The hover words of a declaration in `file`.
    fn decl(&self, file: FileId, decl: &Decl<'a>) -> String {
        match *decl {
            Decl::Param(p, m) => self.param_words(file, p, m),
            Decl::State(s, m) => self.state_words(s, m),
            Decl::Gate(g, m) => self.gate_words(g, m),
            Decl::Let(l, m) => self.let_words(l, m),
            Decl::Function(f, m) => self.function_words(file, f, m),
            Decl::FnParam(p, f) => format!(
                "**{}**: parameter of function `{}`\n\n- unit: `{}` ({})",
                p.name.name,
                f.name.name,
                p.unit.text,
                unit_words(&p.unit.text)
            ),
            Decl::Mechanism(m) => self.mechanism_summary(file, m),
            Decl::Species(s) => {
                let props: Vec<String> = s.props.iter().map(|p| self.text(p.span)).collect();
                with_doc(
                    format!("**{}**: ion species ({})\n\n`{}`", s.name.name, self.location(file), props.join(", ")),
                    &s.doc,
                )
            }
            Decl::Morphology(m) => morphology_words(m),
            Decl::Section(s) => self.section_words(s),
            Decl::Region(r) => format!("**{}**: region, `{}`", r.name.name, self.text(r.span)),
            Decl::Cell(c) => self.cell_summary(file, c),
            Decl::Network(n) => self.network_words(n),
            Decl::Population(p) => format!("**{}**: population\n\n`{}`", p.name.name, self.text(p.span)),
            Decl::Placement(p) => format!("**{}**: synapse\n\n`{}`", p.name.name, self.text(p.span)),
            Decl::Source(s) => format!("**{}**: spike source\n\n`{}`", s.name.name, self.text(s.span)),
            Decl::Stimulus(s) => format!("**{}**: stimulus\n\n`{}`", s.name.name, self.text(s.span)),
            Decl::Current(i, m) => {
                format!("**{}**: non-specific current of {} `{}`", i.name, mechanism_kind(m), m.name.name)
            }
            Decl::IonVar(ion, var, m) => ion_var_decl_words(ion, var, m),
            Decl::Weight(e) => format!(
                "**{}**: the weight of an incoming event\n\n- unit: `{}` ({})",
                e.weight.name,
                e.unit.text,
                unit_words(&e.unit.text)
            ),
        }
    }

    /// A parameter of a mechanism or of the model: unit, default, range.
    fn param_words(&self, file: FileId, p: &ast::Param, m: Option<&ast::Mechanism>) -> String {
        let owner = match m {
            Some(m) => format!("parameter of {} `{}`", mechanism_kind(m), m.name.name),
            None => format!("parameter ({})", self.location(file)),
        };
        let mut out = format!("**{}**: {owner}\n", p.name.name);
        match &p.unit {
            Some(u) => out.push_str(&format!("\n- unit: `{}` ({})", u.text, unit_words(&u.text))),
            None => out.push_str("\n- unit: none (dimensionless, or the default's)"),
        }
        out.push_str(&format!("\n- default: `{}`", self.text(p.default.span)));
        match &p.range {
            Some(r) => out.push_str(&format!("\n- range: `[{}, {}]`", self.text(r.lo.span), self.text(r.hi.span))),
            None => out.push_str("\n- range: any value"),
        }
        with_doc(out, &p.doc)
    }

    /// A state: unit and initial value.
    fn state_words(&self, s: &ast::State, m: &ast::Mechanism) -> String {
        let mut out = format!("**{}**: state of {} `{}`\n", s.name.name, mechanism_kind(m), m.name.name);
        out.push_str(&format!("\n- unit: `{}` ({})", s.unit.text, unit_words(&s.unit.text)));
        match &s.init {
            Some(init) => out.push_str(&format!("\n- initial value: `{}`", self.text(init.span))),
            None => out.push_str("\n- initial value: from `initial`, or 0"),
        }
        with_doc(out, &s.doc)
    }

    /// A gate, with its properties as written.
    fn gate_words(&self, g: &ast::Gate, m: &ast::Mechanism) -> String {
        let props: Vec<String> = g.props.iter().map(|p| self.text(p.span)).collect();
        let out = format!(
            "**{}**: gate of {} `{}` (a dimensionless state in [0, 1])\n\n```sylva\n{}\n```",
            g.name.name,
            mechanism_kind(m),
            m.name.name,
            props.join("\n")
        );
        with_doc(out, &g.doc)
    }

    /// A `let`: its definition and the dimension the checker found.
    fn let_words(&self, l: &ast::Let, m: Option<&ast::Mechanism>) -> String {
        let owner = match m {
            Some(m) => format!("derived value of {} `{}`", mechanism_kind(m), m.name.name),
            None => "local value".to_string(),
        };
        let mut out =
            format!("**{}**: {owner}\n\n```sylva\nlet {} = {}\n```", l.name.name, l.name.name, self.text(l.value.span));
        if let Some(dim) = self.dim_of(l.value.span) {
            out.push_str(&format!("\n\n{}", super::dim_words(dim)));
        }
        with_doc(out, &l.doc)
    }

    /// A function's signature and owner.
    fn function_words(&self, file: FileId, f: &ast::Function, m: Option<&ast::Mechanism>) -> String {
        let params: Vec<String> = f.params.iter().map(|p| format!("{}: {}", p.name.name, p.unit.text)).collect();
        let result = f.result.as_ref().map_or(String::new(), |r| format!(" -> {}", r.text));
        let owner = match m {
            Some(m) => format!("function of {} `{}`", mechanism_kind(m), m.name.name),
            None => format!("function ({})", self.location(file)),
        };
        let out = format!("```sylva\nfn {}({}){result}\n```\n{owner}", f.name.name, params.join(", "));
        with_doc(out, &f.doc)
    }

    /// A section: where it is attached, its properties.
    fn section_words(&self, s: &ast::Section) -> String {
        let mut out = format!("**{}**: section", s.name.name);
        if let Some(parent) = &s.parent {
            out.push_str(&format!(" attached at `{}`", self.text(parent.span)));
        }
        let props: Vec<String> = s.props.iter().map(|p| self.text(p.span)).collect();
        out.push_str(&format!("\n\n`{}`", props.join(", ")));
        with_doc(out, &s.doc)
    }

    /// A network: its populations as written.
    fn network_words(&self, n: &ast::Network) -> String {
        let pops: Vec<String> = n
            .members
            .iter()
            .filter_map(|m| match m {
                ast::NetworkMember::Population(p) => Some(format!("`{}`", self.text(p.span))),
                _ => None,
            })
            .collect();
        with_doc(format!("**{}**: network\n\npopulations: {}", n.name.name, pops.join(", ")), &n.doc)
    }

    fn mechanism_summary(&self, file: FileId, m: &'a ast::Mechanism) -> String {
        let mut out = format!("**{}**: {} ({})", m.name.name, mechanism_kind(m), self.location(file));
        if let Some(doc) = &m.doc {
            out.push_str("\n\n");
            out.push_str(doc);
        }
        let mut params = Vec::new();
        let mut states = Vec::new();
        let mut ions = Vec::new();
        let mut currents = Vec::new();
        for member in &m.members {
            match member {
                ast::Member::Param(p) => {
                    let unit = p.unit.as_ref().map_or(String::new(), |u| format!(": {}", u.text));
                    params.push(format!("`{}{unit} = {}`", p.name.name, self.text(p.default.span)));
                }
                ast::Member::State(s) => states.push(format!("`{}: {}`", s.name.name, s.unit.text)),
                ast::Member::Gate(g) => states.push(format!("`{}` (gate)", g.name.name)),
                ast::Member::Ion(i) => {
                    let mut parts = Vec::new();
                    if !i.reads.is_empty() {
                        parts.push(format!("reads {}", names(&i.reads)));
                    }
                    if !i.writes.is_empty() {
                        parts.push(format!("writes {}", names(&i.writes)));
                    }
                    ions.push(format!("`{}` ({})", i.ion.name, parts.join(", ")));
                }
                ast::Member::Current(c) => currents.push(format!("`{}`", c.name)),
                ast::Member::Assign(a) if a.electrode => currents.push(format!("`{}` (electrode)", a.target.name)),
                _ => {}
            }
        }
        out.push_str("\n\n---\n");
        for (title, list) in [("parameters", params), ("states", states), ("ions", ions), ("currents", currents)] {
            if !list.is_empty() {
                out.push_str(&format!("\n- {title}: {}", list.join(", ")));
            }
        }
        out
    }

    fn cell_summary(&self, file: FileId, c: &'a ast::Cell) -> String {
        let mut out = format!("**{}**: cell ({})", c.name.name, self.location(file));
        if let Some(doc) = &c.doc {
            out.push_str("\n\n");
            out.push_str(doc);
        }
        let mut inserts = Vec::new();
        let mut synapses = Vec::new();
        for member in &c.members {
            match member {
                ast::CellMember::Insert(i) => {
                    let regions: Vec<&str> = i.regions.iter().map(|r| r.name.as_str()).collect();
                    inserts.push(format!("`{}` in `{}`", i.mechanism.name, regions.join(" + ")))
                }
                ast::CellMember::Synapse(p) => synapses.push(format!("`{}` ({})", p.name.name, p.mechanism.name)),
                _ => {}
            }
        }
        if !inserts.is_empty() {
            out.push_str(&format!("\n\n- mechanisms: {}", inserts.join(", ")));
        }
        if !synapses.is_empty() {
            out.push_str(&format!("\n- synapses: {}", synapses.join(", ")));
        }
        out
    }
}

/// A region every morphology has (`all`, `soma`, `axon`, `dend`, `apic`): its words.
fn builtin_region(name: &str) -> Option<Target<'static>> {
    BUILTIN_REGIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, words)| Target::Builtin(format!("region `{n}`: {words} (built in)")))
}

/// Hover words followed by a declaration's documentation, if it has any.
fn with_doc(mut head: String, doc: &Option<String>) -> String {
    if let Some(doc) = doc {
        head.push_str("\n\n---\n\n");
        head.push_str(doc);
    }
    head
}

/// A morphology: its sections, or the SWC file and its regions.
fn morphology_words(m: &ast::Morphology) -> String {
    let sections = morphology_names(m);
    let names: Vec<String> = sections.iter().filter_map(|d| d.name()).map(|n| format!("`{}`", n.name)).collect();
    let kind = match &m.body {
        ast::MorphologyBody::Tree(_) => "sections".to_string(),
        ast::MorphologyBody::Swc { path, .. } => format!("read from `{}`; regions", path.value),
    };
    let name = m.name.as_ref().map_or("(inline)", |n| n.name.as_str());
    with_doc(format!("**{name}**: morphology, {kind}: {}", names.join(", ")), &m.doc)
}

/// A name of `ion na { read ena, write ina }`: what it is, and whether the mechanism writes it.
fn ion_var_decl_words(ion: &ast::IonUse, var: &ast::Ident, m: &ast::Mechanism) -> String {
    let how = if ion.writes.iter().any(|w| w.name == var.name) { "written" } else { "read" };
    let what = ion_var_words(&ion.ion.name, &var.name);
    format!("**{}**: {what} of ion `{}`, {how} by {} `{}`", var.name, ion.ion.name, mechanism_kind(m), m.name.name)
}

fn names(list: &[ast::Ident]) -> String {
    list.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn mechanism_kind(m: &ast::Mechanism) -> &'static str {
    match m.kind {
        ast::MechanismKind::Density => "density mechanism",
        ast::MechanismKind::Point => "point mechanism",
    }
}

fn unit_words(text: &str) -> String {
    match units::parse_unit(text) {
        Ok(u) => u.dim.describe(),
        Err(e) => format!("not a unit: {}", e.message),
    }
}

fn ion_var_words(ion: &str, var: &str) -> &'static str {
    if var == format!("e{ion}") {
        "the reversal potential"
    } else if var == format!("i{ion}") {
        "the current density"
    } else if var == format!("{ion}i") {
        "the inside concentration"
    } else if var == format!("{ion}o") {
        "the outside concentration"
    } else {
        "a variable"
    }
}

/// The declaration of a mechanism member named `name`.
pub(crate) fn mechanism_member<'a>(m: &'a ast::Mechanism, name: &str) -> Option<Decl<'a>> {
    for member in &m.members {
        let decl = match member {
            ast::Member::Param(p) => Decl::Param(p, Some(m)),
            ast::Member::State(s) => Decl::State(s, m),
            ast::Member::Gate(g) => Decl::Gate(g, m),
            ast::Member::Let(l) => Decl::Let(l, Some(m)),
            ast::Member::Current(c) => Decl::Current(c, m),
            ast::Member::Assign(a) if a.electrode => Decl::Current(&a.target, m),
            ast::Member::Function(f) => Decl::Function(f, Some(m)),
            ast::Member::Ion(ion) => match ion.reads.iter().chain(&ion.writes).find(|v| v.name == name) {
                Some(var) => Decl::IonVar(ion, var, m),
                None => continue,
            },
            _ => continue,
        };
        if decl.name().is_some_and(|n| n.name == name) {
            return Some(decl);
        }
    }
    None
}

/// The sections and regions a morphology declares.
pub(crate) fn morphology_names(m: &ast::Morphology) -> Vec<Decl<'_>> {
    match &m.body {
        ast::MorphologyBody::Tree(members) => members
            .iter()
            .map(|member| match member {
                ast::MorphologyMember::Section(s) => Decl::Section(s),
                ast::MorphologyMember::Region(r) => Decl::Region(r),
            })
            .collect(),
        ast::MorphologyBody::Swc { regions, edits, .. } => edits
            .iter()
            .filter_map(|e| match e {
                ast::SwcEdit::Add(s) => Some(Decl::Section(s)),
                ast::SwcEdit::Delete { .. } => None,
            })
            .chain(regions.iter().map(Decl::Region))
            .collect(),
    }
}

fn population<'a>(n: &'a ast::Network, name: &str) -> Option<Decl<'a>> {
    n.members.iter().find_map(|m| match m {
        ast::NetworkMember::Population(p) if p.name.name == name => Some(Decl::Population(p)),
        ast::NetworkMember::Source(s) if s.name.name == name => Some(Decl::Source(s)),
        ast::NetworkMember::Stimulus(s) if s.name.name == name => Some(Decl::Stimulus(s)),
        _ => None,
    })
}
