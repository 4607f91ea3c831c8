use std::fs;
use std::path::Path;
use sylva_compiler::ir::{Backend, Precision};

use super::*;

/// A stop flag that is never set.
static GO: AtomicBool = AtomicBool::new(false);

fn sample() -> Recording {
    Recording {
        labels: vec!["soma.v".into(), "dend[0](0.5).v, mV".into(), "say \"hi\"".into(), "two\nlines".into()],
        times: vec![0.0, 0.025, 0.05, 0.1],
        columns: vec![
            vec![-65.0, -64.99999999999999, 1e-300, f64::MAX],
            vec![-0.0, 0.1 + 0.2, f64::MIN_POSITIVE, 5e-324],
            vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0 / 3.0],
            vec![1e16, 123456789.123, -1e-5, 9.999e-6],
        ],
        spikes: vec![(0, 1.5), (3, 1.5), (1, 2.25)],
        units: vec!["mV".into(), "mV".into(), "mM".into(), "nA".into()],
    }
}

/// A minimal RFC 4180 reader: records of fields, quotes honoured.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "CSV must end with a newline");
    rows
}

fn tmp_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn quoting_follows_rfc_4180() {
    assert_eq!(quote_field("soma.v"), "soma.v");
    assert_eq!(quote_field("with space"), "with space");
    assert_eq!(quote_field("a,b"), "\"a,b\"");
    assert_eq!(quote_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(quote_field("x\ny"), "\"x\ny\"");
    assert_eq!(quote_field("x\ry"), "\"x\ry\"");
}

#[test]
fn numbers_are_short_and_exact() {
    assert_eq!(format_number(-65.0), "-65");
    assert_eq!(format_number(0.025), "0.025");
    assert_eq!(format_number(-0.0), "-0");
    assert_eq!(format_number(f64::NAN), "nan");
    assert_eq!(format_number(f64::NEG_INFINITY), "-inf");
    assert_eq!(format_number(1e-7), "1e-7");
    assert_eq!(format_number(1e16), "1e16");
    assert_eq!(format_number(123.5), "123.5");
}

#[test]
fn trace_csv_round_trips_labels_and_bits() {
    let dir = tempfile::tempdir().unwrap();
    let rec = sample();
    let files = write_all(dir.path(), &rec, false, &GO).unwrap();
    assert!(files.plots.is_empty());
    let rows = read_csv(&fs::read_to_string(&files.trace_csv).unwrap());
    let mut header = vec!["t".to_owned()];
    header.extend(rec.labels.iter().cloned());
    assert_eq!(rows[0], header);
    assert_eq!(rows.len(), rec.times.len() + 1);
    for (r, row) in rows[1..].iter().enumerate() {
        let parsed: Vec<f64> = row.iter().map(|f| f.parse().unwrap()).collect();
        assert_eq!(parsed[0].to_bits(), rec.times[r].to_bits());
        for (c, column) in rec.columns.iter().enumerate() {
            let (got, want) = (parsed[c + 1], column[r]);
            if want.is_nan() {
                assert!(got.is_nan(), "row {r} column {c}: {got}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "row {r} column {c}: {}", row[c + 1]);
            }
        }
    }
    assert!(rows[1][3] == "nan");
}

#[test]
fn spikes_csv_has_header_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(dir.path(), &sample(), false, &GO).unwrap();
    let text = fs::read_to_string(&files.spikes_csv).unwrap();
    assert_eq!(text, "gid,time\n0,1.5\n3,1.5\n1,2.25\n");

    let empty = Recording { spikes: vec![], ..sample() };
    let files = write_all(dir.path(), &empty, true, &GO).unwrap();
    assert_eq!(fs::read_to_string(&files.spikes_csv).unwrap(), "gid,time\n");
    assert_eq!(files.plots, vec![dir.path().join("trace.svg")], "no raster without spikes");
    assert!(!dir.path().join("raster.svg").exists());
}

#[test]
fn writes_are_atomic_and_leave_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("trace.csv"), "old").unwrap();
    let files = write_all(dir.path(), &sample(), true, &GO).unwrap();
    assert!(fs::read_to_string(&files.trace_csv).unwrap().starts_with("t,soma.v,"));
    assert_eq!(tmp_names(dir.path()), Vec::<String>::new());

    // A failing body leaves the old file alone and removes its temporary.
    let path = dir.path().join("spikes.csv");
    let before = fs::read(&path).unwrap();
    let err = write_atomic(&path, |w| {
        w.write_all(b"partial")?;
        Err(io::Error::other("disk full"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(tmp_names(dir.path()), Vec::<String>::new());
}

/// A run removes what the previous run wrote and it does not (so a raster never shows spikes
/// that `spikes.csv` lacks), and never a file Sylva did not write.
#[test]
fn a_run_removes_the_previous_runs_stale_outputs_only() {
    let dir = tempfile::tempdir().unwrap();
    let names = || {
        let mut names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    write_all(dir.path(), &sample(), true, &GO).unwrap();
    assert_eq!(names(), [MANIFEST, "notes.txt", "raster.svg", "spikes.csv", "trace.csv", "trace.svg"]);
    assert_eq!(
        fs::read_to_string(dir.path().join(MANIFEST)).unwrap(),
        "trace.csv\nspikes.csv\ntrace.svg\nraster.svg\n"
    );

    let quiet = Recording { spikes: vec![], ..sample() };
    write_all(dir.path(), &quiet, true, &GO).unwrap();
    assert_eq!(names(), [MANIFEST, "notes.txt", "spikes.csv", "trace.csv", "trace.svg"], "no spikes: no raster");
    write_all(dir.path(), &quiet, false, &GO).unwrap();
    assert_eq!(names(), [MANIFEST, "notes.txt", "spikes.csv", "trace.csv"], "no plots");

    // Only names Sylva writes are taken from a manifest, whatever it lists.
    fs::write(dir.path().join(MANIFEST), "notes.txt\n../x\ntrace.svg\n").unwrap();
    write_all(dir.path(), &quiet, false, &GO).unwrap();
    assert_eq!(names(), [MANIFEST, "notes.txt", "spikes.csv", "trace.csv"]);
    assert_eq!(fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "mine");
}

/// Ctrl-C while writing: the writing stops, its temporaries go, the previous run's files stay.
#[test]
fn a_stopped_write_leaves_the_previous_run_and_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &sample(), true, &GO).unwrap();
    let before: Vec<_> = ["trace.csv", "spikes.csv", "trace.svg", "raster.svg", MANIFEST]
        .map(|n| fs::read(dir.path().join(n)).unwrap())
        .into();
    let stop = AtomicBool::new(true);
    assert!(matches!(write_all(dir.path(), &sample(), false, &stop), Err(OutputError::Interrupted)));

    // Stopped in the middle of a long trace, once its temporary exists.
    let n = 2_000_000;
    let long = Recording {
        labels: vec!["v".into()],
        times: (0..n).map(|i| i as f64 * 0.025).collect(),
        columns: vec![(0..n).map(|i| -65.0 + i as f64 * 1e-7).collect()],
        units: vec!["mV".into()],
        spikes: vec![],
    };
    let stop = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        let writer = s.spawn(|| write_all(dir.path(), &long, false, &stop));
        while tmp_names(dir.path()).is_empty() {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap()
    });
    assert!(matches!(result, Err(OutputError::Interrupted)), "{result:?}");
    assert_eq!(tmp_names(dir.path()), Vec::<String>::new());
    let after: Vec<_> = ["trace.csv", "spikes.csv", "trace.svg", "raster.svg", MANIFEST]
        .map(|n| fs::read(dir.path().join(n)).unwrap())
        .into();
    assert!(before == after, "the previous run's files changed");
}

#[test]
fn prepare_dir_creates_nested_and_leaves_only_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a/b/out");
    let lock = prepare_dir(&out).unwrap();
    assert!(out.is_dir());
    let names: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [LOCK_FILE]);
    assert_eq!(fs::read_to_string(out.join(LOCK_FILE)).unwrap(), format!("{}\n", std::process::id()));
    drop(lock);
    let _again = prepare_dir(&out).unwrap();
}

