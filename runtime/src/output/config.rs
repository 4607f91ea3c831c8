//! YAML run files for `sylva run`:
//!
//! ```yaml
//! dt: 0.01 ms
//! duration: 50 ms
//! set: {weight: 0.05uS, rings: 10}
//! output: out/
//! plots: true
//! ```
//!
//! Quantities stay strings (`"0.01 ms"`); the caller parses them with units. A plain YAML
//! number is accepted too and kept as its text (`0.01` becomes `"0.01"`).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A run file. Every key is optional; unknown keys are errors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default, deserialize_with = "opt_scalar")]
    pub dt: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub duration: Option<String>,
    /// Top-level parameter overrides, as `--set NAME=VALUE`.
    #[serde(default, deserialize_with = "scalar_map")]
    pub set: BTreeMap<String, String>,
    pub output: Option<PathBuf>,
    pub backend: Option<String>,
    pub precision: Option<String>,
    /// The GPU engine's mapping of cells: `auto`, `thread` or `workgroup`.
    pub gpu_strategy: Option<String>,
    pub plots: Option<bool>,
}

/// Why a run file could not be read or understood.
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        source: io::Error,
    },
    /// Bad YAML or a bad key/value; `line` and `column` are 1-based when known.
    Invalid {
        path: Option<PathBuf>,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "cannot read run file `{}`: {source}", path.display())
            }
            ConfigError::Invalid { path, line, column, message } => {
                let path = path.as_deref().map_or("<run file>".into(), |p| p.display().to_string());
                match (line, column) {
                    (Some(l), Some(c)) => write!(f, "{path}:{l}:{c}: {message}"),
                    _ => write!(f, "{path}: {message}"),
                }
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Invalid { .. } => None,
        }
    }
}

/// Parses a run file's text. An empty file (or one of comments only) is the default config.
pub fn parse_config(text: &str) -> Result<RunConfig, ConfigError> {
    let blank = text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    });
    if blank {
        return Ok(RunConfig::default());
    }
    serde_yaml_ng::from_str(text).map_err(|err| {
        let loc = err.location();
        let mut message = err.to_string();
        if let Some(loc) = &loc {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        let (line, column) = loc.map(|l| in_text(text, l.line(), l.column())).unzip();
        ConfigError::Invalid { path: None, line, column, message }
    })
}

/// A 1-based line and column moved into `text`: at the end of input the YAML parser reports the
/// line after the last one when the file does not end with a line break.
fn in_text(text: &str, line: usize, column: usize) -> (usize, usize) {
    let lines: Vec<&str> = text.split('\n').collect();
    if line > lines.len() {
        let last = lines.len();
        return (last, lines[last - 1].chars().count() + 1);
    }
    (line.max(1), column.clamp(1, lines[line.max(1) - 1].chars().count() + 1))
}

/// Reads and parses the run file at `path`; errors name the path.
pub fn load_config(path: &Path) -> Result<RunConfig, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse_config(&text).map_err(|err| match err {
        ConfigError::Invalid { line, column, message, .. } => {
            ConfigError::Invalid { path: Some(path.to_path_buf()), line, column, message }
        }
        other => other,
    })
}

/// A string, or a YAML number kept as its text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number with an optional unit, such as `0.05 uS` or `10`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(super::csv::format_number(v)))
            }
        }
        d.deserialize_any(V)
    }
}

fn opt_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| s.0))
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Scalar>>::deserialize(d)?.unwrap_or_default();
    Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
}
