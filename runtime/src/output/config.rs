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
//! `dt` and `duration` are times, in ms without a unit. `set` values stay strings (`"0.05uS"`)
//! for the compiler, which knows the parameters' units; a plain YAML number is kept as its text.
//! Values are checked while the YAML is read, so that serde locates an error at its node.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use sylva_compiler::ir::{Backend, Precision};
use sylva_compiler::units::{Dimension, split_quantity};

use crate::gpu::Strategy;

/// A run file. Every key is optional; unknown keys are errors. Values are checked as they are
/// read, so that an error points at the value in the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunConfig {
    /// In ms.
    pub dt: Option<f64>,
    /// In ms.
    pub duration: Option<f64>,
    /// Top-level parameter overrides, as `--set NAME=VALUE`, in the order of the file.
    pub set: Vec<Setting>,
    pub output: Option<PathBuf>,
    pub backend: Option<Backend>,
    pub precision: Option<Precision>,
    /// The GPU engine's mapping of cells.
    pub gpu_strategy: Option<Strategy>,
    pub plots: Option<bool>,
}

/// One entry under `set:`, with the byte ranges of its name and value in the run file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub name_at: Range<usize>,
    pub value_at: Range<usize>,
}

/// The file as serde reads it; `RunConfig` adds where the `set` entries are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default, deserialize_with = "opt_time")]
    dt: Option<f64>,
    #[serde(default, deserialize_with = "opt_time")]
    duration: Option<f64>,
    #[serde(default, deserialize_with = "scalar_map")]
    set: Vec<(String, String)>,
    output: Option<PathBuf>,
    #[serde(default, deserialize_with = "opt")]
    backend: Option<Backend>,
    #[serde(default, deserialize_with = "opt")]
    precision: Option<Precision>,
    #[serde(default, deserialize_with = "opt")]
    gpu_strategy: Option<Strategy>,
    plots: Option<bool>,
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
    let TopLevel(raw) = serde_yaml_ng::from_str(text).map_err(|err| invalid(text, &err))?;
    let set = raw
        .set
        .into_iter()
        .enumerate()
        .map(|(i, (name, value))| Setting {
            name_at: set_node(text, i, false).map_or(0..0, |at| extent(text, at, &name)),
            value_at: set_node(text, i, true).map_or(0..0, |at| extent(text, at, &value)),
            name,
            value,
        })
        .collect();
    Ok(RunConfig {
        dt: raw.dt,
        duration: raw.duration,
        set,
        output: raw.output,
        backend: raw.backend,
        precision: raw.precision,
        gpu_strategy: raw.gpu_strategy,
        plots: raw.plots,
    })
}

pub(super) fn invalid(text: &str, err: &serde_yaml_ng::Error) -> ConfigError {
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
}

/// The byte offset of the `index`th entry's name (or value) under `set:`. serde_yaml_ng keeps no
/// positions of what it accepted, but it locates an error at the node being read: this reads
/// the text again and fails on purpose at that node.
fn set_node(text: &str, index: usize, value: bool) -> Option<usize> {
    struct Top(Probe);
    impl<'de> Visitor<'de> for Top {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "set" {
                    map.next_value_seed(SetSeed(self.0))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    #[derive(Clone, Copy)]
    struct Probe {
        index: usize,
        value: bool,
    }
    struct SetSeed(Probe);
    impl<'de> DeserializeSeed<'de> for SetSeed {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(Entries(self.0))
        }
    }
    struct Entries(Probe);
    impl<'de> Visitor<'de> for Entries {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let Probe { index, value } = self.0;
            for _ in 0..index {
                map.next_entry::<IgnoredAny, IgnoredAny>()?;
            }
            if value {
                map.next_key::<IgnoredAny>()?;
                map.next_value_seed(Fail)
            } else {
                map.next_key_seed(Fail).map(drop)
            }
        }
    }
    /// Refuses whatever node it is given.
    struct Fail;
    impl<'de> DeserializeSeed<'de> for Fail {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl Visitor<'_> for Fail {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("nothing")
        }
    }
    let top = Top(Probe { index, value });
    let err = serde_yaml_ng::Deserializer::from_str(text).deserialize_map(top).err()?;
    let at = err.location()?.index();
    text.is_char_boundary(at).then_some(at)
}

