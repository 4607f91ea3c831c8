//! Samples in a `train` block: the datasets (`data`, `test`), the `input`s a sample sets, the
//! `readout` its label is compared with, the `label` column, `epochs`, `batch` and the loss
//! over readouts (docs/language.md, "Training on samples"). Data files are not read here: the
//! runtime reads them and reports what does not fit (E0711).

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::{self, ParamId, ProbeId, SourceId, StimulusId};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::constant::{eval, eval_in_unit};
use super::expr::mismatch;
use super::globals::Globals;
use super::train::{Model, integer, unknown_setting, word};

/// The members of a `train` block that describe samples, collected in the order written.
#[derive(Default)]
pub(crate) struct Members<'a> {
    pub inputs: Vec<&'a ast::Input>,
    pub readouts: Vec<&'a ast::Readout>,
    pub datasets: Vec<&'a ast::Dataset>,
    pub labels: Vec<&'a ast::TrainText>,
    pub epochs: Option<&'a ast::TrainSetting>,
    pub batch: Option<&'a ast::TrainSetting>,
}

impl<'a> Members<'a> {
    /// Takes a member that describes samples; gives back any other.
    pub fn take(&mut self, diags: &mut Diagnostics, member: &'a ast::TrainMember) -> Option<&'a ast::TrainMember> {
        match member {
            ast::TrainMember::Input(i) => self.inputs.push(i),
            ast::TrainMember::Readout(r) => self.readouts.push(r),
            ast::TrainMember::Dataset(d) => self.datasets.push(d),
            ast::TrainMember::Text(t) if t.key.name == "label" => self.labels.push(t),
            ast::TrainMember::Text(t) => diags.push(unknown_setting(&t.key, "a `train` block", &["label"])),
            ast::TrainMember::Setting(s) if s.key.name == "epochs" => self.epochs = Some(s),
            ast::TrainMember::Setting(s) if s.key.name == "batch" => self.batch = Some(s),
            other => return Some(other),
        }
        None
    }

    /// Where the block first describes samples without `data`, for the error.
    fn first_span(&self) -> Option<Span> {
        let spans = self.inputs.iter().map(|i| i.span).chain(self.readouts.iter().map(|r| r.span));
        let spans = spans.chain(self.labels.iter().map(|l| l.span));
        let spans = spans.chain(self.epochs.iter().chain(&self.batch).map(|s| s.span));
        spans.chain(self.datasets.iter().map(|d| d.span)).min_by_key(|s| s.start)
    }
}

/// The samples of a `train` block with `data = …`, or `None` (errors reported) when it has
/// none or they do not check. `loss` is the block's `loss = …` setting.
pub(crate) fn data(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    model: &Model<'_>,
    members: &Members<'_>,
    loss: Option<&ast::TrainSetting>,
) -> Option<(ir::Data, ir::Loss)> {
    let (train, test) = datasets(globals, diags, members)?;
    let inputs: Vec<ir::Input> = members.inputs.iter().filter_map(|i| input(globals, diags, model, i)).collect();
    report_duplicate_inputs(diags, &inputs);
    let readout = match members.readouts.as_slice() {
        [r] => readout(globals, diags, model, r),
        [] => {
            diags.push(missing(train.span, "no `readout`", "add `readout = mean \"PROBE\" in [FROM, TO]`"));
            None
        }
        [first, second, ..] => {
            diags.push(twice(second.span, first.span, "`readout`"));
            None
        }
    };
    let label = match members.labels.as_slice() {
        [l] if l.value.value.is_empty() => {
            diags.push(Diagnostic::error(Code::InvalidData, l.value.span, "the label's column name is empty"));
            None
        }
        [l] => Some((l.value.value.clone(), l.value.span)),
        [] => match &train.format {
            ir::DataFormat::Mnist { .. } => Some(("label".to_string(), train.span)),
            ir::DataFormat::Table { .. } => {
                diags.push(missing(
                    train.span,
                    "no `label`",
                    "add `label = \"COLUMN\"`: the column each sample's readout is compared with",
                ));
                None
            }
        },
        [first, second, ..] => {
            diags.push(twice(second.span, first.span, "`label`"));
            None
        }
    };
    let epochs = match members.epochs {
        Some(s) => count(globals, diags, s, "`epochs`")?,
        None => {
            diags.push(missing(train.span, "no `epochs`", "add `epochs = 20`: passes over the samples"));
            return None;
        }
    };
    let batch = match members.batch {
        Some(s) => count(globals, diags, s, "`batch`")?,
        None => DEFAULT_BATCH,
    };
    let readout = readout?;
    let loss = readout_loss(globals, diags, &readout, loss)?;
    if members.inputs.len() != inputs.len() {
        return None;
    }
    let (label, label_span) = label?;
    Some((ir::Data { train, test, inputs, readout, label, label_span, epochs, batch }, loss))
}

/// Samples per optimiser step when `batch` is not set.
const DEFAULT_BATCH: u32 = 16;

/// Whether the samples train values of their own: a dense input's projection or a linear
/// readout (`classes`).
pub(crate) fn trains_values(members: &Members<'_>, loss: Option<&ast::TrainSetting>) -> bool {
    let dense = members.inputs.iter().any(|i| i.to.len() == 3);
    let classes = loss.and_then(|l| l.settings.as_ref()).is_some_and(|p| p.iter().any(|p| p.key.name == "classes"));
    dense || classes
}

/// Reports what describes samples in a block without `data = …`; whether there was any.
pub(crate) fn report_without_data(diags: &mut Diagnostics, members: &Members<'_>) -> bool {
    let Some(span) = members.first_span() else { return false };
    diags.push(
        Diagnostic::error(Code::InvalidData, span, "this describes samples, but the `train` block has no `data`")
            .help("add `data = table(\"FILE.csv\")` (one sample per row), or remove it"),
    );
    true
}

fn missing(span: Span, what: &str, help: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidData, span, format!("the samples have {what}")).help(help)
}

