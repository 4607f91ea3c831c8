//! A team of threads for the per-cell work of every step (or window of steps): the calling
//! thread and `size − 1` workers started once, with the engine. A pass hands the team a job
//! (tasks `0..n`) and returns when every task has run; tasks touch disjoint cells, so the
//! results are the same whichever member runs which task.
//!
//! Each member owns a contiguous share of the tasks (the same chunks of cells every step, so
//! their arrays stay in that core's cache) and claims them one by one; a member with nothing
//! left claims the others' unstarted tasks. So a member that the system has descheduled (a
//! busy machine) delays a pass by at most the one task it is running, not by its whole share.
//!
//! A step's passes are short (a ringtest step of 10,000 compartments takes about 0.2 ms on one
//! thread), so a worker waits for the next job by spinning, and only after [`SPIN`] parks
//! until woken; the caller waits for the last tasks the same way, yielding its processor after
//! [`SPIN`]. Waking a parked thread costs a system call on both sides; a rayon pool paid that
//! on every pass.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long a waiting member spins before it parks (a worker) or yields (the caller).
const SPIN: Duration = Duration::from_micros(30);

/// What a pass asks of the team: `run(t)` for every task `t < tasks`.
struct Job<'a> {
    run: &'a (dyn Fn(usize) + Sync),
    tasks: usize,
}

impl Job<'_> {
    /// The first task of `member`'s share (`size` gives the end of the last share).
    fn share_start(&self, member: usize, size: usize) -> usize {
        member * self.tasks / size
    }
}

/// A counter alone on its cache line (members claim from their own without false sharing).
#[repr(align(128))]
struct Padded(AtomicUsize);

/// What the members share.
struct State {
    size: usize,
    /// Bumped for every job (and once to stop); workers wait for it to move.
    generation: AtomicU64,
    /// The open job; null between jobs. Read only by a member counted in `active`.
    job: AtomicPtr<Job<'static>>,
    /// Per member: the next task of its share to claim.
    next: Vec<Padded>,
    /// Tasks of the open job that have run.
    finished: AtomicUsize,
    /// Workers between announcing themselves and leaving the job.
    active: AtomicUsize,
    /// The panic of a task, rethrown by the caller once the job is closed.
    panic: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>,
    stop: AtomicBool,
    /// Per worker: parked or about to park (the caller then unparks it).
    sleeping: Vec<AtomicBool>,
}

/// The workers of a team; dropping it stops and joins them.
pub struct Team {
    state: Arc<State>,
    workers: Vec<JoinHandle<()>>,
    threads: Vec<Thread>,
}

// SAFETY: `State::job` points at a `Job` whose closure is `Sync`, and only while `Team::run`
// waits for it (see there).
unsafe impl Send for State {}
unsafe impl Sync for State {}

impl Team {
    /// A team of `size` members (`size − 1` new threads); the error of the first thread the
    /// system refuses (the ones started are stopped again).
    pub fn new(size: usize) -> std::io::Result<Team> {
        let state = Arc::new(State {
            size,
            generation: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            next: (0..size).map(|_| Padded(AtomicUsize::new(0))).collect(),
            finished: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            panic: std::sync::Mutex::new(None),
            stop: AtomicBool::new(false),
            sleeping: (1..size).map(|_| AtomicBool::new(false)).collect(),
        });
        let mut team = Team { state, workers: Vec::new(), threads: Vec::new() };
        for member in 1..size {
            let state = Arc::clone(&team.state);
            let worker = spawn(format!("sylva-cells-{member}"), move || work(&state, member))?;
            team.threads.push(worker.thread().clone());
            team.workers.push(worker);
        }
        Ok(team)
    }

    /// The members, the calling thread included.
    pub fn size(&self) -> usize {
        self.state.size
    }

    /// Runs `run(t)` for every `t` in `0..tasks` and returns when all have run; a task's panic
    /// is rethrown here.
    pub fn run(&self, tasks: usize, run: &(dyn Fn(usize) + Sync)) {
        let s = &self.state;
        let job = Job { run, tasks };
        for (member, next) in s.next.iter().enumerate() {
            next.0.store(job.share_start(member, s.size), Ordering::Relaxed);
        }
        s.finished.store(0, Ordering::Relaxed);
        // SAFETY (of the lifetime cast): workers read the job only while counted in `active`,
        // and this function closes the job and waits for `active` to drop to 0 before `job`
        // goes out of scope.
        let open: *const Job<'static> = std::ptr::from_ref(&job).cast();
        s.job.store(open.cast_mut(), Ordering::SeqCst);
        s.generation.fetch_add(1, Ordering::SeqCst);
        self.wake_sleepers();
        claim_tasks(s, &job, 0);
        wait_until(|| s.finished.load(Ordering::Acquire) == tasks, std::thread::yield_now);
        s.job.store(std::ptr::null_mut(), Ordering::SeqCst);
        wait_until(|| s.active.load(Ordering::SeqCst) == 0, std::thread::yield_now);
        if let Some(panic) = s.panic.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            resume_unwind(panic);
        }
    }

    fn wake_sleepers(&self) {
        for (sleeping, thread) in self.state.sleeping.iter().zip(&self.threads) {
            if sleeping.load(Ordering::SeqCst) {
                thread.unpark();
            }
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.generation.fetch_add(1, Ordering::SeqCst);
        self.wake_sleepers();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Set by a test to make the team's threads fail to start.
    pub static REFUSE_THREADS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    #[cfg(test)]
    if REFUSE_THREADS.get() {
        return Err(std::io::Error::other("refused by the test"));
    }
    std::thread::Builder::new().name(name).spawn(f)
}

/// Runs the unclaimed tasks of `member`'s share, then those of the members after it.
fn claim_tasks(s: &State, job: &Job, member: usize) {
    for owner in (member..s.size).chain(0..member) {
        let end = job.share_start(owner + 1, s.size);
        loop {
            let task = s.next[owner].0.fetch_add(1, Ordering::Relaxed);
            if task >= end {
                break;
            }
            // Caught so that every task is counted and the job can close before the panic
            // travels on (a worker may still be reading the job).
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (job.run)(task))) {
                s.panic.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(panic);
            }
            s.finished.fetch_add(1, Ordering::Release);
        }
    }
}

