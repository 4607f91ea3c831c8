//! Connection rules expand as documented, deterministically; networks with artificial sources
//! run reproducibly; random connections and Poisson sources follow their probability and rate.

use sylva_runtime::cpu::{Options, Simulation};
use sylva_runtime::plan::events;
use sylva_tests::{compile_file, compile_text};

const NETWORK: &str = r#"
import hh
import expsyn

cell c {
    morphology { section soma { length = 20 um, diam = 20 um } }
    insert hh in soma
    synapse syn = expsyn at soma(0.5)
    detector at soma(0.5) threshold -20 mV
}

network n {
    population a = c[6]
    population b = c[6]
    connect a -> b.syn one_to_one { weight = 0.01 uS, delay = 1 ms }
    connect a -> a.syn ring(3) { weight = 0.01 uS, delay = 1 ms }
    connect b[0] -> a.syn { weight = 0.01 uS, delay = 2 ms }
    connect a -> b.syn random(p = 0.5, seed = 3) { weight = 0.02 uS, delay = 1 ms }
    source kick = spikes(1 ms, 2 ms)
    connect kick -> a[0 .. 6 by 2].syn all_to_all { weight = 0.1 uS, delay = 0 ms }
}

simulation { dt = 0.025 ms, duration = 10 ms }
"#;

#[test]
fn connection_rules_expand_as_documented() {
    let (db, compilation) = compile_text("net.syl", NETWORK, &[]);
    let artifact =
        compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let model = &artifact.model;
    let wiring = events::wire(model);
    let posts = |gid: usize, weight: f64| -> Vec<u32> {
        wiring.from_cell[gid].iter().filter(|c| c.weight == weight).map(|c| c.post_gid).collect()
    };
    // one_to_one: a[i] -> b[i] (gids 6 + i); ring(3): a[i] -> a[group + (i + 1) % 3].
    for i in 0..6usize {
        let ring = if i % 3 == 2 { i - 2 } else { i + 1 } as u32;
        assert_eq!(posts(i, 0.01), vec![6 + i as u32, ring], "cell {i}");
    }
    // b[0] (gid 6) -> every cell of a.
    assert_eq!(posts(6, 0.01), (0..6).collect::<Vec<u32>>());
    // random(p = 0.5): a fixed draw, the same every time, and some but not all of the 36 pairs.
    let random: usize = (0..6).map(|i| posts(i, 0.02).len()).sum();
    assert!((6..=30).contains(&random), "{random}");
    assert_eq!(
        events::wire(model).from_cell.iter().map(Vec::len).sum::<usize>(),
        wiring.from_cell.iter().map(Vec::len).sum::<usize>()
    );
    // The source reaches a[0], a[2], a[4].
    assert_eq!(wiring.from_source[0].iter().map(|c| c.post_gid).collect::<Vec<_>>(), [0, 2, 4]);
}

