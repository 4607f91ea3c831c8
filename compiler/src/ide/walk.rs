//! Every name in a syntax tree with the role it plays there: a declaration, or a reference
//! and where to look it up.

use crate::source::Span;
use crate::syntax::ast;

/// A declaration in a syntax tree.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Decl<'a> {
    Param(&'a ast::Param, Option<&'a ast::Mechanism>),
    State(&'a ast::State, &'a ast::Mechanism),
    Gate(&'a ast::Gate, &'a ast::Mechanism),
    Let(&'a ast::Let, Option<&'a ast::Mechanism>),
    Function(&'a ast::Function, Option<&'a ast::Mechanism>),
    FnParam(&'a ast::FnParam, &'a ast::Function),
    Mechanism(&'a ast::Mechanism),
    Species(&'a ast::Species),
    Morphology(&'a ast::Morphology),
    Section(&'a ast::Section),
    Region(&'a ast::RegionDef),
    Cell(&'a ast::Cell),
    Network(&'a ast::Network),
    Population(&'a ast::Population),
    Placement(&'a ast::Placement),
    Source(&'a ast::SpikeSource),
    Stimulus(&'a ast::Stimulus),
    /// `current il`, or the target of `electrode current i = …`.
    Current(&'a ast::Ident, &'a ast::Mechanism),
    /// A name in `ion na { read ena, write ina }`.
    IonVar(&'a ast::IonUse, &'a ast::Ident, &'a ast::Mechanism),
    /// The weight of `on event(w: uS)`.
    Weight(&'a ast::OnEvent),
}

impl<'a> Decl<'a> {
    /// The declared name.
    pub fn name(&self) -> Option<&'a ast::Ident> {
        Some(match *self {
            Decl::Param(p, _) => &p.name,
            Decl::State(s, _) => &s.name,
            Decl::Gate(g, _) => &g.name,
            Decl::Let(l, _) => &l.name,
            Decl::Function(f, _) => &f.name,
            Decl::FnParam(p, _) => &p.name,
            Decl::Mechanism(m) => &m.name,
            Decl::Species(s) => &s.name,
            Decl::Morphology(m) => return m.name.as_ref(),
            Decl::Section(s) => &s.name,
            Decl::Region(r) => &r.name,
            Decl::Cell(c) => &c.name,
            Decl::Network(n) => &n.name,
            Decl::Population(p) => &p.name,
            Decl::Placement(p) => &p.name,
            Decl::Source(s) => &s.name,
            Decl::Stimulus(s) => &s.name,
            Decl::Current(i, _) => i,
            Decl::IonVar(_, i, _) => i,
            Decl::Weight(e) => &e.weight,
        })
    }
}

/// A local name in an expression.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Local<'a> {
    Let(&'a ast::Let),
    FnParam(&'a ast::FnParam, &'a ast::Function),
    Weight(&'a ast::OnEvent),
}

/// Where a name in an expression is looked up.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope<'a> {
    pub mechanism: Option<&'a ast::Mechanism>,
    /// Inside a function body, which sees its parameters but not the mechanism's names.
    pub function: Option<&'a ast::Function>,
    pub locals: Vec<Local<'a>>,
}

/// What a name does where it is written.
#[derive(Clone, Debug)]
pub(crate) enum Role<'a> {
    Decl(Decl<'a>),
    /// A name in an expression (or the target of an equation or assignment).
    Name(Scope<'a>),
    /// A called function.
    Callee(Scope<'a>),
    /// A top-level item named directly (`insert hh`, `population p = cell[3]`).
    Global,
    /// A property set on a mechanism (`insert hh in soma { gnabar = … }`): its parameter.
    MechParam(&'a ast::Ident),
    /// A region or section of a cell's morphology (`insert hh in soma`, `at soma(0.5)`).
    Region(&'a ast::Cell),
    /// A section of one morphology (`section dend at soma(1)`, `region r = a + b`).
    Section(&'a ast::Morphology),
    /// A population or spike source of a network.
    Population(&'a ast::Network),
    /// A section of the cells of a population (`cells[0].soma(0.5)`).
    PopulationSection(&'a ast::Network, &'a ast::Ident),
    /// The synapse of a connection's target (`cells.syn`).
    Synapse(&'a ast::Network, &'a ast::Ident),
    /// The first name of a probe (`v`, `hh`, `clamp`, `cells`).
    ProbeHead(&'a ast::Network),
    /// The name at this index of a probe's path after its head: the synapse of `cells[0].syn.g`,
    /// or a mechanism's member (`g` there, `i` of `clamp.i`, `m` of `hh.m`).
    ProbePath(&'a ast::Network, &'a ast::Probe, usize),
    /// A unit as written (`S/cm2`, or the unit of a number).
    Unit(&'a str),
    Import(&'a ast::Import),
}

#[derive(Clone, Debug)]
pub(crate) struct Occurrence<'a> {
    pub span: Span,
    pub name: &'a str,
    pub role: Role<'a>,
}

/// The occurrence under `offset`: the smallest span containing it (an offset just after a
/// name counts, for a cursor at its end).
pub(crate) fn at<'o, 'a>(occurrences: &'o [Occurrence<'a>], offset: u32) -> Option<&'o Occurrence<'a>> {
    occurrences
        .iter()
        .filter(|o| o.span.start <= offset && offset <= o.span.end)
        .min_by_key(|o| (o.span.end.saturating_sub(o.span.start), u32::from(o.span.end == offset)))
}

pub(crate) fn occurrences(file: &ast::File) -> Vec<Occurrence<'_>> {
    let mut w = Walk { out: Vec::new() };
    for item in &file.items {
        w.item(item);
    }
    w.out
}

struct Walk<'a> {
    out: Vec<Occurrence<'a>>,
}

impl<'a> Walk<'a> {
    fn push(&mut self, ident: &'a ast::Ident, role: Role<'a>) {
        self.out.push(Occurrence { span: ident.span, name: &ident.name, role });
    }

    fn decl(&mut self, decl: Decl<'a>) {
        if let Some(name) = decl.name() {
            self.push(name, Role::Decl(decl));
        }
    }

    fn unit(&mut self, unit: &'a ast::UnitExpr) {
        self.out.push(Occurrence { span: unit.span, name: &unit.text, role: Role::Unit(&unit.text) });
    }

    fn item(&mut self, item: &'a ast::Item) {
        let top = Scope::default();
        match item {
            ast::Item::Import(i) => match &i.target {
                ast::ImportTarget::Std(name) => self.push(name, Role::Import(i)),
                ast::ImportTarget::File(path) => {
                    self.out.push(Occurrence { span: path.span, name: &path.value, role: Role::Import(i) })
                }
            },
            ast::Item::Param(p) => self.param(p, None),
            ast::Item::Function(f) => self.function(f, None),
            ast::Item::Mechanism(m) => self.mechanism(m),
            ast::Item::Species(s) => self.species(s),
            ast::Item::Morphology(m) => self.morphology(m),
            ast::Item::Cell(c) => self.cell(c),
            ast::Item::Network(n) => self.network(n),
            ast::Item::Simulation(s) => self.props(&s.props, &top),
            ast::Item::Train(t) => self.train(t),
        }
    }

    /// A `train` block: a density trainable's cell type and mechanism are global names and its
    /// parameter is the mechanism's (hover shows its doc), a `cm` or `Ra` trainable's cell type
    /// too; the settings' values are expressions.
    fn train(&mut self, t: &'a ast::Train) {
        let top = Scope::default();
        for member in &t.members {
            match member {
                ast::TrainMember::Trainable(tr) if !tr.regions.is_empty() => {
                    let membrane = tr.path.last().is_some_and(|p| matches!(p.name.as_str(), "cm" | "Ra"));
                    if membrane {
                        // `[CELL.]cm in …`: the cell type is a global name, `cm` a keyword.
                        for cell in &tr.path[..tr.path.len() - 1] {
                            self.push(cell, Role::Global);
                        }
                    } else if let [names @ .., mech, param] = tr.path.as_slice() {
                        for n in names {
                            self.push(n, Role::Global);
                        }
                        self.push(mech, Role::Global);
                        self.push(param, Role::MechParam(mech));
                    }
                    self.props(&tr.props, &top);
                }
                ast::TrainMember::Trainable(tr) => self.props(&tr.props, &top),
                ast::TrainMember::Target(_) | ast::TrainMember::Dataset(_) | ast::TrainMember::Text(_) => {}
                ast::TrainMember::Input(_) => {}
                ast::TrainMember::Readout(r) => {
                    self.expr(&r.from, &top);
                    self.expr(&r.to, &top);
                }
                ast::TrainMember::Setting(s) => {
                    self.expr(&s.value, &top);
                    if let Some(props) = &s.settings {
                        self.props(props, &top);
                    }
                }
            }
        }
    }

    fn param(&mut self, p: &'a ast::Param, m: Option<&'a ast::Mechanism>) {
        self.decl(Decl::Param(p, m));
        if let Some(u) = &p.unit {
            self.unit(u);
        }
        let scope = Scope { mechanism: m, ..Scope::default() };
        self.expr(&p.default, &scope);
        if let Some(r) = &p.range {
            self.expr(&r.lo, &scope);
            self.expr(&r.hi, &scope);
        }
    }

    fn function(&mut self, f: &'a ast::Function, m: Option<&'a ast::Mechanism>) {
        self.decl(Decl::Function(f, m));
        for p in &f.params {
            self.decl(Decl::FnParam(p, f));
            self.unit(&p.unit);
        }
        if let Some(u) = &f.result {
            self.unit(u);
        }
        let locals = f.params.iter().map(|p| Local::FnParam(p, f)).collect();
        self.expr(&f.body, &Scope { mechanism: m, function: Some(f), locals });
    }

    fn mechanism(&mut self, m: &'a ast::Mechanism) {
        self.decl(Decl::Mechanism(m));
        let scope = Scope { mechanism: Some(m), ..Scope::default() };
        for member in &m.members {
            match member {
                ast::Member::Param(p) => self.param(p, Some(m)),
                ast::Member::State(s) => {
                    self.decl(Decl::State(s, m));
                    self.unit(&s.unit);
                    if let Some(init) = &s.init {
                        self.expr(init, &scope);
                    }
                }
                ast::Member::Gate(g) => {
                    self.decl(Decl::Gate(g, m));
                    self.props(&g.props, &scope);
                }
                ast::Member::Let(l) => {
                    self.decl(Decl::Let(l, Some(m)));
                    self.expr(&l.value, &scope);
                }
                ast::Member::Ode(o) => {
                    self.push(&o.state, Role::Name(scope.clone()));
                    self.expr(&o.rhs, &scope);
                }
                ast::Member::Ion(ion) => {
                    self.push(&ion.ion, Role::Global);
                    for var in ion.reads.iter().chain(&ion.writes) {
                        self.decl(Decl::IonVar(ion, var, m));
                    }
                }
                ast::Member::Current(name) => self.decl(Decl::Current(name, m)),
                ast::Member::Assign(a) => {
                    if a.electrode {
                        self.decl(Decl::Current(&a.target, m));
                    } else {
                        self.push(&a.target, Role::Name(scope.clone()));
                    }
                    self.expr(&a.value, &scope);
                }
                ast::Member::Kinetic(k) => {
                    for r in &k.reactions {
                        for x in r.lhs.iter().chain(&r.rhs) {
                            self.push(&x.state, Role::Name(scope.clone()));
                        }
                        self.expr(&r.forward, &scope);
                        self.expr(&r.backward, &scope);
                    }
                    for c in &k.conserves {
                        for s in &c.states {
                            self.push(s, Role::Name(scope.clone()));
                        }
                        self.expr(&c.total, &scope);
                    }
                }
                ast::Member::OnEvent(e) => {
                    self.decl(Decl::Weight(e));
                    self.unit(&e.unit);
                    let inner = Scope { locals: vec![Local::Weight(e)], ..scope.clone() };
                    self.stmts(&e.body, &inner);
                }
                ast::Member::Initial(i) => self.stmts(&i.body, &scope),
                ast::Member::Function(f) => self.function(f, Some(m)),
            }
        }
    }

    fn stmts(&mut self, body: &'a [ast::Stmt], scope: &Scope<'a>) {
        for s in body {
            self.push(&s.target, Role::Name(scope.clone()));
            self.expr(&s.value, scope);
        }
    }

    fn props(&mut self, props: &'a [ast::Property], scope: &Scope<'a>) {
        for p in props {
            self.expr(&p.value, scope);
        }
    }

    /// Properties that set a mechanism's parameters.
    fn mech_props(&mut self, mechanism: &'a ast::Ident, props: &'a [ast::Property]) {
        for p in props {
            self.push(&p.key, Role::MechParam(mechanism));
            self.expr(&p.value, &Scope::default());
        }
    }

    fn species(&mut self, s: &'a ast::Species) {
        self.decl(Decl::Species(s));
        self.props(&s.props, &Scope::default());
    }

    fn morphology(&mut self, m: &'a ast::Morphology) {
        self.decl(Decl::Morphology(m));
        let top = Scope::default();
        let regions = match &m.body {
            ast::MorphologyBody::Tree(members) => {
                for member in members {
                    if let ast::MorphologyMember::Section(s) = member {
                        self.section(s, m);
                    }
                }
                members
                    .iter()
                    .filter_map(|member| match member {
                        ast::MorphologyMember::Region(r) => Some(r),
                        ast::MorphologyMember::Section(_) => None,
                    })
                    .collect::<Vec<_>>()
            }
            ast::MorphologyBody::Swc { props, regions, edits, .. } => {
                self.props(props, &top);
                for edit in edits {
                    match edit {
                        ast::SwcEdit::Add(s) => self.section(s, m),
                        ast::SwcEdit::Delete { names, .. } => names.iter().for_each(|n| self.push(n, Role::Section(m))),
                    }
                }
                regions.iter().collect()
            }
        };
        for r in regions {
            self.decl(Decl::Region(r));
            for part in &r.parts {
                self.push(part, Role::Section(m));
            }
        }
    }

    /// A section declared in a morphology (or added to an SWC one) and where it attaches.
    fn section(&mut self, s: &'a ast::Section, m: &'a ast::Morphology) {
        self.decl(Decl::Section(s));
        if let Some(parent) = &s.parent {
            self.push(&parent.section, Role::Section(m));
            if let Some(x) = &parent.x {
                self.expr(x, &Scope::default());
            }
        }
        self.props(&s.props, &Scope::default());
    }

    fn location(&mut self, at: &'a ast::Location, role: Role<'a>) {
        self.push(&at.section, role);
        if let Some(x) = &at.x {
            self.expr(x, &Scope::default());
        }
    }

    fn cell(&mut self, c: &'a ast::Cell) {
        self.decl(Decl::Cell(c));
        let top = Scope::default();
        for member in &c.members {
            match member {
                ast::CellMember::MorphologyRef(name) => self.push(name, Role::Global),
                ast::CellMember::Morphology(m) => self.morphology(m),
                ast::CellMember::Property { prop, region } => {
                    if let Some(r) = region {
                        self.push(r, Role::Region(c));
                    }
                    self.expr(&prop.value, &top);
                }
                ast::CellMember::Insert(i) => {
                    self.push(&i.mechanism, Role::Global);
                    for region in &i.regions {
                        self.push(region, Role::Region(c));
                    }
                    self.mech_props(&i.mechanism, &i.props);
                }
                ast::CellMember::Species(s) => self.species(s),
                ast::CellMember::Synapse(p) => {
                    self.decl(Decl::Placement(p));
                    self.push(&p.mechanism, Role::Global);
                    self.location(&p.at, Role::Region(c));
                    self.mech_props(&p.mechanism, &p.props);
                }
                ast::CellMember::Detector(d) => {
                    self.location(&d.at, Role::Region(c));
                    self.expr(&d.threshold, &top);
                }
                ast::CellMember::DistanceOrigin(at) => self.location(at, Role::Region(c)),
            }
        }
    }

    fn selection(&mut self, s: &'a ast::Selection, n: &'a ast::Network) {
        self.push(&s.name, Role::Population(n));
        match &s.index {
            Some(ast::Index::One(e)) => self.expr(e, &Scope::default()),
            Some(ast::Index::Range { start, end, step }) => {
                self.expr(start, &Scope::default());
                self.expr(end, &Scope::default());
                if let Some(step) = step {
                    self.expr(step, &Scope::default());
                }
            }
            None => {}
        }
    }

    fn cell_location(&mut self, at: &'a ast::CellLocation, n: &'a ast::Network) {
        self.selection(&at.cells, n);
        self.location(&at.at, Role::PopulationSection(n, &at.cells.name));
    }

    fn call_args(&mut self, call: &'a ast::Call) {
        for a in &call.args {
            self.expr(&a.value, &Scope::default());
        }
    }

    fn network(&mut self, n: &'a ast::Network) {
        self.decl(Decl::Network(n));
        let top = Scope::default();
        for member in &n.members {
            match member {
                ast::NetworkMember::Population(p) => {
                    self.decl(Decl::Population(p));
                    self.push(&p.cell, Role::Global);
                    self.expr(&p.count, &top);
                }
                ast::NetworkMember::Connect(c) => {
                    self.selection(&c.source, n);
                    self.selection(&c.target, n);
                    self.push(&c.synapse, Role::Synapse(n, &c.target.name));
                    if let Some(rule) = &c.rule {
                        self.call_args(rule);
                    }
                    self.props(&c.props, &top);
                }
                ast::NetworkMember::Source(s) => {
                    self.decl(Decl::Source(s));
                    self.call_args(&s.generator);
                }
                ast::NetworkMember::Stimulus(s) => {
                    self.decl(Decl::Stimulus(s));
                    self.push(&s.mechanism, Role::Global);
                    self.cell_location(&s.at, n);
                    self.mech_props(&s.mechanism, &s.props);
                }
                ast::NetworkMember::Probe(p) => {
                    self.push(&p.head.name, Role::ProbeHead(n));
                    for (k, part) in p.path.iter().enumerate() {
                        self.push(part, Role::ProbePath(n, p, k));
                    }
                    if let Some(at) = &p.at {
                        self.cell_location(at, n);
                    }
                }
                ast::NetworkMember::RecordSpikes(_) => {}
            }
        }
    }

    fn expr(&mut self, e: &'a ast::Expr, scope: &Scope<'a>) {
        match &e.kind {
            ast::ExprKind::Number { unit, .. } => {
                if let Some(u) = unit {
                    self.unit(u);
                }
            }
            ast::ExprKind::Name(name) => self.push(name, Role::Name(scope.clone())),
            ast::ExprKind::Unary(_, x) => self.expr(x, scope),
            ast::ExprKind::Binary(_, a, b) => {
                self.expr(a, scope);
                self.expr(b, scope);
            }
            ast::ExprKind::Call { callee, args } => {
                self.push(callee, Role::Callee(scope.clone()));
                for a in args {
                    self.expr(a, scope);
                }
            }
            ast::ExprKind::If { cond, then, otherwise } => {
                self.expr(cond, scope);
                self.expr(then, scope);
                self.expr(otherwise, scope);
            }
            ast::ExprKind::Block { lets, result } => {
                let mut inner = scope.clone();
                for l in lets {
                    self.decl(Decl::Let(l, None));
                    self.expr(&l.value, &inner);
                    inner.locals.push(Local::Let(l));
                }
                self.expr(result, &inner);
            }
        }
    }
}