/// The bytes of the scalar written at `at` whose value is `value`: the value itself, a quoted
/// scalar through its closing quote, or a number YAML rewrote up to the end of its plain text.
fn extent(text: &str, at: usize, value: &str) -> Range<usize> {
    let rest = &text[at..];
    let len = match rest.chars().next() {
        _ if !value.is_empty() && rest.starts_with(value) => value.len(),
        Some(quote @ ('"' | '\'')) => rest[1..].find(quote).map_or(rest.len(), |end| end + 2),
        _ => rest[..rest.find(['\n', ',', '}', '#']).unwrap_or(rest.len())].trim_end().len(),
    };
    at..at + len
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

/// Reads and parses the run file at `path`; errors name the path. The text comes back too: the
/// ranges of the `set` entries are in it.
pub fn load_config(path: &Path) -> Result<(String, RunConfig), ConfigError> {
    // As a model file: `--config /dev/urandom` would otherwise be read forever.
    let text = super::read_source(&path.to_string_lossy())
        .map_err(|message| ConfigError::Read { path: path.to_path_buf(), source: io::Error::other(message) })?;
    let config = parse_config(&text).map_err(|err| match err {
        ConfigError::Invalid { line, column, message, .. } => {
            ConfigError::Invalid { path: Some(path.to_path_buf()), line, column, message }
        }
        other => other,
    })?;
    Ok((text, config))
}

/// The whole file: a map, said in words when it is not one.
struct TopLevel(Raw);

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of settings, one `key: value` a line, such as `duration: 50 ms`")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TopLevel, A::Error> {
                Raw::deserialize(MapAccessDeserializer::new(map)).map(TopLevel)
            }
        }
        d.deserialize_map(V)
    }
}

/// A value read from a scalar's text (a YAML number as its text). It is checked in the visitor:
/// serde_yaml_ng locates an error there at the value, but one made later at the enclosing map.
trait FromScalar: Sized {
    const EXPECTING: &'static str;
    fn from_scalar(text: String) -> Result<Self, String>;
}

/// A string, or a YAML number kept as its text.
struct Scalar(String);

impl FromScalar for Scalar {
    const EXPECTING: &'static str = "a number with an optional unit, such as `0.05 uS` or `10`";
    fn from_scalar(text: String) -> Result<Self, String> {
        Ok(Scalar(text))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let scalar: Option<Scalar> = d.deserialize_any(Checked(PhantomData))?;
        scalar.ok_or_else(|| de::Error::invalid_type(de::Unexpected::Option, &Scalar::EXPECTING))
    }
}

/// A time in ms: a number and a time unit, or a plain number (in ms, as a bare `--set` value is
/// in the parameter's unit).
struct Ms(f64);

impl FromScalar for Ms {
    const EXPECTING: &'static str = "a time, such as `50 ms`";
    fn from_scalar(text: String) -> Result<Self, String> {
        let ms = match split_quantity(&text)? {
            (value, None) => value,
            (value, Some(unit)) if unit.dim == Dimension::TIME => value * unit.scale,
            (_, Some(unit)) => return Err(format!("`{text}` is {}, not a time", unit.dim.describe())),
        };
        if ms > 0.0 && ms.is_finite() { Ok(Ms(ms)) } else { Err(format!("`{text}` is not a positive time")) }
    }
}

impl FromScalar for Backend {
    const EXPECTING: &'static str = "`cpu` or `gpu`";
    fn from_scalar(text: String) -> Result<Self, String> {
        match text.as_str() {
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            _ => Err(format!("`{text}` is not `cpu` or `gpu`")),
        }
    }
}

impl FromScalar for Precision {
    const EXPECTING: &'static str = "`f64` or `f32`";
    fn from_scalar(text: String) -> Result<Self, String> {
        match text.as_str() {
            "f64" => Ok(Precision::F64),
            "f32" => Ok(Precision::F32),
            _ => Err(format!("`{text}` is not `f64` or `f32`")),
        }
    }
}

impl FromScalar for Strategy {
    const EXPECTING: &'static str = "`auto`, `thread` or `workgroup`";
    fn from_scalar(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// Reads a `T`, or nothing for a null.
struct Checked<T>(PhantomData<T>);

impl<'de, T: FromScalar> Visitor<'de> for Checked<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        T::from_scalar(v.to_owned()).map(Some).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        self.visit_str(&super::csv::format_number(v))
    }
}

fn opt<'de, D: Deserializer<'de>, T: FromScalar>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(Checked(PhantomData))
}

fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(opt::<D, Ms>(d)?.map(|ms| ms.0))
}

/// The entries in the order of the file.
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of parameter names to values")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((name, Scalar(value))) = map.next_entry::<String, Scalar>()? {
                if out.iter().any(|(n, _)| *n == name) {
                    return Err(de::Error::custom(format!("`{name}` is set twice")));
                }
                out.push((name, value));
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}
