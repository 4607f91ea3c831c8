//! What `sylva run` leaves on disk: `trace.csv`, `spikes.csv` and SVG plots (see
//! `docs/outputs.md`), plus the YAML run file that configures a run ([`config`]).
//!
//! Every file is written atomically: the bytes go to a temporary `.<name>.<pid>-<n>.tmp` in the
//! same directory, are flushed to disk, and the file is renamed into place, so a run that is
//! killed leaves either the old file, the new one, or nothing, never half a file. A run holds
//! its directory with a lock ([`prepare_dir`]) so that two runs never mix their files.

mod config;
mod csv;
mod plot;
#[cfg(test)]
mod tests;

pub use config::{ConfigError, RunConfig, load_config, parse_config};
pub use csv::{format_number, quote_field, write_spikes_csv, write_trace_csv};

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The lock file of an output directory: held (locked by the OS) by the run writing there and
/// holding its pid. It stays after the run; only the lock on it matters.
pub const LOCK_FILE: &str = ".sylva.lock";

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
    /// Another live run holds the output directory; `holder` is its pid when it could be read.
    Locked { dir: PathBuf, holder: Option<u32> },
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
            OutputError::Locked { dir, holder } => {
                write!(f, "output directory `{}` is in use by another sylva run", dir.display())?;
                if let Some(pid) = holder {
                    write!(f, " (pid {pid})")?;
                }
                write!(f, "; wait for it to finish or choose another directory with `-o`")
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

/// Holds an output directory for one run. The OS releases the lock when this is dropped or
/// the process ends, however it ends, so a killed run never leaves the directory locked.
#[derive(Debug)]
#[must_use = "the directory is held only while the lock lives"]
pub struct DirLock {
    _file: File,
}

/// Prepares `dir` before a run: creates it (and its parents), takes its lock (an error naming
/// the holder if another run has it) and writes our pid into the lock file, flushed to disk,
/// which also proves the directory writable, so a long run never ends in an unwritable one.
pub fn prepare_dir(dir: &Path) -> Result<DirLock, OutputError> {
    fs::create_dir_all(dir).map_err(io_err("create output directory", dir))?;
    let path = dir.join(LOCK_FILE);
    // Not truncated on opening: the holder's pid must stay readable until we hold the lock.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("write to output directory", dir))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let holder = file.read_to_string(&mut text).ok().and_then(|_| text.trim().parse().ok());
            return Err(OutputError::Locked { dir: dir.to_path_buf(), holder });
        }
        Err(TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.sync_all())
        .map_err(io_err("write to output directory", dir))?;
    Ok(DirLock { _file: file })
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

/// Writes `path` atomically: `.<name>.<pid>-<n>.tmp` beside it (unique to this process and
/// write, so concurrent writers never share a temporary), flushed and synced, then renamed over
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
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
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