/// `random(p)`: each pair at most once, as many pairs as a binomial draw allows, self-connections
/// where the selections overlap (docs/language.md).
#[test]
fn random_connections_follow_their_probability() {
    let text = r#"
import pas
import expsyn

cell c {
    morphology { section soma { length = 20 um, diam = 20 um } }
    insert pas in soma
    synapse syn = expsyn at soma(0.5)
    detector at soma(0.5) threshold -20 mV
}

network n {
    population a = c[40]
    population b = c[50]
    connect a -> b.syn random(p = 0.2, seed = 11) { weight = 0.01 uS, delay = 1 ms }
    connect a -> a.syn random(p = 0.5, seed = 12) { weight = 0.02 uS, delay = 1 ms }
    connect a -> b.syn random(p = 1, seed = 13) { weight = 0.03 uS, delay = 1 ms }
}

simulation { dt = 0.025 ms, duration = 1 ms }
"#;
    let (db, compilation) = compile_text("random.syl", text, &[]);
    let artifact =
        compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let model = &artifact.model;
    let wiring = events::wire(model);
    let pairs = |weight: f64| -> Vec<(u32, u32)> {
        let from = wiring.from_cell.iter().enumerate();
        from.flat_map(|(pre, cs)| cs.iter().filter(|c| c.weight == weight).map(move |c| (pre as u32, c.post_gid)))
            .collect()
    };
    // A count of n independent draws of probability p is within 5 standard deviations,
    // sqrt(n p (1 - p)), of n p.
    let binomial = |count: usize, n: usize, p: f64| {
        let (n, count) = (n as f64, count as f64);
        (count - n * p).abs() <= 5.0 * (n * p * (1.0 - p)).sqrt()
    };
    let at_most_once = |pairs: &[(u32, u32)]| {
        let mut unique = pairs.to_vec();
        unique.sort_unstable();
        unique.dedup();
        unique.len() == pairs.len()
    };
    // a (gids 0..40) -> b (gids 40..90), p = 0.2: 2,000 pairs, 400 expected, sd 18.
    let ab = pairs(0.01);
    assert!(ab.iter().all(|&(pre, post)| pre < 40 && (40..90).contains(&post)));
    assert!(at_most_once(&ab));
    assert!(binomial(ab.len(), 40 * 50, 0.2), "{} of 2000 pairs", ab.len());
    // a -> a, p = 0.5: the 1,600 ordered pairs include the 40 self-pairs.
    let aa = pairs(0.02);
    assert!(at_most_once(&aa));
    assert!(binomial(aa.len(), 40 * 40, 0.5), "{} of 1600 pairs", aa.len());
    let autapses = aa.iter().filter(|(pre, post)| pre == post).count();
    assert!(binomial(autapses, 40, 0.5), "{autapses} of 40 self-pairs");
    // p = 1: every pair, once.
    let all = pairs(0.03);
    assert!(at_most_once(&all));
    assert_eq!(all.len(), 40 * 50);
}

#[test]
fn kicked_network_runs_reproducibly() {
    let (db, compilation) = compile_text("net.syl", NETWORK, &[]);
    let artifact =
        compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let run = |threads| {
        let mut sim = Simulation::new(&artifact, Options { threads, interpret: false }).expect("compiles");
        sim.run(|_, _| {}).expect("runs");
        sim.spikes().to_vec()
    };
    let spikes = run(1);
    // The kicked cells fire first (0.1 uS is far above threshold), then the rest follow.
    let first: Vec<u32> = spikes.iter().take(3).map(|s| s.0).collect();
    assert_eq!(first, [0, 2, 4], "{spikes:?}");
    assert_eq!(run(2), spikes);
}

