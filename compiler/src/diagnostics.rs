//! The one diagnostic type of the compiler, and the registry of stable codes.
//!
//! Phases build [`Diagnostic`]s from their own facts and push them into a [`Diagnostics`]
//! accumulator; nothing here prints. The CLI renders them with codespan-reporting and the
//! language server converts them to LSP diagnostics. Every code has a page
//! `docs/diagnostics/<CODE>.md` and a snapshot test.

use crate::source::Span;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

macro_rules! codes {
    ($($name:ident = $code:literal : $title:literal,)*) => {
        /// A stable diagnostic code. The explanation of each lives in `docs/diagnostics/`.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($name,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The code as printed, such as `E0301`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            /// A one-line title for the documentation index.
            pub fn title(self) -> &'static str {
                match self { $(Code::$name => $title,)* }
            }
        }
    };
}

codes! {
    // Syntax (E01xx).
    Syntax = "E0101": "syntax error",
    InvalidNumber = "E0102": "a number that cannot be represented",
    InvalidString = "E0103": "a malformed string literal",
    // Names and modules (E02xx).
    UndefinedName = "E0201": "a name that is not defined",
    DuplicateName = "E0202": "a name defined twice",
    UnknownModule = "E0203": "an import that cannot be found",
    WrongArgumentCount = "E0204": "a call with the wrong number of arguments",
    CyclicDefinition = "E0205": "definitions that depend on themselves",
    WrongKind = "E0206": "a name used as something it is not",
    UnknownProperty = "E0207": "a property that does not exist here",
    MissingProperty = "E0208": "a required property is missing",
    ImportCycle = "E0209": "files that import each other",
    SwcEdit = "E0210": "an edit of an SWC morphology that cannot be applied",
    DistanceOrigin = "E0211": "a distance origin that is not a point `section(x)`",
    // Units and dimensions (E03xx).
    UnknownUnit = "E0301": "a unit that does not exist",
    DimensionMismatch = "E0302": "quantities of different dimensions",
    NonIntegerPower = "E0303": "a power of a quantity with units that is not a constant integer",
    DimensionedTranscendental = "E0304": "a function that needs a dimensionless argument",
    // Mechanisms (E04xx).
    StateWithoutDynamics = "E0401": "a state with no equation",
    IonNotProvided = "E0402": "an ion variable that nothing provides",
    OutOfRange = "E0403": "a value outside the allowed range",
    NotAssignable = "E0404": "an assignment to something that cannot be assigned",
    InvalidGate = "E0405": "a gate without a complete set of rates",
    InvalidKinetic = "E0406": "a malformed kinetic scheme",
    EventInDensity = "E0407": "an event handler in a density mechanism",
    DuplicateDynamics = "E0408": "a state with more than one equation",
    // Morphology and SWC (E05xx).
    MissingParent = "E0501": "a section attached to a section that does not exist",
    LocationOutOfRange = "E0502": "a location outside [0, 1]",
    NonPositiveGeometry = "E0503": "a length, diameter or segment count that is not positive",
    MorphologyCycle = "E0504": "sections that attach to each other in a cycle",
    RootCount = "E0505": "a morphology without exactly one root section",
    SwcError = "E0506": "an SWC file that cannot be read",
    UnknownRegion = "E0507": "a region that does not exist",
    // Cells, networks and simulation (E06xx).
    UnknownPopulation = "E0601": "a connection to a population that does not exist",
    IndexOutOfRange = "E0602": "a cell index outside its population",
    WrongMechanismKind = "E0603": "a density mechanism placed as a point process or the reverse",
    InvalidConnection = "E0604": "a connection that cannot be made",
    InvalidSimulation = "E0605": "a simulation setting that is missing or invalid",
    InvalidOverride = "E0606": "a `--set` override that does not apply",
    TooLarge = "E0607": "a cell, network or run beyond Sylva's limits",
    PreVoltageUnavailable = "E0608": "`v_pre` read where no presynaptic cell can be connected",
    ContinuousWeightOrDelay = "E0609": "a weight or a delay on a continuous connection",
    ContinuousFromSource = "E0610": "a graded synapse or gap junction driven by an artificial spike source",
    SeveralPresynaptic = "E0611": "a graded synapse or gap junction with more than one presynaptic cell",
    NoPresynapticLocation = "E0612": "a continuous connection without a presynaptic voltage to read",
    // Training (E07xx).
    UnknownTrainable = "E0701": "a trainable that names no parameter of the model",
    PerNodeTrainable = "E0702": "a trainable parameter whose value varies from node to node",
    InvalidInit = "E0703": "a start value of the wrong unit or outside the parameter's range",
    DuplicateTrainable = "E0704": "a parameter trained twice",
    UnknownTarget = "E0705": "a target for a probe that does not exist, or for one probe twice",
    InvalidTraining = "E0706": "a training setting that is missing or invalid",
    DuplicateTrain = "E0707": "a model with more than one `train` block",
    InvalidData = "E0708": "samples for training that are missing, mixed with targets, or badly described",
    UnknownInput = "E0709": "an input that names no spike source or stimulus parameter of the model",
    InvalidReadout = "E0710": "a readout of unknown probes, of mixed units or outside the run",
    DataFile = "E0711": "a data file that cannot be read or does not fit the training",
    // NMODL import (E08xx): `sylva import`.
    NmodlSyntax = "E0801": "an NMODL file that cannot be read",
    NmodlUnsupported = "E0802": "an NMODL construct that is not translated",
    NmodlUnit = "E0803": "an NMODL unit or constant with no Sylva equivalent",
    NmodlName = "E0804": "an NMODL name that is not declared",
    NmodlKinetic = "E0805": "an NMODL KINETIC construct that Sylva's kinetic schemes cannot express",
    NmodlNetReceive = "E0806": "an NMODL NET_RECEIVE that Sylva's event handlers cannot express",
    NmodlCoupledImplicit = "E0807": "coupled NMODL equations solved with `METHOD derivimplicit`",
    // Warnings (W0xxx).
    UnusedImport = "W0001": "an import that nothing uses",
    UnusedParameter = "W0002": "a parameter that nothing uses",
    UnusedDefinition = "W0003": "a function that nothing uses",
    ConcentrationCycle = "W0004": "mechanisms that read concentrations written by each other",
    SuspiciousScale = "W0005": "a value far outside the usual biological range",
    NmodlTable = "W0006": "an NMODL TABLE that the translation ignores",
    UnconnectedGraded = "W0007": "a graded synapse or gap junction that no connection drives",
    NmodlNewton = "W0010": "a nonlinear NMODL KINETIC scheme: one Newton step per time step",
    // Bugs in the compiler itself.
    InternalError = "E9999": "an internal compiler error",
}

