//! The outline of a file: its items and, inside them, their members.

use crate::source::Span;
use crate::syntax::ast;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Import,
    Param,
    Function,
    Mechanism,
    State,
    Gate,
    Let,
    Current,
    Species,
    Morphology,
    Section,
    Region,
    Cell,
    Synapse,
    Network,
    Population,
    Source,
    Stimulus,
    Probe,
    Simulation,
}

/// One entry of the outline.
#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// The whole declaration.
    pub span: Span,
    /// The name within it.
    pub name_span: Span,
    /// A short description (a unit, a mechanism's kind).
    pub detail: Option<String>,
    pub children: Vec<Symbol>,
}

fn leaf(name: &ast::Ident, kind: SymbolKind, span: Span, detail: Option<String>) -> Symbol {
    Symbol { name: name.name.clone(), kind, span, name_span: name.span, detail, children: Vec::new() }
}

/// The outline of a parsed file, in source order.
pub fn symbols(file: &ast::File) -> Vec<Symbol> {
    file.items.iter().filter_map(item).collect()
}

fn item(item: &ast::Item) -> Option<Symbol> {
    Some(match item {
        ast::Item::Import(i) => {
            let (name, span) = match &i.target {
                ast::ImportTarget::Std(n) => (n.name.clone(), n.span),
                ast::ImportTarget::File(p) => (p.value.clone(), p.span),
            };
            Symbol { name, kind: SymbolKind::Import, span: i.span, name_span: span, detail: None, children: Vec::new() }
        }
        ast::Item::Param(p) => param(p),
        ast::Item::Function(f) => leaf(&f.name, SymbolKind::Function, f.span, None),
        ast::Item::Mechanism(m) => {
            let detail = match m.kind {
                ast::MechanismKind::Density => "density",
                ast::MechanismKind::Point => "point",
            };
            let mut s = leaf(&m.name, SymbolKind::Mechanism, m.span, Some(detail.to_string()));
            for member in &m.members {
                let child = match member {
                    ast::Member::Param(p) => param(p),
                    ast::Member::State(st) => leaf(&st.name, SymbolKind::State, st.span, Some(st.unit.text.clone())),
                    ast::Member::Gate(g) => leaf(&g.name, SymbolKind::Gate, g.span, None),
                    ast::Member::Let(l) => leaf(&l.name, SymbolKind::Let, l.span, None),
                    ast::Member::Current(c) => leaf(c, SymbolKind::Current, c.span, None),
                    ast::Member::Function(f) => leaf(&f.name, SymbolKind::Function, f.span, None),
                    _ => continue,
                };
                s.children.push(child);
            }
            s
        }
        ast::Item::Species(sp) => leaf(&sp.name, SymbolKind::Species, sp.span, None),
        ast::Item::Morphology(m) => morphology(m)?,
        ast::Item::Cell(c) => {
            let mut s = leaf(&c.name, SymbolKind::Cell, c.span, None);
            for member in &c.members {
                match member {
                    ast::CellMember::Morphology(m) => {
                        if let Some(mut inline) = morphology(m) {
                            s.children.append(&mut inline.children);
                        }
                    }
                    ast::CellMember::Synapse(p) => {
                        s.children.push(leaf(&p.name, SymbolKind::Synapse, p.span, Some(p.mechanism.name.clone())))
                    }
                    _ => {}
                }
            }
            s
        }
        ast::Item::Network(n) => {
            let mut s = leaf(&n.name, SymbolKind::Network, n.span, None);
            for member in &n.members {
                let child = match member {
                    ast::NetworkMember::Population(p) => {
                        leaf(&p.name, SymbolKind::Population, p.span, Some(p.cell.name.clone()))
                    }
                    ast::NetworkMember::Source(src) => leaf(&src.name, SymbolKind::Source, src.span, None),
                    ast::NetworkMember::Stimulus(st) => {
                        leaf(&st.name, SymbolKind::Stimulus, st.span, Some(st.mechanism.name.clone()))
                    }
                    ast::NetworkMember::Probe(p) => Symbol {
                        name: p.label.value.clone(),
                        kind: SymbolKind::Probe,
                        span: p.span,
                        name_span: p.label.span,
                        detail: None,
                        children: Vec::new(),
                    },
                    _ => continue,
                };
                s.children.push(child);
            }
            s
        }
        ast::Item::Simulation(sim) => Symbol {
            name: "simulation".to_string(),
            kind: SymbolKind::Simulation,
            span: sim.span,
            name_span: Span { end: sim.span.start + "simulation".len() as u32, ..sim.span },
            detail: None,
            children: Vec::new(),
        },
        ast::Item::Train(t) => Symbol {
            name: t.name.name.clone(),
            kind: SymbolKind::Simulation,
            span: t.span,
            name_span: t.name.span,
            detail: Some("train".to_string()),
            children: Vec::new(),
        },
    })
}

fn param(p: &ast::Param) -> Symbol {
    leaf(&p.name, SymbolKind::Param, p.span, p.unit.as_ref().map(|u| u.text.clone()))
}

/// A named morphology with its sections and regions (an inline one: its children only).
fn morphology(m: &ast::Morphology) -> Option<Symbol> {
    let mut children = Vec::new();
    match &m.body {
        ast::MorphologyBody::Tree(members) => {
            for member in members {
                children.push(match member {
                    ast::MorphologyMember::Section(s) => leaf(&s.name, SymbolKind::Section, s.span, None),
                    ast::MorphologyMember::Region(r) => leaf(&r.name, SymbolKind::Region, r.span, None),
                });
            }
        }
        ast::MorphologyBody::Swc { regions, edits, .. } => {
            for edit in edits {
                if let ast::SwcEdit::Add(s) = edit {
                    children.push(leaf(&s.name, SymbolKind::Section, s.span, None));
                }
            }
            children.extend(regions.iter().map(|r| leaf(&r.name, SymbolKind::Region, r.span, None)))
        }
    }
    let (name, name_span) = match &m.name {
        Some(n) => (n.name.clone(), n.span),
        None => ("morphology".to_string(), Span { end: m.span.start + "morphology".len() as u32, ..m.span }),
    };
    Some(Symbol { name, kind: SymbolKind::Morphology, span: m.span, name_span, detail: None, children })
}
