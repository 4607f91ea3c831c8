//! A training run as a model's `train` block describes it: its trainables as uses of the
//! plan's blocks, its start values and transforms, its targets read from their files, its
//! optimiser; and learned values written back into a model (`sylva run --params`).

use sylva_compiler::artifact::{Artifact, Placement};
use sylva_compiler::ir::{self, ParamValue, TrainedParam};
use sylva_compiler::source::Span;

use super::sample_session::{ReadFile, sample_training};
use super::samples::SampleTraining;
use super::{Fit, Objective, Optimizer, Transform, fit, fit_on};
use crate::grad::{CableProperty, CableUse, GradError, Loss, Problem, Target, Trainable, Use};

/// Why a training run cannot start.
#[derive(Debug)]
pub enum SessionError {
    /// The model has no `train` block.
    NoTraining,
    /// A target file that cannot be read or does not fit the run, at the part of the `target`
    /// line that is wrong.
    Target {
        span: Span,
        message: String,
    },
    /// A start value outside what its transform allows.
    Start {
        span: Span,
        message: String,
    },
    /// A data file that cannot be read or does not fit the samples (E0711), at its file string
    /// or at the column that is missing.
    Data {
        span: Span,
        message: String,
    },
    Grad(GradError),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::NoTraining => write!(f, "the model has no `train` block"),
            SessionError::Target { message, .. }
            | SessionError::Start { message, .. }
            | SessionError::Data { message, .. } => f.write_str(message),
            SessionError::Grad(e) => e.fmt(f),
        }
    }
}

impl From<GradError> for SessionError {
    fn from(e: GradError) -> SessionError {
        SessionError::Grad(e)
    }
}

pub struct Session {
    pub problem: Problem,
    pub transforms: Vec<Transform>,
    pub loss: Loss,
    pub optimizer: Optimizer,
    pub iterations: u64,
    /// Each trainable as written, and how its values are shown.
    pub names: Vec<Shown>,
    /// The samples, when the block has `data = …` (then `loss` has no targets).
    pub samples: Option<SampleTraining>,
}

/// A trainable's name as written, its display unit and the internal units per shown unit.
#[derive(Clone, Debug)]
pub struct Shown {
    pub name: String,
    pub unit: String,
    pub scale: f64,
}

impl Session {
    /// The session of `artifact`'s `train` block; `read(path)` gives a target or data file's bytes.
    pub fn new(artifact: &Artifact, read: &mut ReadFile<'_>) -> Result<Session, SessionError> {
        let training = artifact.model.training.as_ref().ok_or(SessionError::NoTraining)?;
        let trainables: Vec<Trainable> = training.trainables.iter().map(|t| trainable(artifact, &t.param)).collect();
        let (inputs, dense, linear, samples) = match &training.data {
            Some(d) => {
                let setup = sample_training(artifact, training, d, read)?;
                (setup.inputs, setup.dense, setup.linear, Some(setup.training))
            }
            None => (Vec::new(), Vec::new(), None, None),
        };
        let mut problem = Problem::with_inputs(artifact, &trainables, &inputs)?;
        if samples.is_none() {
            // A fit to traces runs one gradient at a time: its reverse run splits by cells on
            // the pool's threads (`--threads`), the same bits for any number.
            problem.set_threads(rayon::current_num_threads());
        }
        if let Some(shape) = linear {
            problem.set_linear_readout(shape);
        }
        let start: Vec<f64> = training.trainables.iter().map(|t| t.init).chain(dense.iter().map(|d| d.start)).collect();
        problem.set_values(&start);
        let transforms = training
            .trainables
            .iter()
            .map(|t| {
                Transform::for_range(t.min, t.max, t.init).map_err(|message| SessionError::Start {
                    span: t.span,
                    message: format!("`{}`: {message}", t.name),
                })
            })
            .chain(dense.iter().map(|d| Ok(Transform::Scaled { scale: d.spread })))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = artifact.model.simulation.steps() as usize + 1;
        let times: Vec<f64> = (0..rows as u64).map(|n| crate::host::time_of(artifact.model.simulation.dt, n)).collect();
        let loss =
            Loss { targets: training.targets.iter().map(|t| target(t, &times, read)).collect::<Result<Vec<_>, _>>()? };
        let optimizer = match training.optimizer {
            ir::Optimizer::Adam { learning_rate, beta1, beta2, epsilon } => {
                Optimizer::Adam { learning_rate, beta1, beta2, epsilon }
            }
            ir::Optimizer::Sgd { learning_rate } => Optimizer::Sgd { learning_rate },
            ir::Optimizer::Lbfgs { memory, gradient_tolerance, loss_tolerance } => {
                Optimizer::Lbfgs(super::lbfgs::Options { memory: memory as usize, gradient_tolerance, loss_tolerance })
            }
        };
        let names = training
            .trainables
            .iter()
            .map(|t| Shown { name: t.name.clone(), unit: t.dim.display_unit(), scale: t.dim.display_scale() })
            .chain(dense.iter().map(|d| Shown { name: d.name.clone(), unit: d.unit.clone(), scale: d.display_scale }))
            .collect();
        Ok(Session { problem, transforms, loss, optimizer, iterations: u64::from(training.iterations), names, samples })
    }

