//! The `train` block: trainable parameters resolved to the model's entities, target traces
//! of probes, the loss, the optimizer and its settings (docs/language.md, "Training"). The
//! target files are not read: the compiler has no IO for data; their resolved paths go to the
//! IR for the runtime.

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::{self, CellId, DensityId, ParamId, ProbeId, StimulusId, SynapseId};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::cell::CellFacts;
use super::constant::{eval, eval_in_unit};
use super::expr::mismatch;
use super::globals::Globals;
use super::train_data;

/// The checked model a `train` block refers to.
pub(crate) struct Model<'m> {
    pub mechanisms: &'m [ir::Mechanism],
    pub cells: &'m [ir::Cell],
    /// Every cell type by name, `None` where it did not check.
    pub cell_names: &'m [(String, Option<CellId>)],
    /// Per checked cell type, its regions' nodes and what else a trainable needs of it.
    pub facts: &'m [CellFacts],
    /// The network the simulation runs (empty without one).
    pub network: &'m ir::Network,
    pub simulation: &'m ir::Simulation,
}

/// The defaults of the settings (documented in docs/language.md).
const ADAM: ir::Optimizer = ir::Optimizer::Adam { learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
const SGD_LEARNING_RATE: f64 = 0.01;
const LBFGS: ir::Optimizer = ir::Optimizer::Lbfgs { memory: 10, gradient_tolerance: 1e-8, loss_tolerance: 1e-12 };
const OPTIMIZERS: [&str; 3] = ["adam", "sgd", "lbfgs"];
const DEFAULT_SEED: u64 = 1;

const SETTINGS: [&str; 9] = ["loss", "optimizer", "iterations", "seed", "epochs", "batch", "data", "test", "label"];

/// Checks the model's `train` block, if it has one.
pub(crate) fn check(globals: &Globals<'_>, diags: &mut Diagnostics, model: &Model<'_>) -> Option<ir::Training> {
    let block = *globals.trains.first()?;
    for extra in globals.trains.iter().skip(1) {
        diags.push(
            Diagnostic::error(Code::DuplicateTrain, extra.name.span, "a model has only one `train` block")
                .label("a second `train` block")
                .secondary(block.name.span, "the first one")
                .help("put every trainable and target into one block"),
        );
    }
    let mut training = ir::Training {
        name: block.name.name.clone(),
        span: block.span,
        trainables: Vec::new(),
        targets: Vec::new(),
        loss: ir::Loss::Mse,
        optimizer: ADAM,
        iterations: 0,
        seed: DEFAULT_SEED,
        data: None,
    };
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut have_iterations = None;
    let mut lbfgs_at = None;
    let mut loss = None;
    let mut samples = train_data::Members::default();
    for member in &block.members {
        let Some(member) = samples.take(diags, member) else { continue };
        match member {
            ast::TrainMember::Trainable(t) => {
                if let Some(trained) = trainable(globals, diags, model, t) {
                    match training.trainables.iter().find(|o| overlaps(&o.param, &trained.param)) {
                        Some(first) => diags.push(
                            Diagnostic::error(
                                Code::DuplicateTrainable,
                                t.span,
                                format!("`{}` is trained twice", trained.name),
                            )
                            .label("trained again here")
                            .secondary(first.span, "first trained here")
                            .help("one trainable per parameter and place: remove one of them"),
                        ),
                        None => training.trainables.push(trained),
                    }
                }
            }
            ast::TrainMember::Target(t) => {
                if let Some(target) = target(globals, diags, model, t, &training.targets) {
                    training.targets.push(target);
                }
            }
            // Taken by `samples` above.
            ast::TrainMember::Input(_)
            | ast::TrainMember::Readout(_)
            | ast::TrainMember::Dataset(_)
            | ast::TrainMember::Text(_) => {}
            ast::TrainMember::Setting(s) => {
                let key = s.key.name.as_str();
                if !SETTINGS.contains(&key) {
                    diags.push(unknown_setting(&s.key, "a `train` block", &SETTINGS));
                    continue;
                }
                if let Some(first) = seen.insert(key, s.key.span) {
                    diags.push(
                        Diagnostic::error(Code::InvalidTraining, s.key.span, format!("`{key}` is set twice"))
                            .secondary(first, "first set here"),
                    );
                    continue;
                }
                if key != "optimizer"
                    && key != "loss"
                    && let Some(props) = &s.settings
                {
                    let span = props.first().map_or(s.value.span, |p| p.span);
                    diags.push(Diagnostic::error(
                        Code::InvalidTraining,
                        span,
                        format!("`{key}` takes no settings in `{{ … }}`"),
                    ));
                    continue;
                }
                match key {
                    "loss" => loss = Some(s),
                    "optimizer" => {
                        if let Some(o) = optimizer(globals, diags, s) {
                            training.optimizer = o;
                            lbfgs_at = matches!(o, ir::Optimizer::Lbfgs { .. }).then_some(s.value.span);
                        }
                    }
                    "iterations" => {
                        have_iterations = Some(s.span);
                        if let Some(n) = integer(globals, diags, &s.value, "`iterations`", 1, u32::MAX as f64) {
                            training.iterations = n as u32;
                        }
                    }
                    _ => {
                        if let Some(n) = integer(globals, diags, &s.value, "`seed`", 0, 2f64.powi(53)) {
                            training.seed = n;
                        }
                    }
                }
            }
        }
    }
    let missing = |what: &str, help: &str| {
        Diagnostic::error(Code::InvalidTraining, block.name.span, format!("the `train` block has no {what}")).help(help)
    };
    let trains_values = block.members.iter().any(|m| matches!(m, ast::TrainMember::Trainable(_)))
        || train_data::trains_values(&samples, loss);
    if !trains_values {
        diags.push(missing("trainable parameter", "add `trainable MECHANISM.PARAMETER in REGION`"));
    }
    if samples.datasets.is_empty() {
        // A block that describes samples but forgot `data` is told that, not what a fit to
        // traces would need.
        if !train_data::report_without_data(diags, &samples) {
            if have_iterations.is_none() {
                diags.push(missing("`iterations`", "add `iterations = 200`"));
            }
            if !block.members.iter().any(|m| matches!(m, ast::TrainMember::Target(_))) {
                diags.push(missing("target", "add `target \"PROBE LABEL\" from \"FILE.csv\"`"));
            }
        }
        if let Some(s) = loss {
            trace_loss(diags, s);
        }
    } else {
        report_run_members_with_data(diags, block, have_iterations);
        if let Some(span) = lbfgs_at {
            diags.push(lbfgs_with_samples(span));
            training.optimizer = ADAM;
        }
        if let Some((data, loss)) = train_data::data(globals, diags, model, &samples, loss) {
            training.iterations = data.epochs;
            training.loss = loss;
            training.data = Some(data);
        }
    }
    Some(training)
}

/// L-BFGS's line search compares losses of one function: a batch of samples changes the loss
/// from one step to the next.
fn lbfgs_with_samples(span: Span) -> Diagnostic {
    Diagnostic::error(Code::InvalidData, span, "`lbfgs` in a `train` block with samples")
        .label("L-BFGS fits target traces")
        .note("its line search needs the same loss at every trial; each batch of samples is another loss")
        .help("use `adam` or `sgd` with `data`")
}

/// `loss = mse`, the only loss of a fit to target traces.
fn trace_loss(diags: &mut Diagnostics, s: &ast::TrainSetting) {
    match (word(&s.value), &s.settings) {
        (Some("mse"), None) => {}
        (Some("cross_entropy"), _) => diags.push(
            Diagnostic::error(Code::InvalidData, s.value.span, "a cross-entropy needs samples")
                .label("a loss over classes of samples")
                .help("add `data = table(\"FILE.csv\")`, a `readout` and a `label`, or use `loss = mse`"),
        ),
        _ => diags.push(
            Diagnostic::error(Code::InvalidTraining, s.value.span, "unknown loss")
                .label("the loss of a fit to target traces is `mse`")
                .help("write `loss = mse` (mean squared error), or leave it out"),
        ),
    }
}

/// With samples, the run's `target`s and `iterations` have no meaning: epochs of samples replace them.
fn report_run_members_with_data(diags: &mut Diagnostics, block: &ast::Train, iterations: Option<Span>) {
    for m in &block.members {
        if let ast::TrainMember::Target(t) = m {
            diags.push(
                Diagnostic::error(Code::InvalidData, t.span, "a target trace in a `train` block with samples")
                    .label("each sample is compared through the `readout` and its `label`")
                    .help("remove the target, or the `data`"),
            );
        }
    }
    if let Some(span) = iterations {
        diags.push(
            Diagnostic::error(Code::InvalidData, span, "`iterations` in a `train` block with samples")
                .help("with samples, write `epochs = N` (passes over the data) and `batch = N` (samples per step)"),
        );
    }
}

/// Whether two trainables set one value at a place (one node, one synapse, one stimulus).
fn overlaps(a: &ir::TrainedParam, b: &ir::TrainedParam) -> bool {
    use ir::TrainedParam as T;
    match (a, b) {
        (
            T::Density { cell, instance, param, nodes, .. },
            T::Density { cell: c2, instance: i2, param: p2, nodes: n2, .. },
        ) => (cell, instance, param) == (c2, i2, p2) && shares_a_node(nodes, n2),
        (T::Capacitance { cell, nodes }, T::Capacitance { cell: c2, nodes: n2 })
        | (T::AxialResistivity { cell, nodes, .. }, T::AxialResistivity { cell: c2, nodes: n2, .. }) => {
            cell == c2 && shares_a_node(nodes, n2)
        }
        _ => a == b,
    }
}

fn shares_a_node(a: &[u32], b: &[u32]) -> bool {
    a.iter().any(|n| b.binary_search(n).is_ok())
}

pub(super) fn word(expr: &ast::Expr) -> Option<&str> {
    match &expr.kind {
        ast::ExprKind::Name(n) => Some(n.name.as_str()),
        _ => None,
    }
}

pub(super) fn unknown_setting(key: &ast::Ident, in_what: &str, valid: &[&str]) -> Diagnostic {
    let mut d = Diagnostic::error(Code::InvalidTraining, key.span, format!("{in_what} has no setting `{}`", key.name))
        .label("unknown setting");
    d = match did_you_mean(&key.name, valid.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!(
            "the settings are {}",
            valid.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        )),
    };
    d
}

