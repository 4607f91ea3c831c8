//! The samples of a `train` block with `data = …`: its datasets read, each row turned into the
//! values of the block's inputs and the objective of its label, and the readout's rows.

use sylva_compiler::artifact::{Artifact, Placement};
use sylva_compiler::ir::{self, DataFormat, InputTarget};
use sylva_compiler::source::Span;

use super::data::{self, DataError, Samples};
use super::samples::{SampleSet, SampleTraining};
use super::session::SessionError;
use crate::grad::{Input, Objective, Readout, Use};

/// What a file reader gives: a file's bytes, or why it cannot be read.
pub type ReadFile<'r> = dyn FnMut(&str) -> Result<Vec<u8>, String> + 'r;

/// The inputs of the problem and the samples to train on.
pub fn sample_training(
    artifact: &Artifact,
    training: &ir::Training,
    d: &ir::Data,
    read: &mut ReadFile<'_>,
) -> Result<(Vec<Input>, SampleTraining), SessionError> {
    let inputs = d.inputs.iter().map(|i| input(artifact, i)).collect();
    let train = samples(training, d, &d.train, read)?;
    let test = d.test.as_ref().map(|t| samples(training, d, t, read)).transpose()?;
    let readout = readout(artifact, &d.readout);
    Ok((inputs, SampleTraining { train, test, readout, epochs: d.epochs, batch: d.batch, seed: training.seed }))
}

fn input(artifact: &Artifact, i: &ir::Input) -> Input {
    match i.to {
        InputTarget::Source(s) => Input::Source(s.index()),
        InputTarget::Stimulus { stimulus, param, scale: _ } => {
            let block = artifact
                .placements
                .iter()
                .position(|p| p.placement == Placement::Stimulus(stimulus))
                .expect("the artifact places every stimulus");
            Input::Param(Use::all(block, param.0))
        }
    }
}

/// The recorded rows inside the readout's window (time n·dt of row n, as `trace.csv` has them).
fn readout(artifact: &Artifact, r: &ir::Readout) -> Readout {
    let sim = &artifact.model.simulation;
    let rows = sim.steps() as usize + 1;
    let slack = 1e-9 * sim.dt;
    let inside = |n: &usize| {
        let t = crate::host::time_of(sim.dt, *n as u64);
        r.from - slack <= t && t <= r.to + slack
    };
    let first = (0..rows).find(inside).unwrap_or(rows);
    let end = (first..rows).find(|n| !inside(n)).unwrap_or(rows);
    Readout { probes: r.probes.iter().map(|p| p.index()).collect(), rows: first..end }
}

/// One dataset's samples: the inputs' columns (in their units) and the label's objective.
fn samples(
    training: &ir::Training,
    d: &ir::Data,
    set: &ir::Dataset,
    read: &mut ReadFile<'_>,
) -> Result<SampleSet, SessionError> {
    let table = load(set, read)?;
    let at = |span: Span, message: String| SessionError::Data { span, message };
    let first_file = set.file_spans[0];
    let column = |name: &str, span: Span| {
        table.column(name).ok_or_else(|| {
            at(
                span,
                format!("the data of `{}` has no column `{name}` (its columns: {})", file_name(set), listed(&table)),
            )
        })
    };
    let columns: Vec<(usize, f64)> = d
        .inputs
        .iter()
        .map(|i| {
            let scale = match i.to {
                InputTarget::Source(_) => 1.0,
                InputTarget::Stimulus { scale, .. } => scale,
            };
            column(&i.column, i.column_span).map(|c| (c, scale))
        })
        .collect::<Result<_, _>>()?;
    let label = column(&d.label, d.label_span)?;
    let mut out = SampleSet::default();
    for (k, row) in table.rows.iter().enumerate() {
        out.values.push(columns.iter().map(|(c, scale)| row[*c] * scale).collect());
        let objective = objective(training.loss, &d.readout, row[label]).map_err(|message| {
            at(first_file, format!("`{}`, sample {} (data row {}): {message}", file_name(set), k + 1, k + 1))
        })?;
        out.objectives.push(objective);
    }
    Ok(out)
}

fn file_name(set: &ir::Dataset) -> String {
    match &set.format {
        DataFormat::Table { path } => path.clone(),
        DataFormat::Mnist { images, .. } => images.clone(),
    }
}

fn listed(s: &Samples) -> String {
    let shown: Vec<&str> = s.columns.iter().take(8).map(String::as_str).collect();
    let more = if s.columns.len() > 8 { format!(", … ({} in all)", s.columns.len()) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// What a sample's label asks of its readout.
fn objective(loss: ir::Loss, readout: &ir::Readout, label: f64) -> Result<Objective, String> {
    match loss {
        ir::Loss::Mse => Ok(Objective::Mse { target: label * readout.dim.display_scale() }),
        ir::Loss::CrossEntropy { scale, threshold } => {
            let classes = readout.probes.len().max(2);
            if label.fract() != 0.0 || label < 0.0 || label >= classes as f64 {
                return Err(format!("label {label} is not a class (a whole number from 0 to {})", classes - 1));
            }
            Ok(Objective::CrossEntropy { class: label as usize, scale, threshold })
        }
    }
}

/// A dataset's files read and parsed; errors at the file's string.
fn load(set: &ir::Dataset, read: &mut ReadFile<'_>) -> Result<Samples, SessionError> {
    let at_file = |e: DataError, paths: &[&str]| SessionError::Data {
        span: set.file_spans[e.file.min(set.file_spans.len() - 1)],
        message: format!("`{}`: {}", paths[e.file.min(paths.len() - 1)], e.message),
    };
    let mut bytes = |path: &str, k: usize| {
        read(path).map_err(|e| SessionError::Data {
            span: set.file_spans[k],
            message: format!("cannot read data file `{path}`: {e}"),
        })
    };
    match &set.format {
        DataFormat::Table { path } => {
            let raw = bytes(path, 0)?;
            let text = String::from_utf8(raw).map_err(|e| SessionError::Data {
                span: set.file_spans[0],
                message: format!("`{path}` is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            })?;
            data::table(&text).map_err(|e| at_file(e, &[path]))
        }
        DataFormat::Mnist { images, labels } => {
            let (i, l) = (bytes(images, 0)?, bytes(labels, 1)?);
            data::mnist(&i, &l).map_err(|e| at_file(e, &[images, labels]))
        }
    }
}