    /// Runs the optimiser (see [`fit`]).
    pub fn fit(&mut self, progress: impl FnMut(u64, f64) -> std::ops::ControlFlow<()>) -> Result<Fit, GradError> {
        fit(&mut self.problem, &self.loss, &self.transforms, self.optimizer, self.iterations, progress)
    }

    /// Runs the optimiser on the losses and gradients of `objective` (see [`fit_on`]).
    pub fn fit_on(
        &mut self,
        objective: &mut dyn Objective,
        progress: impl FnMut(u64, f64) -> std::ops::ControlFlow<()>,
    ) -> Result<Fit, GradError> {
        let (problem, loss, transforms) = (&mut self.problem, &self.loss, &self.transforms);
        fit_on(objective, problem, loss, transforms, self.optimizer, self.iterations, progress)
    }
}

/// Where a trained parameter lives in the plan: the placement of the artifact, at the
/// compartments the trainable covers.
pub(crate) fn trainable(artifact: &Artifact, param: &TrainedParam) -> Trainable {
    let block = |placement: Placement| {
        artifact.placements.iter().position(|p| p.placement == placement).expect("the artifact places every trainable")
    };
    let used = match param {
        TrainedParam::Density { cell, instance, param, nodes, profile } => {
            let all = &artifact.model.cells[cell.index()].density[instance.index()].nodes;
            let positions = nodes.iter().map(|n| all.partition_point(|x| x < n) as u32).collect();
            let block = block(Placement::Density { cell: *cell, instance: *instance });
            Use { profile: profile.clone(), ..Use::at(block, param.0, positions) }
        }
        TrainedParam::Synapse { cell, synapse, param } => {
            Use::all(block(Placement::Synapse { cell: *cell, index: *synapse }), param.0)
        }
        TrainedParam::Stimulus { stimulus, param } => Use::all(block(Placement::Stimulus(*stimulus)), param.0),
        TrainedParam::Weight { connection } => return Trainable { weights: vec![*connection], ..Trainable::default() },
        TrainedParam::Capacitance { cell, nodes } => {
            let cable = CableUse { cell: cell.0, nodes: nodes.clone(), property: CableProperty::Capacitance };
            return Trainable { cable: vec![cable], ..Trainable::default() };
        }
        TrainedParam::AxialResistivity { cell, nodes, resistance } => {
            let property = CableProperty::AxialResistivity { resistance: resistance.clone() };
            return Trainable {
                cable: vec![CableUse { cell: cell.0, nodes: nodes.clone(), property }],
                ..Trainable::default()
            };
        }
    };
    Trainable { uses: vec![used], ..Trainable::default() }
}

