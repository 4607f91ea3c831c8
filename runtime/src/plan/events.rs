//! Spike events: a deterministic queue, the connection table, artificial spike sources.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use sylva_compiler::ir::{self, Presynaptic, Rule, SourceKind};

/// Where an event goes: a block, an instance of it, and the weight of the connection (the
/// model's `connect` rule, by index) that sent it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Target {
    pub block: u32,
    pub instance: u32,
    pub weight: f64,
    pub connection: u32,
}

#[derive(Copy, Clone, Debug)]
struct Queued {
    time: f64,
    /// Insertion order: equal times are delivered in the order they were queued.
    seq: u64,
    block: u32,
    instance: u32,
    weight: f64,
    connection: u32,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // Reversed: the heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.time.total_cmp(&self.time).then(other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
pub struct Queue {
    heap: BinaryHeap<Queued>,
    seq: u64,
}

impl Queue {
    pub fn push(&mut self, time: f64, target: Target) {
        self.seq += 1;
        self.heap.push(Queued {
            time,
            seq: self.seq,
            block: target.block,
            instance: target.instance,
            weight: target.weight,
            connection: target.connection,
        });
    }

    /// The next event due at or before `until`.
    pub fn pop_due(&mut self, until: f64) -> Option<Target> {
        if self.heap.peek().is_some_and(|e| e.time <= until) {
            self.heap.pop().map(|e| Target {
                block: e.block,
                instance: e.instance,
                weight: e.weight,
                connection: e.connection,
            })
        } else {
            None
        }
    }
}

/// A small deterministic generator (SplitMix64) for random rules and Poisson sources.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The spike times of an artificial source within [0, duration].
pub fn source_times(kind: &SourceKind, duration: f64) -> Vec<f64> {
    match kind {
        SourceKind::Times(times) => times.iter().copied().filter(|t| *t <= duration).collect(),
        SourceKind::Regular { start, interval, stop } => {
            let mut out = Vec::new();
            let mut k = 0u64;
            loop {
                let t = start + k as f64 * interval;
                if t > stop.min(duration) {
                    break;
                }
                out.push(t);
                k += 1;
            }
            out
        }
        SourceKind::Poisson { rate, seed, start, stop } => {
            let mut rng = Rng::new(*seed);
            let mut out = Vec::new();
            let mut t = *start;
            if *rate <= 0.0 {
                return out;
            }
            loop {
                t += -(1.0 - rng.uniform()).ln() / rate;
                if t > stop.min(duration) {
                    break;
                }
                out.push(t);
            }
            out
        }
    }
}

/// Expands the connection rules to, per presynaptic gid, the list of (post gid, synapse,
/// weight, delay), and per artificial source the same. Deterministic: in rule order, then
/// source order, then target order.
#[derive(Clone, Debug, Default)]
pub struct Wiring {
    pub from_cell: Vec<Vec<Connection>>,
    pub from_source: Vec<Vec<Connection>>,
}

impl Wiring {
    /// The shortest delay of a connection from a cell (infinite without any): a spike's events
    /// are due at least this long after it.
    pub fn min_delay(&self) -> f64 {
        self.from_cell.iter().flatten().map(|c| c.delay).fold(f64::INFINITY, f64::min)
    }
}

/// How many steps of `dt` fit in `min_delay` (infinite: `cap`), between 1 and `cap`: the
/// longest window of steps whose events are all queued before it starts. The tolerance keeps a
/// delay of exactly k steps at k despite rounding.
pub fn steps_within(min_delay: f64, dt: f64, cap: u64) -> u64 {
    if min_delay.is_finite() { ((min_delay / dt) * (1.0 + 1e-12)).floor().clamp(1.0, cap as f64) as u64 } else { cap }
}

#[derive(Copy, Clone, Debug)]
pub struct Connection {
    /// The `connect` rule it comes from (index into the model's connections).
    pub rule: u32,
    pub post_gid: u32,
    pub synapse: u32,
    pub weight: f64,
    pub delay: f64,
}

pub fn wire(model: &ir::Model) -> Wiring {
    let net = &model.network;
    let cells = model.cell_count() as usize;
    let mut from_cell = vec![Vec::new(); cells];
    let mut from_source = vec![Vec::new(); net.sources.len()];
    let gid = |r: &ir::CellRange, k: u32| net.populations[r.population.index()].first_gid + k;
    for (rule, c) in net.connections.iter().enumerate() {
        let rule = rule as u32;
        let targets: Vec<u32> = c.target.iter().map(|k| gid(&c.target, k)).collect();
        let sources: Vec<Option<u32>> = match c.source {
            Presynaptic::Cells(r) => r.iter().map(|k| Some(gid(&r, k))).collect(),
            Presynaptic::Source(_) => vec![None],
        };
        let mut rng = match c.rule {
            Rule::Random { seed, .. } => Some(Rng::new(seed)),
            _ => None,
        };
        for (si, source) in sources.iter().enumerate() {
            let posts: Vec<u32> = match c.rule {
                Rule::OneToOne => targets.get(si).copied().into_iter().collect(),
                Rule::AllToAll => targets.clone(),
                Rule::Ring(n) => {
                    let n = n as usize;
                    let group = si / n;
                    vec![targets[group * n + (si % n + 1) % n]]
                }
                Rule::Random { p, .. } => {
                    let rng = rng.as_mut().expect("seeded above");
                    targets.iter().copied().filter(|_| rng.uniform() < p).collect()
                }
            };
            let list: &mut Vec<Connection> = match (source, c.source) {
                (Some(g), _) => &mut from_cell[*g as usize],
                (None, Presynaptic::Source(s)) => &mut from_source[s.index()],
                (None, Presynaptic::Cells(_)) => unreachable!("cell sources have gids"),
            };
            list.extend(posts.into_iter().map(|post_gid| Connection {
                rule,
                post_gid,
                synapse: c.synapse.0,
                weight: c.weight,
                delay: c.delay,
            }));
        }
    }
    Wiring { from_cell, from_source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_delivers_in_time_then_insertion_order() {
        let mut q = Queue::default();
        let t = |block| Target { block, instance: 0, weight: 1.0, connection: 0 };
        q.push(2.0, t(1));
        q.push(1.0, t(2));
        q.push(2.0, t(3));
        q.push(1.0, t(4));
        assert_eq!(q.pop_due(0.5), None);
        let order: Vec<u32> = std::iter::from_fn(|| q.pop_due(2.0)).map(|e| e.block).collect();
        assert_eq!(order, [2, 4, 1, 3]);
    }

    #[test]
    fn regular_and_poisson_sources_are_deterministic_and_in_range() {
        let regular = source_times(&SourceKind::Regular { start: 1.0, interval: 2.5, stop: 9.0 }, 100.0);
        assert_eq!(regular, [1.0, 3.5, 6.0, 8.5]);
        let poisson = SourceKind::Poisson { rate: 0.05, seed: 7, start: 10.0, stop: 1000.0 };
        let a = source_times(&poisson, 500.0);
        assert_eq!(a, source_times(&poisson, 500.0));
        assert!(a.iter().all(|t| (10.0..=500.0).contains(t)) && a.windows(2).all(|w| w[0] < w[1]));
        // 0.05 per ms over 490 ms: about 24.5 events; a wide band catches a broken generator.
        assert!((10..=45).contains(&a.len()), "{}", a.len());
    }
}
