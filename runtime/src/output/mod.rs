//! What `sylva run` leaves on disk: `trace.csv`, `spikes.csv` and SVG plots (see
//! `docs/outputs.md`), plus the YAML run file that configures a run ([`config`]); what
//! `sylva train` leaves (`params.yaml`, `loss.csv`, `loss.svg`: [`training`]).
//!
//! Every file is written atomically: the bytes go to a temporary `.<name>.<pid>-<n>.tmp` in the
//! same directory, are flushed to disk, and the file is renamed into place, so a run that is
//! killed leaves either the old file, the new one, or nothing, never half a file. A run holds
//! its directory with a lock ([`prepare_dir`]) so that two runs never mix their files, and a
//! manifest ([`MANIFEST`]) lets the next run remove the files it does not write again.

mod config;
mod csv;
mod plot;
mod source_file;
#[cfg(test)]
mod tests;
mod training;

pub use config::{ConfigError, RunConfig, Setting, load_config, parse_config};
pub use csv::{format_number, quote_field, write_spikes_csv, write_trace_csv};
pub use source_file::{read_data, read_source};
pub use training::{
    EpochRow, ParamEntry, TrainedValue, TrainingRecord, load_params, parse_params, write_loss_csv, write_params_yaml,
};

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The lock file of an output directory: held (locked by the OS) by the run writing there and
/// holding its pid. It stays after the run; only the lock on it matters.
pub const LOCK_FILE: &str = ".sylva.lock";

/// The manifest of an output directory: the names of the files the last run wrote there, one
/// a line, so that the next run removes those it does not write again and nothing else.
pub const MANIFEST: &str = ".sylva-manifest";

/// Every file a run or a training can write. Only these names are taken from a manifest, so no
/// manifest, however edited, makes a run delete a file that Sylva would not write itself. A
/// directory holds the outputs of its last command: a training removes a run's and the reverse.
const OUTPUT_NAMES: [&str; 7] =
    ["trace.csv", "spikes.csv", "trace.svg", "raster.svg", "params.yaml", "loss.csv", "loss.svg"];

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
    /// The `stop` flag of [`write_all`] was set: nothing was written.
    Interrupted,
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
            OutputError::Interrupted => write!(f, "interrupted while writing the outputs"),
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
/// spikes) `raster.svg` into `dir`, and removes the files the previous run wrote there (as its
/// manifest says) that this run does not write, so the directory holds this run's outputs only.
///
/// Every file is written to its temporary first and all are renamed into place at the end: a
/// failure leaves the previous run's files as they were. So does setting `stop` (from a Ctrl-C
/// handler) before the renames: the writing ends soon after, the temporaries are removed, and
/// the result is [`OutputError::Interrupted`].
pub fn write_all(dir: &Path, rec: &Recording, plots: bool, stop: &AtomicBool) -> Result<OutputFiles, OutputError> {
    check(rec)?;
    let stoppable = |path: &Path, body: &dyn Fn(&mut dyn Write) -> io::Result<()>| stage_stoppable(path, stop, body);
    let trace_csv = dir.join("trace.csv");
    let spikes_csv = dir.join("spikes.csv");
    let mut staged = vec![
        stoppable(&trace_csv, &|w| write_trace_csv(w, rec))?,
        stoppable(&spikes_csv, &|w| write_spikes_csv(w, &rec.spikes))?,
    ];
    let mut files = OutputFiles { trace_csv, spikes_csv, plots: Vec::new() };
    if plots {
        let path = dir.join("trace.svg");
        let svg = plot::trace_svg(rec).map_err(|message| plot_err(&path, message))?;
        staged.push(stoppable(&path, &|w| w.write_all(svg.as_bytes()))?);
        files.plots.push(path);
        if !rec.spikes.is_empty() {
            let path = dir.join("raster.svg");
            let svg = plot::raster_svg(&rec.spikes).map_err(|message| plot_err(&path, message))?;
            staged.push(stoppable(&path, &|w| w.write_all(svg.as_bytes()))?);
            files.plots.push(path);
        }
    }
    publish(dir, staged)?;
    Ok(files)
}

