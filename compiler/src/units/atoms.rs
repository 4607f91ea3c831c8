//! The unit atoms: SI prefixes, base units, and the exact scale of each.

use std::sync::OnceLock;

use super::{Dimension, Unit, pow10};

/// An SI prefix and its power of ten. `da` comes first so it is tried before `d`.
pub(crate) const PREFIXES: &[(&str, i64)] = &[
    ("da", 1),
    ("T", 12),
    ("G", 9),
    ("M", 6),
    ("k", 3),
    ("h", 2),
    ("d", -1),
    ("c", -2),
    ("m", -3),
    ("u", -6),
    ("µ", -6), // U+00B5 MICRO SIGN
    ("μ", -6), // U+03BC GREEK SMALL LETTER MU, accepted but not listed
    ("n", -9),
    ("p", -12),
    ("f", -15),
    ("a", -18),
];

/// Prefixes accepted but not offered by [`known_units`] (they duplicate a listed one).
const HIDDEN_PREFIXES: &[&str] = &["μ"];

/// A base unit: its name, dimension, and scale to internal units as `mantissa * 10^exp10`.
pub(crate) struct Base {
    pub name: &'static str,
    pub dim: Dimension,
    pub mantissa: f64,
    pub exp10: i64,
    /// Whether an SI prefix may precede it (`degC` and `min` take none).
    pub prefixable: bool,
}

const fn base(name: &'static str, dim: Dimension, exp10: i64) -> Base {
    Base { name, dim, mantissa: 1.0, exp10, prefixable: true }
}

/// Every base unit. Internal units: µg, µm, ms, nA, K, amol; the scales follow.
pub(crate) const BASES: &[Base] = &[
    base("s", Dimension::TIME, 3),          // 1 s = 1e3 ms
    base("m", Dimension::LENGTH, 6),        // 1 m = 1e6 µm
    base("g", Dimension::MASS, 6),          // 1 g = 1e6 µg
    base("A", Dimension::CURRENT, 9),       // 1 A = 1e9 nA
    base("V", Dimension::VOLTAGE, 3),       // kg m2 s-3 A-1 = 1e9*1e12*1e-9*1e-9 = 1e3 mV
    base("S", Dimension::CONDUCTANCE, 6),   // A/V = 1e9/1e3 = 1e6 µS
    base("mho", Dimension::CONDUCTANCE, 6), // NMODL's name for the siemens
    base("ohm", Dimension::RESISTANCE, -6), // V/A = 1e-6 MΩ
    base("Ohm", Dimension::RESISTANCE, -6), //
    base("Ω", Dimension::RESISTANCE, -6),   // U+03A9
    base("F", Dimension::CAPACITANCE, 9),   // A s / V = 1e9*1e3/1e3 = 1e9 nF
    base("C", Dimension::CHARGE, 12),       // A s = 1e12 nA ms
    base("mol", Dimension::AMOUNT, 18),     // 1e18 amol
    base("M", Dimension::CONCENTRATION, 3), // mol/L = 1e18/1e15 = 1e3 mM
    base("L", Dimension::VOLUME, 15),       // 1e-3 m3 = 1e-3*1e18 µm3
    base("l", Dimension::VOLUME, 15),       //
    base("Hz", Dimension::RATE, -3),        // 1/s = 1e-3 /ms
    base("K", Dimension::TEMPERATURE, 0),   //
    Base {
        // A temperature step: degC and K differ only by an offset, which units never apply.
        name: "degC",
        dim: Dimension::TEMPERATURE,
        mantissa: 1.0,
        exp10: 0,
        prefixable: false,
    },
    base("J", Dimension::ENERGY, 15),    // kg m2 s-2 = 1e9*1e12*1e-6
    base("W", Dimension::POWER, 12),     // J/s
    base("N", Dimension::FORCE, 9),      // kg m s-2 = 1e9*1e6*1e-6
    base("Pa", Dimension::PRESSURE, -3), // N/m2 = 1e9/1e12
    Base { name: "min", dim: Dimension::TIME, mantissa: 6.0, exp10: 4, prefixable: false },
];

/// A unit whose scale is kept exact as `mantissa * 10^exp10` while it is being built.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct Exact {
    pub dim: Dimension,
    pub mantissa: f64,
    pub exp10: i64,
}

