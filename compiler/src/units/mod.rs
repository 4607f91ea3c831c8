//! Physical units and dimensions, checked at compile time.
//!
//! A [`Dimension`] is a vector of exponents of the six base dimensions (mass, length, time,
//! current, temperature, amount). A [`Unit`] is a dimension plus the factor that converts a
//! number written in that unit to the compiler's one coherent internal unit system:
//!
//! | base dimension | internal unit |
//! | --- | --- |
//! | mass | µg |
//! | length | µm |
//! | time | ms |
//! | current | nA |
//! | temperature | K (= °C steps, no offset) |
//! | amount | amol (1e-18 mol) |
//!
//! so that voltage is in mV, conductance in µS, capacitance in nF, resistance in MΩ and
//! concentration in mM (`-65 mV` is `-65.0`, `0.12 S/cm2` is `0.0012` µS/µm²).
//!
//! [`parse_unit`] reads a unit as written in a model (`S/cm2`, `1/ms`, `um^3`, `s^-1`),
//! [`lookup_atom`] a single name such as `ms` standing alone in an expression, and
//! [`Dimension::describe`] words a dimension for diagnostics ("a conductance density (S/cm2)").

mod atoms;
mod parse;
mod quantities;
#[cfg(test)]
mod tests;

use std::fmt;

pub use atoms::known_units;
pub use parse::{UnitError, lookup_atom, parse_unit};
pub use quantities::{QUANTITIES, Quantity};

/// Exponents of the base dimensions: mass, length, time, current, temperature, amount.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dimension(pub [i8; 6]);

/// Builds a dimension from the exponents of mass, length, time, current, temperature, amount.
const fn dim(m: i8, l: i8, t: i8, i: i8, th: i8, n: i8) -> Dimension {
    Dimension([m, l, t, i, th, n])
}

