//! What `sylva train` leaves on disk (`params.yaml`, `loss.csv`, `loss.svg`) and the reading of
//! a `params.yaml` back for `sylva run --params`.
//!
//! ```yaml
//! # sylva train examples/train/fit_hh.syl: 200 iterations, loss 41.6 -> 0.0021
//! params:
//!   - name: hh.gnabar in soma
//!     value: 0.12
//!     unit: S/cm2
//!     start: 0.08
//! ```
//!
//! Values are in the unit written beside them (the parameter's display unit when Sylva writes
//! the file); `start` is the value the training started from, for the reader.

use std::io::{self, Write};
use std::path::Path;

use serde::Deserialize;

use super::config::ConfigError;
use super::csv::format_number;

/// One trained parameter as shown: its name as the `train` block writes it, its value and start
/// value in `unit`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedValue {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub start: f64,
}

/// What a training run did, as `sylva train` writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingRecord {
    /// The model file, as given on the command line.
    pub model: String,
    pub params: Vec<TrainedValue>,
    /// The loss after 0, 1, … optimiser steps: one more than the iterations done.
    pub losses: Vec<f64>,
    /// The iterations (epochs, with samples) the `train` block asked for.
    pub iterations: u64,
    /// With samples: the scores after every epoch, from 0 (then `losses` is the training loss
    /// of each and `iterations` counts epochs).
    pub epochs: Vec<EpochRow>,
    /// Why the optimiser ended before `iterations` when it converged (L-BFGS's tolerances).
    pub converged: Option<&'static str>,
}

/// One epoch's scores in `loss.csv` (accuracies with a cross-entropy, test scores with a test set).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct EpochRow {
    pub epoch: u32,
    pub train_loss: f64,
    pub train_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

impl TrainingRecord {
    /// The optimiser steps (epochs, with samples) done.
    pub fn done(&self) -> usize {
        self.losses.len().saturating_sub(1)
    }

    /// What `done` counts.
    pub fn step_name(&self) -> &'static str {
        if self.epochs.is_empty() { "iteration" } else { "epoch" }
    }
}

/// `params.yaml`: a header comment (the model, the iterations, the loss), then one entry per
/// trainable.
pub fn write_params_yaml(w: &mut dyn Write, rec: &TrainingRecord) -> io::Result<()> {
    let first = rec.losses.first().copied().unwrap_or(f64::NAN);
    let last = rec.losses.last().copied().unwrap_or(f64::NAN);
    let stopped = match rec.converged {
        Some(reason) => format!(" (converged: {reason}; {} asked)", rec.iterations),
        None if rec.done() < rec.iterations as usize => format!(" (stopped; {} asked)", rec.iterations),
        None => String::new(),
    };
    writeln!(w, "# Trained by `sylva train {}`", rec.model.replace('\n', " "))?;
    let plural = if rec.done() == 1 { "" } else { "s" };
    writeln!(
        w,
        "# {} {}{plural}{stopped}; loss {} -> {}",
        rec.done(),
        rec.step_name(),
        format_number(first),
        format_number(last)
    )?;
    writeln!(w, "# Run the model with these values: sylva run {} --params <this file>", rec.model.replace('\n', " "))?;
    writeln!(w, "params:")?;
    for p in &rec.params {
        writeln!(w, "  - name: {}", yaml_string(&p.name))?;
        writeln!(w, "    value: {}", yaml_number(p.value))?;
        writeln!(w, "    unit: {}", yaml_string(&p.unit))?;
        writeln!(w, "    start: {}", yaml_number(p.start))?;
    }
    Ok(())
}

/// `iteration,loss`: the loss after each number of optimiser steps, from 0; with samples,
/// `epoch,train_loss,train_accuracy,test_loss,test_accuracy` (empty where there is none).
pub fn write_loss_csv(w: &mut dyn Write, rec: &TrainingRecord) -> io::Result<()> {
    if rec.epochs.is_empty() {
        w.write_all(b"iteration,loss\n")?;
        for (i, loss) in rec.losses.iter().enumerate() {
            writeln!(w, "{i},{}", format_number(*loss))?;
        }
        return Ok(());
    }
    w.write_all(b"epoch,train_loss,train_accuracy,test_loss,test_accuracy\n")?;
    let cell = |x: Option<f64>| x.map(format_number).unwrap_or_default();
    for e in &rec.epochs {
        writeln!(
            w,
            "{},{},{},{},{}",
            e.epoch,
            format_number(e.train_loss),
            cell(e.train_accuracy),
            cell(e.test_loss),
            cell(e.test_accuracy)
        )?;
    }
    Ok(())
}

/// A YAML plain scalar when it reads back as the same string, else a double-quoted one.
fn yaml_string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_alphanumeric() || " ._/-()+*^".contains(c))
        && !s.starts_with([' ', '-'])
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
        && !["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"].contains(&s.to_lowercase().as_str());
    if plain { s.to_owned() } else { format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")) }
}

/// A number that YAML reads back to the same bits (`.nan`, `.inf` for the others).
fn yaml_number(x: f64) -> String {
    if x.is_nan() {
        ".nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { ".inf".into() } else { "-.inf".into() }
    } else {
        let text = format_number(x);
        // `1e-7` is a string to YAML 1.1 readers: give the mantissa a point.
        match text.split_once('e') {
            Some((m, e)) => {
                let m = if m.contains('.') { m.to_owned() } else { format!("{m}.0") };
                let e = if e.starts_with('-') { e.to_owned() } else { format!("+{e}") };
                format!("{m}e{e}")
            }
            None => text,
        }
    }
}

/// One entry of a `params.yaml`, with its 1-based line in the file (for messages).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamEntry {
    pub name: String,
    pub value: f64,
    pub unit: Option<String>,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    params: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    value: f64,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    start: Option<f64>,
}

/// Parses a `params.yaml`'s text: the `params` list, each entry a `name`, a `value` and
/// optionally a `unit` (and `start`, ignored).
pub fn parse_params(text: &str) -> Result<Vec<ParamEntry>, ConfigError> {
    let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|err| super::config::invalid(text, &err))?;
    // serde keeps no positions of what it accepted: the k-th `name:` key is the k-th entry's.
    let mut name_lines = text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.trim_start().trim_start_matches('-').trim_start();
        l.starts_with("name:").then_some(i + 1)
    });
    Ok(raw
        .params
        .into_iter()
        .map(|e| ParamEntry { name: e.name, value: e.value, unit: e.unit, line: name_lines.next().unwrap_or(1) })
        .collect())
}

/// Reads a `params.yaml` (a bounded read, as a run file) and parses it; errors name the path.
pub fn load_params(path: &Path) -> Result<Vec<ParamEntry>, ConfigError> {
    let text = super::read_source(&path.to_string_lossy())
        .map_err(|message| ConfigError::Read { path: path.to_path_buf(), source: io::Error::other(message) })?;
    parse_params(&text).map_err(|err| match err {
        ConfigError::Invalid { line, column, message, .. } => {
            ConfigError::Invalid { path: Some(path.to_path_buf()), line, column, message }
        }
        other => other,
    })
}