fn twice(span: Span, first: Span, what: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidData, span, format!("{what} is given twice")).secondary(first, "first given here")
}

fn count(globals: &Globals<'_>, diags: &mut Diagnostics, s: &ast::TrainSetting, what: &str) -> Option<u32> {
    if let Some(props) = &s.settings {
        let span = props.first().map_or(s.value.span, |p| p.span);
        diags.push(Diagnostic::error(Code::InvalidTraining, span, format!("{what} takes no settings in `{{ … }}`")));
        return None;
    }
    integer(globals, diags, &s.value, what, 1, u32::MAX as f64).map(|n| n as u32)
}

/// `data = …` (required) and `test = …` (optional).
fn datasets(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    members: &Members<'_>,
) -> Option<(ir::Dataset, Option<ir::Dataset>)> {
    // Each set with the span of its key, for "given twice".
    type Given = Option<(ir::Dataset, Span)>;
    let (mut train, mut test): (Given, Given) = (None, None);
    for d in &members.datasets {
        let slot = match d.key.name.as_str() {
            "data" => &mut train,
            "test" => &mut test,
            _ => {
                diags.push(unknown_setting(&d.key, "a `train` block", &["data", "test"]));
                continue;
            }
        };
        if let Some((_, first)) = slot {
            diags.push(twice(d.key.span, *first, &format!("`{}`", d.key.name)));
            continue;
        }
        if let Some(set) = dataset(globals, diags, d) {
            *slot = Some((set, d.key.span));
        }
    }
    let Some((train, _)) = train else {
        if members.datasets.iter().all(|d| d.key.name != "data") {
            diags.push(
                Diagnostic::error(Code::InvalidData, members.datasets[0].span, "a `test` set without `data`")
                    .help("add `data = table(\"FILE.csv\")`: the samples to train on"),
            );
        }
        return None;
    };
    Some((train, test.map(|(t, _)| t)))
}