/// A labelled span.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in a model.
///
/// Messages follow rustc's style: lowercase, no trailing full stop, names in backticks, the
/// problem in `message` and the remedy only in `help`.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, span, message)
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, span, message)
    }

    fn new(severity: Severity, code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            primary: Label { span, message: String::new() },
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// Sets the text under the primary caret.
    pub fn label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary label, then the secondary ones.
    pub fn labels(&self) -> impl Iterator<Item = &Label> {
        std::iter::once(&self.primary).chain(&self.secondary)
    }
}

/// The accumulator every phase reports into.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorted by file and position, duplicates removed: the order users read them in.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| (d.primary.span.file, d.primary.span.start, d.primary.span.end, d.code));
        self.items.dedup();
        self.items
    }
}

/// Suggests the candidate closest to `name` (Levenshtein distance at most a third of its
/// length, at least 1), for "did you mean" help.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            // A change of case costs half of a real substitution.
            let cost = if ca == *cb {
                0
            } else if ca.eq_ignore_ascii_case(cb) {
                1
            } else {
                2
            };
            let substitution = diagonal + cost;
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_prefers_case_changes_and_small_edits() {
        assert_eq!(did_you_mean("mv", ["mV", "ms", "uS"]), Some("mV"));
        assert_eq!(did_you_mean("gnabr", ["gnabar", "gkbar", "gl"]), Some("gnabar"));
        assert_eq!(did_you_mean("xyz", ["gnabar", "gkbar"]), None);
    }
}