impl Dimension {
    /// The names of the base dimensions, in the order of the exponents.
    pub const BASE_NAMES: [&'static str; 6] = ["mass", "length", "time", "current", "temperature", "amount"];

    /// Dimensionless.
    pub const NONE: Dimension = dim(0, 0, 0, 0, 0, 0);

    pub const MASS: Dimension = dim(1, 0, 0, 0, 0, 0);
    pub const LENGTH: Dimension = dim(0, 1, 0, 0, 0, 0);
    pub const TIME: Dimension = dim(0, 0, 1, 0, 0, 0);
    pub const CURRENT: Dimension = dim(0, 0, 0, 1, 0, 0);
    pub const TEMPERATURE: Dimension = dim(0, 0, 0, 0, 1, 0);
    pub const AMOUNT: Dimension = dim(0, 0, 0, 0, 0, 1);

    /// Length².
    pub const AREA: Dimension = dim(0, 2, 0, 0, 0, 0);
    /// Length³.
    pub const VOLUME: Dimension = dim(0, 3, 0, 0, 0, 0);
    /// 1/time (also frequency, `Hz`).
    pub const RATE: Dimension = dim(0, 0, -1, 0, 0, 0);
    /// Current × time (`C`).
    pub const CHARGE: Dimension = dim(0, 0, 1, 1, 0, 0);
    /// Energy / charge (`V` = kg·m²/(s³·A)).
    pub const VOLTAGE: Dimension = dim(1, 2, -3, -1, 0, 0);
    /// Current / voltage (`S`).
    pub const CONDUCTANCE: Dimension = dim(-1, -2, 3, 2, 0, 0);
    /// Voltage / current (`ohm`).
    pub const RESISTANCE: Dimension = dim(1, 2, -3, -2, 0, 0);
    /// Charge / voltage (`F`).
    pub const CAPACITANCE: Dimension = dim(-1, -2, 4, 2, 0, 0);
    /// Amount / volume (`M` = mol/L).
    pub const CONCENTRATION: Dimension = dim(0, -3, 0, 0, 0, 1);
    /// Current / area (`mA/cm2`).
    pub const CURRENT_DENSITY: Dimension = dim(0, -2, 0, 1, 0, 0);
    /// Conductance / area (`S/cm2`).
    pub const CONDUCTANCE_DENSITY: Dimension = dim(-1, -4, 3, 2, 0, 0);
    /// Capacitance / area (`uF/cm2`).
    pub const SPECIFIC_CAPACITANCE: Dimension = dim(-1, -4, 4, 2, 0, 0);
    /// Resistance × length (`ohm*cm`), the axial resistivity.
    pub const SPECIFIC_RESISTANCE: Dimension = dim(1, 3, -3, -2, 0, 0);
    /// Resistance × area (`ohm*cm2`), the specific membrane resistance.
    pub const SPECIFIC_MEMBRANE_RESISTANCE: Dimension = dim(1, 4, -3, -2, 0, 0);
    /// Energy (`J`).
    pub const ENERGY: Dimension = dim(1, 2, -2, 0, 0, 0);
    /// Power (`W`).
    pub const POWER: Dimension = dim(1, 2, -3, 0, 0, 0);
    /// Force (`N`).
    pub const FORCE: Dimension = dim(1, 1, -2, 0, 0, 0);
    /// Pressure (`Pa`).
    pub const PRESSURE: Dimension = dim(1, -1, -2, 0, 0, 0);
    /// Charge / amount (`C/mol`), as the Faraday constant.
    pub const MOLAR_CHARGE: Dimension = dim(0, 0, 1, 1, 0, -1);
    /// Energy / amount (`J/mol`).
    pub const MOLAR_ENERGY: Dimension = dim(1, 2, -2, 0, 0, -1);
    /// Energy / (amount × temperature) (`J/mol/K`), as the gas constant.
    pub const MOLAR_HEAT_CAPACITY: Dimension = dim(1, 2, -2, 0, -1, -1);
    /// Voltage / time (`mV/ms`).
    pub const VOLTAGE_RATE: Dimension = dim(1, 2, -4, -1, 0, 0);
    /// Concentration / time (`mM/ms`).
    pub const CONCENTRATION_RATE: Dimension = dim(0, -3, -1, 0, 0, 1);
    /// Rate / voltage (`1/(ms*mV)`).
    pub const RATE_PER_VOLTAGE: Dimension = dim(-1, -2, 2, 1, 0, 0);
    /// Rate / concentration (`1/(ms*mM)`), as a binding rate constant.
    pub const RATE_PER_CONCENTRATION: Dimension = dim(0, 3, -1, 0, 0, -1);
    /// 1/voltage (`1/mV`).
    pub const INVERSE_VOLTAGE: Dimension = dim(-1, -2, 3, 1, 0, 0);
    /// Length / time (`cm/s`), as a GHK permeability.
    pub const PERMEABILITY: Dimension = dim(0, 1, -1, 0, 0, 0);

    /// The product (exponents added). Saturates at the limits of `i8`, which no sensible
    /// model reaches; use [`Dimension::checked_mul`] to detect it.
    pub const fn mul(self, o: Dimension) -> Dimension {
        let mut r = [0i8; 6];
        let mut k = 0;
        while k < 6 {
            r[k] = self.0[k].saturating_add(o.0[k]);
            k += 1;
        }
        Dimension(r)
    }

    /// The quotient (exponents subtracted). Saturates like [`Dimension::mul`].
    pub const fn div(self, o: Dimension) -> Dimension {
        let mut r = [0i8; 6];
        let mut k = 0;
        while k < 6 {
            r[k] = self.0[k].saturating_sub(o.0[k]);
            k += 1;
        }
        Dimension(r)
    }

    /// The product, or `None` if an exponent leaves the range of `i8`.
    pub fn checked_mul(self, o: Dimension) -> Option<Dimension> {
        let mut r = [0i8; 6];
        for (k, e) in r.iter_mut().enumerate() {
            *e = self.0[k].checked_add(o.0[k])?;
        }
        Some(Dimension(r))
    }

    /// The quotient, or `None` if an exponent leaves the range of `i8`.
    pub fn checked_div(self, o: Dimension) -> Option<Dimension> {
        let mut r = [0i8; 6];
        for (k, e) in r.iter_mut().enumerate() {
            *e = self.0[k].checked_sub(o.0[k])?;
        }
        Some(Dimension(r))
    }

    /// The `n`th power (exponents multiplied by `n`), or `None` if an exponent leaves the
    /// range of `i8`.
    pub fn powi(self, n: i32) -> Option<Dimension> {
        let mut r = [0i8; 6];
        for (k, e) in r.iter_mut().enumerate() {
            *e = i8::try_from(i32::from(self.0[k]).checked_mul(n)?).ok()?;
        }
        Some(Dimension(r))
    }

    /// The inverse (exponents negated), or `None` if an exponent is `i8::MIN`.
    pub fn recip(self) -> Option<Dimension> {
        Dimension::NONE.checked_div(self)
    }

    /// Whether this is dimensionless.
    pub fn is_none(self) -> bool {
        self == Dimension::NONE
    }

    /// The name of the quantity, such as `conductance density`, if it has one.
    pub fn quantity_name(self) -> Option<&'static str> {
        quantities::named(self).map(|q| q.name)
    }

