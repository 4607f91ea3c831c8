//! The Sylva text of a translated mechanism, in the order a reader expects: the header and the
//! file's comments, the interface (ions, currents), parameters and states, functions, `let`s,
//! the dynamics (equations, kinetic scheme, initial values), the currents and the event handler.

use super::*;

impl Tx<'_> {
    pub(super) fn text(&self, iface: &Interface, params: &[&Decl], states: &[&Decl], blocks: &Blocks) -> String {
        let mut out = String::new();
        self.header(&mut out, iface);
        interface_text(&mut out, iface);
        self.declarations_text(&mut out, iface, params, states);
        self.held_states_text(&mut out);
        self.lets_text(&mut out);
        dynamics_text(&mut out, blocks);
        let _ = writeln!(out);
        // NEURON's conductance is the secant over 0.001 mV (nrn_cur), not dI/dv.
        for (n, v) in &blocks.currents {
            let line = if iface.electrode.contains(n) {
                format!("electrode current {} = {}", sylva_name(n), v.text)
            } else {
                format!("{} = {} by secant", sylva_name(n), v.text)
            };
            let _ = writeln!(out, "    {line}");
        }
        if let Some(event) = &blocks.event {
            let _ = writeln!(out, "\n    {event}");
        }
        let _ = writeln!(out, "}}");
        out
    }

    /// The source file, TITLE and COMMENT blocks, and the opening line of the mechanism.
    fn header(&self, out: &mut String, iface: &Interface) {
        let file = self.file;
        let _ = writeln!(out, "// Translated by `sylva import` from {} (NMODL).", self.file_name);
        if let Some(t) = &file.title {
            let _ = writeln!(out, "// TITLE {t}");
        }
        for c in &file.comments {
            let _ = writeln!(out, "//");
            for line in c.trim_matches('\n').lines() {
                let _ = writeln!(out, "// {}", line.trim_end());
            }
        }
        let _ = writeln!(out);
        species_text(out, iface);
        if let Some(t) = &file.title {
            let _ = writeln!(out, "/// {t}");
        }
        let name = mechanism_name(&iface.name);
        if name != iface.name {
            let kind = if iface.point { "POINT_PROCESS" } else { "SUFFIX" };
            let _ =
                writeln!(out, "// {kind} {} in NMODL: `{name}` in Sylva, where `{}` is taken.", iface.name, iface.name);
        }
        let _ = writeln!(out, "{} {name} {{", if iface.point { "point" } else { "density" });
    }

    /// Parameters (with their comments, units and ranges) and states.
    fn declarations_text(&self, out: &mut String, iface: &Interface, params: &[&Decl], states: &[&Decl]) {
        for d in params {
            if let Some(c) = self.trailing_comment(d.line) {
                let _ = writeln!(out, "    /// {c}");
            }
            if iface.globals.contains(&d.name) {
                let _ = writeln!(out, "    /// (GLOBAL in NMODL: one value for every instance.)");
            }
            let unit = &self.vars[&d.name].unit;
            let value = d.value.as_ref().map_or("0".to_string(), |(v, _)| number(v).text);
            let range = d
                .range
                .as_ref()
                .map_or(String::new(), |(lo, hi)| format!(" in [{}, {}]", number(lo).text, number(hi).text));
            let _ = writeln!(out, "    param {}: {} = {value}{range}", sylva_name(&d.name), unit_type(unit));
        }
        for d in states {
            if let Some(c) = self.trailing_comment(d.line) {
                let _ = writeln!(out, "    /// {c}");
            }
            let _ = writeln!(out, "    state {}: {}", sylva_name(&d.name), unit_type(&self.vars[&d.name].unit));
        }
    }

    /// The held ASSIGNED values (`held.rs`) as states.
    fn held_states_text(&self, out: &mut String) {
        for n in self.held.keys() {
            let decl = self.file.items.iter().find_map(|i| match i {
                Item::Assigned(d) => d.iter().find(|d| d.name == *n),
                _ => None,
            });
            if let Some(c) = decl.and_then(|d| self.trailing_comment(d.line)) {
                let _ = writeln!(out, "    /// {c}");
            }
            let _ = writeln!(
                out,
                "    /// ASSIGNED in NMODL: computed by the state update, read by the currents as stored."
            );
            let _ = writeln!(out, "    state {}: {}", sylva_name(n), unit_type(&self.vars[n].unit));
        }
    }

    /// The Sylva functions, then the `let`s.
    fn lets_text(&self, out: &mut String) {
        if !self.fn_texts.is_empty() {
            let _ = writeln!(out);
        }
        for f in &self.fn_texts {
            let _ = writeln!(out, "    {f}");
        }
        if !self.lets.is_empty() {
            let _ = writeln!(out);
        }
        for (n, v) in &self.lets {
            let _ = writeln!(out, "    let {n} = {}", v.text);
        }
    }
}

/// A `species` for each ion the standard library does not declare, with NEURON 9's defaults
/// for a new ion (`xi0_x_ion = xo0_x_ion = 1 mM`, `ex = 0 mV`, the charge its VALENCE).
fn species_text(out: &mut String, iface: &Interface) {
    for (ion, charge) in &iface.species {
        let _ = writeln!(out, "/// USEION {ion} … VALENCE {charge} in NMODL: NEURON's defaults for a new ion.");
        let _ = writeln!(out, "species {ion} {{ charge = {charge}, reversal = 0 mV, inside = 1 mM, outside = 1 mM }}");
        let _ = writeln!(out);
    }
}

/// `ion X { read …, write … }` and `current …`.
fn interface_text(out: &mut String, iface: &Interface) {
    for (ion, _, read, write) in &iface.ions {
        let read: Vec<&str> = read.iter().filter(|r| !write.contains(r)).map(String::as_str).collect();
        let mut parts = Vec::new();
        if !read.is_empty() {
            parts.push(format!("read {}", read.join(", ")));
        }
        if !write.is_empty() {
            parts.push(format!("write {}", write.join(", ")));
        }
        let _ = writeln!(out, "    ion {ion} {{ {} }}", parts.join(", "));
    }
    for n in &iface.nonspecific {
        let _ = writeln!(out, "    current {}", sylva_name(n));
    }
    let _ = writeln!(out);
}

/// The equations, the kinetic scheme and the initial values.
fn dynamics_text(out: &mut String, blocks: &Blocks) {
    if !blocks.derivatives.is_empty() {
        let _ = writeln!(out);
    }
    for (n, v) in &blocks.derivatives {
        let method = if blocks.implicit.contains(n) { " by backward_euler" } else { "" };
        let _ = writeln!(out, "    {}' = {}{method}", sylva_name(n), v.text);
    }
    for (n, v) in &blocks.held {
        let _ = writeln!(out, "    {} = {} each step", sylva_name(n), v.text);
    }
    if !blocks.kinetic.is_empty() {
        let steady = if blocks.steady_state { " steady_state" } else { "" };
        let _ = writeln!(out, "    kinetic{steady} {{");
        for line in &blocks.kinetic {
            let _ = writeln!(out, "        {line}");
        }
        let _ = writeln!(out, "    }}");
    }
    if !blocks.initial.is_empty() {
        let parts: Vec<String> =
            blocks.initial.iter().map(|(n, v)| format!("{} = {}", sylva_name(n), v.text)).collect();
        let _ = writeln!(out, "    initial {{ {} }}", parts.join(", "));
    }
}