#[test]
fn a_held_directory_is_refused_with_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let lock = prepare_dir(dir.path()).unwrap();
    let msg = prepare_dir(dir.path()).unwrap_err().to_string();
    let want = format!(
        "output directory `{}` is in use by another sylva run (pid {})",
        dir.path().display(),
        std::process::id()
    );
    assert!(msg.starts_with(&want), "{msg}");
    // The OS releases the lock with its holder; a pid left in the file does not hold it.
    drop(lock);
    let _lock = prepare_dir(dir.path()).unwrap();
}

/// Two writers of one file at once (two runs, before the lock existed, shared `.<name>.tmp`
/// and left ragged rows): each writes its own temporary, and the file is one of them, whole.
#[test]
fn concurrent_writes_of_one_file_do_not_mix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.csv");
    let (first_started, second_done) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|s| {
        let slow = s.spawn(|| {
            write_atomic(&path, |w| {
                w.write_all(b"first,")?;
                first_started.wait();
                second_done.wait();
                w.write_all(b"whole\n")
            })
        });
        first_started.wait();
        let fast = write_atomic(&path, |w| w.write_all(b"second,whole\n"));
        second_done.wait();
        fast.unwrap();
        slow.join().unwrap().unwrap();
    });
    assert_eq!(fs::read_to_string(&path).unwrap(), "first,whole\n");
    assert_eq!(tmp_names(dir.path()), Vec::<String>::new());
}