    /// Words for diagnostics: "a conductance density (S/cm2)", "a current (nA)",
    /// "a dimensionless number", or for unnamed dimensions "a quantity in mV*ms".
    pub fn describe(self) -> String {
        quantities::describe(self)
    }

    /// The unit users write for this quantity: "S/cm2", "mV", "1/ms", "mM"; "1" when
    /// dimensionless; for unnamed dimensions a product of powers of `mV`, `nA`, `mM`, `ms`,
    /// `um` and `K` (all internal units), such as "mV*ms/um2" or "nA/(mV*um)".
    /// The result parses with [`parse_unit`] back to this dimension (unless the exponents
    /// are so large that the basis units' powers leave the range of `i8`).
    pub fn display_unit(self) -> String {
        quantities::display_unit(self)
    }

    /// The factor from [`Dimension::display_unit`] to internal units: a value `x` in internal
    /// units reads `x / display_scale()` in the display unit (1e-2 for S/cm2, 1 for mV).
    pub fn display_scale(self) -> f64 {
        parse_unit(&self.display_unit()).map(|u| u.scale).unwrap_or(1.0)
    }
}

impl fmt::Display for Dimension {
    /// Same as [`Dimension::display_unit`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_unit())
    }
}

/// A parsed unit: dimension and the factor to the internal unit system (a value `x` written
/// in this unit is `x * scale` in internal units).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Unit {
    pub dim: Dimension,
    pub scale: f64,
}

impl Unit {
    /// The dimensionless unit `1`.
    pub const ONE: Unit = Unit { dim: Dimension::NONE, scale: 1.0 };

    pub const fn new(dim: Dimension, scale: f64) -> Unit {
        Unit { dim, scale }
    }

    /// The product. Scales that differ from a short decimal by rounding only are snapped to
    /// it, so `S.div(cm2)` has a scale of exactly `0.01`. Exponents saturate like
    /// [`Dimension::mul`]; see [`Unit::checked_mul`].
    #[allow(clippy::should_implement_trait)] // the operator traits are implemented too
    pub fn mul(self, o: Unit) -> Unit {
        Unit { dim: self.dim.mul(o.dim), scale: snap(self.scale * o.scale) }
    }

    /// The quotient, snapped and saturating like [`Unit::mul`].
    #[allow(clippy::should_implement_trait)] // the operator traits are implemented too
    pub fn div(self, o: Unit) -> Unit {
        Unit { dim: self.dim.div(o.dim), scale: snap(self.scale / o.scale) }
    }

