//! What `sylva run` leaves on disk: `trace.csv`, `spikes.csv` and SVG plots (see
//! `docs/outputs.md`), plus the YAML run file that configures a run ([`config`]).
//!
//! Every file is written atomically: the bytes go to `.<name>.tmp` in the same directory, are
//! flushed to disk, and the file is renamed into place, so a run that is killed leaves either
//! the old file, the new one, or nothing, never half a file.

mod config;
mod csv;
mod plot;
#[cfg(test)]
mod tests;

pub use config::{ConfigError, RunConfig, load_config, parse_config};
pub use csv::{format_number, quote_field, write_spikes_csv, write_trace_csv};

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What a run recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recording {
    /// Probe labels: any string (dots, commas, quotes and spaces included).
    pub labels: Vec<String>,
    /// Sample times in ms, one per row.
    pub times: Vec<f64>,
    /// One column per label, each as long as `times`.
    pub columns: Vec<Vec<f64>>,
    /// The unit of each column (`mV`, `mM`, …); the plot draws one panel per unit. Columns
    /// without an entry share one panel.
    pub units: Vec<String>,
    /// `(gid, time ms)`, sorted by time then gid.
    pub spikes: Vec<(u32, f64)>,
}

/// The files [`write_all`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFiles {
    pub trace_csv: PathBuf,
    pub spikes_csv: PathBuf,
    /// `trace.svg`, then `raster.svg` when there were spikes; empty when plots are off.
    pub plots: Vec<PathBuf>,
}

/// Why the outputs of a run could not be written.
#[derive(Debug)]
pub enum OutputError {
    /// An operating-system error on `path`; `action` says what was being done ("create", …).
    Io { action: &'static str, path: PathBuf, source: io::Error },
    /// The recording is inconsistent (a column of the wrong length, …): a bug in the caller.
    Recording(String),
    /// Plotting failed for a reason other than I/O.
    Plot { path: PathBuf, message: String },
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Io { action, path, source } => {
                write!(f, "cannot {action} `{}`: {source}", path.display())
            }
            OutputError::Recording(msg) => write!(f, "invalid recording: {msg}"),
            OutputError::Plot { path, message } => {
                write!(f, "cannot draw `{}`: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for OutputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OutputError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OutputError {
    let path = path.to_path_buf();
    move |source| OutputError::Io { action, path, source }
}

/// Checks before a run that `dir` can be created and written: creates it (and its parents),
/// then writes, flushes and removes a probe file, so a long run never ends in an unwritable
/// directory.
pub fn prepare_dir(dir: &Path) -> Result<(), OutputError> {
    fs::create_dir_all(dir).map_err(io_err("create output directory", dir))?;
    let probe = dir.join(format!(".sylva-probe-{}.tmp", std::process::id()));
    let written = OpenOptions::new().write(true).create(true).truncate(true).open(&probe).and_then(|mut f| {
        f.write_all(b"sylva\n")?;
        f.sync_all()
    });
    let removed = fs::remove_file(&probe);
    written.map_err(io_err("write to output directory", dir))?;
    removed.map_err(io_err("remove probe file", &probe))
}

/// Writes `trace.csv`, `spikes.csv` and, when `plots` is set, `trace.svg` and (when there are
/// spikes) `raster.svg` into `dir`, each atomically.
pub fn write_all(dir: &Path, rec: &Recording, plots: bool) -> Result<OutputFiles, OutputError> {
    check(rec)?;
    let trace_csv = dir.join("trace.csv");
    write_atomic(&trace_csv, |w| write_trace_csv(w, rec))?;
    let spikes_csv = dir.join("spikes.csv");
    write_atomic(&spikes_csv, |w| write_spikes_csv(w, &rec.spikes))?;
    let mut files = OutputFiles { trace_csv, spikes_csv, plots: Vec::new() };
    if plots {
        let path = dir.join("trace.svg");
        let svg = plot::trace_svg(rec).map_err(|message| plot_err(&path, message))?;
        write_atomic(&path, |w| w.write_all(svg.as_bytes()))?;
        files.plots.push(path);
        if !rec.spikes.is_empty() {
            let path = dir.join("raster.svg");
            let svg = plot::raster_svg(&rec.spikes).map_err(|message| plot_err(&path, message))?;
            write_atomic(&path, |w| w.write_all(svg.as_bytes()))?;
            files.plots.push(path);
        }
    }
    Ok(files)
}

fn plot_err(path: &Path, message: String) -> OutputError {
    OutputError::Plot { path: path.to_path_buf(), message }
}

fn check(rec: &Recording) -> Result<(), OutputError> {
    if rec.labels.len() != rec.columns.len() {
        return Err(OutputError::Recording(format!("{} labels but {} columns", rec.labels.len(), rec.columns.len())));
    }
    for (label, column) in rec.labels.iter().zip(&rec.columns) {
        if column.len() != rec.times.len() {
            return Err(OutputError::Recording(format!(
                "column `{label}` has {} values for {} times",
                column.len(),
                rec.times.len()
            )));
        }
    }
    Ok(())
}

/// Writes `path` atomically: `.<name>.tmp` beside it, flushed and synced, then renamed over
/// `path`; the directory is synced afterwards (best effort) so the rename itself is durable.
/// On any failure the temporary file is removed.
pub(crate) fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), OutputError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
        let mut w = BufWriter::new(file);
        body(&mut w).and_then(|()| w.flush()).map_err(io_err("write", &tmp))?;
        let file = w.into_inner().map_err(|e| io_err("write", &tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Persist the rename; some platforms cannot open a directory, which is not an error.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