/// A dimensionless whole number in `[min, max]`.
pub(super) fn integer(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    expr: &ast::Expr,
    what: &str,
    min: u64,
    max: f64,
) -> Option<u64> {
    let one = Unit { dim: Dimension::NONE, scale: 1.0 };
    let v = eval_in_unit(globals, diags, expr, one, false, what)?;
    if v.fract() != 0.0 || v < min as f64 || v > max {
        let kind = if min == 1 { "a positive whole number" } else { "a whole number, 0 or more" };
        diags.push(
            Diagnostic::error(Code::InvalidTraining, expr.span, format!("{what} must be {kind}"))
                .label(format!("this is {v}")),
        );
        return None;
    }
    Some(v as u64)
}

/// `adam`, `adam { … }`, `sgd { learning_rate = … }`, `lbfgs { memory = … }`.
fn optimizer(globals: &Globals<'_>, diags: &mut Diagnostics, s: &ast::TrainSetting) -> Option<ir::Optimizer> {
    let name = word(&s.value);
    let (mut optimizer, valid): (ir::Optimizer, &[&str]) = match name {
        Some("adam") => (ADAM, &["learning_rate", "beta1", "beta2", "epsilon"]),
        Some("sgd") => (ir::Optimizer::Sgd { learning_rate: SGD_LEARNING_RATE }, &["learning_rate"]),
        Some("lbfgs") => (LBFGS, &["memory", "gradient_tolerance", "loss_tolerance"]),
        _ => {
            let mut d = Diagnostic::error(Code::InvalidTraining, s.value.span, "unknown optimizer")
                .label("the optimizers are `adam`, `sgd` and `lbfgs`");
            if let Some(n) = name
                && let Some(m) = did_you_mean(n, OPTIMIZERS)
            {
                d = d.help(format!("did you mean `{m}`?"));
            }
            diags.push(d);
            return None;
        }
    };
    let name = name.expect("matched");
    let one = Unit { dim: Dimension::NONE, scale: 1.0 };
    for prop in s.settings.iter().flatten() {
        let key = prop.key.name.as_str();
        if !valid.contains(&key) {
            diags.push(unknown_setting(&prop.key, &format!("`{name}`"), valid));
            continue;
        }
        let what = format!("`{key}`");
        if key == "memory" {
            if let (Some(n), ir::Optimizer::Lbfgs { memory, .. }) =
                (integer(globals, diags, &prop.value, &what, 1, u32::MAX as f64), &mut optimizer)
            {
                *memory = n as u32;
            }
            continue;
        }
        let Some(v) = eval_in_unit(globals, diags, &prop.value, one, false, &what) else { continue };
        let (ok, rule) = match key {
            "beta1" | "beta2" => ((0.0..1.0).contains(&v), "in [0, 1)"),
            "gradient_tolerance" | "loss_tolerance" => (v >= 0.0 && v.is_finite(), "0 or more"),
            _ => (v > 0.0, "positive"),
        };
        if !ok {
            diags.push(
                Diagnostic::error(Code::InvalidTraining, prop.value.span, format!("{what} must be {rule}"))
                    .label(format!("this is {v}")),
            );
            continue;
        }
        match (&mut optimizer, key) {
            (
                ir::Optimizer::Adam { learning_rate: x, .. } | ir::Optimizer::Sgd { learning_rate: x },
                "learning_rate",
            )
            | (ir::Optimizer::Adam { beta1: x, .. }, "beta1")
            | (ir::Optimizer::Adam { beta2: x, .. }, "beta2")
            | (ir::Optimizer::Adam { epsilon: x, .. }, "epsilon")
            | (ir::Optimizer::Lbfgs { gradient_tolerance: x, .. }, "gradient_tolerance")
            | (ir::Optimizer::Lbfgs { loss_tolerance: x, .. }, "loss_tolerance") => *x = v,
            _ => unreachable!("settings checked above"),
        }
    }
    Some(optimizer)
}

