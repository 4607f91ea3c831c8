//! Bounds kept by a smooth change of variable: the optimiser moves a free value u, the
//! parameter is θ(u), always inside its declared range, and ∂L/∂u = ∂L/∂θ · θ'(u). Each map
//! also makes a step in u a relative step in θ, so one learning rate suits parameters of any
//! magnitude (a density of 1e-8 µS/µm² and a time constant of 80 ms).

/// θ(u) for a parameter's range `[lo, hi]`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Transform {
    /// `[lo, inf]`: θ = lo + e^u.
    AboveLower { lo: f64 },
    /// `[-inf, hi]`: θ = hi − e^u.
    BelowUpper { hi: f64 },
    /// `[lo, hi]`: θ = lo + (hi − lo)·σ(u), σ the logistic function.
    Between { lo: f64, hi: f64 },
    /// Unbounded: θ = scale·u, with the scale of the starting value.
    Scaled { scale: f64 },
}

impl Transform {
    /// The map for the range `[lo, hi]` starting at `start`, which must lie strictly inside a
    /// bounded side (a conductance of exactly 0 cannot grow by relative steps).
    pub fn for_range(lo: f64, hi: f64, start: f64) -> Result<Transform, String> {
        let inside = |ok: bool, side: &str, bound: f64| {
            if ok { Ok(()) } else { Err(format!("the start value {start} is not above its {side} bound {bound}")) }
        };
        match (lo.is_finite(), hi.is_finite()) {
            (true, true) => {
                inside(start > lo, "lower", lo)?;
                if start >= hi {
                    return Err(format!("the start value {start} is not below its upper bound {hi}"));
                }
                Ok(Transform::Between { lo, hi })
            }
            (true, false) => inside(start > lo, "lower", lo).map(|()| Transform::AboveLower { lo }),
            (false, true) => {
                if start >= hi {
                    return Err(format!("the start value {start} is not below its upper bound {hi}"));
                }
                Ok(Transform::BelowUpper { hi })
            }
            (false, false) => Ok(Transform::Scaled { scale: if start == 0.0 { 1.0 } else { start.abs() } }),
        }
    }

    pub fn free(self, theta: f64) -> f64 {
        match self {
            Transform::AboveLower { lo } => (theta - lo).ln(),
            Transform::BelowUpper { hi } => (hi - theta).ln(),
            Transform::Between { lo, hi } => {
                let p = (theta - lo) / (hi - lo);
                (p / (1.0 - p)).ln()
            }
            Transform::Scaled { scale } => theta / scale,
        }
    }

    pub fn value(self, u: f64) -> f64 {
        match self {
            Transform::AboveLower { lo } => lo + u.exp(),
            Transform::BelowUpper { hi } => hi - u.exp(),
            Transform::Between { lo, hi } => lo + (hi - lo) * logistic(u),
            Transform::Scaled { scale } => scale * u,
        }
    }

    /// dθ/du at `u`.
    pub fn slope(self, u: f64) -> f64 {
        match self {
            Transform::AboveLower { .. } => u.exp(),
            Transform::BelowUpper { .. } => -u.exp(),
            Transform::Between { lo, hi } => {
                let s = logistic(u);
                (hi - lo) * s * (1.0 - s)
            }
            Transform::Scaled { scale } => scale,
        }
    }
}

fn logistic(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_map_inverts_and_its_slope_is_its_derivative() {
        let cases = [
            (Transform::for_range(0.0, f64::INFINITY, 3e-8), 3e-8),
            (Transform::for_range(f64::NEG_INFINITY, -40.0, -65.0), -65.0),
            (Transform::for_range(0.0, 1.0, 0.05), 0.05),
            (Transform::for_range(f64::NEG_INFINITY, f64::INFINITY, -54.3), -54.3),
        ];
        for (t, theta) in cases {
            let t = t.expect("inside");
            let u = t.free(theta);
            assert!((t.value(u) - theta).abs() <= 1e-12 * theta.abs(), "{t:?}");
            let h = 1e-6;
            let fd = (t.value(u + h) - t.value(u - h)) / (2.0 * h);
            assert!((fd - t.slope(u)).abs() <= 1e-7 * t.slope(u).abs(), "{t:?}: {fd} vs {}", t.slope(u));
        }
    }

    #[test]
    fn a_start_on_or_outside_a_bound_is_refused() {
        assert!(Transform::for_range(0.0, f64::INFINITY, 0.0).is_err());
        assert!(Transform::for_range(0.0, 1.0, 1.0).is_err());
        assert!(Transform::for_range(f64::NEG_INFINITY, 0.0, 0.5).is_err());
        assert_eq!(Transform::for_range(f64::NEG_INFINITY, f64::INFINITY, 0.0), Ok(Transform::Scaled { scale: 1.0 }));
    }
}