/// A worker's loop: wait for a new generation, claim tasks of the open job, if any.
fn work(s: &State, member: usize) {
    let mut seen = 0;
    loop {
        seen = wait_for_generation(s, member, seen);
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        s.active.fetch_add(1, Ordering::SeqCst);
        let job = s.job.load(Ordering::SeqCst);
        // SAFETY: a job seen while counted in `active` stays alive until this worker leaves.
        if let Some(job) = unsafe { job.as_ref() } {
            claim_tasks(s, job, member);
        }
        s.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until `done()`: spins for [`SPIN`] (the clock read every 64 rounds), then calls
/// `idle` between checks.
fn wait_until(done: impl Fn() -> bool, idle: impl Fn()) {
    let mut start = None;
    let mut rounds = 0_u32;
    while !done() {
        rounds = rounds.wrapping_add(1);
        if rounds.is_multiple_of(64) && start.get_or_insert_with(Instant::now).elapsed() > SPIN {
            idle();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Waits until the generation differs from `seen` (spinning, then parked); returns it.
fn wait_for_generation(s: &State, member: usize, seen: u64) -> u64 {
    let sleeping = &s.sleeping[member - 1];
    wait_until(
        || s.generation.load(Ordering::Acquire) != seen,
        || {
            sleeping.store(true, Ordering::SeqCst);
            // Woken by `wake_sleepers` if the generation moved after this check.
            if s.generation.load(Ordering::SeqCst) == seen {
                std::thread::park();
            }
            sleeping.store(false, Ordering::SeqCst);
        },
    );
    s.generation.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task runs exactly once per job, over many jobs in a row (some after the workers
    /// have parked), and the workers take part.
    #[test]
    fn every_task_runs_once_per_job() {
        let team = Team::new(3).expect("threads start");
        let by_workers = AtomicUsize::new(0);
        for round in 0..300 {
            let tasks = round % 11;
            let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            team.run(tasks, &|t| {
                counts[t].fetch_add(1, Ordering::Relaxed);
                if std::thread::current().name().is_some_and(|n| n.starts_with("sylva-cells")) {
                    by_workers.fetch_add(1, Ordering::Relaxed);
                }
                // Long enough for the other members to find the job.
                std::thread::sleep(Duration::from_micros(100));
            });
            for (t, count) in counts.iter().enumerate() {
                assert_eq!(count.load(Ordering::Relaxed), 1, "round {round}, task {t}");
            }
            if round == 100 {
                // Long enough for the workers to park.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert!(by_workers.load(Ordering::Relaxed) > 0);
    }

    /// A member held up in its first task: the others run the rest of its share.
    #[test]
    fn a_slow_member_s_share_is_taken_by_the_others() {
        let team = Team::new(2).expect("threads start");
        let ran_by: Vec<std::sync::Mutex<Option<String>>> = (0..8).map(|_| Default::default()).collect();
        team.run(8, &|t| {
            let name = std::thread::current().name().unwrap_or("caller").to_string();
            if name == "sylva-cells-1" {
                std::thread::sleep(Duration::from_millis(200));
            }
            *ran_by[t].lock().expect("unpoisoned") = Some(name);
        });
        let by_worker =
            ran_by.iter().filter(|n| n.lock().expect("unpoisoned").as_deref() == Some("sylva-cells-1")).count();
        assert!(by_worker <= 1, "the slow worker ran {by_worker} tasks");
        assert!(ran_by.iter().all(|n| n.lock().expect("unpoisoned").is_some()));
    }

    #[test]
    fn a_panicking_task_is_rethrown_by_the_caller_and_the_team_goes_on() {
        let team = Team::new(2).expect("threads start");
        let caught = catch_unwind(AssertUnwindSafe(|| team.run(4, &|t| assert!(t != 3, "task 3 fails"))));
        assert!(caught.is_err());
        let count = AtomicUsize::new(0);
        team.run(4, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 4);
    }
}