/// `target "label" from "file.csv" column "name"`.
fn target(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    model: &Model<'_>,
    t: &ast::Target,
    earlier: &[ir::Target],
) -> Option<ir::Target> {
    let probes = &model.network.probes;
    let Some(index) = probes.iter().position(|p| p.label == t.label.value) else {
        let mut d =
            Diagnostic::error(Code::UnknownTarget, t.label.span, format!("no probe is labelled \"{}\"", t.label.value))
                .label("not a probe's label");
        d = match did_you_mean(&t.label.value, probes.iter().map(|p| p.label.as_str())) {
            Some(s) => d.help(format!("did you mean \"{s}\"?")),
            None if probes.is_empty() => d.note("the network has no probes: a target compares a probe's trace"),
            None => d.help(format!(
                "the probes are {}",
                probes.iter().map(|p| format!("\"{}\"", p.label)).collect::<Vec<_>>().join(", ")
            )),
        };
        diags.push(d);
        return None;
    };
    let probe = ProbeId(index as u32);
    if let Some(first) = earlier.iter().find(|e| e.probe == probe) {
        diags.push(
            Diagnostic::error(
                Code::UnknownTarget,
                t.label.span,
                format!("probe \"{}\" has two targets", t.label.value),
            )
            .label("a second target")
            .secondary(first.span, "first target here"),
        );
        return None;
    }
    if t.file.value.is_empty() {
        diags.push(Diagnostic::error(Code::InvalidTraining, t.file.span, "the file name is empty"));
        return None;
    }
    let from = &globals.sources.get(t.span.file).name;
    let (column, column_span) = match &t.column {
        Some(c) => (c.value.clone(), c.span),
        None => (t.label.value.clone(), t.label.span),
    };
    Some(ir::Target {
        probe,
        path: crate::driver::resolve_relative(from, &t.file.value),
        column,
        span: t.span,
        path_span: t.file.span,
        column_span,
    })
}