/// `table("FILE.csv")` or `mnist("IMAGES", "LABELS")`.
fn dataset(globals: &Globals<'_>, diags: &mut Diagnostics, d: &ast::Dataset) -> Option<ir::Dataset> {
    let from = &globals.sources.get(d.span.file).name;
    let files: Vec<String> = d.files.iter().map(|f| crate::driver::resolve_relative(from, &f.value)).collect();
    if let Some(empty) = d.files.iter().find(|f| f.value.is_empty()) {
        diags.push(Diagnostic::error(Code::InvalidData, empty.span, "the file name is empty"));
        return None;
    }
    let (format, wanted) = match d.format.name.as_str() {
        "table" => (files.first().map(|path| ir::DataFormat::Table { path: path.clone() }), 1),
        "mnist" => (
            match files.as_slice() {
                [images, labels] => Some(ir::DataFormat::Mnist { images: images.clone(), labels: labels.clone() }),
                _ => None,
            },
            2,
        ),
        other => {
            let mut e = Diagnostic::error(Code::InvalidData, d.format.span, format!("no data format `{other}`"))
                .label("the formats are `table` (a CSV file) and `mnist` (IDX images and labels)");
            if let Some(s) = did_you_mean(other, ["table", "mnist"]) {
                e = e.help(format!("did you mean `{s}`?"));
            }
            diags.push(e);
            return None;
        }
    };
    match format {
        Some(format) if files.len() == wanted => {
            Some(ir::Dataset { format, file_spans: d.files.iter().map(|f| f.span).collect(), span: d.span })
        }
        _ => {
            let usage = if wanted == 1 { "`table(\"FILE.csv\")`" } else { "`mnist(\"IMAGES\", \"LABELS\")`" };
            diags.push(
                Diagnostic::error(
                    Code::InvalidData,
                    d.span,
                    format!("`{}` takes {wanted} file(s), not {}", d.format.name, files.len()),
                )
                .help(format!("write {usage}")),
            );
            None
        }
    }
}

/// `input "COLUMN" -> SOURCE`, `input "COLUMN" -> STIMULUS.PARAMETER` or `input "PATTERN" ->
/// POPULATION.SYNAPSE.PARAMETER { init = … }`.
fn input(globals: &Globals<'_>, diags: &mut Diagnostics, model: &Model<'_>, i: &ast::Input) -> Option<ir::Input> {
    let network = model.network;
    if i.column.value.is_empty() || i.column.value == "*" {
        diags.push(Diagnostic::error(Code::UnknownInput, i.column.span, "the column name is empty"));
        return None;
    }
    let pattern = i.column.value.strip_suffix('*');
    if i.to.len() < 3 {
        if pattern.is_some() || i.column.value.contains('*') {
            diags.push(
                Diagnostic::error(Code::UnknownInput, i.column.span, "several columns for one value")
                    .label("a pattern of columns needs a dense projection")
                    .help("a pattern (`\"pixel*\"`) feeds a population: `-> POPULATION.SYNAPSE.PARAMETER`"),
            );
            return None;
        }
        if let Some(p) = i.props.first() {
            diags.push(unknown_setting(&p.key, "this input", &[]));
            return None;
        }
    }
    let to = match i.to.as_slice() {
        [source] => match network.sources.iter().position(|s| s.name == source.name) {
            Some(k) => ir::InputTarget::Source(SourceId(k as u32)),
            None => {
                diags.push(unknown_input(model, source, "spike source"));
                return None;
            }
        },
        [stimulus, param] => {
            let Some(k) = network.stimuli.iter().position(|s| s.name == stimulus.name) else {
                diags.push(unknown_input(model, stimulus, "stimulus"));
                return None;
            };
            let mechanism = &model.mechanisms[network.stimuli[k].mechanism.index()];
            let Some(p) = mechanism.params.iter().position(|p| p.name == param.name) else {
                let mut d = Diagnostic::error(
                    Code::UnknownInput,
                    param.span,
                    format!("`{}` has no parameter `{}`", mechanism.name, param.name),
                )
                .label("not a parameter of the stimulus");
                if let Some(s) = did_you_mean(&param.name, mechanism.params.iter().map(|p| p.name.as_str())) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                diags.push(d);
                return None;
            };
            let scale = mechanism.params[p].dim.display_scale();
            ir::InputTarget::Stimulus { stimulus: StimulusId(k as u32), param: ParamId(p as u32), scale }
        }
        [pop, syn, param] => dense(globals, diags, model, i, pop, syn, param)?,
        _ => return None,
    };
    Some(ir::Input { column: i.column.value.clone(), to, span: i.span, column_span: i.column.span })
}