impl Exact {
    pub const ONE: Exact = Exact { dim: Dimension::NONE, mantissa: 1.0, exp10: 0 };

    pub fn mul(self, o: Exact) -> Option<Exact> {
        Some(Exact {
            dim: self.dim.checked_mul(o.dim)?,
            mantissa: self.mantissa * o.mantissa,
            exp10: self.exp10.saturating_add(o.exp10),
        })
    }

    pub fn div(self, o: Exact) -> Option<Exact> {
        Some(Exact {
            dim: self.dim.checked_div(o.dim)?,
            mantissa: self.mantissa / o.mantissa,
            exp10: self.exp10.saturating_sub(o.exp10),
        })
    }

    pub fn powi(self, n: i64) -> Option<Exact> {
        let n32 = i32::try_from(n).ok()?;
        Some(Exact { dim: self.dim.powi(n32)?, mantissa: self.mantissa.powi(n32), exp10: self.exp10.saturating_mul(n) })
    }

    /// The unit, or `None` if the scale is not a positive normal `f64`.
    pub fn to_unit(self) -> Option<Unit> {
        let scale = if self.mantissa == 1.0 {
            pow10(self.exp10)
        } else {
            // Split the power so that neither factor overflows on its own.
            let half = self.exp10 / 2;
            self.mantissa * pow10(half) * pow10(self.exp10 - half)
        };
        (scale.is_normal() && scale > 0.0).then_some(Unit { dim: self.dim, scale })
    }
}

/// Why a name is not a unit atom.
#[derive(Debug, PartialEq)]
pub(crate) enum NameError {
    Unknown,
    /// A prefix on a base unit that takes none (`mdegC`); the base's name.
    NoPrefix(&'static str),
}

fn find_base(name: &str) -> Option<&'static Base> {
    BASES.iter().find(|b| b.name == name)
}

/// Resolves an atom name without power: an exact base name wins over prefix + base (`m` is
/// the metre, `M` molar, `Pa` the pascal, `min` the minute).
pub(crate) fn resolve_name(name: &str) -> Result<Exact, NameError> {
    if let Some(b) = find_base(name) {
        return Ok(Exact { dim: b.dim, mantissa: b.mantissa, exp10: b.exp10 });
    }
    for &(p, e) in PREFIXES {
        if let Some(b) = name.strip_prefix(p).and_then(find_base) {
            if !b.prefixable {
                return Err(NameError::NoPrefix(b.name));
            }
            return Ok(Exact { dim: b.dim, mantissa: b.mantissa, exp10: b.exp10 + e });
        }
    }
    Err(NameError::Unknown)
}

/// The units most models use, listed first (completion order and did-you-mean ties).
const COMMON: &[&str] = &[
    "mV", "ms", "um", "nA", "mA", "uS", "mS", "S", "nF", "uF", "pF", "MOhm", "ohm", "mM", "uM", "nM", "degC", "K",
    "cm", "mm", "nm", "m", "s", "us", "V", "pA", "uA", "A", "nS", "pS", "F", "Mohm", "kOhm", "Ohm", "M", "mol", "mmol",
    "umol", "L", "l", "mL", "ml", "Hz", "kHz", "C", "J", "W", "N", "Pa", "g", "mg", "ug", "kg", "min", "µm", "µs",
    "µS", "µF", "µM", "mho",
];

/// Every unit atom name users may write, prefixes applied (`mV`, `um`, `µm`, `MOhm`, ...),
/// common ones first. Powers are not included (`cm2` is `cm` with a power). The Greek mu
/// `μ` (U+03BC), accepted as a spelling of the micro sign `µ`, is not listed.
pub fn known_units() -> Vec<&'static str> {
    known().iter().map(String::as_str).collect()
}

pub(crate) fn known() -> &'static [String] {
    static KNOWN: OnceLock<Vec<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut all: Vec<String> = COMMON.iter().map(|s| s.to_string()).collect();
        for b in BASES {
            all.push(b.name.to_string());
            if b.prefixable {
                for &(p, _) in PREFIXES {
                    if !HIDDEN_PREFIXES.contains(&p) {
                        all.push(format!("{p}{}", b.name));
                    }
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        all.retain(|s| seen.insert(s.clone()));
        all
    })
}