/// What a trainable names: where the value goes, its parameter and the model's value.
fn trainable(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    model: &Model<'_>,
    t: &ast::Trainable,
) -> Option<ir::Trainable> {
    let (param, mech, value) = if membrane_property(model, t).is_some() {
        super::train_membrane::resolve(diags, model, t)?
    } else if !t.regions.is_empty() {
        density(diags, model, t)?
    } else {
        match t.path.as_slice() {
            [pop, syn, p] => synapse(diags, model, pop, syn, p)?,
            [conn, p] if is_connection(model, conn) => weight(diags, model, conn, p)?,
            [stim, p] => stimulus(diags, model, stim, p)?,
            _ => {
                diags.push(shape(t));
                return None;
            }
        }
    };
    let mechanism = mech.map(|m| &model.mechanisms[m.index()]);
    let (declared, owner) = match (&param, mechanism) {
        (ir::TrainedParam::Density { param: id, profile, .. }, Some(m)) => {
            (amplitude_range(&m.params[id.index()], profile.as_deref()), m.name.as_str())
        }
        (ir::TrainedParam::Synapse { param: id, .. } | ir::TrainedParam::Stimulus { param: id, .. }, Some(m)) => {
            (m.params[id.index()].clone(), m.name.as_str())
        }
        (ir::TrainedParam::Weight { connection }, Some(m)) => {
            (weight_param(model, *connection as usize, m, value), t.path[0].name.as_str())
        }
        _ => super::train_membrane::declared(model, &param, value, t.span),
    };
    let declared = &declared;
    let init = init(globals, diags, t, declared, owner).unwrap_or(value);
    let mut name = t.path.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(".");
    if !t.regions.is_empty() {
        name += " in ";
        name += &t.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(" + ");
    }
    Some(ir::Trainable {
        name,
        param,
        dim: declared.dim,
        init,
        min: declared.min,
        max: declared.max,
        doc: t.doc.clone().or_else(|| declared.doc.clone()),
        span: t.span,
    })
}