/// `POPULATION.SYNAPSE.PARAMETER { init = … }`: a dense projection onto every cell of the
/// population, which must be the only one of its cell type (the synapse's values are the type's).
fn dense(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    model: &Model<'_>,
    i: &ast::Input,
    pop: &ast::Ident,
    syn: &ast::Ident,
    param: &ast::Ident,
) -> Option<ir::InputTarget> {
    let network = model.network;
    let Some(k) = network.populations.iter().position(|p| p.name == pop.name) else {
        let mut d = Diagnostic::error(Code::UnknownInput, pop.span, format!("no population `{}`", pop.name))
            .label("a dense input feeds a synapse parameter of every cell of a population");
        if let Some(s) = did_you_mean(&pop.name, network.populations.iter().map(|p| p.name.as_str())) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        diags.push(d);
        return None;
    };
    let population = &network.populations[k];
    if let Some(other) = network.populations.iter().find(|p| p.cell == population.cell && p.name != pop.name) {
        diags.push(
            Diagnostic::error(Code::UnknownInput, pop.span, "a dense input into a cell type two populations share")
                .secondary(other.span, "another population of the same cell type")
                .note("a synapse's values belong to its cell type: give this population a cell type of its own"),
        );
        return None;
    }
    let cell = &model.cells[population.cell.index()];
    let Some(s) = cell.synapses.iter().position(|x| x.name == syn.name) else {
        let mut d = Diagnostic::error(
            Code::UnknownInput,
            syn.span,
            format!("cell `{}` has no synapse `{}`", cell.name, syn.name),
        )
        .label("not a synapse of the population's cell type");
        if let Some(m) = did_you_mean(&syn.name, cell.synapses.iter().map(|x| x.name.as_str())) {
            d = d.help(format!("did you mean `{m}`?"));
        }
        diags.push(d);
        return None;
    };
    let mechanism = &model.mechanisms[cell.synapses[s].mechanism.index()];
    let Some(p) = mechanism.params.iter().position(|x| x.name == param.name) else {
        diags.push(
            Diagnostic::error(
                Code::UnknownInput,
                param.span,
                format!("`{}` has no parameter `{}`", mechanism.name, param.name),
            )
            .label("not a parameter of the synapse"),
        );
        return None;
    };
    let declared = &mechanism.params[p];
    let mut init = declared.dim.display_scale();
    for prop in &i.props {
        if prop.key.name != "init" {
            diags.push(unknown_setting(&prop.key, "a dense input", &["init"]));
            return None;
        }
        let what = "the spread of the projection's start weights";
        let (v, dim) = eval(globals, diags, &prop.value, what)?;
        let dim = dim.unwrap_or(Dimension::NONE);
        if dim != declared.dim {
            diags.push(mismatch(prop.value.span, declared.dim, dim, what));
            return None;
        }
        if !(v > 0.0 && v.is_finite()) {
            diags.push(Diagnostic::error(Code::UnknownInput, prop.value.span, format!("{what} must be positive")));
            return None;
        }
        init = v;
    }
    Some(ir::InputTarget::Dense {
        population: ir::PopulationId(k as u32),
        synapse: ir::SynapseId(s as u32),
        param: ParamId(p as u32),
        init,
    })
}

