//! Reference traces and the tolerances Sylva is held to, per column and by unit.
//!
//! Shared by the CPU engine's fidelity tests (`tests/it/fidelity.rs`, as a module of the
//! `sylva-tests` library) and the GPU tests (`runtime/src/gpu/tests.rs`, through `#[path]`, so
//! that the runtime's unit tests need no dependency on this crate). It uses only std and the
//! compiler's probe descriptions.
//!
//! Bounds follow what a column holds: a voltage (mV) is compared absolutely, every other
//! quantity (concentrations, currents, conductances, gating states) relative to its reference
//! column's range, so that a bound means the same for cai in mM as for a gating variable.

use std::path::Path;

use sylva_compiler::ir::Probe;
use sylva_compiler::units::Dimension;

/// How close one column must be to its reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Largest |Δ| of a voltage column, in mV.
    pub voltage_mv: f64,
    /// Largest |Δ| of any other column, as a fraction of the reference column's range
    /// (max − min; its largest magnitude when the column is constant).
    pub of_range: f64,
    /// Samples of the compared column may be matched to reference samples up to this many
    /// steps away (0: sample by sample). Only f32 runs, whose spikes may move by a step or two,
    /// use a window.
    pub shift_steps: usize,
}

/// The CPU engine (and the GPU engine in f64) against NEURON 9.0.2. Measured worst cases
/// (2026-12-05): 6.7e-9 mV (ca_sk soma_v), 3.1e-9 mV (cadyn eca, which NEURON prints to 12
/// digits), 1.5e-9 mV elsewhere; other columns ≤ 3e-12 of their range.
pub const AGAINST_NEURON: Tolerances = Tolerances { voltage_mv: 1e-8, of_range: 1e-9, shift_steps: 0 };

/// The realistic many-channel cell (`examples/bench/l5pc.syl`, 12 mechanism types, 1,689
/// compartments) against NEURON 9.0.2: the bound, 1e-6 mV. Sylva's own `exp` differs
/// from glibc's by 1 ulp on ~10 % of arguments, so each of the eleven channels alone already
/// differs from NEURON in the last bit of v (1.4e-14 mV) once v moves; this cell's spikes
/// amplify that ~25-fold per spike (5e-9, 1.2e-8, then 1.2e-7 mV on the somatic upstrokes of the
/// tested 50 ms; between spikes ~1e-9 mV). Over 700 ms: 4.4e-6 mV, spikes identical.
pub const MANY_CHANNELS_AGAINST_NEURON: Tolerances = Tolerances { voltage_mv: 1e-6, of_range: 1e-9, shift_steps: 0 };

/// The GPU engine in f64 against the CPU engine: the same scheme in the same precision, apart
/// from the order of a few sums and the software exp (measured ≤ 1.2e-11 mV).
pub const GPU_F64_AGAINST_CPU: Tolerances = Tolerances { voltage_mv: 1e-9, of_range: 1e-9, shift_steps: 0 };

/// A CSV trace: a header row and rows of numbers.
#[derive(Clone, Debug)]
pub struct Trace {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Trace {
    /// Reads a CSV file with a header; panics with the path on any malformed line.
    pub fn read(path: &Path) -> Trace {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        let columns: Vec<String> = lines.next().expect("a header").split(',').map(str::to_string).collect();
        let rows: Vec<Vec<f64>> = lines
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| {
                let row: Vec<f64> = l
                    .split(',')
                    .map(|x| x.parse().unwrap_or_else(|_| panic!("{}: line {}: {x:?}", path.display(), i + 2)))
                    .collect();
                assert_eq!(row.len(), columns.len(), "{}: line {} is ragged", path.display(), i + 2);
                row
            })
            .collect();
        Trace { columns, rows }
    }

    /// The column named `label`, if any.
    pub fn column(&self, label: &str) -> Option<Vec<f64>> {
        let c = self.columns.iter().position(|x| x == label)?;
        Some(self.rows.iter().map(|r| r[c]).collect())
    }
}

/// NEURON's spikes (`gid,time`), or none when the case has no spike file (no detector).
pub fn read_spikes(path: &Path) -> Vec<(u32, f64)> {
    if !path.exists() {
        return Vec::new();
    }
    let trace = Trace::read(path);
    assert_eq!(trace.columns, ["gid", "time"], "{}: header", path.display());
    trace.rows.iter().map(|r| (r[0] as u32, r[1])).collect()
}

/// The largest difference of one column and what it was allowed.
#[derive(Clone, Debug)]
pub struct ColumnError {
    pub label: String,
    pub max: f64,
    pub allowed: f64,
    pub at_row: usize,
}

impl ColumnError {
    pub fn ok(&self) -> bool {
        self.max <= self.allowed
    }
}

/// What `column`'s difference to `reference` may be, given the probe's dimension.
pub fn allowed(dim: Dimension, reference: &[f64], tolerances: Tolerances) -> f64 {
    if dim == Dimension::VOLTAGE {
        return tolerances.voltage_mv;
    }
    let (lo, hi) = reference.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    let range = hi - lo;
    let scale = if range > 0.0 { range } else { lo.abs().max(hi.abs()) };
    tolerances.of_range * scale
}

