//! The samples of a `train` block with `data = …`: its datasets read, each row turned into the
//! values of the block's inputs and the objective of its label, and the readout's rows.

use sylva_compiler::artifact::{Artifact, Placement};
use sylva_compiler::ir::{self, DataFormat, InputTarget};
use sylva_compiler::source::Span;

use super::data::{self, DataError, Samples};
use super::samples::{SampleSet, SampleTraining};
use super::session::SessionError;
use crate::grad::{Dense, Input, LinearReadout, Objective, Readout, Use};

/// What a file reader gives: a file's bytes, or why it cannot be read.
pub type ReadFile<'r> = dyn FnMut(&str) -> Result<Vec<u8>, String> + 'r;

/// The inputs of the problem, the values the dense ones train, and the samples.
pub struct SampleSetup {
    pub inputs: Vec<Input>,
    /// The dense inputs' trained values, then the linear readout's.
    pub dense: Vec<DenseValue>,
    pub linear: Option<LinearReadout>,
    pub training: SampleTraining,
}

/// One trained value of a dense input (a weight or a bias): how it is shown, its start value
/// and the scale of its unbounded transform (internal units).
#[derive(Clone, Debug)]
pub struct DenseValue {
    pub name: String,
    pub unit: String,
    pub display_scale: f64,
    pub start: f64,
    pub spread: f64,
}

/// The inputs of the problem and the samples to train on; dense inputs start from random
/// weights drawn with the block's seed.
pub fn sample_training(
    artifact: &Artifact,
    training: &ir::Training,
    d: &ir::Data,
    read: &mut ReadFile<'_>,
) -> Result<SampleSetup, SessionError> {
    let train_table = load(&d.train, read)?;
    let columns = input_columns(d, &d.train, &train_table)?;
    let train = samples(training, d, &d.train, &train_table, &columns)?;
    let test = match &d.test {
        Some(t) => {
            let table = load(t, read)?;
            let test_columns = input_columns(d, t, &table)?;
            let names = |cols: &[Vec<usize>], tab: &Samples| -> Vec<Vec<String>> {
                cols.iter().map(|c| c.iter().map(|k| tab.columns[*k].clone()).collect()).collect()
            };
            if names(&test_columns, &table) != names(&columns, &train_table) {
                return Err(SessionError::Data {
                    span: t.file_spans[0],
                    message: format!("the test data `{}` has other input columns than the training data", file_name(t)),
                });
            }
            Some(samples(training, d, t, &table, &test_columns)?)
        }
        None => None,
    };
    let mut rng = crate::plan::events::Rng::new(training.seed);
    let mut inputs = Vec::new();
    let mut dense = Vec::new();
    for (i, cols) in d.inputs.iter().zip(&columns) {
        let input = input(artifact, i, cols.len());
        if let Input::Dense(x) = &input {
            dense.extend(dense_values(artifact, i, x, cols, &train_table, &mut rng));
        }
        inputs.push(input);
    }
    let linear = match training.loss {
        ir::Loss::CrossEntropy { classes: Some(classes), .. } => {
            let shape = LinearReadout { classes: classes as usize, features: d.readout.probes.len() };
            dense.extend(linear_values(artifact, &d.readout, &shape, &mut rng));
            Some(shape)
        }
        _ => None,
    };
    let readout = readout(artifact, &d.readout);
    let training = SampleTraining { train, test, readout, epochs: d.epochs, batch: d.batch, seed: training.seed };
    Ok(SampleSetup { inputs, dense, linear, training })
}

fn input(artifact: &Artifact, i: &ir::Input, features: usize) -> Input {
    let block_of = |placement: Placement| {
        artifact.placements.iter().position(|p| p.placement == placement).expect("the artifact places every input")
    };
    match i.to {
        InputTarget::Source(s) => Input::Source(s.index()),
        InputTarget::Stimulus { stimulus, param, scale: _ } => {
            Input::Param(Use::all(block_of(Placement::Stimulus(stimulus)), param.0))
        }
        InputTarget::Dense { population, synapse, param, init: _ } => {
            let pop = &artifact.model.network.populations[population.index()];
            // The population is its cell type's only one (checked): the block's instances are its cells.
            let block = block_of(Placement::Synapse { cell: pop.cell, index: synapse });
            Input::Dense(Dense { block, param: param.0, instances: 0..pop.count as usize, features })
        }
    }
}

