//! Ion species: charge, reversal potential (constant or Nernst) and concentrations.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::constant::eval_in_unit;
use super::globals::Globals;
use super::morphology::unknown_property;

pub(crate) fn check(globals: &Globals<'_>, diags: &mut Diagnostics, s: &ast::Species) -> ir::Species {
    let mut species =
        ir::Species { name: s.name.name.clone(), charge: 1, reversal: None, inside: 1.0, outside: 1.0, span: s.span };
    for key in ["charge", "inside", "outside"] {
        if !s.props.iter().any(|p| p.key.name == key) {
            diags.push(
                Diagnostic::error(
                    Code::MissingProperty,
                    s.name.span,
                    format!("species `{}` has no `{key}`", s.name.name),
                )
                .help("a species needs `charge`, `inside` and `outside`, and optionally `reversal`"),
            );
        }
    }
    apply(globals, diags, s, &mut species);
    species
}

/// Applies the properties written in `s` to `species`.
pub(crate) fn apply(globals: &Globals<'_>, diags: &mut Diagnostics, s: &ast::Species, species: &mut ir::Species) {
    let concentration = Unit { dim: Dimension::CONCENTRATION, scale: 1.0 };
    for prop in &s.props {
        let key = prop.key.name.as_str();
        match key {
            "charge" => {
                if let Some(z) = eval_in_unit(globals, diags, &prop.value, Unit::ONE, false, "the charge") {
                    if z.fract() != 0.0 || z == 0.0 || z.abs() > 8.0 {
                        diags.push(Diagnostic::error(
                            Code::OutOfRange,
                            prop.value.span,
                            "the charge must be a non-zero whole number",
                        ));
                    } else {
                        species.charge = z as i32;
                    }
                }
            }
            "reversal" => {
                if matches!(&prop.value.kind, ast::ExprKind::Name(n) if n.name == "nernst") {
                    species.reversal = None;
                } else if let Some(e) = eval_in_unit(
                    globals,
                    diags,
                    &prop.value,
                    Unit { dim: Dimension::VOLTAGE, scale: 1.0 },
                    false,
                    "the reversal potential",
                ) {
                    species.reversal = Some(e);
                }
            }
            "inside" | "outside" => {
                if let Some(c) = eval_in_unit(globals, diags, &prop.value, concentration, false, &format!("`{key}`")) {
                    if c <= 0.0 {
                        diags.push(Diagnostic::error(
                            Code::OutOfRange,
                            prop.value.span,
                            "a concentration must be positive",
                        ));
                    } else if key == "inside" {
                        species.inside = c;
                    } else {
                        species.outside = c;
                    }
                }
            }
            _ => diags.push(unknown_property(&prop.key, "species", &["charge", "reversal", "inside", "outside"])),
        }
    }
}