#[test]
fn prepare_dir_under_a_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, "x").unwrap();
    let out = file.join("out");
    let err = prepare_dir(&out).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cannot create output directory"), "{msg}");
    assert!(msg.contains(&out.display().to_string()), "{msg}");
    assert!(msg.contains("os error"), "{msg}");
    // The directory itself being a file fails too.
    assert!(prepare_dir(&file).is_err());
}

#[test]
fn malformed_recordings_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = sample();
    rec.columns[1].pop();
    let msg = write_all(dir.path(), &rec, true, &GO).unwrap_err().to_string();
    assert!(msg.contains("dend[0](0.5).v, mV") && msg.contains("3 values for 4 times"), "{msg}");
    rec.columns.pop();
    assert!(write_all(dir.path(), &rec, true, &GO).is_err());
}

#[test]
fn svg_plots_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(dir.path(), &sample(), true, &GO).unwrap();
    assert_eq!(files.plots, vec![dir.path().join("trace.svg"), dir.path().join("raster.svg")]);
    let trace = fs::read_to_string(&files.plots[0]).unwrap();
    assert!(trace.contains("<svg"), "{trace}");
    assert!(trace.contains("soma.v"), "legend names the probes");
    assert!(trace.contains("say &quot;hi&quot;") || trace.contains("say \"hi\""));
    assert!(trace.contains("t (ms)"));
    let raster = fs::read_to_string(&files.plots[1]).unwrap();
    assert!(raster.contains("<svg") && raster.contains("gid"));
}

#[test]
fn long_and_odd_traces_plot_with_bounded_size() {
    let n = 200_000;
    let times: Vec<f64> = (0..n).map(|i| i as f64 * 0.025).collect();
    let labels: Vec<String> = (0..30).map(|i| format!("cell[{i}].soma.v")).collect();
    let columns: Vec<Vec<f64>> = (0..30)
        .map(|c| {
            times
                .iter()
                .enumerate()
                .map(|(i, t)| if i % 5000 == 7 { f64::NAN } else { (t * 0.1 + c as f64).sin() })
                .collect()
        })
        .collect();
    let rec = Recording { labels, times, columns, spikes: vec![(7, 3.0)], units: Vec::new() };
    let svg = plot::trace_svg(&rec).unwrap();
    assert!(svg.len() < 30 * 1_000_000, "{} bytes", svg.len());
    assert!(svg.contains("… 11 more"));
    // Empty recordings still draw.
    assert!(plot::trace_svg(&Recording::default()).unwrap().contains("<svg"));
    assert!(plot::raster_svg(&[(5, 1.0)]).unwrap().contains("<svg"));
}

