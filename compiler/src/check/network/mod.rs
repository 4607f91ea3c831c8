//! Networks: populations, connections, spike sources, stimuli and probes.
//!
//! A network is checked in two passes: first its populations (`populations.rs`) and spike
//! sources (`sources.rs`), so that every other member may refer to ones declared after it; then
//! its connections (`connections.rs`), stimuli and probes (`probes.rs`), which name cells through
//! selections such as `cells[0:10]` and locations such as `cells[0].soma(0.5)` (`select.rs`).

mod connections;
mod populations;
mod probes;
mod select;
mod sources;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{self, CellId};
use crate::source::Span;
use crate::syntax::ast;

use super::cell::Mechanisms;
use super::globals::Globals;

pub(crate) struct CellTypes<'c> {
    /// Checked cells by name; `None` for cells that failed to check.
    pub cells: &'c [(String, Option<CellId>)],
    pub list: &'c [ir::Cell],
}

pub(crate) fn check(
    network: &ast::Network,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
) -> ir::Network {
    let mut out = ir::Network { name: network.name.name.clone(), ..ir::Network::default() };
    let broken = declare_populations_and_sources(network, globals, diags, cells, &mut out);
    let members = check_members(network, globals, mechanisms, cells, &mut out);
    report_member_diagnostics(diags, members, &broken);
    out
}

/// Pass 1: populations and sources, so members may refer to later ones. Returns the
/// populations of cells that failed to check: uses of them are not reported again.
fn declare_populations_and_sources<'n>(
    network: &'n ast::Network,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    out: &mut ir::Network,
) -> Vec<&'n str> {
    let mut next_gid: u64 = 0;
    let mut broken: Vec<&str> = Vec::new();
    for member in &network.members {
        match member {
            ast::NetworkMember::Population(p) => {
                if let Some(population) = populations::population(globals, diags, cells, out, p, next_gid, &mut broken)
                {
                    next_gid += u64::from(population.count);
                    out.populations.push(population);
                }
            }
            ast::NetworkMember::Source(s) => {
                if let Some(kind) = sources::source_kind(globals, diags, &s.generator) {
                    out.sources.push(ir::SpikeSource { name: s.name.name.clone(), kind, span: s.span });
                }
            }
            _ => {}
        }
    }
    broken
}

/// Pass 2: connections, stimuli, probes and `record spikes`, in the order written. Their
/// diagnostics are returned, to be filtered by `report_member_diagnostics`.
fn check_members(
    network: &ast::Network,
    globals: &Globals<'_>,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    out: &mut ir::Network,
) -> Diagnostics {
    let mut members = Diagnostics::new();
    let diags = &mut members;
    for member in &network.members {
        match member {
            ast::NetworkMember::Connect(c) => {
                if let Some(name) = &c.name
                    && let Some(first) = named_elsewhere(network, c, &name.name)
                {
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateName,
                            name.span,
                            format!("`{}` is already a name in the network", name.name),
                        )
                        .secondary(first, "first defined here"),
                    );
                    continue;
                }
                match connections::connect(globals, diags, mechanisms, cells, out, c) {
                    Some(connections::Checked::Events(connection)) => out.connections.push(connection),
                    Some(connections::Checked::Continuous(connection)) => out.continuous.push(connection),
                    None => {}
                }
            }
            ast::NetworkMember::Stimulus(s) => {
                if let Some(stimulus) = probes::stimulus(globals, diags, mechanisms, cells, out, s) {
                    out.stimuli.push(stimulus);
                }
            }
            ast::NetworkMember::Probe(p) => {
                for probe in probes::probe(globals, diags, mechanisms, cells, out, p).unwrap_or_default() {
                    if out.probes.iter().any(|x| x.label == probe.label) {
                        diags.push(Diagnostic::error(
                            Code::DuplicateName,
                            p.label.span,
                            format!("probe \"{}\" is defined more than once", probe.label),
                        ));
                        break;
                    }
                    out.probes.push(probe);
                }
            }
            ast::NetworkMember::RecordSpikes(_) => out.record_spikes = true,
            _ => {}
        }
    }
    connections::report_presynaptic_cells(diags, mechanisms, cells, out);
    members
}

/// Where another member of the network (a population, source, stimulus or named connection
/// before `c`) is called `name`.
fn named_elsewhere(network: &ast::Network, c: &ast::Connect, name: &str) -> Option<Span> {
    network.members.iter().find_map(|m| {
        let other = match m {
            ast::NetworkMember::Population(p) => &p.name,
            ast::NetworkMember::Source(s) => &s.name,
            ast::NetworkMember::Stimulus(s) => &s.name,
            ast::NetworkMember::Connect(o) if o.span.start < c.span.start => o.name.as_ref()?,
            _ => return None,
        };
        (other.name == name).then_some(other.span)
    })
}

/// An unknown population that is a broken one was reported where it broke.
fn report_member_diagnostics(diags: &mut Diagnostics, members: Diagnostics, broken: &[&str]) {
    for d in members.into_sorted() {
        let about_broken =
            d.code == Code::UnknownPopulation && broken.iter().any(|b| d.message.contains(&format!("`{b}`")));
        if !about_broken {
            diags.push(d);
        }
    }
}
