//! NMODL unit names to Sylva's: `(mho/cm2)` is `S/cm2`, `(/ms)` is `1/ms`, `(micron)` is `um`,
//! `(mV-ms)` is `mV*ms`. Names a UNITS block defines (`(mM) = (milli/liter)`) are looked up
//! through their definition when Sylva does not know them. The result is checked with Sylva's
//! own unit parser, so whatever this returns is a unit `sylva check` accepts.

use std::collections::HashMap;

/// NMODL's spelled-out names (nrnunits.lib) for Sylva's atoms.
const NAMES: &[(&str, &str)] = &[
    ("millivolt", "mV"),
    ("volt", "V"),
    ("milliamp", "mA"),
    ("nanoamp", "nA"),
    ("microamp", "uA"),
    ("picoamp", "pA"),
    ("amp", "A"),
    ("mho", "S"),
    ("umho", "uS"),
    ("mmho", "mS"),
    ("nmho", "nS"),
    ("siemens", "S"),
    ("microsiemens", "uS"),
    ("micron", "um"),
    ("microns", "um"),
    ("micrometer", "um"),
    ("millimeter", "mm"),
    ("centimeter", "cm"),
    ("meter", "m"),
    ("sec", "s"),
    ("second", "s"),
    ("msec", "ms"),
    ("millisecond", "ms"),
    ("molar", "M"),
    ("millimolar", "mM"),
    ("micromolar", "uM"),
    ("nanomolar", "nM"),
    ("mole", "mol"),
    ("liter", "L"),
    ("litre", "L"),
    ("coulomb", "C"),
    ("coulombs", "C"),
    ("coul", "C"),
    ("farad", "F"),
    ("microfarad", "uF"),
    ("ohm", "ohm"),
    ("megohm", "MOhm"),
    ("kelvin", "K"),
    ("joule", "J"),
    ("hertz", "Hz"),
];

const PREFIXES: &[(&str, &str)] =
    &[("milli", "m"), ("micro", "u"), ("nano", "n"), ("pico", "p"), ("kilo", "k"), ("mega", "M"), ("centi", "c")];

/// The aliases of a UNITS block: `(mM) = (milli/liter)` maps `mM` to `milli/liter`.
#[derive(Default)]
pub struct UnitTable {
    aliases: HashMap<String, String>,
}

impl UnitTable {
    pub fn alias(&mut self, name: &str, definition: &str) {
        self.aliases.insert(name.to_string(), definition.to_string());
    }

    /// The Sylva unit for an NMODL unit as written between its parentheses, or `None` when it
    /// has no Sylva equivalent. Dimensionless units (`1`, empty) are `"1"`.
    pub fn to_sylva(&self, nmodl: &str) -> Option<String> {
        let text = self.convert(nmodl, 0)?;
        crate::units::parse_unit(&text).ok()?;
        Some(text)
    }

    fn convert(&self, nmodl: &str, depth: usize) -> Option<String> {
        let nmodl = nmodl.trim();
        if nmodl.is_empty() || nmodl == "1" {
            return Some("1".into());
        }
        let (num, den) = match nmodl.split_once('/') {
            Some((n, d)) => (n, Some(d)),
            None => (nmodl, None),
        };
        if den.is_some_and(|d| d.contains('/')) {
            return None;
        }
        let num = if num.is_empty() || num == "1" { "1".to_string() } else { self.product(num, depth)? };
        match den {
            None => Some(num),
            Some(d) => {
                let d = self.product(d, depth)?;
                let d = if d.contains('*') || d.contains('/') { format!("({d})") } else { d };
                Some(format!("{num}/{d}"))
            }
        }
    }

    /// `mV-ms` or `mV ms` to `mV*ms`.
    fn product(&self, text: &str, depth: usize) -> Option<String> {
        let atoms: Vec<String> = text
            .split(['-', '*', ' '])
            .filter(|a| !a.is_empty())
            .map(|a| self.atom(a, depth))
            .collect::<Option<_>>()?;
        if atoms.is_empty() {
            return None;
        }
        Some(atoms.join("*"))
    }

    fn atom(&self, atom: &str, depth: usize) -> Option<String> {
        let digits = atom.len() - atom.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (base, power) = atom.split_at(atom.len() - digits);
        if base.is_empty() {
            return (atom == "1").then(|| "1".into());
        }
        let base = self.base(base, depth)?;
        if power.is_empty() || power == "1" {
            return Some(base);
        }
        if base.contains(['*', '/']) {
            return None;
        }
        Some(format!("{base}{power}"))
    }

    fn base(&self, name: &str, depth: usize) -> Option<String> {
        if let Some((_, s)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Some((*s).into());
        }
        if crate::units::lookup_atom(name).is_some() {
            return Some(name.into());
        }
        if depth < 8
            && let Some(def) = self.aliases.get(name)
        {
            let inner = self.convert(def, depth + 1)?;
            return Some(if inner.contains(['*', '/']) { format!("({inner})") } else { inner });
        }
        // `milli/liter` and `millimolar`: a spelled-out prefix.
        for (long, short) in PREFIXES {
            if let Some(rest) = name.strip_prefix(long) {
                if rest.is_empty() {
                    return None;
                }
                let inner = self.base(rest, depth + 1)?;
                if inner.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Some(format!("{short}{inner}"));
                }
            }
        }
        None
    }
}

/// The value of a physical constant of a UNITS block (`FARADAY = (faraday) (coulomb)`), as
/// NEURON 9's nrnunits.lib defines it (2019 SI values), in the unit of its second part.
pub fn constant(name: &str, unit: &str) -> Option<&'static str> {
    let name = name.trim();
    let unit = unit.trim();
    match (name, unit) {
        ("faraday", "coulomb" | "coulombs" | "coul" | "C") => Some("96485.3321233100184"),
        ("faraday", "kilocoulombs" | "kilocoulomb" | "kC") => Some("96.4853321233100184"),
        ("k-mole", "joule/degC" | "joule/kelvin" | "J/degC" | "J/K") => Some("8.31446261815324"),
        ("e", "coulomb" | "coulombs" | "coul") => Some("1.602176634e-19"),
        ("pi", "1") => Some("3.141592653589793"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_units() {
        let mut t = UnitTable::default();
        t.alias("mM", "milli/liter");
        for (a, b) in [
            ("mV", "mV"),
            ("mho/cm2", "S/cm2"),
            ("/ms", "1/ms"),
            ("1/ms", "1/ms"),
            ("mA/cm2", "mA/cm2"),
            ("S/cm2", "S/cm2"),
            ("um", "um"),
            ("micron", "um"),
            ("degC", "degC"),
            ("mM", "mM"),
            ("/mV-ms", "1/(mV*ms)"),
            ("", "1"),
            ("1", "1"),
            ("nA", "nA"),
            ("umho", "uS"),
        ] {
            assert_eq!(t.to_sylva(a).as_deref(), Some(b), "{a}");
        }
        assert_eq!(t.to_sylva("furlong"), None);
    }
}