    /// The product, or `None` if an exponent overflows or the scale is not a finite,
    /// normal, positive number.
    pub fn checked_mul(self, o: Unit) -> Option<Unit> {
        Unit::checked(self.dim.checked_mul(o.dim)?, snap(self.scale * o.scale))
    }

    /// The quotient, or `None` like [`Unit::checked_mul`].
    pub fn checked_div(self, o: Unit) -> Option<Unit> {
        Unit::checked(self.dim.checked_div(o.dim)?, snap(self.scale / o.scale))
    }

    /// The `n`th power, or `None` if an exponent overflows or the scale leaves the range of
    /// positive normal `f64`.
    pub fn powi(self, n: i32) -> Option<Unit> {
        Unit::checked(self.dim.powi(n)?, snap(self.scale.powi(n)))
    }

    /// A value written in this unit, in internal units.
    pub fn to_internal(self, value: f64) -> f64 {
        value * self.scale
    }

    /// A value in internal units, in this unit.
    pub fn from_internal(self, value: f64) -> f64 {
        value / self.scale
    }

    fn checked(dim: Dimension, scale: f64) -> Option<Unit> {
        (scale.is_normal() && scale > 0.0).then_some(Unit { dim, scale })
    }
}

impl std::ops::Mul for Dimension {
    type Output = Dimension;
    fn mul(self, o: Dimension) -> Dimension {
        Dimension::mul(self, o)
    }
}

impl std::ops::Div for Dimension {
    type Output = Dimension;
    fn div(self, o: Dimension) -> Dimension {
        Dimension::div(self, o)
    }
}

impl std::ops::Mul for Unit {
    type Output = Unit;
    fn mul(self, o: Unit) -> Unit {
        Unit::mul(self, o)
    }
}

impl std::ops::Div for Unit {
    type Output = Unit;
    fn div(self, o: Unit) -> Unit {
        Unit::div(self, o)
    }
}

/// `10^e`, correctly rounded (the nearest `f64` to the exact power), `inf` or `0` outside
/// the range of `f64`.
pub(crate) fn pow10(e: i64) -> f64 {
    if e > 400 {
        f64::INFINITY
    } else if e < -400 {
        0.0
    } else {
        // Rust's float parsing is correctly rounded.
        format!("1e{e}").parse().unwrap_or(f64::NAN)
    }
}

/// Removes rounding error from a product of short decimals: if `x` is within a few ulps of a
/// number with 15 significant digits, returns that number (correctly rounded), else `x`.
pub(crate) fn snap(x: f64) -> f64 {
    if !x.is_normal() {
        return x;
    }
    let Ok(s) = format!("{x:.14e}").parse::<f64>() else {
        return x;
    };
    if (s - x).abs() <= 4.0 * f64::EPSILON * x.abs() { s } else { x }
}

/// Splits a quantity written on the command line or in a run file, such as `0.05uS`,
/// `0.05 uS`, `1e-3`, `10 ms`, into its number and its unit (if any).
pub fn split_quantity(text: &str) -> Result<(f64, Option<Unit>), String> {
    let text = text.trim();
    // The number ends at the first letter that is not an exponent marker followed by a digit.
    let split = text
        .char_indices()
        .find(|(i, c)| {
            c.is_alphabetic()
                && !(matches!(c, 'e' | 'E')
                    && text[i + 1..].starts_with(|d: char| d.is_ascii_digit() || d == '-' || d == '+'))
        })
        .map_or(text.len(), |(i, _)| i);
    let (number, unit) = text.split_at(split);
    let value: f64 = number.trim().parse().map_err(|_| format!("`{text}` is not a number with an optional unit"))?;
    if !value.is_finite() {
        return Err(format!("`{text}` is not a finite number"));
    }
    let unit = unit.trim();
    if unit.is_empty() {
        return Ok((value, None));
    }
    parse_unit(unit).map(|u| (value, Some(u))).map_err(|e| e.message)
}