#[test]
fn config_full_example() {
    let text = "\
# A run file
dt: 0.01 ms
duration: 50
set:
  weight: 0.05uS
  rings: 10
  scale: 0.5
output: out/run1
backend: cpu
precision: f64
plots: false
";
    let cfg = parse_config(text).unwrap();
    assert_eq!(cfg.dt, Some(0.01));
    // A bare number is in ms, as docs/outputs.md says.
    assert_eq!(cfg.duration, Some(50.0));
    let set: Vec<_> = cfg.set.iter().map(|s| (s.name.as_str(), s.value.as_str(), &text[s.name_at.clone()])).collect();
    assert_eq!(set, [("weight", "0.05uS", "weight"), ("rings", "10", "rings"), ("scale", "0.5", "scale")]);
    let values: Vec<_> = cfg.set.iter().map(|s| &text[s.value_at.clone()]).collect();
    assert_eq!(values, ["0.05uS", "10", "0.5"]);
    assert_eq!(cfg.output.as_deref(), Some(Path::new("out/run1")));
    assert_eq!(cfg.backend, Some(Backend::Cpu));
    assert_eq!(cfg.precision, Some(Precision::F64));
    assert_eq!(cfg.plots, Some(false));

    let flow_text = "dt: 0.01\nset: {weight: 0.05uS, rings: 10, \"big\": 1e3}\n";
    let flow = parse_config(flow_text).unwrap();
    assert_eq!(flow.dt, Some(0.01));
    let set: Vec<_> = flow
        .set
        .iter()
        .map(|s| (s.value.as_str(), &flow_text[s.name_at.clone()], &flow_text[s.value_at.clone()]))
        .collect();
    assert_eq!(set, [("0.05uS", "weight", "0.05uS"), ("10", "rings", "10"), ("1000", "\"big\"", "1e3")]);
    // The ranges are in bytes, after any non-ASCII text.
    let accented = "# café ééé\nset:\n  w: 1\n";
    let cfg = parse_config(accented).unwrap();
    assert_eq!((&accented[cfg.set[0].name_at.clone()], &accented[cfg.set[0].value_at.clone()]), ("w", "1"));
    assert_eq!(parse_config("").unwrap(), RunConfig::default());
    assert_eq!(parse_config("# nothing\n").unwrap(), RunConfig::default());
    assert_eq!(parse_config("set:\n").unwrap().set.len(), 0);
}

/// Values are checked where they are written: the error has the value's line and column.
#[test]
fn config_value_errors_point_at_the_value() {
    for (text, expected) in [
        ("dt: 1 ms\nbackend: tpu\n", "<run file>:2:10: backend: `tpu` is not `cpu` or `gpu`"),
        ("precision: f16\n", "<run file>:1:12: precision: `f16` is not `f64` or `f32`"),
        ("gpu_strategy: warp\n", "<run file>:1:15: gpu_strategy: GPU strategy `warp` is not"),
        ("duration: 2 mV\n", "<run file>:1:11: duration: `2 mV` is a voltage (mV), not a time"),
        ("dt: -1\n", "<run file>:1:5: dt: `-1` is not a positive time"),
        ("set: {a: 1, a: 2}\n", "`a` is set twice"),
        ("- dt: 1 ms\n", "<run file>:1:1: invalid type: sequence, expected a map of settings"),
    ] {
        let msg = parse_config(text).unwrap_err().to_string();
        assert!(msg.contains(expected), "{text:?}: {msg}");
    }
}

