//! pest pairs to syntax-tree items. The grammar guarantees the shape of every pair; a builder
//! that still finds something missing returns `None` rather than panicking.

use pest::iterators::Pair;

use super::grammar::Rule;
use super::scan::Docs;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};
use crate::syntax::ast::*;

/// Where a pair's text really ends. pest lets a rule that ends in an optional part (`range?`)
/// swallow the whitespace and comments before it; every token is a pair of its own, so the end
/// of the last token is the end of the text.
pub(super) fn end_of(pair: &Pair<Rule>) -> usize {
    let mut pair = pair.clone();
    loop {
        // Compound-atomic rules have no implicit whitespace, and their last inner pair may not be
        // their last token (the closing quote of a string).
        if matches!(pair.as_rule(), Rule::string | Rule::number_lit) {
            return pair.as_span().end();
        }
        match pair.clone().into_inner().last() {
            Some(last) => pair = last,
            None => return pair.as_span().end(),
        }
    }
}

/// The state of building one item.
pub(super) struct Ctx<'t> {
    pub file: FileId,
    /// The whole file.
    pub text: &'t str,
    /// Where the item's text starts in the file (pest's offsets are relative to it).
    pub offset: usize,
    pub docs: &'t Docs,
    pub diags: Vec<Diagnostic>,
    /// Set when the item must be dropped (an expression too deep).
    pub broken: bool,
}