/// W uniform in ±init/√features, b = 0; named after the columns and the cells.
fn dense_values(
    artifact: &Artifact,
    i: &ir::Input,
    d: &Dense,
    columns: &[usize],
    table: &Samples,
    rng: &mut crate::plan::events::Rng,
) -> Vec<DenseValue> {
    let InputTarget::Dense { population, synapse, param, init } = i.to else { return Vec::new() };
    let model = &artifact.model;
    let pop = &model.network.populations[population.index()];
    let syn = &model.cells[pop.cell.index()].synapses[synapse.index()];
    let declared = &model.mechanisms[syn.mechanism.index()].params[param.index()];
    let (unit, display_scale) = (declared.dim.display_unit(), declared.dim.display_scale());
    let target = |k: usize| format!("{}[{k}].{}.{}", pop.name, syn.name, declared.name);
    let spread = init / (columns.len().max(1) as f64).sqrt();
    let mut out = Vec::with_capacity(d.weights());
    for k in d.instances.clone() {
        for c in columns {
            let start = spread * (2.0 * rng.uniform() - 1.0);
            out.push(DenseValue {
                name: format!("{} -> {}", table.columns[*c], target(k)),
                unit: unit.clone(),
                display_scale,
                start,
                spread,
            });
        }
    }
    for k in d.instances.clone() {
        out.push(DenseValue {
            name: format!("bias -> {}", target(k)),
            unit: unit.clone(),
            display_scale,
            start: 0.0,
            spread,
        });
    }
    out
}

/// V uniform in ±1/√probes, c = 0: dimensionless, named after the class and the probe.
fn linear_values(
    artifact: &Artifact,
    r: &ir::Readout,
    shape: &LinearReadout,
    rng: &mut crate::plan::events::Rng,
) -> Vec<DenseValue> {
    let spread = 1.0 / (shape.features.max(1) as f64).sqrt();
    let probes = &artifact.model.network.probes;
    let value = |name: String, start: f64| DenseValue { name, unit: "1".into(), display_scale: 1.0, start, spread };
    let mut out = Vec::with_capacity(shape.weights());
    for k in 0..shape.classes {
        for p in &r.probes {
            let start = spread * (2.0 * rng.uniform() - 1.0);
            out.push(value(format!("\"{}\" -> class {k}", probes[p.index()].label), start));
        }
    }
    out.extend((0..shape.classes).map(|k| value(format!("bias -> class {k}"), 0.0)));
    out
}

/// The columns of each input: the one named, or those starting with a pattern's prefix (in file
/// order).
fn input_columns(d: &ir::Data, set: &ir::Dataset, table: &Samples) -> Result<Vec<Vec<usize>>, SessionError> {
    d.inputs
        .iter()
        .map(|i| {
            let found: Vec<usize> = match i.column.strip_suffix('*') {
                Some(prefix) => (0..table.columns.len()).filter(|k| table.columns[*k].starts_with(prefix)).collect(),
                None => table.column(&i.column).into_iter().collect(),
            };
            if found.is_empty() {
                return Err(SessionError::Data {
                    span: i.column_span,
                    message: format!(
                        "the data of `{}` has no column `{}` (its columns: {})",
                        file_name(set),
                        i.column,
                        listed(table)
                    ),
                });
            }
            Ok(found)
        })
        .collect()
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
    table: &Samples,
    columns: &[Vec<usize>],
) -> Result<SampleSet, SessionError> {
    let at = |span: Span, message: String| SessionError::Data { span, message };
    let label = table.column(&d.label).ok_or_else(|| {
        at(
            d.label_span,
            format!("the data of `{}` has no column `{}` (its columns: {})", file_name(set), d.label, listed(table)),
        )
    })?;
    let scales: Vec<f64> = d
        .inputs
        .iter()
        .map(|i| match i.to {
            InputTarget::Stimulus { scale, .. } => scale,
            InputTarget::Source(_) | InputTarget::Dense { .. } => 1.0,
        })
        .collect();
    let mut out = SampleSet::default();
    for (k, row) in table.rows.iter().enumerate() {
        let values = columns.iter().zip(&scales).flat_map(|(cols, scale)| cols.iter().map(move |c| row[*c] * scale));
        out.values.push(values.collect());
        let objective = objective(training.loss, &d.readout, row[label]).map_err(|message| {
            at(set.file_spans[0], format!("`{}`, sample {} (data row {}): {message}", file_name(set), k + 1, k + 1))
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
        ir::Loss::CrossEntropy { scale, threshold, classes } => {
            let classes = classes.map_or(readout.probes.len().max(2), |c| c as usize);
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
