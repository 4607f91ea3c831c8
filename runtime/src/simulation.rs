//! A run: an [`Engine`] stepping a model's state and the [`Host`] it reports to. The CPU and
//! GPU engines are two implementations of [`Engine`]; the loop, progress, interruption and
//! the recording are written here once.

use std::fmt;
use std::ops::ControlFlow;

use crate::gpu::GpuError;
use crate::host::blowup::Blowup;
use crate::host::{Host, Recording};

/// Why a run stopped early.
#[derive(Debug)]
pub enum RunError {
    /// A voltage became non-finite or huge (a problem of the model or of dt).
    Diverged(Blowup),
    /// The GPU engine failed (its device, or an internal error).
    Gpu(GpuError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Diverged(b) => write!(
                f,
                "the voltage of cell {} became non-finite or huge at step {} (t = {} ms)",
                b.gid, b.step, b.time
            ),
            RunError::Gpu(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RunError {}

impl From<GpuError> for RunError {
    fn from(e: GpuError) -> RunError {
        RunError::Gpu(e)
    }
}

/// What runs the steps of a plan.
pub trait Engine {
    /// Runs the next `steps` steps of the schedule (at most the host's steps left): takes due
    /// events from the host, reports spikes to it and records a row per step.
    fn advance(&mut self, host: &mut Host, steps: u64) -> Result<(), RunError>;

    /// Steps between progress reports: a chunk the engine runs without stopping.
    fn stride(&self) -> u64;

    /// What runs the simulation, for the summary line ("CPU, 2 threads", "GPU: …").
    fn describe(&self) -> String;

    /// A lower bound of the storage bytes a step moves, where the engine knows it (the GPU).
    fn storage_bytes_per_step(&self) -> Option<u64> {
        None
    }
}

impl Engine for Box<dyn Engine> {
    fn advance(&mut self, host: &mut Host, steps: u64) -> Result<(), RunError> {
        (**self).advance(host, steps)
    }
    fn stride(&self) -> u64 {
        (**self).stride()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn storage_bytes_per_step(&self) -> Option<u64> {
        (**self).storage_bytes_per_step()
    }
}

pub struct Simulation<E> {
    pub(crate) engine: E,
    pub(crate) host: Host,
}

impl<E: Engine> Simulation<E> {
    pub(crate) fn from_parts(engine: E, host: Host) -> Simulation<E> {
        Simulation { engine, host }
    }

    /// The same simulation with its engine boxed (the CLI picks one at run time).
    pub fn boxed(self) -> Simulation<Box<dyn Engine>>
    where
        E: 'static,
    {
        Simulation { engine: Box::new(self.engine), host: self.host }
    }

    pub fn engine(&self) -> &E {
        &self.engine
    }

    pub fn steps(&self) -> u64 {
        self.host.steps()
    }

    /// The time of grid point `n` (see [`Host::time_of`]).
    pub fn time_of(&self, n: u64) -> f64 {
        self.host.time_of(n)
    }

    pub fn times(&self) -> &[f64] {
        &self.host.recording().times
    }

    /// Per probe, its values in the quantity's displayed unit.
    pub fn columns(&self) -> &[Vec<f64>] {
        &self.host.recording().columns
    }

    /// `(gid, time)` of every spike, in detection order.
    pub fn spikes(&self) -> &[(u32, f64)] {
        &self.host.recording().spikes
    }

    pub fn into_recording(self) -> Recording {
        self.host.into_recording()
    }

    /// Runs to the end; stops at the first divergence.
    pub fn run(&mut self, mut progress: impl FnMut(u64, u64)) -> Result<(), RunError> {
        // `progress` never breaks, so the run always reaches the end.
        let _ = self.run_while(|step, steps| {
            progress(step, steps);
            ControlFlow::Continue(())
        })?;
        Ok(())
    }

    /// As [`Simulation::run`], calling `progress(step, steps)` after every stride of the engine
    /// (and at the end), but returns `Break` as soon as `progress` does before the end: the
    /// recording then ends at the step reached, and a later call goes on from there.
    pub fn run_while(
        &mut self,
        mut progress: impl FnMut(u64, u64) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, RunError> {
        self.host.reserve(self.host.steps_left());
        let stride = self.engine.stride().max(1);
        while self.host.steps_left() > 0 {
            let n = self.host.steps_left().min(stride);
            self.engine.advance(&mut self.host, n)?;
            let (step, steps) = (self.host.step(), self.host.steps());
            if progress(step, steps).is_break() && step < steps {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}