/// The largest |got − reference| over samples (a NaN counts as infinitely far). With a shift
/// window, each sample is matched to the closest reference sample within that many steps.
pub fn column_error(label: &str, got: &[f64], reference: &[f64], allowed: f64, shift_steps: usize) -> ColumnError {
    assert_eq!(got.len(), reference.len(), "{label}: {} samples, the reference has {}", got.len(), reference.len());
    let mut worst = ColumnError { label: label.to_string(), max: 0.0, allowed, at_row: 0 };
    for (i, x) in got.iter().enumerate() {
        let window = &reference[i.saturating_sub(shift_steps)..(i + shift_steps + 1).min(reference.len())];
        let d = window.iter().map(|r| (x - r).abs()).fold(f64::INFINITY, f64::min);
        let d = if d.is_nan() { f64::INFINITY } else { d };
        if d > worst.max {
            worst.max = d;
            worst.at_row = i;
        }
    }
    worst
}

/// Panics, naming every failing column, unless all are within their bounds; prints them all.
pub fn assert_columns(case: &str, errors: &[ColumnError]) {
    for e in errors {
        eprintln!("{case} {}: max |diff| {:.3e} (allowed {:.1e}) at row {}", e.label, e.max, e.allowed, e.at_row);
    }
    let failed: Vec<String> = errors
        .iter()
        .filter(|e| !e.ok())
        .map(|e| format!("{} {:.3e} > {:.1e} at row {}", e.label, e.max, e.allowed, e.at_row))
        .collect();
    assert!(failed.is_empty(), "{case}: columns outside their bounds: {}", failed.join("; "));
}

/// A run's trace against a reference file: every reference column has a probe and every probe a
/// reference column, the time columns agree to the reference's 12 printed digits, and each
/// column is within its bound.
pub fn check_trace(
    case: &str,
    probes: &[Probe],
    times: &[f64],
    columns: &[Vec<f64>],
    reference: &Trace,
    tolerances: Tolerances,
) {
    assert_eq!(columns.len(), probes.len(), "{case}: one column per probe");
    let labels: Vec<&str> = probes.iter().map(|p| p.label.as_str()).collect();
    let missing: Vec<&String> = reference.columns.iter().skip(1).filter(|c| !labels.contains(&c.as_str())).collect();
    assert!(missing.is_empty(), "{case}: reference columns without a probe: {missing:?}");
    assert_eq!(reference.columns[0], "t", "{case}: the reference's first column is time");
    assert_eq!(times.len(), reference.rows.len(), "{case}: row count");
    for (row, t) in times.iter().enumerate() {
        let expected = reference.rows[row][0];
        // "%.12g": a time is exact when it rounds to the printed digits.
        assert!(
            (t - expected).abs() <= 5e-12 * expected.abs(),
            "{case}: t = {t} at row {row}, the reference has {expected}"
        );
    }
    let expected: Vec<Vec<f64>> = probes
        .iter()
        .map(|probe| {
            reference
                .column(&probe.label)
                .unwrap_or_else(|| panic!("{case}: probe {:?} has no reference column", probe.label))
        })
        .collect();
    check_runs(case, probes, columns, &expected, tolerances);
}

/// Two runs of one model, column by column (the second is the reference): same number of
/// columns and of samples, each column within its bound.
pub fn check_runs(case: &str, probes: &[Probe], got: &[Vec<f64>], reference: &[Vec<f64>], tolerances: Tolerances) {
    assert_eq!(got.len(), probes.len(), "{case}: columns of the run");
    assert_eq!(reference.len(), probes.len(), "{case}: columns of the reference run");
    let errors: Vec<ColumnError> = probes
        .iter()
        .zip(got.iter().zip(reference))
        .map(|(probe, (a, b))| {
            let bound = allowed(probe.dim, b, tolerances);
            column_error(&probe.label, a, b, bound, tolerances.shift_steps)
        })
        .collect();
    assert_columns(case, &errors);
}

/// Spikes against NEURON's: the same gids in the same order, each on the same step. NEURON
/// prints the time of the step with "%.12g" plus its 1e-10 ms detection offset, so the times
/// agree to 1e-9 ms.
pub fn check_spikes(case: &str, got: &[(u32, f64)], expected: &[(u32, f64)], dt: f64) {
    assert_eq!(got.len(), expected.len(), "{case}: spikes {got:?}, NEURON {expected:?}");
    for (i, ((gid, t), (gid_ref, t_ref))) in got.iter().zip(expected).enumerate() {
        assert_eq!(gid, gid_ref, "{case}: spike {i} of gid {gid}, NEURON's of gid {gid_ref}");
        assert_eq!((t / dt).round(), (t_ref / dt).round(), "{case}: spike {i} at {t} ms, NEURON {t_ref} ms");
        assert!((t - t_ref).abs() <= 1e-9, "{case}: spike {i} at {t} ms, NEURON {t_ref} ms");
    }
}