#[test]
fn config_unknown_key_names_key_and_line() {
    let err = parse_config("dt: 0.01 ms\nduraton: 50 ms\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("duraton"), "{msg}");
    assert!(msg.contains("duration"), "lists the expected keys: {msg}");
    match &err {
        ConfigError::Invalid { line, .. } => assert_eq!(*line, Some(2), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(msg.starts_with("<run file>:2:"), "{msg}");
}

#[test]
fn config_bad_values_and_files() {
    let msg = parse_config("set: {weight: [1, 2]}\n").unwrap_err().to_string();
    assert!(msg.contains("number with an optional unit"), "{msg}");
    let msg = parse_config("plots: maybe\n").unwrap_err().to_string();
    assert!(msg.contains("plots") || msg.contains("bool"), "{msg}");
    let msg = parse_config("dt: [\n").unwrap_err().to_string();
    assert!(msg.starts_with("<run file>:"), "{msg}");
    // The end of a file without a final line break is on its last line, not the one after.
    let msg = parse_config("dt: 0.01\nplots: true\npl").unwrap_err().to_string();
    assert!(msg.starts_with("<run file>:3:3:"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("run.yaml");
    let msg = load_config(&missing).unwrap_err().to_string();
    assert!(msg.contains("run.yaml") && msg.contains("os error"), "{msg}");
    fs::write(&missing, "dt: 1 ms\nbogus: 1\n").unwrap();
    let msg = load_config(&missing).unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{}:2:", missing.display())), "{msg}");
}

#[test]
fn extreme_values_plot_without_hanging() {
    let cases: [&[f64]; 8] = [
        &[f64::MAX, -f64::MAX],
        &[0.0, 5e-324],
        &[1e300, 1e300 * (1.0 + f64::EPSILON)],
        &[-65.0, -65.0],
        &[f64::NAN, f64::INFINITY],
        &[1e-310, 2e-310],
        &[-65.0, -65.0 + 1e-13],
        &[0.0, 1e-15],
    ];
    for values in cases {
        let rec = Recording {
            labels: vec!["v".into()],
            times: vec![0.0, 1e-300],
            columns: vec![values.to_vec()],
            spikes: vec![(u32::MAX, f64::MAX), (0, -1.0)],
            units: vec!["mV".into()],
        };
        assert!(plot::trace_svg(&rec).unwrap().contains("<svg"), "{values:?}");
        assert!(plot::raster_svg(&rec.spikes).unwrap().contains("<svg"), "{values:?}");
    }
}

/// A `params.yaml` reads back to the values written, bit for bit, whatever their size and
/// whatever the names.
#[test]
fn params_yaml_reads_back_what_was_written() {
    let values = [0.12, -54.3, 1e-7, 3e-300, 1.5e300, 0.0, -0.0, 123456789.123, 4.5e-4];
    let rec = TrainingRecord {
        model: "m.syl".into(),
        params: values
            .iter()
            .enumerate()
            .map(|(i, &v)| TrainedValue {
                name: ["hh.gnabar in soma", "a: b", "\"q\"", "yes", "- x", "#c", "1.5", "x,y", "ü"][i].into(),
                value: v,
                unit: if i % 2 == 0 { "S/cm2".into() } else { "mV".into() },
                start: -v,
            })
            .collect(),
        losses: vec![2.0, 1.0],
        iterations: 1,
        epochs: Vec::new(),
        converged: None,
    };
    let mut text = Vec::new();
    write_params_yaml(&mut text, &rec).expect("writes");
    let text = String::from_utf8(text).expect("utf-8");
    let back = parse_params(&text).expect(&text);
    assert_eq!(back.len(), values.len());
    for (p, e) in rec.params.iter().zip(&back) {
        assert_eq!(
            (p.name.as_str(), p.value.to_bits(), Some(p.unit.as_str())),
            (e.name.as_str(), e.value.to_bits(), e.unit.as_deref()),
            "{text}"
        );
    }
    assert_eq!(back[1].line, 9, "the line of its `name`");
    let err = parse_params("params:\n  - name: x\n    value: [1]\n").expect_err("not a number");
    assert!(err.to_string().contains(":3:"), "{err}");
}

/// With samples, `loss.csv` has a row per epoch with both sets' losses and accuracies, empty
/// where there is none, and `params.yaml` counts epochs.
#[test]
fn loss_csv_of_epochs() {
    let row = |epoch, test: Option<f64>| EpochRow {
        epoch,
        train_loss: 0.5,
        train_accuracy: Some(0.75),
        test_loss: test,
        test_accuracy: test.map(|_| 1.0),
    };
    let rec = TrainingRecord {
        model: "m.syl".into(),
        params: Vec::new(),
        losses: vec![0.5, 0.5],
        iterations: 3,
        epochs: vec![row(0, None), row(1, Some(0.25))],
        converged: None,
    };
    let mut csv = Vec::new();
    write_loss_csv(&mut csv, &rec).expect("writes");
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "epoch,train_loss,train_accuracy,test_loss,test_accuracy\n0,0.5,0.75,,\n1,0.5,0.75,0.25,1\n"
    );
    let mut yaml = Vec::new();
    write_params_yaml(&mut yaml, &rec).expect("writes");
    assert!(String::from_utf8(yaml).unwrap().contains("# 1 epoch (stopped; 3 asked); loss 0.5 -> 0.5"));
}