/// `cm` or `Ra` when the trainable names one (`cm in soma`, `CELL.Ra in dend`).
pub(super) fn membrane_property<'t>(model: &Model<'_>, t: &'t ast::Trainable) -> Option<&'t ast::Ident> {
    let is_cell = |name: &ast::Ident| model.cell_names.iter().any(|(n, _)| *n == name.name);
    match t.path.as_slice() {
        [property] | [_, property] if !matches!(property.name.as_str(), "cm" | "Ra") => None,
        [property] => Some(property),
        [cell, property] if is_cell(cell) => Some(property),
        _ => None,
    }
}

fn shape(t: &ast::Trainable) -> Diagnostic {
    let span = t.path.first().map_or(t.span, |f| f.span.to(t.path.last().expect("first").span));
    Diagnostic::error(Code::UnknownTrainable, span, "a trainable names a parameter in two or three parts")
        .note("`MECHANISM.PARAMETER in REGION` or `CELL.MECHANISM.PARAMETER in REGION` for a density mechanism, `POPULATION.SYNAPSE.PARAMETER` for a synapse, `STIMULUS.PARAMETER` for a stimulus, `CONNECTION.weight` for a named `connect` rule, `cm in REGION` or `Ra in REGION` for the membrane")
}

/// `init = …`: the parameter's dimension, inside its range.
fn init(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    t: &ast::Trainable,
    declared: &ir::Param,
    mech: &str,
) -> Option<f64> {
    let mut value = None;
    for prop in &t.props {
        if prop.key.name != "init" {
            diags.push(unknown_setting(&prop.key, "a trainable", &["init"]));
            continue;
        }
        let what = format!("the start value of `{mech}.{}`", declared.name);
        let (v, dim) = eval(globals, diags, &prop.value, &what)?;
        if let Some(d) = dim
            && d != declared.dim
        {
            let mut m = mismatch(prop.value.span, declared.dim, d, &what);
            m.code = Code::InvalidInit;
            diags.push(m.help(format!("write it in {}", declared.dim.display_unit())));
            return None;
        }
        let unit = declared.dim.display_unit();
        let shown = |x: f64| if x.is_finite() { x / declared.dim.display_scale() } else { x };
        if !(declared.min..=declared.max).contains(&v) {
            diags.push(
                Diagnostic::error(Code::InvalidInit, prop.value.span, format!("{what} is outside its allowed range"))
                    .label(format!("allowed: [{}, {}] {unit}", shown(declared.min), shown(declared.max)))
                    .secondary(declared.span, "range declared here"),
            );
            return None;
        }
        value = Some(v);
    }
    value
}