/// The files [`write_training`] wrote: `params.yaml`, `loss.csv`, then `loss.svg` when plots
/// are on.
pub fn write_training(
    dir: &Path,
    rec: &TrainingRecord,
    plots: bool,
    stop: &AtomicBool,
) -> Result<Vec<PathBuf>, OutputError> {
    let stoppable = |path: &Path, body: &dyn Fn(&mut dyn Write) -> io::Result<()>| stage_stoppable(path, stop, body);
    let mut paths = vec![dir.join("params.yaml"), dir.join("loss.csv")];
    let mut staged =
        vec![stoppable(&paths[0], &|w| write_params_yaml(w, rec))?, stoppable(&paths[1], &|w| write_loss_csv(w, rec))?];
    if plots {
        let path = dir.join("loss.svg");
        let svg = plot::loss_svg(&rec.losses, rec.step_name()).map_err(|message| plot_err(&path, message))?;
        staged.push(stoppable(&path, &|w| w.write_all(svg.as_bytes()))?);
        paths.push(path);
    }
    publish(dir, staged)?;
    Ok(paths)
}

/// [`stage`], ending with [`OutputError::Interrupted`] soon after `stop` is set.
fn stage_stoppable(
    path: &Path,
    stop: &AtomicBool,
    body: &dyn Fn(&mut dyn Write) -> io::Result<()>,
) -> Result<Staged, OutputError> {
    let stopped = || stop.load(Ordering::Relaxed);
    if stopped() {
        return Err(OutputError::Interrupted);
    }
    stage(path, |w| body(&mut Stoppable { inner: w, stopped: &stopped }))
        .map_err(|e| if stopped() { OutputError::Interrupted } else { e })
}

/// Renames the staged files into place and removes the files the previous command wrote in
/// `dir` (as its manifest says) that these do not replace.
fn publish(dir: &Path, staged: Vec<Staged>) -> Result<(), OutputError> {
    let written: Vec<&str> = OUTPUT_NAMES.into_iter().filter(|n| staged.iter().any(|s| s.path.ends_with(n))).collect();
    let previous = read_manifest(dir)?;
    // Until the stale files are gone the manifest names both runs' files, so a crash in
    // between leaves none that a later run would not remove.
    let both: Vec<&str> = OUTPUT_NAMES.into_iter().filter(|n| written.contains(n) || previous.contains(n)).collect();
    write_manifest(dir, &both)?;
    for s in staged {
        s.commit()?;
    }
    sync_dir(dir);
    for name in previous.iter().filter(|n| !written.contains(n)) {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err("remove stale output", &path)(e)),
            _ => {}
        }
    }
    write_manifest(dir, &written)?;
    Ok(())
}

/// A writer that fails once `stopped` says so, so that writing a long trace ends soon after
/// Ctrl-C.
struct Stoppable<'a> {
    inner: &'a mut dyn Write,
    stopped: &'a dyn Fn() -> bool,
}

impl Write for Stoppable<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.stopped)() {
            return Err(io::Error::other("interrupted"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The output names the previous run's manifest lists (none without a manifest).
fn read_manifest(dir: &Path) -> Result<Vec<&'static str>, OutputError> {
    let path = dir.join(MANIFEST);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(OUTPUT_NAMES.into_iter().filter(|n| text.lines().any(|l| l == *n)).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("read", &path)(e)),
    }
}

fn write_manifest(dir: &Path, names: &[&str]) -> Result<(), OutputError> {
    write_atomic(&dir.join(MANIFEST), |w| names.iter().try_for_each(|n| writeln!(w, "{n}")))
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
    stage(path, body)?.commit()?;
    sync_dir(parent(path));
    Ok(())
}

/// A file written in full to its temporary, not yet renamed into place. Dropping it removes
/// the temporary (after [`Staged::commit`] there is none left to remove).
struct Staged {
    tmp: PathBuf,
    path: PathBuf,
}

impl Staged {
    fn commit(self) -> Result<(), OutputError> {
        fs::rename(&self.tmp, &self.path).map_err(io_err("rename into place", &self.path))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes the bytes of `path` to a fresh temporary beside it, flushed and synced to disk.
fn stage(path: &Path, body: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<Staged, OutputError> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = parent(path).join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    // From here on, an error drops `staged`, which removes the temporary.
    let staged = Staged { tmp, path: path.to_path_buf() };
    let mut w = BufWriter::new(file);
    body(&mut w).and_then(|()| w.flush()).map_err(io_err("write", &staged.tmp))?;
    let file = w.into_inner().map_err(|e| io_err("write", &staged.tmp)(e.into_error()))?;
    file.sync_all().map_err(io_err("sync", &staged.tmp))?;
    Ok(staged)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Persists renames in `dir`; some platforms cannot open a directory, which is not an error.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