impl Ctx<'_> {
    pub(super) fn span(&self, pair: &Pair<Rule>) -> Span {
        Span::new(self.file, self.offset + pair.as_span().start()..self.offset + end_of(pair))
    }

    pub(super) fn ident(&self, pair: &Pair<Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(pair) }
    }

    pub(super) fn unit(&self, pair: &Pair<Rule>) -> UnitExpr {
        UnitExpr { text: pair.as_str().to_string(), span: self.span(pair) }
    }

    pub(super) fn doc(&self, span: Span) -> Doc {
        self.docs.for_decl(self.text, span.start as usize, span.end as usize)
    }

    /// A string literal with its escapes resolved; unknown escapes are reported and kept.
    fn string(&mut self, pair: &Pair<Rule>) -> StringLit {
        let span = self.span(pair);
        let body = pair.clone().into_inner().next();
        let (raw, start) = match &body {
            Some(b) => (b.as_str(), self.span(b).start as usize),
            None => ("", span.start as usize),
        };
        let mut value = String::new();
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some((_, e @ ('"' | '\\'))) => value.push(e),
                Some((j, e)) => {
                    let at = Span::new(self.file, start + i..start + j + e.len_utf8());
                    let shown: String = e.escape_debug().collect();
                    self.diags.push(
                        Diagnostic::error(Code::InvalidString, at, format!("unknown escape `\\{shown}`"))
                            .label("not an escape")
                            .help("the escapes are `\\\"` and `\\\\`"),
                    );
                    value.push('\\');
                    value.push(e);
                }
                None => value.push('\\'),
            }
        }
        StringLit { value, span }
    }

    /// Builds a top-level item.
    pub(super) fn item(&mut self, pair: Pair<Rule>) -> Option<Item> {
        Some(match pair.as_rule() {
            Rule::import => Item::Import(self.import(pair)?),
            Rule::param => Item::Param(self.param(pair)?),
            Rule::function => Item::Function(self.function(pair)?),
            Rule::mechanism => Item::Mechanism(self.mechanism(pair)?),
            Rule::species => Item::Species(self.species(pair)?),
            Rule::morphology => Item::Morphology(self.morphology(pair)?),
            Rule::cell => Item::Cell(self.cell(pair)?),
            Rule::network => Item::Network(self.network(pair)?),
            Rule::simulation => {
                let span = self.span(&pair);
                Item::Simulation(Simulation { props: self.properties_in(pair), span })
            }
            Rule::train => Item::Train(self.train(pair)?),
            _ => return None,
        })
    }

    fn import(&mut self, pair: Pair<Rule>) -> Option<Import> {
        let span = self.span(&pair);
        let mut target = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::string => target = Some(ImportTarget::File(self.string(&p))),
                Rule::name => target = Some(ImportTarget::Std(self.ident(&p))),
                _ => {}
            }
        }
        Some(Import { target: target?, span })
    }

    fn param(&mut self, pair: Pair<Rule>) -> Option<Param> {
        let span = self.span(&pair);
        let (mut name, mut unit, mut default, mut range) = (None, None, None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::unit_type => unit = Some(self.unit(&p)),
                Rule::expr => default = Some(self.expr(p, 0)),
                Rule::range => {
                    let span = self.span(&p);
                    let mut ends = p.into_inner().filter(|p| p.as_rule() == Rule::expr);
                    let (lo, hi) = (ends.next()?, ends.next()?);
                    range = Some(Range { lo: self.expr(lo, 0), hi: self.expr(hi, 0), span });
                }
                _ => {}
            }
        }
        Some(Param { doc: self.doc(span), name: name?, unit, default: default?, range, span })
    }

    fn function(&mut self, pair: Pair<Rule>) -> Option<Function> {
        let span = self.span(&pair);
        let (mut name, mut params, mut result, mut body) = (None, Vec::new(), None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::fn_param => {
                    let span = self.span(&p);
                    let (mut pname, mut unit) = (None, None);
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::name => pname = Some(self.ident(&q)),
                            Rule::unit_type => unit = Some(self.unit(&q)),
                            _ => {}
                        }
                    }
                    params.push(FnParam { name: pname?, unit: unit?, span });
                }
                Rule::unit_type => result = Some(self.unit(&p)),
                Rule::block => body = Some(self.block(p, 0)),
                _ => {}
            }
        }
        Some(Function { doc: self.doc(span), name: name?, params, result, body: body?, span })
    }

    fn mechanism(&mut self, pair: Pair<Rule>) -> Option<Mechanism> {
        let span = self.span(&pair);
        let (mut kind, mut name, mut members) = (MechanismKind::Density, None, Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_point => kind = MechanismKind::Point,
                Rule::name => name = Some(self.ident(&p)),
                Rule::member => {
                    if let Some(m) = p.into_inner().next().and_then(|m| self.member(m)) {
                        members.push(m);
                    }
                }
                _ => {}
            }
        }
        Some(Mechanism { doc: self.doc(span), kind, name: name?, members, span })
    }

    fn member(&mut self, pair: Pair<Rule>) -> Option<Member> {
        let span = self.span(&pair);
        Some(match pair.as_rule() {
            Rule::param => Member::Param(self.param(pair)?),
            Rule::function => Member::Function(self.function(pair)?),
            Rule::let_decl => Member::Let(self.let_decl(pair, 0)?),
            Rule::state => {
                let (mut name, mut unit, mut init) = (None, None, None);
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::name => name = Some(self.ident(&p)),
                        Rule::unit_type => unit = Some(self.unit(&p)),
                        Rule::expr => init = Some(self.expr(p, 0)),
                        _ => {}
                    }
                }
                Member::State(State { doc: self.doc(span), name: name?, unit: unit?, init, span })
            }
            Rule::gate => {
                let (name, props) = self.named_properties(pair);
                Member::Gate(Gate { doc: self.doc(span), name: name?, props, span })
            }
            Rule::ion => {
                let (mut ion, mut reads, mut writes) = (None, Vec::new(), Vec::new());
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::name => ion = Some(self.ident(&p)),
                        Rule::ion_clause => {
                            let mut inner = p.into_inner();
                            let write = inner.next().is_some_and(|k| k.as_rule() == Rule::kw_write);
                            let names = inner.filter(|q| q.as_rule() == Rule::name).map(|q| self.ident(&q));
                            if write { writes.extend(names) } else { reads.extend(names) }
                        }
                        _ => {}
                    }
                }
                Member::Ion(IonUse { ion: ion?, reads, writes, span })
            }
            Rule::current_decl => Member::Current(self.first_name(pair)?),
            Rule::electrode | Rule::assignment => {
                let electrode = pair.as_rule() == Rule::electrode;
                let each_step = pair.clone().into_inner().any(|p| p.as_rule() == Rule::each_step);
                let secant = pair.clone().into_inner().any(|p| p.as_rule() == Rule::secant);
                let (target, value) = self.name_and_expr(pair);
                Member::Assign(Assign { electrode, each_step, secant, target: target?, value: value?, span })
            }
            Rule::ode => {
                let backward_euler = pair.clone().into_inner().any(|p| p.as_rule() == Rule::ode_method);
                let (state, rhs) = self.name_and_expr(pair);
                Member::Ode(Ode { state: state?, rhs: rhs?, backward_euler, span })
            }
            Rule::kinetic => {
                let (mut reactions, mut conserves) = (Vec::new(), Vec::new());
                let mut steady_state = false;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::kw_steady_state => steady_state = true,
                        Rule::reaction => reactions.extend(self.reaction(p)),
                        Rule::conserve => {
                            let span = self.span(&p);
                            let (mut states, mut total) = (Vec::new(), None);
                            for q in p.into_inner() {
                                match q.as_rule() {
                                    Rule::name => states.push(self.ident(&q)),
                                    Rule::expr => total = Some(self.expr(q, 0)),
                                    _ => {}
                                }
                            }
                            conserves.push(Conserve { states, total: total?, span });
                        }
                        _ => {}
                    }
                }
                Member::Kinetic(Kinetic { reactions, conserves, steady_state, span })
            }
            Rule::on_event => {
                let (mut weight, mut unit, mut body) = (None, None, Vec::new());
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::name => weight = Some(self.ident(&p)),
                        Rule::unit_type => unit = Some(self.unit(&p)),
                        Rule::statements => body = self.statements(p),
                        _ => {}
                    }
                }
                Member::OnEvent(OnEvent { weight: weight?, unit: unit?, body, span })
            }
            Rule::initial => {
                let body = pair.into_inner().find(|p| p.as_rule() == Rule::statements);
                Member::Initial(Initial { body: body.map(|b| self.statements(b)).unwrap_or_default(), span })
            }
            _ => return None,
        })
    }

    fn reaction(&mut self, pair: Pair<Rule>) -> Option<Reaction> {
        let span = self.span(&pair);
        let (mut sides, mut rates) = (Vec::new(), Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::reactants => {
                    let mut side = Vec::new();
                    for r in p.into_inner().filter(|r| r.as_rule() == Rule::reactant) {
                        let span = self.span(&r);
                        let (mut count, mut state) = (1, None);
                        for q in r.into_inner() {
                            match q.as_rule() {
                                Rule::count => count = self.count(&q),
                                Rule::name => state = Some(self.ident(&q)),
                                _ => {}
                            }
                        }
                        side.push(Reactant { count, state: state?, span });
                    }
                    sides.push(side);
                }
                Rule::expr => rates.push(self.expr(p, 0)),
                _ => {}
            }
        }
        let mut sides = sides.into_iter();
        let mut rates = rates.into_iter();
        Some(Reaction { lhs: sides.next()?, rhs: sides.next()?, forward: rates.next()?, backward: rates.next()?, span })
    }

    fn count(&mut self, pair: &Pair<Rule>) -> u32 {
        pair.as_str().parse().unwrap_or_else(|_| {
            self.diags.push(
                Diagnostic::error(Code::InvalidNumber, self.span(pair), "number too large")
                    .label("a stoichiometric coefficient must fit in 32 bits"),
            );
            1
        })
    }

    fn statements(&mut self, pair: Pair<Rule>) -> Vec<Stmt> {
        let mut out = Vec::new();
        for p in pair.into_inner().filter(|p| p.as_rule() == Rule::statement) {
            let span = self.span(&p);
            let (mut target, mut op, mut value) = (None, AssignOp::Set, None);
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::name => target = Some(self.ident(&q)),
                    Rule::add_assign => op = AssignOp::Add,
                    Rule::sub_assign => op = AssignOp::Sub,
                    Rule::expr => value = Some(self.expr(q, 0)),
                    _ => {}
                }
            }
            if let (Some(target), Some(value)) = (target, value) {
                out.push(Stmt { target, op, value, span });
            }
        }
        out
    }

    fn first_name(&self, pair: Pair<Rule>) -> Option<Ident> {
        pair.into_inner().find(|p| p.as_rule() == Rule::name).map(|p| self.ident(&p))
    }

    fn name_and_expr(&mut self, pair: Pair<Rule>) -> (Option<Ident>, Option<Expr>) {
        let (mut name, mut value) = (None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::expr => value = Some(self.expr(p, 0)),
                _ => {}
            }
        }
        (name, value)
    }

    /// `properties`: `{ key = value, … }`.
    fn properties(&mut self, pair: Pair<Rule>) -> Vec<Property> {
        pair.into_inner().filter(|p| p.as_rule() == Rule::property).filter_map(|p| self.property(p)).collect()
    }

    /// The properties of the `properties` child of `pair`, if it has one.
    fn properties_in(&mut self, pair: Pair<Rule>) -> Vec<Property> {
        pair.into_inner().find(|p| p.as_rule() == Rule::properties).map(|p| self.properties(p)).unwrap_or_default()
    }

    fn property(&mut self, pair: Pair<Rule>) -> Option<Property> {
        let span = self.span(&pair);
        let (mut key, mut value) = (None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::key | Rule::name => key = Some(self.ident(&p)),
                Rule::expr => value = Some(self.expr(p, 0)),
                _ => {}
            }
        }
        Some(Property { key: key?, value: value?, span })
    }

    /// A name and a `properties` block (gates, species).
    fn named_properties(&mut self, pair: Pair<Rule>) -> (Option<Ident>, Vec<Property>) {
        let (mut name, mut props) = (None, Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::properties => props = self.properties(p),
                _ => {}
            }
        }
        (name, props)
    }

    fn species(&mut self, pair: Pair<Rule>) -> Option<Species> {
        let span = self.span(&pair);
        let (name, props) = self.named_properties(pair);
        Some(Species { doc: self.doc(span), name: name?, props, span })
    }

    /// `morphology name { … }`, `morphology name = swc(…) { … }` or an inline `morphology { … }`.
    fn morphology(&mut self, pair: Pair<Rule>) -> Option<Morphology> {
        let span = self.span(&pair);
        let (mut name, mut body) = (None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::tree => {
                    let mut members = Vec::new();
                    for m in p.into_inner() {
                        match m.as_rule() {
                            Rule::section => members.extend(self.section(m).map(MorphologyMember::Section)),
                            Rule::region_def => members.extend(self.region_def(m).map(MorphologyMember::Region)),
                            _ => {}
                        }
                    }
                    body = Some(MorphologyBody::Tree(members));
                }
                Rule::swc => {
                    let (mut path, mut props, mut regions, mut edits) = (None, Vec::new(), Vec::new(), Vec::new());
                    for m in p.into_inner() {
                        match m.as_rule() {
                            Rule::string => path = Some(self.string(&m)),
                            Rule::property => props.extend(self.property(m)),
                            Rule::region_def => regions.extend(self.region_def(m)),
                            Rule::section => edits.extend(self.section(m).map(SwcEdit::Add)),
                            Rule::delete => {
                                let span = self.span(&m);
                                let names = m.into_inner().filter(|q| q.as_rule() == Rule::section_name);
                                let names = names.map(|q| self.section_name(q)).collect();
                                edits.push(SwcEdit::Delete { names, span });
                            }
                            _ => {}
                        }
                    }
                    body = Some(MorphologyBody::Swc { path: path?, props, regions, edits });
                }
                _ => {}
            }
        }
        Some(Morphology { doc: self.doc(span), name, body: body?, span })
    }

    fn section(&mut self, pair: Pair<Rule>) -> Option<Section> {
        let span = self.span(&pair);
        let (mut name, mut parent, mut props) = (None, None, Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::section_index => self.join_index(&mut name, &p),
                Rule::location => parent = Some(self.location(p)?),
                Rule::properties => props = self.properties(p),
                _ => {}
            }
        }
        Some(Section { doc: self.doc(span), name: name?, parent, props, span })
    }

    /// `dend[3]` names one section of an SWC array: the index joins the name.
    fn join_index(&mut self, name: &mut Option<Ident>, index: &Pair<Rule>) {
        if let Some(s) = name.as_mut() {
            s.name.push_str(index.as_str());
            s.span = s.span.to(self.span(index));
        }
    }

    /// A section or region name, with its index if it has one (`dend[3]`).
    fn section_name(&mut self, pair: Pair<Rule>) -> Ident {
        let mut inner = pair.into_inner();
        let first = inner.next().expect("section_name starts with a name");
        let mut name = Some(self.ident(&first));
        if let Some(index) = inner.next() {
            self.join_index(&mut name, &index);
        }
        name.expect("set above")
    }

    fn region_def(&mut self, pair: Pair<Rule>) -> Option<RegionDef> {
        let span = self.span(&pair);
        let mut names = pair.into_inner().filter(|p| p.as_rule() == Rule::name).map(|p| self.ident(&p));
        let name = names.next()?;
        Some(RegionDef { name, parts: names.collect(), span })
    }

    fn location(&mut self, pair: Pair<Rule>) -> Option<Location> {
        let span = self.span(&pair);
        let (mut section, mut x, mut distance) = (None, None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => section = Some(self.ident(&p)),
                Rule::section_index => self.join_index(&mut section, &p),
                Rule::expr => x = Some(self.expr(p, 0)),
                Rule::distance_arg => {
                    distance = p.into_inner().find(|q| q.as_rule() == Rule::expr).map(|q| self.expr(q, 0))
                }
                _ => {}
            }
        }
        Some(Location { section: section?, x, distance, span })
    }

    fn cell(&mut self, pair: Pair<Rule>) -> Option<Cell> {
        let span = self.span(&pair);
        let (mut name, mut members) = (None, Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::cell_member => members.extend(p.into_inner().next().and_then(|m| self.cell_member(m))),
                _ => {}
            }
        }
        Some(Cell { doc: self.doc(span), name: name?, members, span })
    }

    fn cell_member(&mut self, pair: Pair<Rule>) -> Option<CellMember> {
        let span = self.span(&pair);
        Some(match pair.as_rule() {
            Rule::morphology_inline => CellMember::Morphology(self.morphology(pair)?),
            Rule::morphology_ref => CellMember::MorphologyRef(self.first_name(pair)?),
            Rule::species => CellMember::Species(self.species(pair)?),
            Rule::distance_origin => {
                let at = pair.into_inner().find(|p| p.as_rule() == Rule::location)?;
                CellMember::DistanceOrigin(self.location(at)?)
            }
            Rule::insert => {
                let (mut names, mut props) = (Vec::new(), Vec::new());
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::name => names.push(self.ident(&p)),
                        Rule::properties => props = self.properties(p),
                        _ => {}
                    }
                }
                let mut names = names.into_iter();
                let mechanism = names.next()?;
                let regions: Vec<_> = names.collect();
                if regions.is_empty() {
                    return None;
                }
                CellMember::Insert(Insert { mechanism, regions, props, span })
            }
            Rule::synapse => {
                let (mut names, mut at, mut props) = (Vec::new(), None, Vec::new());
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::name => names.push(self.ident(&p)),
                        Rule::location => at = self.location(p),
                        Rule::properties => props = self.properties(p),
                        _ => {}
                    }
                }
                let mut names = names.into_iter();
                CellMember::Synapse(Placement { name: names.next()?, mechanism: names.next()?, at: at?, props, span })
            }
            Rule::detector => {
                let (mut at, mut threshold) = (None, None);
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::location => at = self.location(p),
                        Rule::expr => threshold = Some(self.expr(p, 0)),
                        _ => {}
                    }
                }
                CellMember::Detector(Detector { at: at?, threshold: threshold?, span })
            }
            Rule::cell_property => {
                let (mut names, mut value) = (Vec::new(), None);
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::name => names.push(self.ident(&p)),
                        Rule::expr => value = Some(self.expr(p, 0)),
                        _ => {}
                    }
                }
                let mut names = names.into_iter();
                let key = names.next()?;
                let prop = Property { key, value: value?, span };
                CellMember::Property { prop, region: names.next() }
            }
            _ => return None,
        })
    }

    fn network(&mut self, pair: Pair<Rule>) -> Option<Network> {
        let span = self.span(&pair);
        let (mut name, mut members) = (None, Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::network_member => members.extend(p.into_inner().next().and_then(|m| self.network_member(m))),
                _ => {}
            }
        }
        Some(Network { doc: self.doc(span), name: name?, members, span })
    }

    fn network_member(&mut self, pair: Pair<Rule>) -> Option<NetworkMember> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        if rule == Rule::record {
            return Some(NetworkMember::RecordSpikes(span));
        }
        let (mut names, mut exprs, mut selections) = (Vec::new(), Vec::new(), Vec::new());
        let (mut call, mut props, mut at, mut label) = (None, Vec::new(), None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => names.push(self.ident(&p)),
                Rule::expr => exprs.push(self.expr(p, 0)),
                Rule::selection => selections.push(self.selection(p)?),
                Rule::generator => call = Some(self.generator(p)?),
                Rule::properties => props = self.properties(p),
                Rule::cell_location => at = Some(self.cell_location(p)?),
                Rule::string => label = Some(self.string(&p)),
                _ => {}
            }
        }
        let mut names = names.into_iter();
        let mut selections = selections.into_iter();
        Some(match rule {
            Rule::population => NetworkMember::Population(Population {
                name: names.next()?,
                cell: names.next()?,
                count: exprs.pop()?,
                span,
            }),
            Rule::connect => NetworkMember::Connect(Connect {
                // Two names: the rule's own, then the synapse.
                name: if names.len() == 2 { names.next() } else { None },
                source: selections.next()?,
                target: selections.next()?,
                synapse: names.next()?,
                rule: call,
                props,
                span,
            }),
            Rule::source => NetworkMember::Source(SpikeSource { name: names.next()?, generator: call?, span }),
            Rule::stimulus => NetworkMember::Stimulus(Stimulus {
                name: names.next()?,
                mechanism: names.next()?,
                at: at?,
                props,
                span,
            }),
            Rule::probe => {
                NetworkMember::Probe(Probe { label: label?, head: selections.next()?, path: names.collect(), at, span })
            }
            _ => return None,
        })
    }

    fn selection(&mut self, pair: Pair<Rule>) -> Option<Selection> {
        let span = self.span(&pair);
        let (mut name, mut index) = (None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::index => {
                    let mut exprs = p.into_inner().filter(|q| q.as_rule() == Rule::expr);
                    let start = self.expr(exprs.next()?, 0);
                    index = Some(match exprs.next() {
                        None => Index::One(start),
                        Some(end) => {
                            let end = self.expr(end, 0);
                            let step = exprs.next().map(|s| self.expr(s, 0));
                            Index::Range { start, end, step }
                        }
                    });
                }
                _ => {}
            }
        }
        Some(Selection { name: name?, index, span })
    }

    fn cell_location(&mut self, pair: Pair<Rule>) -> Option<CellLocation> {
        let span = self.span(&pair);
        let (mut cells, mut at) = (None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::selection => cells = self.selection(p),
                Rule::location => at = self.location(p),
                _ => {}
            }
        }
        Some(CellLocation { cells: cells?, at: at?, span })
    }

    /// A rule or generator call: `ring(10)`, `random(p = 0.1)`, `all_to_all`.
    fn generator(&mut self, pair: Pair<Rule>) -> Option<Call> {
        let span = self.span(&pair);
        let (mut name, mut args) = (None, Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::arg => {
                    let span = self.span(&p);
                    let (arg_name, value) = self.name_and_expr(p);
                    args.push(Arg { name: arg_name, value: value?, span });
                }
                _ => {}
            }
        }
        Some(Call { name: name?, args, span })
    }

    fn train(&mut self, pair: Pair<Rule>) -> Option<Train> {
        let span = self.span(&pair);
        let (mut name, mut members) = (None, Vec::new());
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::train_member => members.extend(p.into_inner().next().and_then(|m| self.train_member(m))),
                _ => {}
            }
        }
        Some(Train { doc: self.doc(span), name: name?, members, span })
    }

    fn train_member(&mut self, pair: Pair<Rule>) -> Option<TrainMember> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::trainable => {
                let (mut path, mut regions, mut props, mut after_in) = (Vec::new(), Vec::new(), Vec::new(), false);
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::kw_in => after_in = true,
                        Rule::name if after_in => regions.push(self.ident(&p)),
                        Rule::name => path.push(self.ident(&p)),
                        Rule::properties => props = self.properties(p),
                        _ => {}
                    }
                }
                Some(TrainMember::Trainable(Trainable { doc: self.doc(span), path, regions, props, span }))
            }
            Rule::target => {
                let mut strings = Vec::new();
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::string {
                        strings.push(self.string(&p));
                    }
                }
                let mut strings = strings.into_iter();
                let (label, file) = (strings.next()?, strings.next()?);
                Some(TrainMember::Target(Target { label, file, column: strings.next(), span }))
            }
            Rule::input => {
                let (mut column, mut to, mut props) = (None, Vec::new(), Vec::new());
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::string => column = Some(self.string(&p)),
                        Rule::name => to.push(self.ident(&p)),
                        Rule::properties => props = self.properties(p),
                        _ => {}
                    }
                }
                Some(TrainMember::Input(Input { column: column?, to, props, span }))
            }
            Rule::readout => {
                let (mut statistic, mut probes, mut bounds) = (None, Vec::new(), Vec::new());
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::name => statistic = Some(self.ident(&p)),
                        Rule::string => probes.push(self.string(&p)),
                        Rule::expr => bounds.push(self.expr(p, 0)),
                        _ => {}
                    }
                }
                let mut bounds = bounds.into_iter();
                let (from, to) = (bounds.next()?, bounds.next()?);
                Some(TrainMember::Readout(Readout { statistic: statistic?, probes, from, to, span }))
            }
            Rule::dataset => {
                let (mut key, mut format, mut files) = (None, None, Vec::new());
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::key => key = Some(self.ident(&p)),
                        Rule::name => format = Some(self.ident(&p)),
                        Rule::string => files.push(self.string(&p)),
                        _ => {}
                    }
                }
                Some(TrainMember::Dataset(Dataset { key: key?, format: format?, files, span }))
            }
            Rule::train_text => {
                let (mut key, mut value) = (None, None);
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::key => key = Some(self.ident(&p)),
                        Rule::string => value = Some(self.string(&p)),
                        _ => {}
                    }
                }
                Some(TrainMember::Text(TrainText { key: key?, value: value?, span }))
            }
            Rule::train_setting => {
                let (mut key, mut value, mut settings) = (None, None, None);
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::key => key = Some(self.ident(&p)),
                        Rule::expr => value = Some(self.expr(p, 0)),
                        Rule::settings_value => {
                            let mut inner = p.into_inner();
                            let n = self.ident(&inner.next()?);
                            value = Some(Expr { span: n.span, kind: ExprKind::Name(n) });
                            settings = Some(inner.next().map(|q| self.properties(q)).unwrap_or_default());
                        }
                        _ => {}
                    }
                }
                Some(TrainMember::Setting(TrainSetting { key: key?, value: value?, settings, span }))
            }
            _ => None,
        }
    }
}