/// `message` about `name`, which is not found, with "did you mean" among `candidates`.
fn not_found<'n>(name: &ast::Ident, message: String, candidates: impl IntoIterator<Item = &'n str>) -> Diagnostic {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let span = name.span;
    let name = name.name.as_str();
    let d = Diagnostic::error(Code::UnknownTrainable, span, message).label("not found");
    match did_you_mean(name, candidates.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None if candidates.is_empty() => d,
        None => d.help(format!(
            "the choices are {}",
            candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// A parameter of a mechanism by name.
fn param_of(diags: &mut Diagnostics, mechanism: &ir::Mechanism, name: &ast::Ident) -> Option<ParamId> {
    match mechanism.params.iter().position(|p| p.name == name.name) {
        Some(i) => Some(ParamId(i as u32)),
        None => {
            diags.push(not_found(
                name,
                format!("`{}` has no parameter `{}`", mechanism.name, name.name),
                mechanism.params.iter().map(|p| p.name.as_str()),
            ));
            None
        }
    }
}

/// Where a trained value goes, the mechanism whose parameter it is (none for `cm` and `Ra`),
/// and the model's value.
pub(super) type Resolved = (ir::TrainedParam, Option<ir::MechId>, f64);

/// `[CELL.]MECH.PARAM in REGION + …`.
fn density(diags: &mut Diagnostics, model: &Model<'_>, t: &ast::Trainable) -> Option<Resolved> {
    let (cell, mech, param) = match t.path.as_slice() {
        [cell, mech, param] => {
            let Some((_, id)) = model.cell_names.iter().find(|(n, _)| *n == cell.name) else {
                diags.push(not_found(
                    cell,
                    format!("no cell type `{}`", cell.name),
                    model.cell_names.iter().map(|(n, _)| n.as_str()),
                ));
                return None;
            };
            ((*id)?, mech, param)
        }
        [mech, param] => (only_cell_type(diags, model, mech.span, &t.path)?, mech, param),
        _ => {
            diags.push(shape(t));
            return None;
        }
    };
    let c = &model.cells[cell.index()];
    let inserted = |m: ir::MechId| &model.mechanisms[m.index()];
    let Some(k) = c.density.iter().position(|d| inserted(d.mechanism).name == mech.name) else {
        diags.push(not_found(
            mech,
            format!("cell `{}` has no density mechanism `{}`", c.name, mech.name),
            c.density.iter().map(|d| inserted(d.mechanism).name.as_str()),
        ));
        return None;
    };
    let instance = &c.density[k];
    let mechanism = inserted(instance.mechanism);
    let p = param_of(diags, mechanism, param)?;
    let wanted = region_nodes(diags, model, cell, t)?;
    let nodes: Vec<u32> = instance.nodes.iter().copied().filter(|n| wanted.binary_search(n).is_ok()).collect();
    let regions_span = t.regions[0].span.to(t.regions[t.regions.len() - 1].span);
    if nodes.is_empty() {
        diags.push(
            Diagnostic::error(
                Code::UnknownTrainable,
                regions_span,
                format!("`{}` is not inserted here in cell `{}`", mechanism.name, c.name),
            )
            .label("no node of this has the mechanism")
            .help("name a region where the cell inserts it"),
        );
        return None;
    }
    let (value, profile) = match &instance.params[p.index()] {
        ir::ParamValue::Uniform(v) => (*v, None),
        ir::ParamValue::PerNode(values) => {
            let covered = |list: &[f64]| -> Vec<f64> {
                instance
                    .nodes
                    .iter()
                    .zip(list)
                    .filter(|(n, _)| nodes.binary_search(n).is_ok())
                    .map(|(_, v)| *v)
                    .collect()
            };
            let here = covered(values);
            if here.iter().all(|v| v.to_bits() == here[0].to_bits()) {
                (here[0], None)
            } else {
                let amplitudes = covered(&model.facts[cell.index()].amplitudes[k][p.index()]);
                let what = format!("`{}.{}`", mechanism.name, param.name);
                let (amplitude, profile) = distance_profile(diags, param.span, &what, &here, &amplitudes)?;
                (amplitude, Some(profile))
            }
        }
    };
    let trained = ir::TrainedParam::Density { cell, instance: DensityId(k as u32), param: p, nodes, profile };
    Some((trained, Some(instance.mechanism), value))
}

/// The nodes of the trainable's regions (`in a + b`) in cell type `cell`, ascending.
pub(super) fn region_nodes(
    diags: &mut Diagnostics,
    model: &Model<'_>,
    cell: CellId,
    t: &ast::Trainable,
) -> Option<Vec<u32>> {
    let regions = &model.facts[cell.index()].regions;
    let mut wanted: Vec<u32> = Vec::new();
    for r in &t.regions {
        let Some(nodes) = regions.get(&r.name) else {
            let mut names: Vec<&str> = regions.keys().map(String::as_str).collect();
            names.sort_unstable();
            let c = &model.cells[cell.index()];
            diags.push(not_found(r, format!("cell `{}` has no region `{}`", c.name, r.name), names));
            return None;
        };
        wanted.extend(nodes);
    }
    wanted.sort_unstable();
    wanted.dedup();
    Some(wanted)
}

/// A parameter whose `values` differ between the covered nodes is trained as the amplitude of
/// its distance profile: the one value its expression has at distance 0 (`amplitudes`, per
/// node, from the insert that set it), with each node's value its multiple of it. Values from
/// inserts with different amplitudes, or an amplitude of 0, have no such form (E0702).
fn distance_profile(
    diags: &mut Diagnostics,
    span: Span,
    what: &str,
    values: &[f64],
    amplitudes: &[f64],
) -> Option<(f64, Vec<f64>)> {
    let amplitude = amplitudes[0];
    let varies = |note: &str, help: &str| {
        Diagnostic::error(Code::PerNodeTrainable, span, format!("{what} varies from node to node here"))
            .label("not one value, nor one amplitude, in these regions")
            .note(note.to_string())
            .help(help.to_string())
    };
    if amplitudes.iter().any(|a| a.to_bits() != amplitude.to_bits()) {
        diags.push(varies(
            "its nodes here take their values from inserts with different values at distance 0: one trainable scales one profile",
            "train each insert's regions separately, or set it with one expression",
        ));
        return None;
    }
    let profile: Vec<f64> = values.iter().map(|v| v / amplitude).collect();
    if !amplitude.is_finite() || amplitude == 0.0 || profile.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
        diags.push(varies(
            "a value that depends on `distance` is trained as its amplitude, its value at distance 0, which must be nonzero and of the sign it has at every node",
            "write it as an amplitude times a positive profile, such as `2e-5 S/cm2 * exp(distance / 300 um)`",
        ));
        return None;
    }
    Some((amplitude, profile))
}

/// The range of a profile's amplitude: every node's multiple of it stays in the parameter's.
fn amplitude_range(declared: &ir::Param, profile: Option<&[f64]>) -> ir::Param {
    let mut range = declared.clone();
    for f in profile.unwrap_or_default() {
        range.min = range.min.max(declared.min / f);
        range.max = range.max.min(declared.max / f);
    }
    range
}

/// The one cell type the network's populations use, for `MECH.PARAM in REGION`.
pub(super) fn only_cell_type(
    diags: &mut Diagnostics,
    model: &Model<'_>,
    span: Span,
    path: &[ast::Ident],
) -> Option<CellId> {
    let mut used: Vec<CellId> = Vec::new();
    for p in &model.network.populations {
        if !used.contains(&p.cell) {
            used.push(p.cell);
        }
    }
    match used.as_slice() {
        [only] => Some(*only),
        [] => {
            diags.push(
                Diagnostic::error(Code::UnknownTrainable, span, "no population uses a cell type to train")
                    .help("add a population to the network, or name the cell type: `CELL.MECHANISM.PARAMETER`"),
            );
            None
        }
        [first, ..] => {
            let names: Vec<&str> = used.iter().map(|c| model.cells[c.index()].name.as_str()).collect();
            let rest = path.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(".");
            diags.push(
                Diagnostic::error(Code::UnknownTrainable, span, "the network has several cell types; say which one")
                    .label(format!("a mechanism of {}?", names.join(" or ")))
                    .help(format!("write `{}.{rest} in …`", model.cells[first.index()].name)),
            );
            None
        }
    }
}

/// `POPULATION.SYNAPSE.PARAM`: the cell type's synapse, shared by all its cells.
fn synapse(
    diags: &mut Diagnostics,
    model: &Model<'_>,
    pop: &ast::Ident,
    syn: &ast::Ident,
    param: &ast::Ident,
) -> Option<Resolved> {
    let pops = &model.network.populations;
    let Some(population) = pops.iter().find(|p| p.name == pop.name) else {
        let mut d = not_found(pop, format!("no population `{}`", pop.name), pops.iter().map(|p| p.name.as_str()));
        if model.cell_names.iter().any(|(n, _)| *n == pop.name) {
            d = d.note(format!(
                "`{}` is a cell type: a synapse is named through a population, a density mechanism needs `in REGION`",
                pop.name
            ));
        }
        diags.push(d);
        return None;
    };
    let cell = population.cell;
    let c = &model.cells[cell.index()];
    let Some(k) = c.synapses.iter().position(|s| s.name == syn.name) else {
        diags.push(not_found(
            syn,
            format!("cell `{}` has no synapse `{}`", c.name, syn.name),
            c.synapses.iter().map(|s| s.name.as_str()),
        ));
        return None;
    };
    let placed = &c.synapses[k];
    let p = param_of(diags, &model.mechanisms[placed.mechanism.index()], param)?;
    let trained = ir::TrainedParam::Synapse { cell, synapse: SynapseId(k as u32), param: p };
    Some((trained, Some(placed.mechanism), placed.params[p.index()]))
}

/// `STIMULUS.PARAM`.
fn stimulus(diags: &mut Diagnostics, model: &Model<'_>, stim: &ast::Ident, param: &ast::Ident) -> Option<Resolved> {
    let stimuli = &model.network.stimuli;
    let Some(k) = stimuli.iter().position(|s| s.name == stim.name) else {
        let mut d = not_found(stim, format!("no stimulus `{}`", stim.name), stimuli.iter().map(|s| s.name.as_str()));
        if model.mechanisms.iter().any(|m| m.name == stim.name && m.kind == ir::MechanismKind::Density) {
            d = d.help(format!(
                "a density mechanism's parameter needs a region: `{}.{} in soma`",
                stim.name, param.name
            ));
        }
        diags.push(d);
        return None;
    };
    let s = &stimuli[k];
    let p = param_of(diags, &model.mechanisms[s.mechanism.index()], param)?;
    let trained = ir::TrainedParam::Stimulus { stimulus: StimulusId(k as u32), param: p };
    Some((trained, Some(s.mechanism), s.params[p.index()]))
}

/// Whether `name` is a named `connect` rule and not a stimulus.
fn is_connection(model: &Model<'_>, name: &ast::Ident) -> bool {
    let network = model.network;
    network.stimuli.iter().all(|s| s.name != name.name)
        && network.connections.iter().any(|c| c.name.as_deref() == Some(name.name.as_str()))
}

/// `CONNECTION.weight`: the weight of every connection the rule makes.
fn weight(diags: &mut Diagnostics, model: &Model<'_>, conn: &ast::Ident, param: &ast::Ident) -> Option<Resolved> {
    let connections = &model.network.connections;
    let k = connections.iter().position(|c| c.name.as_deref() == Some(conn.name.as_str())).expect("is_connection");
    if param.name != "weight" {
        diags.push(not_found(param, format!("a connection has no parameter `{}`", param.name), ["weight"]));
        return None;
    }
    let c = &connections[k];
    let cell = model.network.populations[c.target.population.index()].cell;
    let mech = model.cells[cell.index()].synapses[c.synapse.index()].mechanism;
    Some((ir::TrainedParam::Weight { connection: k as u32 }, Some(mech), c.weight))
}

/// A connection rule's weight as a parameter: the synapse's weight unit, unbounded.
fn weight_param(model: &Model<'_>, connection: usize, mechanism: &ir::Mechanism, value: f64) -> ir::Param {
    let event = mechanism.event.as_ref();
    ir::Param {
        name: "weight".into(),
        dim: event.map_or(Dimension::NONE, |e| e.weight_dim),
        default: value,
        min: f64::NEG_INFINITY,
        max: f64::INFINITY,
        doc: None,
        span: model.network.connections[connection].span,
    }
}