/// A target's column of its file, which must hold one row per recorded time of the run (the
/// first column, in ms, equal to the run's times to 1e-9 ms).
fn target(t: &ir::Target, times: &[f64], read: &mut ReadFile<'_>) -> Result<Target, SessionError> {
    let at_path = |message: String| SessionError::Target { span: t.path_span, message };
    let bytes = read(&t.path).map_err(|e| at_path(format!("cannot read target file `{}`: {e}", t.path)))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| at_path(format!("`{}` is not UTF-8 text (byte {})", t.path, e.utf8_error().valid_up_to())))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| at_path(format!("`{}` is empty", t.path)))?;
    let names: Vec<&str> = header.split(',').map(|s| s.trim().trim_matches('"')).collect();
    let column = names.iter().position(|n| *n == t.column).filter(|c| *c > 0).ok_or_else(|| SessionError::Target {
        span: t.column_span,
        message: format!("`{}` has no column `{}` (its columns: {})", t.path, t.column, names[1..].join(", ")),
    })?;
    let mut values = Vec::with_capacity(times.len());
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        let (Some(time), Some(value)) = (number(0), number(column)) else {
            return Err(at_path(format!("`{}` line {}: not a row of numbers", t.path, line + 1)));
        };
        let row = values.len();
        match times.get(row) {
            Some(&expected) if (time - expected).abs() <= 1e-9 => values.push(value),
            Some(&expected) => {
                return Err(at_path(format!(
                    "`{}` line {}: time {time} ms where the run records {expected} ms (the target needs one row per \
                     step of dt, from 0)",
                    t.path,
                    line + 1
                )));
            }
            None => return Err(at_path(format!("`{}` has more rows than the run's {} times", t.path, times.len()))),
        }
    }
    if values.len() != times.len() {
        return Err(at_path(format!("`{}` has {} rows for the run's {} times", t.path, values.len(), times.len())));
    }
    Ok(Target { probe: t.probe.index(), values })
}

/// Writes learned values into the model (`sylva run --params`): each trainable of its `train`
/// block, by the name it is written with, gets the value given (internal units).
pub fn apply(model: &mut ir::Model, values: &[(String, f64)]) -> Result<(), String> {
    let training = model.training.clone().ok_or("the model has no `train` block")?;
    for (name, value) in values {
        let t = training
            .trainables
            .iter()
            .find(|t| t.name == *name)
            .ok_or_else(|| format!("the model's `train` block has no trainable `{name}`"))?;
        match &t.param {
            TrainedParam::Density { cell, instance, param, nodes, profile } => {
                let d = &mut model.cells[cell.index()].density[instance.index()];
                let all = d.nodes.clone();
                let p = &mut d.params[param.index()];
                if let ParamValue::Uniform(x) = *p {
                    if nodes.len() == all.len() && profile.is_none() {
                        *p = ParamValue::Uniform(*value);
                        continue;
                    }
                    *p = ParamValue::PerNode(vec![x; all.len()]);
                }
                if let ParamValue::PerNode(list) = p {
                    for (k, n) in nodes.iter().enumerate() {
                        list[all.partition_point(|x| x < n)] = *value * profile.as_ref().map_or(1.0, |f| f[k]);
                    }
                }
            }
            TrainedParam::Capacitance { cell, nodes } => {
                let cm = &mut model.cells[cell.index()].cm;
                for n in nodes {
                    cm[*n as usize] = *value;
                }
            }
            TrainedParam::AxialResistivity { cell, nodes, resistance } => {
                let tree = &mut model.cells[cell.index()].tree;
                for (n, r) in nodes.iter().zip(resistance) {
                    tree.nodes[*n as usize].r_to_parent_mohm = *value * r;
                }
            }
            TrainedParam::Synapse { cell, synapse, param } => {
                model.cells[cell.index()].synapses[synapse.index()].params[param.index()] = *value;
            }
            TrainedParam::Stimulus { stimulus, param } => {
                model.network.stimuli[stimulus.index()].params[param.index()] = *value;
            }
            TrainedParam::Weight { connection } => model.network.connections[*connection as usize].weight = *value,
        }
    }
    Ok(())
}