#[test]
fn tutorial_with_a_poisson_source_is_deterministic() {
    let (_, compilation) = compile_file("examples/tutorial/03_custom_channel.syl", &[]);
    let artifact = compilation.artifact.expect("compiles");
    let run = || {
        let mut sim = Simulation::new(&artifact, Options::default()).expect("compiles");
        sim.run(|_, _| {}).expect("runs");
        (
            sim.spikes().to_vec(),
            sim.columns().iter().map(|c| c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(run(), run());
}

/// `eca at …`, `ica at …`: ion variables where a mechanism uses the ion; a clear error where
/// none does, or for a name that is no quantity.
#[test]
fn ion_probes_need_a_mechanism_of_the_ion() {
    let model = |probe: &str| {
        format!(
            "import hh\nimport cadyn\nimport ca_hva\n\ncell c {{\n    morphology {{\n        section soma {{ length = 20 um, diam = 20 um }}\n        section dend at soma(1) {{ length = 100 um, diam = 1 um }}\n    }}\n    insert hh in all\n    insert cadyn in soma\n    insert ca_hva in soma\n}}\n\nnetwork n {{\n    population p = c[1]\n    {probe}\n}}\n\nsimulation {{ dt = 0.025 ms, duration = 1 ms, temperature = 34 degC }}\n"
        )
    };
    for ok in [
        "probe \"e\" = eca at p[0].soma(0.5)",
        "probe \"i\" = ica at p[0].soma(0.5)",
        "probe \"n\" = ena at p[0].dend(0.5)",
    ] {
        let (db, c) = compile_text("ions.syl", &model(ok), &[]);
        assert!(c.artifact.is_some(), "{ok}: {}", sylva_tests::render(&db, &c.diagnostics));
    }
    let (db, c) = compile_text("ions.syl", &model("probe \"e\" = eca at p[0].dend(0.5)"), &[]);
    let text = sylva_tests::render(&db, &c.diagnostics);
    assert!(text.contains("no mechanism at this location of cell `c` uses ion `ca`"), "{text}");
    let (db, c) = compile_text("ions.syl", &model("probe \"x\" = vm at p[0].soma(0.5)"), &[]);
    let text = sylva_tests::render(&db, &c.diagnostics);
    assert!(text.contains("`vm` is not a quantity measured at a location"), "{text}");
}

/// A located probe on a population or a range of it is one probe per cell, labelled with the
/// cell's index appended; an empty range, a clash of labels and a spike source are errors.
#[test]
fn a_probe_on_several_cells_is_one_probe_per_cell() {
    let model = |probes: &str| {
        format!(
            "import hh\n\ncell c {{\n    morphology {{\n        section soma {{ length = 20 um, diam = 20 um }}\n        section dend at soma(1) {{ length = 100 um, diam = 1 um, nseg = 4 }}\n    }}\n    insert hh in all\n}}\n\nnetwork n {{\n    population p = c[5]\n    population q = c[2]\n    source kick = spikes(1 ms)\n    {probes}\n}}\n\nsimulation {{ dt = 0.025 ms, duration = 1 ms }}\n"
        )
    };
    let probes = |text: &str| {
        let (db, c) = compile_text("probes.syl", &model(text), &[]);
        let a = c.artifact.unwrap_or_else(|| panic!("{text}: {}", sylva_tests::render(&db, &c.diagnostics)));
        a.model.network.probes.iter().map(|p| (p.label.clone(), p.gid, format!("{:?}", p.target))).collect::<Vec<_>>()
    };
    let all = probes("probe \"h\" = v at q.dend(0.9)");
    let one = probes("probe \"h\" = v at q[1].dend(0.9)");
    assert_eq!(all.iter().map(|p| (p.0.as_str(), p.1)).collect::<Vec<_>>(), [("h0", 5), ("h1", 6)]);
    // The same node as the single-cell form, on every cell.
    assert_eq!((all[1].1, &all[1].2), (one[0].1, &one[0].2));
    assert_eq!(one[0].0, "h");
    let range = probes("probe \"m\" = hh.m at p[1 .. 5 by 2].soma(0.5)");
    assert_eq!(range.iter().map(|p| (p.0.as_str(), p.1)).collect::<Vec<_>>(), [("m1", 1), ("m3", 3)]);
    for (bad, message) in [
        ("probe \"h\" = v at p[2 .. 2].soma(0.5)", "this range selects no cells"),
        (
            "probe \"h1\" = v at p[0].soma(0.5)\n    probe \"h\" = v at p.soma(0.5)",
            "probe \"h1\" is defined more than once",
        ),
        ("probe \"h\" = v at kick.soma(0.5)", "a spike source has no location to probe"),
        ("probe \"h\" = v at p[0 .. 9].soma(0.5)", "cell index out of range for population `p`"),
    ] {
        let (db, c) = compile_text("probes.syl", &model(bad), &[]);
        let text = sylva_tests::render(&db, &c.diagnostics);
        assert!(c.artifact.is_none() && text.contains(message), "{bad}: {text}");
    }
}

/// Poisson sources fire at their rate, as a Poisson process, and every event reaches its
/// synapse.
#[test]
fn poisson_sources_fire_at_their_rate() {
    const SOURCES: usize = 20;
    const RATE_HZ: f64 = 500.0;
    const WEIGHT: f64 = 0.001;
    let (start, stop) = (50.0, 1050.0);
    // expsyn with the longest tau and e at rest: g only adds up the weights it receives, so
    // g / weight counts the delivered events.
    let mut text = String::from(
        "import pas\nimport expsyn\n\ncell c {\n    morphology { section soma { length = 20 um, diam = 20 um } }\n    \
         insert pas in soma { e = -65 mV }\n    synapse syn = expsyn at soma(0.5) { tau = 1e9 ms, e = -65 mV }\n}\n\n\
         network n {\n    population p = c[1]\n    probe \"g\" = p[0].syn.g\n",
    );
    for k in 0..SOURCES {
        text += &format!(
            "    source s{k} = poisson(rate = {RATE_HZ} Hz, seed = {k}, start = {start} ms, stop = {stop} ms)\n    \
             connect s{k} -> p.syn all_to_all {{ weight = {WEIGHT} uS, delay = 0 ms }}\n"
        );
    }
    text += "}\n\nsimulation { dt = 0.025 ms, duration = 1100 ms }\n";
    let (db, compilation) = compile_text("poisson.syl", &text, &[]);
    let artifact =
        compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let model = &artifact.model;
    let duration = model.simulation.duration;
    let trains: Vec<Vec<f64>> = model.network.sources.iter().map(|s| events::source_times(&s.kind, duration)).collect();
    assert_eq!(trains.len(), SOURCES);

    // Each train's count is Poisson with mean rate * (stop - start) = 500: within 5 standard
    // deviations (sqrt(500) ≈ 22) of it, and the total (mean 10,000, sd 100) within 5 sd too.
    let mean = RATE_HZ / 1000.0 * (stop - start);
    let within = |n: usize, mean: f64| (n as f64 - mean).abs() <= 5.0 * mean.sqrt();
    for (k, train) in trains.iter().enumerate() {
        assert!(train.iter().all(|t| (start..=stop).contains(t)), "source {k} outside [start, stop]");
        assert!(train.windows(2).all(|w| w[0] < w[1]), "source {k} not increasing");
        assert!(within(train.len(), mean), "source {k}: {} spikes, expected {mean}", train.len());
    }
    // Each seed its own train.
    for (i, a) in trains.iter().enumerate() {
        assert!(trains[i + 1..].iter().all(|b| a != b), "source {i} repeats another");
    }
    let total: usize = trains.iter().map(Vec::len).sum();
    assert!(within(total, mean * SOURCES as f64), "{total} spikes, expected {}", mean * SOURCES as f64);

    // Intervals of a Poisson process are exponential: mean 1/rate = 2 ms and coefficient of
    // variation 1. Over n ≈ 10,000 intervals both estimates have a relative standard error of
    // 1/sqrt(n) ≈ 1% (the delta method gives exactly 1/sqrt(n) for the CV), so 5% is 5 sd; a
    // regular train at the right rate has CV 0.
    let isi: Vec<f64> = trains.iter().flat_map(|t| t.windows(2).map(|w| w[1] - w[0])).collect();
    let n = isi.len() as f64;
    let isi_mean = isi.iter().sum::<f64>() / n;
    let cv = (isi.iter().map(|x| (x - isi_mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() / isi_mean;
    let bound = 5.0 / n.sqrt();
    assert!((isi_mean * RATE_HZ / 1000.0 - 1.0).abs() < bound, "mean interval {isi_mean} ms");
    assert!((cv - 1.0).abs() < bound, "CV {cv}");

    // Every event is delivered, none before the sources start.
    let mut sim = Simulation::new(&artifact, Options::default()).expect("compiles");
    sim.run(|_, _| {}).expect("runs");
    let g = &sim.columns()[0];
    let delivered = (g.last().expect("rows") / WEIGHT).round() as usize;
    assert_eq!(delivered, total);
    assert!(sim.times().iter().zip(g).all(|(t, g)| *t > start || *g == 0.0));
}