fn unknown_input(model: &Model<'_>, name: &ast::Ident, what: &str) -> Diagnostic {
    let network = model.network;
    let names = network.sources.iter().map(|s| s.name.as_str()).chain(network.stimuli.iter().map(|s| s.name.as_str()));
    let d = Diagnostic::error(Code::UnknownInput, name.span, format!("no {what} `{}`", name.name))
        .label("an input sets a spike source (`-> SOURCE`), a stimulus parameter (`-> STIMULUS.PARAMETER`) or a synapse parameter of a population (`-> POPULATION.SYNAPSE.PARAMETER`)");
    match did_you_mean(&name.name, names) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d,
    }
}

fn report_duplicate_inputs(diags: &mut Diagnostics, inputs: &[ir::Input]) {
    for (k, i) in inputs.iter().enumerate() {
        if let Some(first) = inputs[..k].iter().find(|o| o.to == i.to) {
            diags.push(
                Diagnostic::error(Code::UnknownInput, i.span, "two inputs set the same thing")
                    .secondary(first.span, "first set here")
                    .help("one column per source or stimulus parameter"),
            );
        }
    }
}

/// `readout = mean "PROBE", … in [FROM, TO]`.
fn readout(globals: &Globals<'_>, diags: &mut Diagnostics, model: &Model<'_>, r: &ast::Readout) -> Option<ir::Readout> {
    let statistic = match r.statistic.name.as_str() {
        "mean" => ir::Statistic::Mean,
        other => {
            diags.push(
                Diagnostic::error(Code::InvalidReadout, r.statistic.span, format!("no readout statistic `{other}`"))
                    .label("the statistic is `mean` (over the window's recorded times)"),
            );
            return None;
        }
    };
    let probes = &model.network.probes;
    let mut ids = Vec::new();
    for label in &r.probes {
        if let Some(prefix) = label.value.strip_suffix('*') {
            let matched: Vec<usize> = (0..probes.len()).filter(|k| probes[*k].label.starts_with(prefix)).collect();
            if matched.is_empty() {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidReadout,
                        label.span,
                        format!("no probe's label starts with \"{prefix}\""),
                    )
                    .label("a pattern matches no probe"),
                );
                return None;
            }
            for k in matched {
                add_probe(diags, probes, r, label, &mut ids, k)?;
            }
            continue;
        }
        let Some(k) = probes.iter().position(|p| p.label == label.value) else {
            let mut d = Diagnostic::error(
                Code::InvalidReadout,
                label.span,
                format!("no probe is labelled \"{}\"", label.value),
            )
            .label("not a probe's label");
            if let Some(s) = did_you_mean(&label.value, probes.iter().map(|p| p.label.as_str())) {
                d = d.help(format!("did you mean \"{s}\"?"));
            }
            diags.push(d);
            return None;
        };
        add_probe(diags, probes, r, label, &mut ids, k)?;
    }
    let (from, to) = window(globals, diags, model, r)?;
    Some(ir::Readout { statistic, dim: probes[ids[0].index()].dim, probes: ids, from, to, span: r.span })
}

/// Probe `k` (named by `label`) joins the readout: once, in the unit of the first.
fn add_probe(
    diags: &mut Diagnostics,
    probes: &[ir::Probe],
    r: &ast::Readout,
    label: &ast::StringLit,
    ids: &mut Vec<ProbeId>,
    k: usize,
) -> Option<()> {
    if ids.iter().any(|p| p.index() == k) {
        let message = format!("probe \"{}\" is read out twice", probes[k].label);
        diags.push(Diagnostic::error(Code::InvalidReadout, label.span, message));
        return None;
    }
    let dim = probes[k].dim;
    if let Some(first) = ids.first()
        && probes[first.index()].dim != dim
    {
        diags.push(
            Diagnostic::error(Code::InvalidReadout, label.span, "the readout's probes have different units")
                .label(format!("in {}", dim.display_unit()))
                .secondary(r.probes[0].span, format!("in {}", probes[first.index()].dim.display_unit())),
        );
        return None;
    }
    ids.push(ProbeId(k as u32));
    Some(())
}

