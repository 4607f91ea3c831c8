//! Names and display units of quantities, for diagnostics and hovers.

use super::Dimension;

/// A named quantity: its dimension, its name in diagnostics, and the unit users write for it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Quantity {
    pub dim: Dimension,
    pub name: &'static str,
    pub unit: &'static str,
}

const fn q(dim: Dimension, name: &'static str, unit: &'static str) -> Quantity {
    Quantity { dim, name, unit }
}

/// Every named quantity (each dimension at most once).
pub const QUANTITIES: &[Quantity] = &[
    q(Dimension::VOLTAGE, "voltage", "mV"),
    q(Dimension::CURRENT, "current", "nA"),
    q(Dimension::CURRENT_DENSITY, "current density", "mA/cm2"),
    q(Dimension::CONDUCTANCE, "conductance", "uS"),
    q(Dimension::CONDUCTANCE_DENSITY, "conductance density", "S/cm2"),
    q(Dimension::CAPACITANCE, "capacitance", "nF"),
    q(Dimension::SPECIFIC_CAPACITANCE, "specific capacitance", "uF/cm2"),
    q(Dimension::RESISTANCE, "resistance", "MOhm"),
    q(Dimension::SPECIFIC_RESISTANCE, "specific axial resistance", "ohm*cm"),
    q(Dimension::SPECIFIC_MEMBRANE_RESISTANCE, "specific membrane resistance", "ohm*cm2"),
    q(Dimension::TIME, "time", "ms"),
    q(Dimension::RATE, "rate", "1/ms"),
    q(Dimension::LENGTH, "length", "um"),
    q(Dimension::AREA, "area", "um2"),
    q(Dimension::VOLUME, "volume", "um3"),
    q(Dimension::CONCENTRATION, "concentration", "mM"),
    q(Dimension::AMOUNT, "amount of substance", "mol"),
    q(Dimension::TEMPERATURE, "temperature", "degC"),
    q(Dimension::CHARGE, "charge", "C"),
    q(Dimension::MOLAR_CHARGE, "molar charge", "C/mol"),
    q(Dimension::MOLAR_HEAT_CAPACITY, "molar heat capacity", "J/mol/K"),
    q(Dimension::MOLAR_ENERGY, "molar energy", "J/mol"),
    q(Dimension::ENERGY, "energy", "J"),
    q(Dimension::POWER, "power", "W"),
    q(Dimension::FORCE, "force", "N"),
    q(Dimension::PRESSURE, "pressure", "Pa"),
    q(Dimension::MASS, "mass", "g"),
    q(Dimension::VOLTAGE_RATE, "voltage rate", "mV/ms"),
    q(Dimension::CONCENTRATION_RATE, "concentration rate", "mM/ms"),
    q(Dimension::RATE_PER_VOLTAGE, "rate per voltage", "1/(ms*mV)"),
    q(Dimension::RATE_PER_CONCENTRATION, "rate per concentration", "1/(ms*mM)"),
    q(Dimension::INVERSE_VOLTAGE, "inverse voltage", "1/mV"),
    q(Dimension::PERMEABILITY, "permeability", "cm/s"),
];

pub(crate) fn named(d: Dimension) -> Option<&'static Quantity> {
    QUANTITIES.iter().find(|q| q.dim == d)
}

pub(crate) fn describe(d: Dimension) -> String {
    if d.is_none() {
        return "a dimensionless number".to_string();
    }
    match named(d) {
        Some(q) => {
            let article = if q.name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            format!("{article} {} ({})", q.name, q.unit)
        }
        None => format!("a quantity in {}", display_unit(d)),
    }
}

pub(crate) fn display_unit(d: Dimension) -> String {
    if d.is_none() {
        return "1".to_string();
    }
    if let Some(q) = named(d) {
        return q.unit.to_string();
    }
    // Express d in the basis mV, nA, mM, ms, um, K (all scale 1 in internal units):
    // mV carries the mass, mM the amount, and the rest follows.
    let [m, l, t, i, th, n] = d.0.map(i32::from);
    let factors = [("mV", m), ("nA", i + m), ("mM", n), ("ms", t + 3 * m), ("um", l - 2 * m + 3 * n), ("K", th)];
    let term = |name: &str, e: i32| {
        if e == 1 { name.to_string() } else { format!("{name}{e}") }
    };
    let num: Vec<String> = factors.iter().filter(|f| f.1 > 0).map(|&(name, e)| term(name, e)).collect();
    let den: Vec<String> = factors.iter().filter(|f| f.1 < 0).map(|&(name, e)| term(name, -e)).collect();
    let mut s = if num.is_empty() { "1".to_string() } else { num.join("*") };
    match den.len() {
        0 => {}
        1 => {
            s.push('/');
            s.push_str(&den[0]);
        }
        _ => {
            s.push_str("/(");
            s.push_str(&den.join("*"));
            s.push(')');
        }
    }
    s
}
