//! The global namespace: every item of every loaded file, by name. Sylva has one namespace
//! per compilation (imports bring whole modules in), so a name defined twice is an error.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, SourceDb, Span};
use crate::syntax::ast;
use crate::units::Dimension;

/// A top-level parameter after evaluation and `--set` overrides.
#[derive(Clone, Debug)]
pub(crate) struct ParamValue {
    pub value: f64,
    pub dim: Dimension,
}

/// Something with a name at top level.
#[derive(Copy, Clone, Debug)]
pub(crate) enum ItemRef<'a> {
    Param(&'a ast::Param),
    Function(&'a ast::Function),
    Mechanism(&'a ast::Mechanism),
    Species(&'a ast::Species),
    Morphology(&'a ast::Morphology),
    Cell(&'a ast::Cell),
    Network(&'a ast::Network),
}

impl<'a> ItemRef<'a> {
    pub fn name(&self) -> &'a ast::Ident {
        match self {
            ItemRef::Param(p) => &p.name,
            ItemRef::Function(f) => &f.name,
            ItemRef::Mechanism(m) => &m.name,
            ItemRef::Species(s) => &s.name,
            ItemRef::Morphology(m) => m.name.as_ref().expect("top-level morphologies are named"),
            ItemRef::Cell(c) => &c.name,
            ItemRef::Network(n) => &n.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ItemRef::Param(_) => "parameter",
            ItemRef::Function(_) => "function",
            ItemRef::Mechanism(m) if m.kind == ast::MechanismKind::Point => "point mechanism",
            ItemRef::Mechanism(_) => "density mechanism",
            ItemRef::Species(_) => "ion species",
            ItemRef::Morphology(_) => "morphology",
            ItemRef::Cell(_) => "cell",
            ItemRef::Network(_) => "network",
        }
    }
}

pub(crate) struct Globals<'a> {
    pub sources: &'a SourceDb,
    pub items: HashMap<String, ItemRef<'a>>,
    /// Items in definition order (files in load order).
    pub order: Vec<ItemRef<'a>>,
    pub params: HashMap<String, ParamValue>,
    pub simulations: Vec<&'a ast::Simulation>,
    /// `train` blocks: outside the namespace, as `simulation` blocks are.
    pub trains: Vec<&'a ast::Train>,
    /// (name, file it is used from), for unused-import and unused-parameter warnings.
    pub used: RefCell<HashSet<(String, FileId)>>,
    /// Which file defines each item.
    pub defined_in: HashMap<String, FileId>,
    /// Names of items that did not parse: never reported missing (the syntax error was).
    pub broken: HashSet<String>,
    /// The dimension of every expression lowered outside inlined function bodies, for the
    /// editor's hover (`None`: unknown after an error, or a bare `0`).
    pub expr_dims: RefCell<Vec<(Span, Option<Dimension>)>>,
}

impl<'a> Globals<'a> {
    pub fn collect(sources: &'a SourceDb, files: &'a [(FileId, ast::File)], diags: &mut Diagnostics) -> Globals<'a> {
        let mut globals = Globals {
            sources,
            items: HashMap::new(),
            order: Vec::new(),
            params: HashMap::new(),
            simulations: Vec::new(),
            trains: Vec::new(),
            used: RefCell::new(HashSet::new()),
            defined_in: HashMap::new(),
            broken: files.iter().flat_map(|(_, f)| &f.broken).map(|n| n.name.clone()).collect(),
            expr_dims: RefCell::new(Vec::new()),
        };
        for (file, parsed) in files {
            for item in &parsed.items {
                let item_ref = match item {
                    ast::Item::Import(_) => continue,
                    ast::Item::Simulation(s) => {
                        globals.simulations.push(s);
                        continue;
                    }
                    ast::Item::Train(t) => {
                        globals.trains.push(t);
                        continue;
                    }
                    ast::Item::Param(p) => ItemRef::Param(p),
                    ast::Item::Function(f) => ItemRef::Function(f),
                    ast::Item::Mechanism(m) => ItemRef::Mechanism(m),
                    ast::Item::Species(s) => ItemRef::Species(s),
                    ast::Item::Morphology(m) if m.name.is_some() => ItemRef::Morphology(m),
                    ast::Item::Morphology(_) => continue,
                    ast::Item::Cell(c) => ItemRef::Cell(c),
                    ast::Item::Network(n) => ItemRef::Network(n),
                };
                let name = item_ref.name();
                if let (Some(ItemRef::Species(previous)), ItemRef::Species(again)) =
                    (globals.items.get(&name.name), item_ref)
                    && same_species(previous, again)
                {
                    continue; // Two imported `.mod` files that use the same new ion.
                }
                if let Some(previous) = globals.items.get(&name.name) {
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateName,
                            name.span,
                            format!("`{}` is defined more than once", name.name),
                        )
                        .label(format!("{} redefined here", item_ref.kind()))
                        .secondary(previous.name().span, format!("first defined here as a {}", previous.kind())),
                    );
                    continue;
                }
                globals.items.insert(name.name.clone(), item_ref);
                globals.defined_in.insert(name.name.clone(), *file);
                globals.order.push(item_ref);
            }
        }
        globals
    }

    /// Whether `name` is an item that did not parse.
    pub fn is_broken(&self, name: &str) -> bool {
        self.broken.contains(name)
    }

    pub fn mark_used(&self, name: &str, from: FileId) {
        self.used.borrow_mut().insert((name.to_string(), from));
    }

    pub fn is_used(&self, name: &str) -> bool {
        self.used.borrow().iter().any(|(n, _)| n == name)
    }

    pub fn param(&self, name: &str, from: FileId) -> Option<&ParamValue> {
        let p = self.params.get(name);
        if p.is_some() {
            self.mark_used(name, from);
        }
        p
    }

    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.keys().map(String::as_str)
    }

    pub fn function(&self, name: &str, from: FileId) -> Option<&'a ast::Function> {
        match self.items.get(name) {
            Some(ItemRef::Function(f)) => {
                self.mark_used(name, from);
                Some(f)
            }
            _ => None,
        }
    }

    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter(|(_, i)| matches!(i, ItemRef::Function(_))).map(|(n, _)| n.as_str())
    }

    pub fn get(&self, name: &str, from: FileId) -> Option<ItemRef<'a>> {
        let item = self.items.get(name).copied();
        if item.is_some() {
            self.mark_used(name, from);
        }
        item
    }

    /// Names of items of one kind, for "did you mean".
    pub fn names_where(&self, keep: impl Fn(&ItemRef<'a>) -> bool) -> Vec<&str> {
        self.items.iter().filter(|(_, i)| keep(i)).map(|(n, _)| n.as_str()).collect()
    }
}

/// Whether two species declarations write the same numbers and units, property by property:
/// the translations of two `.mod` files that use one new ion each declare it, identically.
fn same_species(a: &ast::Species, b: &ast::Species) -> bool {
    a.props.len() == b.props.len()
        && a.props.iter().zip(&b.props).all(|(p, q)| {
            p.key.name == q.key.name && literal(&p.value).is_some() && literal(&p.value) == literal(&q.value)
        })
}

/// A number with its unit, a negated one, or a name (`nernst`), without spans.
fn literal(e: &ast::Expr) -> Option<(Option<f64>, Option<String>)> {
    match &e.kind {
        ast::ExprKind::Number { value, unit } => Some((Some(*value), unit.as_ref().map(|u| u.text.clone()))),
        ast::ExprKind::Unary(ast::UnaryOp::Neg, x) => literal(x).and_then(|(v, u)| Some((Some(-v?), u))),
        ast::ExprKind::Name(n) => Some((None, Some(n.name.clone()))),
        _ => None,
    }
}