/// The readout's window `[FROM, TO]` in ms: inside the run and holding a recorded time.
fn window(globals: &Globals<'_>, diags: &mut Diagnostics, model: &Model<'_>, r: &ast::Readout) -> Option<(f64, f64)> {
    let ms = Unit { dim: Dimension::TIME, scale: 1.0 };
    let from = eval_in_unit(globals, diags, &r.from, ms, false, "the window's start")?;
    let to = eval_in_unit(globals, diags, &r.to, ms, false, "the window's end")?;
    let sim = model.simulation;
    let span = r.from.span.to(r.to.span);
    let holds_a_time = (from / sim.dt).ceil() * sim.dt <= to + 1e-9 * sim.dt;
    if !(0.0 <= from && from <= to && to <= sim.duration && holds_a_time) {
        diags.push(
            Diagnostic::error(Code::InvalidReadout, span, "the readout's window is not inside the run")
                .label(format!("[{from}, {to}] ms"))
                .note(format!(
                    "the run records every {} ms from 0 to {} ms; the window needs 0 ≤ FROM ≤ TO ≤ the duration, with a \
                     recorded time inside",
                    sim.dt, sim.duration
                )),
        );
        return None;
    }
    Some((from, to))
}

/// The loss over readouts: `mse` (the default) or `cross_entropy { scale, threshold }` in the
/// readout's unit.
fn readout_loss(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    readout: &ir::Readout,
    loss: Option<&ast::TrainSetting>,
) -> Option<ir::Loss> {
    let Some(s) = loss else { return Some(ir::Loss::Mse) };
    match word(&s.value) {
        Some("mse") if s.settings.is_none() => Some(ir::Loss::Mse),
        Some("cross_entropy") => {
            let (mut scale, mut threshold, mut classes) = (readout.dim.display_scale(), 0.0, None);
            for prop in s.settings.iter().flatten() {
                let slot = match prop.key.name.as_str() {
                    "scale" => &mut scale,
                    "threshold" => &mut threshold,
                    "classes" => {
                        classes = Some(integer(globals, diags, &prop.value, "`classes`", 1, 1e6)? as u32);
                        continue;
                    }
                    _ => {
                        diags.push(unknown_setting(&prop.key, "`cross_entropy`", &["scale", "threshold", "classes"]));
                        continue;
                    }
                };
                let what = format!("the cross-entropy's `{}`", prop.key.name);
                let (v, dim) = eval(globals, diags, &prop.value, &what)?;
                let dim = dim.unwrap_or(Dimension::NONE);
                if dim != readout.dim {
                    let m = mismatch(prop.value.span, readout.dim, dim, &what);
                    diags.push(m.help(format!("the readout is in {}", readout.dim.display_unit())));
                    return None;
                }
                *slot = v;
            }
            if !(scale > 0.0 && scale.is_finite()) {
                diags.push(Diagnostic::error(
                    Code::InvalidTraining,
                    s.span,
                    "the cross-entropy's `scale` must be positive",
                ));
                return None;
            }
            if classes == Some(1) {
                diags.push(Diagnostic::error(
                    Code::InvalidTraining,
                    s.span,
                    "a classification needs 2 classes or more",
                ));
                return None;
            }
            Some(ir::Loss::CrossEntropy { scale, threshold, classes })
        }
        _ => {
            diags.push(
                Diagnostic::error(Code::InvalidTraining, s.value.span, "unknown loss for samples")
                    .label("the losses over a readout are `mse` and `cross_entropy { scale, threshold }`"),
            );
            None
        }
    }
}
