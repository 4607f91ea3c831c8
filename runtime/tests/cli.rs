//! The `sylva` binary end to end: exit codes, files written, error reports.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository").to_path_buf()
}

fn sylva(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sylva")).args(args).current_dir(repo()).output().expect("runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sylva-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A GPU run that found no adapter: fails in CI (which installs lavapipe), else is skipped
/// with a message.
fn no_gpu(result: &std::process::Output) -> bool {
    let stderr = String::from_utf8_lossy(&result.stderr);
    if result.status.code() == Some(2) && stderr.contains("no GPU adapter") {
        assert!(std::env::var_os("CI").is_none(), "CI must have a GPU adapter (lavapipe): {stderr}");
        eprintln!("skipped: no GPU adapter here ({stderr})");
        return true;
    }
    false
}

/// The standard output of a `sylva` command on the GPU that must succeed; `None` (skipped) where
/// there is no adapter, as [`no_gpu`] says.
fn gpu_stdout(result: &std::process::Output) -> Option<String> {
    if no_gpu(result) {
        return None;
    }
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert_eq!(result.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
    Some(stdout)
}

#[test]
fn run_writes_traces_spikes_and_plots() {
    let out = scratch("hh");
    let result = sylva(&["run", "examples/neuron/hh_soma.syl", "-o", out.to_str().expect("utf-8")]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let trace = std::fs::read_to_string(out.join("trace.csv")).expect("trace.csv");
    assert_eq!(trace.lines().next(), Some("t,soma_v"));
    assert_eq!(trace.lines().count(), 2002, "header + 2001 rows, t = 0 … 50 ms");
    let spikes = std::fs::read_to_string(out.join("spikes.csv")).expect("spikes.csv");
    assert_eq!(spikes.lines().collect::<Vec<_>>(), ["gid,time", "0,6.4", "0,19.3", "0,31.85", "0,44.375"]);
    assert!(std::fs::read_to_string(out.join("trace.svg")).expect("plot").contains("<svg"));
    let summary = String::from_utf8_lossy(&result.stdout);
    assert!(summary.contains("compartment-steps/s"), "{summary}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn run_file_and_set_override_the_model() {
    let out = scratch("config");
    std::fs::create_dir_all(&out).expect("dir");
    let config = out.join("run.yaml");
    std::fs::write(&config, "duration: 20 ms\nset:\n  weight: 0.05uS\nplots: false\n").expect("config");
    let result = sylva(&[
        "run",
        "examples/neuron/syn_pair.syl",
        "--config",
        config.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let spikes = std::fs::read_to_string(out.join("spikes.csv")).expect("spikes.csv");
    // With the strong synapse, cell 1 fires at 11.35 ms as in NEURON's w0.05 reference.
    assert_eq!(spikes.lines().collect::<Vec<_>>(), ["gid,time", "0,7.1", "1,11.35"]);
    assert!(!out.join("trace.svg").exists());
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn exit_codes_distinguish_model_errors_from_usage_errors() {
    let broken = sylva(&["check", "tests/data/diagnostics/E0302.syl", "--color", "never"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("E0302.syl:"));
    let missing = sylva(&["check", "no/such/file.syl"]);
    assert_eq!(missing.status.code(), Some(2));
    let usage = sylva(&["run"]);
    assert_eq!(usage.status.code(), Some(2));
    // An output directory under a regular file cannot be created: reported before the run.
    let file = scratch("file");
    std::fs::write(&file, "x").expect("file");
    let unwritable = file.join("out");
    let result = sylva(&["run", "examples/neuron/hh_soma.syl", "-o", unwritable.to_str().expect("utf-8")]);
    assert_eq!(result.status.code(), Some(2), "{}", String::from_utf8_lossy(&result.stderr));
    let _ = std::fs::remove_file(file);
}

/// `sylva check x.mod` reports the translation's diagnostics at the `.mod` line, and checks a
/// clean file's translation as Sylva.
#[test]
fn check_of_a_mod_file_reports_its_translation() {
    let clean = sylva(&["check", "tests/data/nmodl/hh2.mod"]);
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("hh2.mod: ok (1 mechanisms)"));
    let broken = sylva(&["check", "tests/data/diagnostics/E0801.mod", "--color", "never"]);
    assert_eq!(broken.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("error[E0801]") && stderr.contains("tests/data/diagnostics/E0801.mod:15:1"), "{stderr}");
    // The partial translation would miss the current (E0208): that follows from E0801.
    assert!(!stderr.contains("(translated)") && !stderr.contains("E0208"), "{stderr}");
}

/// A run file's `dt` and `duration` are not the compiler's to check: the run refuses them
/// before allocating (it aborted allocating 80 GB for `dt: 1e-9 ms`).
#[test]
fn a_run_file_beyond_the_limits_is_refused_before_allocating() {
    let out = scratch("limits");
    std::fs::create_dir_all(&out).expect("dir");
    for (setting, expected) in [
        ("dt: 1e-9 ms", "the run would take 5e10 time steps, more than the limit of 1e9 (duration 50 ms, dt 1e-9 ms)"),
        ("duration: 1e12 ms", "the run would take 4e13 time steps"),
    ] {
        let config = out.join("run.yaml");
        std::fs::write(&config, format!("{setting}\n")).expect("config");
        let result = sylva(&["run", "examples/neuron/hh_soma.syl", "--config", config.to_str().expect("utf-8")]);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(out);
}

/// A run file's errors point into it: a bad value at the value, a bad `set` name at the name
/// (it was at `<command line>:1:1`). A bare `duration` is in ms, as docs/outputs.md says.
#[test]
fn run_file_errors_point_into_the_run_file() {
    let out = scratch("run_file_errors");
    std::fs::create_dir_all(&out).expect("dir");
    let config = out.join("run.yaml");
    let path = config.to_str().expect("utf-8");
    let run = |text: &str| {
        std::fs::write(&config, text).expect("config");
        let result = sylva(&["run", "--color", "never", "examples/neuron/hh_soma.syl", "--config", path, "-o", path]);
        (result.status.code(), String::from_utf8_lossy(&result.stderr).into_owned())
    };
    let (code, stderr) = run("dt: 0.025 ms\nbackend: tpu\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{path}:2:10: backend: `tpu` is not `cpu` or `gpu`")), "{stderr}");
    let (code, stderr) = run("set:\n  nosuch: 3\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("`set: nosuch`: the model has no parameter `nosuch`"), "{stderr}");
    assert!(stderr.contains(&format!("{path}:2:3")), "{stderr}");
    let (code, stderr) = run("- duration: 10 ms\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("expected a map of settings"), "{stderr}");
    std::fs::write(&config, "duration: 1\nplots: false\n").expect("config");
    let dir = out.join("out");
    let result = sylva(&["run", "examples/neuron/hh_soma.syl", "--config", path, "-o", dir.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains("40 steps of 0.025 ms"), "{stdout}");
    let _ = std::fs::remove_dir_all(out);
}

/// A file that is not UTF-8 says where its first bad byte is, as the model or as an import.
#[test]
fn invalid_utf8_is_located() {
    let dir = scratch("utf8");
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.syl");
    std::fs::write(&bad, b"// caf\xc3\xa9\nparam g: mV = 1 \xff\xfe\n").expect("bad");
    let root = sylva(&["check", bad.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&root.stderr);
    assert_eq!(root.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not UTF-8 text: byte 0xff at line 2, column 17 (byte offset 25)"), "{stderr}");
    let model = dir.join("model.syl");
    std::fs::write(&model, "import \"bad.syl\"\n").expect("model");
    let import = sylva(&["check", "--color", "never", model.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert_eq!(import.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("byte 0xff at line 2, column 17"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A device or a pipe is not a model file: `import "/dev/urandom"` used to read forever.
#[test]
fn files_that_are_not_regular_or_too_large_are_refused() {
    let dir = scratch("files");
    std::fs::create_dir_all(&dir).expect("dir");
    let model = dir.join("model.syl");
    let huge = dir.join("huge.syl");
    // Sparse: no disk is used.
    std::fs::File::create(&huge).and_then(|f| f.set_len(65 << 20)).expect("sparse file");
    std::fs::write(&model, "import \"/dev/urandom\"\nimport \"huge.syl\"\n").expect("model");
    let result = sylva(&["check", "--color", "never", model.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot import `/dev/urandom`: not a regular file"), "{stderr}");
    assert!(stderr.contains("cannot import `huge.syl`: larger than the limit of 64 MiB"), "{stderr}");
    let root = sylva(&["check", "/dev/urandom"]);
    assert_eq!(root.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&root.stderr).contains("cannot read `/dev/urandom`: not a regular file"));
    // A run file too: `--config /dev/urandom` used to read forever.
    let config = sylva(&["run", "examples/neuron/hh_soma.syl", "--config", "/dev/urandom", "--no-plots"]);
    let stderr = String::from_utf8_lossy(&config.stderr);
    assert_eq!(config.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read run file `/dev/urandom`: not a regular file"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `--threads 100000` used to spawn 100,000 threads; more than the machine runs at once are
/// reduced to that.
#[test]
fn more_threads_than_the_machine_runs_are_reduced() {
    let out = scratch("threads");
    let result = sylva(&[
        "run",
        "examples/neuron/hh_soma.syl",
        "--no-plots",
        "--threads",
        "100000",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    let (stdout, stderr) = (String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
    assert!(result.status.success(), "{stderr}");
    let available = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(stderr.contains(&format!("warning: --threads 100000: using {available}")), "{stderr}");
    assert!(!stdout.contains("100000 threads"), "{stdout}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_diverging_model_names_the_place_time_and_mechanism() {
    let dir = scratch("diverge");
    std::fs::create_dir_all(&dir).expect("dir");
    let model = dir.join("diverge.syl");
    std::fs::write(
        &model,
        "density runaway {\n    state x: 1 = 1\n    x' = x / 0.01 ms\n    current i\n    i = -x * 1 mA/cm2\n}\ncell c {\n    morphology { section soma { length = 10 um, diam = 10 um } }\n    insert runaway in soma\n}\nnetwork n {\n    population p = c[1]\n    probe \"v\" = v at p[0].soma(0.5)\n}\nsimulation { dt = 0.1 ms, duration = 10 ms }\n",
    )
    .expect("model");
    let out = dir.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", model.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8")];
        args.extend(extra);
        sylva(&args)
    };
    let result = run(&[]);
    let stderr = String::from_utf8_lossy(&result.stderr).to_string();
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("diverged")
            && stderr.contains("soma(0.5000)")
            && stderr.contains("step")
            && stderr.contains("`runaway`"),
        "{stderr}"
    );
    assert!(stderr.contains("v = 2.2e6 mV"), "short: {stderr}");
    // A voltage near the largest double is not printed with its 300 digits.
    let huge = dir.join("huge.syl");
    let text = std::fs::read_to_string(&model).expect("model");
    std::fs::write(&huge, text.replace("-x * 1 mA/cm2", "-x * 1e290 mA/cm2")).expect("huge");
    let result = sylva(&["run", huge.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8")]);
    let huge_stderr = String::from_utf8_lossy(&result.stderr);
    assert!(huge_stderr.contains("v = 1e292 mV in cell"), "{huge_stderr}");
    // The GPU engine (both strategies, f64) stops at the same step and says the same.
    for strategy in ["thread", "workgroup"] {
        let result = run(&["--backend", "gpu", "--gpu-strategy", strategy]);
        let gpu = String::from_utf8_lossy(&result.stderr);
        if no_gpu(&result) {
            break;
        }
        assert_eq!(result.status.code(), Some(1), "{gpu}");
        let report = |text: &str| {
            text.lines()
                .filter(|l| l.contains("diverged") || l.contains("note:"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(report(&gpu), report(&stderr), "{strategy}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn emit_clif_prints_every_kernel() {
    let result = sylva(&["compile", "examples/neuron/hh_soma.syl", "--emit", "clif"]);
    assert!(result.status.success());
    let text = String::from_utf8_lossy(&result.stdout);
    for stage in ["stage current", "stage advance"] {
        assert!(text.contains(stage), "{stage} missing");
    }
    // Initialisation runs once, interpreted from the plan: no native code for it.
    assert!(!text.contains("stage init"));
    assert!(text.contains("block0: hh") || text.contains("block 0: hh"), "{}", &text[..200.min(text.len())]);
}

/// `--backend gpu` on lavapipe (CI installs it) or a real GPU: the same spikes as the CPU
/// engine. In CI a missing adapter fails the test; elsewhere it is skipped with a message.
#[test]
fn gpu_backend_runs_and_agrees_on_spikes() {
    let out = scratch("gpu");
    let result = sylva(&[
        "run",
        "examples/neuron/hh_soma.syl",
        "--backend",
        "gpu",
        "-o",
        out.to_str().expect("utf-8"),
        "--no-plots",
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    if no_gpu(&result) {
        return;
    }
    assert!(result.status.success(), "{stderr}");
    let spikes = std::fs::read_to_string(out.join("spikes.csv")).expect("spikes.csv");
    assert_eq!(spikes.lines().collect::<Vec<_>>(), ["gid,time", "0,6.4", "0,19.3", "0,31.85", "0,44.375"]);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn emit_wgsl_prints_a_compute_shader() {
    let result = sylva(&["compile", "examples/neuron/hh_soma.syl", "--emit", "wgsl"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(text.contains("@compute") && text.contains("fn sylva_exp"), "{}", &text[..300.min(text.len())]);
}

/// Largest |difference| between two trace.csv files with the same columns.
fn max_trace_difference(a: &Path, b: &Path) -> f64 {
    let read = |p: &Path| -> Vec<Vec<f64>> {
        let text = std::fs::read_to_string(p).expect("trace.csv");
        text.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().expect("a number")).collect()).collect()
    };
    let (a, b) = (read(a), read(b));
    assert_eq!(a.len(), b.len(), "rows");
    a.iter().zip(&b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0.0, f64::max)
}

/// `--gpu-strategy workgroup --gpu-workgroup-size 64`: the run says what it used and its
/// traces match the CPU engine's (f64, ≤ 1e-6 mV).
#[test]
fn gpu_workgroup_strategy_runs_and_matches_the_cpu() {
    let (gpu_out, cpu_out) = (scratch("gpu_workgroup"), scratch("gpu_workgroup_cpu"));
    let args = |out: &PathBuf| {
        vec!["run", "examples/neuron/y_tree.syl", "-o", out.to_str().expect("utf-8"), "--no-plots"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let mut gpu_args = args(&gpu_out);
    gpu_args
        .extend(["--backend", "gpu", "--gpu-strategy", "workgroup", "--gpu-workgroup-size", "64"].map(String::from));
    let result = sylva(&gpu_args.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    if no_gpu(&result) {
        return;
    }
    assert!(result.status.success(), "{stderr}");
    assert!(stdout.contains("a workgroup of 64 per cell"), "{stdout}");
    let cpu = sylva(&args(&cpu_out).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(cpu.status.success(), "{}", String::from_utf8_lossy(&cpu.stderr));
    let worst = max_trace_difference(&gpu_out.join("trace.csv"), &cpu_out.join("trace.csv"));
    assert!(worst <= 1e-9, "GPU workgroup vs CPU: {worst} mV");
    for out in [gpu_out, cpu_out] {
        let _ = std::fs::remove_dir_all(out);
    }
}

/// `--gpu-solve split|chains`: the summary line names the solve and its step-cost model, and
/// both match the CPU engine (f64, ≤ 1e-9 mV: `GPU_F64_AGAINST_CPU` of tests/reference.rs).
#[test]
fn gpu_solve_choice_is_named_and_matches_the_cpu() {
    let cpu_out = scratch("gpu_solve_cpu");
    let out_arg = |out: &PathBuf| out.to_str().expect("utf-8").to_string();
    let cpu = sylva(&["run", "examples/neuron/y_tree.syl", "-o", &out_arg(&cpu_out), "--no-plots"]);
    assert!(cpu.status.success(), "{}", String::from_utf8_lossy(&cpu.stderr));
    for (solve, named) in [("split", "chains split every"), ("chains", "whole chains")] {
        let out = scratch(&format!("gpu_solve_{solve}"));
        let o = out_arg(&out);
        let args = ["run", "examples/neuron/y_tree.syl", "-o", &o, "--no-plots", "--backend", "gpu"];
        let result = sylva(&[&args[..], &["--gpu-strategy", "workgroup", "--gpu-solve", solve]].concat());
        let Some(stdout) = gpu_stdout(&result) else { return };
        assert!(stdout.contains(named) && stdout.contains("dependent node updates"), "{stdout}");
        let worst = max_trace_difference(&out.join("trace.csv"), &cpu_out.join("trace.csv"));
        assert!(worst <= 1e-9, "--gpu-solve {solve} vs CPU: {worst} mV");
        let _ = std::fs::remove_dir_all(out);
    }
    let bad = sylva(&["run", "examples/neuron/y_tree.syl", "--backend", "gpu", "--gpu-solve", "cyclic"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    let _ = std::fs::remove_dir_all(cpu_out);
}

#[test]
fn bad_gpu_strategy_settings_are_usage_errors() {
    let out = scratch("bad_strategy");
    let size = sylva(&["run", "examples/neuron/y_tree.syl", "--backend", "gpu", "--gpu-workgroup-size", "0"]);
    assert_eq!(size.status.code(), Some(2), "{}", String::from_utf8_lossy(&size.stderr));
    std::fs::create_dir_all(&out).expect("scratch directory");
    let config = out.join("run.yaml");
    std::fs::write(&config, "gpu_strategy: warp\n").expect("write");
    let result = sylva(&[
        "run",
        "examples/neuron/y_tree.syl",
        "--config",
        config.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("GPU strategy `warp` is not `auto`, `thread` or `workgroup`"), "{stderr}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn emit_wgsl_of_a_workgroup_strategy_has_barriers() {
    let result = sylva(&["compile", "examples/neuron/y_tree.syl", "--emit", "wgsl", "--gpu-strategy", "workgroup"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(
        text.contains("local_invocation_index") && text.contains("workgroupBarrier()"),
        "{}",
        &text[..300.min(text.len())]
    );
}

/// A directory another live run holds is refused (exit 2, naming it and the holder); once the
/// holder is gone, a run proceeds although its pid is still in the lock file.
#[test]
fn a_second_run_into_a_held_directory_is_refused() {
    let out = scratch("locked");
    std::fs::create_dir_all(&out).expect("dir");
    let lock = std::fs::File::create(out.join(".sylva.lock")).expect("lock file");
    lock.try_lock().expect("lock");
    std::fs::write(out.join(".sylva.lock"), format!("{}\n", std::process::id())).expect("pid");
    let args = ["run", "examples/neuron/hh_soma.syl", "--no-plots", "-o", out.to_str().expect("utf-8")];
    let refused = sylva(&args);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    let want =
        format!("output directory `{}` is in use by another sylva run (pid {})", out.display(), std::process::id());
    assert!(stderr.contains(&want), "{stderr}");
    assert!(!out.join("trace.csv").exists());
    drop(lock);
    let result = sylva(&args);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let _ = std::fs::remove_dir_all(out);
}

/// A run's directory holds only that run's outputs: after a run with plots, a `--no-plots`
/// run removes the old SVGs, and a file of the user's survives.
#[test]
fn a_new_run_removes_the_previous_runs_plots() {
    let out = scratch("stale");
    let dir = out.to_str().expect("utf-8");
    let first = sylva(&["run", "examples/neuron/hh_soma.syl", "-o", dir]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(out.join("trace.svg").exists() && out.join("raster.svg").exists());
    std::fs::write(out.join("notes.txt"), "mine").expect("user file");
    let second = sylva(&["run", "examples/neuron/hh_soma.syl", "-o", dir, "--no-plots"]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["notes.txt", "spikes.csv", "trace.csv"]);
    let _ = std::fs::remove_dir_all(out);
}

/// Runs `sylva ARGS -o OUT` and sends it SIGINT once it holds its output directory (the lock
/// file with its pid says that its Ctrl-C handler is in place); its output.
#[cfg(unix)]
fn interrupted(args: &[&str], out: &std::path::Path) -> std::process::Output {
    use std::time::{Duration, Instant};
    let child = Command::new(env!("CARGO_BIN_EXE_sylva"))
        .args(args)
        .args(["-o", out.to_str().expect("utf-8")])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let pid = child.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(out.join(".sylva.lock")).map_or(true, |text| text.trim() != pid) {
        assert!(Instant::now() < deadline, "`sylva {}` never took its directory", args[0]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill").args(["-INT", &pid]).status().expect("kill");
    assert!(kill.success());
    child.wait_with_output().expect("waits")
}

/// Ctrl-C (SIGINT) stops a run cleanly: it says where, exits 130, leaves no temporary and
/// writes nothing. The lock file holding the run's pid says that the handler is in place.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_run_cleanly() {
    let out = scratch("interrupt");
    std::fs::create_dir_all(&out).expect("dir");
    let config = out.join("run.yaml");
    // About 20 s of simulation in a debug build: still running when the signal comes.
    std::fs::write(&config, "duration: 200000 ms\n").expect("config");
    let args = ["run", "examples/neuron/hh_soma.syl", "--config", config.to_str().expect("utf-8")];
    let result = interrupted(&args, &out);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.starts_with("interrupted at t = ") && stderr.contains(" ms of 200000 ms; nothing written"),
        "{stderr}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".sylva.lock", "run.yaml"], "no outputs, no temporaries");
    let _ = std::fs::remove_dir_all(out);
}

/// `sylva grad --check` on the training example: every trainable with its value, derivative
/// and central difference, and the largest relative error within 1e-6.
#[test]
fn grad_check_agrees_with_central_differences_on_the_training_example() {
    let result = sylva(&["grad", "--check", "examples/train/fit_hh.syl"]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
    for name in ["hh.gnabar in soma", "hh.gkbar in soma", "hh.gl in soma", "hh.el in soma"] {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{stdout}"));
        assert_eq!(
            line.split_whitespace().count(),
            8,
            "name (3 words), value, unit, derivative, difference, error: {line}"
        );
    }
    assert!(stdout.contains("hh.gnabar in soma           0.08 S/cm2"), "the start value in its unit: {stdout}");
    assert!(stdout.contains("largest relative error") && stdout.contains(": ok;"), "{stdout}");
}

/// `sylva grad --check --backend gpu`: the GPU's gradient (f64) against central differences of
/// the loss within 1e-6, and in f32 within the f32 bound, 1e-3; `--precision f32` without the
/// GPU is refused as a usage error.
#[test]
fn grad_check_on_the_gpu() {
    let result = sylva(&["grad", "--check", "--backend", "gpu", "examples/train/fit_hh.syl"]);
    let Some(stdout) = gpu_stdout(&result) else { return };
    assert!(stdout.contains("on the GPU in f64"), "{stdout}");
    assert!(stdout.contains("(tolerance 1e-6): ok;"), "{stdout}");
    let result = sylva(&["grad", "--check", "--backend", "gpu", "--precision", "f32", "examples/train/fit_hh.syl"]);
    let Some(stdout) = gpu_stdout(&result) else { return };
    assert!(stdout.contains("on the GPU in f32") && stdout.contains("(tolerance 1e-3): ok;"), "{stdout}");
    let result = sylva(&["grad", "--precision", "f32", "examples/train/fit_hh.syl"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the CPU computes gradients in f64"), "{stderr}");
}

/// `sylva grad --check --backend gpu` through a gap junction (cells coupled through `v_pre`):
/// the junction's conductance and gkbar against central differences, in f64 within 1e-6 with
/// either strategy and in f32 within 1e-3 (a subthreshold run: well conditioned), the state
/// saved after every step.
#[test]
fn grad_check_on_the_gpu_through_a_gap_junction() {
    let model = "tests/data/train/gap_pair_fit.syl";
    for (args, tolerance) in [
        (&["--gpu-strategy", "thread"][..], "(tolerance 1e-6): ok;"),
        (&["--gpu-strategy", "workgroup"][..], "(tolerance 1e-6): ok;"),
        (&["--precision", "f32"][..], "(tolerance 1e-3): ok;"),
    ] {
        let result = sylva(&[&["grad", "--check", "--backend", "gpu", model][..], args].concat());
        let Some(stdout) = gpu_stdout(&result) else { return };
        assert!(stdout.contains("a state saved after every step, on the GPU"), "{stdout}");
        assert!(stdout.contains("cells.gap.g") && stdout.contains(tolerance), "{args:?}: {stdout}");
    }
}

/// `sylva grad --check --backend gpu --gpu-strategy workgroup`: the gradient with one workgroup
/// per cell against central differences within 1e-6; `--gpu-strategy` without the GPU is
/// refused as a usage error.
#[test]
fn grad_check_on_the_gpu_with_a_workgroup_per_cell() {
    let args = ["grad", "--check", "--backend", "gpu", "--gpu-strategy", "workgroup", "examples/train/fit_hh.syl"];
    let result = sylva(&args);
    let Some(stdout) = gpu_stdout(&result) else { return };
    assert!(stdout.contains("on the GPU in f64") && stdout.contains("(tolerance 1e-6): ok;"), "{stdout}");
    let result = sylva(&["grad", "--gpu-strategy", "workgroup", "examples/train/fit_hh.syl"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`--gpu-strategy` needs `--backend gpu`"), "{stderr}");
}

/// `sylva train --backend gpu`: five Adam steps of `fit_hh` give the CPU's losses within 1e-9
/// (f64), and the same learned values as written (to the 16 digits of params.yaml).
#[test]
fn train_on_the_gpu_follows_the_cpu() {
    let fit = Fit { dir: "train_gpu", model: "examples/train/fit_hh.syl", target: "fit_hh_target.csv" };
    gpu_training_follows_the_cpu(&fit, ("iterations = 1000", 5), "5 iterations, loss 804.262 -> ");
}

/// `sylva train --backend gpu` through a gap junction (cells coupled through `v_pre`): ten Adam
/// steps of the junction's conductance and gkbar give the CPU's losses and learned values.
#[test]
fn train_on_the_gpu_through_a_gap_junction_follows_the_cpu() {
    let fit = Fit { dir: "train_gpu_gap", model: "tests/data/train/gap_pair_fit.syl", target: "gap_pair_target.csv" };
    gpu_training_follows_the_cpu(&fit, ("iterations = 10", 10), "10 iterations, loss 6.14005 -> ");
}

/// A fit to a trace: its scratch directory's name, its model and the target file beside it.
struct Fit {
    dir: &'static str,
    model: &'static str,
    target: &'static str,
}

/// `fit` with its `iterations` line set to `n` steps, trained on the GPU (whose summary starts
/// with `summary`) and on the CPU: the same losses within 1e-9 and the same learned values.
fn gpu_training_follows_the_cpu(fit: &Fit, (iterations, n): (&str, usize), summary: &str) {
    let dir = scratch(fit.dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(repo().join(fit.model)).expect("example");
    let target = repo().join(fit.model).with_file_name(fit.target);
    let text = text
        .replace(&format!("\"{}\"", fit.target), &format!("\"{}\"", target.display()))
        .replace(iterations, &format!("iterations = {n}"));
    let model = dir.join("fit.syl");
    std::fs::write(&model, text).expect("model");
    let train = |out: &str, extra: &[&str]| {
        let out = dir.join(out);
        let mut args = vec!["train", model.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8"), "--no-plots"];
        args.extend(extra);
        (sylva(&args), out)
    };
    let (gpu, gpu_out) = train("gpu", &["--backend", "gpu"]);
    if no_gpu(&gpu) {
        return;
    }
    let stdout = String::from_utf8_lossy(&gpu.stdout);
    assert_eq!(gpu.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&gpu.stderr));
    assert!(stdout.contains(summary) && stdout.contains("trained on the GPU in"), "{stdout}");
    let (cpu, cpu_out) = train("cpu", &[]);
    assert_eq!(cpu.status.code(), Some(0), "{}", String::from_utf8_lossy(&cpu.stderr));
    let losses = |out: &PathBuf| -> Vec<f64> {
        let text = std::fs::read_to_string(out.join("loss.csv")).expect("loss.csv");
        text.lines().skip(1).map(|l| l.split(',').nth(1).expect("a loss").parse().expect("a number")).collect()
    };
    let (on_gpu, on_cpu) = (losses(&gpu_out), losses(&cpu_out));
    assert_eq!(on_gpu.len(), n + 1, "the start and {n} steps");
    for (g, c) in on_gpu.iter().zip(&on_cpu) {
        assert!((g - c).abs() <= 1e-9 * c.abs(), "GPU {g}, CPU {c}");
    }
    // The learned values (not the header's losses, which differ in their last bits).
    let params = |out: &PathBuf| {
        let text = std::fs::read_to_string(out.join("params.yaml")).expect("params.yaml");
        text.lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(params(&gpu_out), params(&cpu_out));
    let _ = std::fs::remove_dir_all(dir);
}

/// `sylva grad --check --backend gpu` on a model with samples (inputs that scale sources'
/// events, trained weights): the mean gradient over the first batch, its two samples run at
/// once on the GPU, agrees with central differences of the CPU's loss.
#[test]
fn grad_check_of_samples_on_the_gpu() {
    let result = sylva(&["grad", "--check", "--backend", "gpu", "tests/data/train/and_neuron.syl"]);
    let Some(stdout) = gpu_stdout(&result) else { return };
    assert!(stdout.contains("the mean over the first 2 samples, 2 at once, on the GPU in f64"), "{stdout}");
    assert!(stdout.contains("): ok;"), "{stdout}");
}

/// What the GPU's reverse run does not cover yet is refused before anything is written, saying
/// what to use: the logic neuron's samples train a stimulus's parameter.
#[test]
fn train_on_the_gpu_refuses_a_stimulus_parameter_before_writing() {
    let out = scratch("train_gpu_refused");
    let result =
        sylva(&["train", "--backend", "gpu", "examples/train/logic_neuron.syl", "-o", out.to_str().expect("utf-8")]);
    if no_gpu(&result) {
        return;
    }
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not differentiable yet: the gradient of a stimulus's parameter on the GPU")
            && stderr.contains("--backend cpu"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written");
}

/// `sylva train --backend gpu` on `examples/train/mnist.syl` (`small_mnist`, one epoch of three
/// batches): each batch's four samples run at once on the GPU, as replicas of the network, and
/// give the CPU's losses within 1e-9 relative and its learned values (f64); in f32 the losses
/// are within 1e-3.
#[test]
fn mnist_trains_on_the_gpu_as_on_the_cpu() {
    let dir = scratch("mnist_gpu");
    let model = small_mnist(&dir);
    let train = |out: &str, extra: &[&str]| {
        let out = dir.join(out);
        let mut args = vec!["train", model.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8"), "--no-plots"];
        args.extend(["--set", "n_epochs=1", "--set", "n_hidden=16"]);
        args.extend(extra);
        (sylva(&args), out)
    };
    let (gpu, gpu_out) = train("gpu", &["--backend", "gpu"]);
    if no_gpu(&gpu) {
        return;
    }
    let stdout = String::from_utf8_lossy(&gpu.stdout);
    assert_eq!(gpu.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&gpu.stderr));
    assert!(stdout.contains("1 epochs of 12 samples (batches of 4) on the GPU, 4 samples at once"), "{stdout}");
    let (cpu, cpu_out) = train("cpu", &[]);
    assert_eq!(cpu.status.code(), Some(0), "{}", String::from_utf8_lossy(&cpu.stderr));
    let (f32_run, f32_out) = train("f32", &["--backend", "gpu", "--precision", "f32"]);
    assert_eq!(f32_run.status.code(), Some(0), "{}", String::from_utf8_lossy(&f32_run.stderr));
    // loss.csv: per epoch, the training loss and accuracy, the test loss and accuracy.
    let scores = |out: &PathBuf| -> Vec<f64> {
        let text = std::fs::read_to_string(out.join("loss.csv")).expect("loss.csv");
        text.lines().skip(1).flat_map(|l| l.split(',').skip(1).map(|x| x.parse::<f64>().expect("a number"))).collect()
    };
    let learned = |out: &PathBuf| -> Vec<f64> {
        let params = sylva_runtime::output::load_params(&out.join("params.yaml")).expect("params");
        params.iter().map(|p| p.value).collect()
    };
    let close = |a: &[f64], b: &[f64], bound: f64| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= bound * x.abs().max(y.abs()))
    };
    let (on_gpu, on_cpu, in_f32) = (scores(&gpu_out), scores(&cpu_out), scores(&f32_out));
    assert_eq!(on_cpu.len(), 8, "epochs 0 and 1");
    assert!(close(&on_gpu, &on_cpu, 1e-9), "GPU {on_gpu:?}\nCPU {on_cpu:?}");
    assert!(close(&learned(&gpu_out), &learned(&cpu_out), 1e-9), "learned values");
    assert!(close(&in_f32, &on_cpu, 1e-3), "f32 {in_f32:?}\nCPU {on_cpu:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// What keeps a gradient from being computed is located in the model, as the compiler's
/// diagnostics are: no `train` block, a target file that cannot be read.
#[test]
fn grad_without_a_train_block_or_target_file_is_located() {
    let result = sylva(&["grad", "--color", "never", "examples/neuron/hh_soma.syl"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: `examples/neuron/hh_soma.syl` has no `train` block"), "{stderr}");
    assert!(stderr.contains("┌─ examples/neuron/hh_soma.syl:1:1"), "{stderr}");
    let dir = scratch("grad_missing");
    std::fs::create_dir_all(&dir).expect("dir");
    let model = dir.join("fit.syl");
    let text = std::fs::read_to_string(repo().join("examples/train/fit_hh.syl")).expect("example");
    std::fs::write(&model, text.replace("\"fit_hh_target.csv\"", "\"missing.csv\"")).expect("model");
    let result = sylva(&["grad", "--color", "never", model.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: cannot read target file"), "{stderr}");
    let line = text.lines().position(|l| l.contains("target \"soma_v\"")).expect("target") + 1;
    assert!(stderr.contains(&format!("fit.syl:{line}:")), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A copy of the training example in `dir` (with its target file) with `iterations`.
fn short_training(dir: &Path, iterations: u32) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let text = std::fs::read_to_string(repo().join("examples/train/fit_hh.syl")).expect("example");
    let model = dir.join("fit_hh.syl");
    std::fs::write(
        &model,
        text.replace("iterations = 1000", &format!("iterations = {iterations}"))
            .replace("learning_rate = 0.02", "learning_rate = 0.01"),
    )
    .expect("model");
    std::fs::copy(repo().join("examples/train/fit_hh_target.csv"), dir.join("fit_hh_target.csv")).expect("target");
    model
}

/// `sylva train` writes params.yaml (which reads back), loss.csv (the loss falls) and loss.svg,
/// and says so.
#[test]
fn train_writes_params_loss_and_plot() {
    let dir = scratch("train");
    let model = short_training(&dir, 20);
    let out = dir.join("out");
    let result = sylva(&["train", model.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains(": 20 iterations, loss "), "{stdout}");
    let losses: Vec<f64> = std::fs::read_to_string(out.join("loss.csv"))
        .expect("loss.csv")
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').expect("two columns").1.parse().expect("a number"))
        .collect();
    assert_eq!(losses.len(), 21, "the loss after 0 to 20 steps");
    assert!(losses.windows(2).all(|w| w[1] < w[0]) && losses[20] < 0.7 * losses[0], "{losses:?}");
    let params = sylva_runtime::output::load_params(&out.join("params.yaml")).expect("params.yaml reads back");
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["hh.gnabar in soma", "hh.gkbar in soma", "hh.gl in soma", "hh.el in soma"]);
    assert_eq!(params[3].unit.as_deref(), Some("mV"));
    assert!(params[0].value > 0.08, "gnabar moves up from its start toward 0.12: {}", params[0].value);
    assert!(std::fs::read_to_string(out.join("loss.svg")).expect("plot").contains("<svg"));
    let _ = std::fs::remove_dir_all(dir);
}

/// `sylva train` with L-BFGS stopped by its loss tolerance: it says so, with the gradients its
/// line searches computed, and params.yaml's header does too.
#[test]
fn train_with_lbfgs_reports_its_convergence() {
    let dir = scratch("train-lbfgs");
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(short_training(&dir, 100)).expect("model");
    let model = dir.join("fit_hh.syl");
    std::fs::write(&model, text.replace("adam { learning_rate = 0.01 }", "lbfgs { loss_tolerance = 0.05 }"))
        .expect("model");
    let out = dir.join("out");
    let result = sylva(&["train", model.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains(" gradients; converged: loss change within its tolerance), loss "), "{stdout}");
    let params = std::fs::read_to_string(out.join("params.yaml")).expect("params.yaml");
    assert!(params.contains("(converged: loss change within its tolerance; 100 asked)"), "{params}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `sylva run --params`: the true values give the target trace bit for bit (the example's
/// model made it), other values another trace; a name the `train` block lacks is refused at
/// its line.
#[test]
fn run_with_params_applies_the_learned_values() {
    let dir = scratch("params");
    std::fs::create_dir_all(&dir).expect("dir");
    let params = dir.join("params.yaml");
    let entries = |gnabar: &str, gkbar: &str| {
        format!(
            "params:\n  - name: hh.gnabar in soma\n    value: {gnabar}\n    unit: S/cm2\n  - name: hh.gkbar in soma\n    \
             {gkbar}\n  - {{name: hh.gl in soma, value: 0.0003}}\n  - name: hh.el in soma\n    value: -54.3\n    unit: mV\n"
        )
    };
    let run = |text: &str| {
        std::fs::write(&params, text).expect("params");
        let out = dir.join("out");
        let result = sylva(&[
            "run",
            "examples/train/fit_hh.syl",
            "--no-plots",
            "--params",
            params.to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ]);
        let trace = std::fs::read_to_string(out.join("trace.csv")).ok();
        (result.status.code(), String::from_utf8_lossy(&result.stderr).into_owned(), trace)
    };
    let target = std::fs::read_to_string(repo().join("examples/train/fit_hh_target.csv")).expect("target");
    let (code, stderr, trace) = run(&entries("0.12", "value: 0.036"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(trace.as_deref() == Some(target.as_str()), "the true values give the target trace");
    // In another unit of the dimension: 36 mS/cm2 is 0.036 S/cm2, to rounding.
    let (code, stderr, trace) = run(&entries("0.12", "value: 36\n    unit: mS/cm2"));
    assert_eq!(code, Some(0), "{stderr}");
    let column = |text: &str| -> Vec<f64> {
        text.lines().skip(1).map(|l| l.split_once(',').expect("two columns").1.parse().expect("a number")).collect()
    };
    let trace = trace.expect("trace");
    let difference = column(&trace).iter().zip(column(&target)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(difference < 1e-9, "{difference} mV");
    let (code, stderr, trace) = run(&entries("0.08", "value: 0.036"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(trace.expect("trace") != target, "another gnabar, another trace");
    let (code, stderr, _) = run("params:\n  - name: hh.gl in soma\n    value: 1\n  - name: hh.nothing\n    value: 1\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4: the model's `train` block has no trainable `hh.nothing`", params.display()))
    );
    let (code, stderr, _) = run("params:\n  - name: hh.el in soma\n    value: 3\n    unit: S/cm2\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unit `S/cm2` is not a unit of the parameter's mV"), "{stderr}");
    let (code, stderr, _) = run("params:\n  - name: hh.el in soma\n    value: [3]\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:3:", params.display())), "a bad value at its line: {stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Ctrl-C stops a fit at the end of its iteration: what the iterations done learned is still
/// written, and `sylva` says where it stopped (exit 130).
#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_fit_and_keeps_what_it_learned() {
    let dir = scratch("train_interrupt");
    let model = short_training(&dir, 100_000);
    let out = dir.join("out");
    let result = interrupted(&["train", model.to_str().expect("utf-8")], &out);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped at iteration ") && stderr.contains(" of 100000 (Ctrl-C)"), "{stderr}");
    let params = std::fs::read_to_string(out.join("params.yaml")).expect("params.yaml");
    assert!(params.contains("(stopped; 100000 asked)"), "{params}");
    assert!(out.join("loss.csv").exists() && out.join("loss.svg").exists());
    let _ = std::fs::remove_dir_all(dir);
}

/// `sylva train` on samples: a row per epoch in loss.csv with the accuracy, params.yaml with
/// the connection weights, and the same bits for 1 and 2 threads.
#[test]
fn train_on_samples_writes_epochs_and_is_the_same_for_any_thread_count() {
    let dir = scratch("train_samples");
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("out{threads}"));
        let result = sylva(&[
            "train",
            "tests/data/train/and_neuron.syl",
            "--threads",
            threads,
            "-o",
            out.to_str().expect("utf-8"),
        ]);
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert_eq!(result.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
        assert!(stdout.contains(": 3 epochs of 4 samples (batches of 2)"), "{stdout}");
        let loss = std::fs::read_to_string(out.join("loss.csv")).expect("loss.csv");
        let params = std::fs::read_to_string(out.join("params.yaml")).expect("params.yaml");
        outputs.push((loss, params));
    }
    let (loss, params) = &outputs[0];
    assert_eq!(&outputs[1], &outputs[0], "1 and 2 threads");
    let rows: Vec<&str> = loss.lines().collect();
    assert_eq!(rows[0], "epoch,train_loss,train_accuracy,test_loss,test_accuracy");
    assert_eq!(rows.len(), 5, "epochs 0 to 3: {loss}");
    for row in &rows[1..] {
        let cells: Vec<&str> = row.split(',').collect();
        let accuracy: f64 = cells[2].parse().expect("an accuracy");
        assert!(cells[1].parse::<f64>().expect("a loss") > 0.0 && (0.0..=1.0).contains(&accuracy), "{row}");
    }
    let learned = sylva_runtime::output::parse_params(params).expect("reads back");
    assert_eq!(learned.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["exc_a.weight", "exc_b.weight"]);
    assert!(learned.iter().all(|p| p.value > 0.001), "AND needs stronger synapses than the start: {params}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `sylva grad --check` on samples: the mean loss of the first batch and its gradient.
#[test]
fn grad_check_on_samples() {
    let result = sylva(&["grad", "--check", "tests/data/train/and_neuron.syl"]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains("the mean over the first 2 samples"), "{stdout}");
    assert!(stdout.contains("exc_a.weight") && stdout.contains(": ok;"), "{stdout}");
}

/// A data file that does not fit is E0711 at the part of the model that names it: a missing
/// column at the label, a file that is not there at the file's name.
#[test]
fn data_file_errors_are_located() {
    let dir = scratch("data_errors");
    std::fs::create_dir_all(&dir).expect("dir");
    let model = dir.join("m.syl");
    let text = std::fs::read_to_string(repo().join("tests/data/train/and_neuron.syl")).expect("model");
    std::fs::write(&model, &text).expect("model");
    let line_of = |what: &str| text.lines().position(|l| l.contains(what)).expect("in the model") + 1;
    let check = |csv: Option<&str>, line: usize, message: &str| {
        match csv {
            Some(csv) => std::fs::write(dir.join("and.csv"), csv).expect("data"),
            None => {
                let _ = std::fs::remove_file(dir.join("and.csv"));
            }
        }
        let result = sylva(&["grad", "--color", "never", model.to_str().expect("utf-8")]);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("error[E0711]") && stderr.contains(message), "{stderr}");
        assert!(stderr.contains(&format!("m.syl:{line}:")), "{stderr}");
    };
    check(Some("a,b,out\n0,0,0\n"), line_of("label = \"y\""), "has no column `y`");
    check(None, line_of("table(\"and.csv\")"), "cannot read data file");
    check(Some("a,b,y\n0,0,2\n"), line_of("table(\"and.csv\")"), "label 2 is not a class");
    check(Some("a,b,y\n0,x,1\n"), line_of("table(\"and.csv\")"), "line 2: `x` in column `b`");
    let _ = std::fs::remove_dir_all(dir);
}

/// `--threads` defaults to the machine's available parallelism, and the summary says so; a
/// single cell runs on one of them (a thread per chunk of cells).
#[test]
fn threads_default_to_the_machines_cores() {
    let dir = scratch("default_threads");
    let result = sylva(&["run", "examples/neuron/hh_soma.syl", "--no-plots", "-o", dir.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{stdout}");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let said = if cores == 1 {
        "CPU, 1 thread)".to_string()
    } else {
        format!("CPU, 1 thread of {cores} asked for: one per chunk of cells)")
    };
    assert!(stdout.contains(&said), "{said} in {stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `sylva train --resume PARAMS.yaml` starts from the values of an earlier training's
/// params.yaml (its checkpoint); a name the block lacks is refused at its line.
#[test]
fn train_resumes_from_a_params_file() {
    let dir = scratch("resume");
    let first = dir.join("first");
    let model = "tests/data/train/and_neuron.syl";
    let result = sylva(&["train", model, "--threads", "1", "-o", first.to_str().expect("utf-8")]);
    assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    let learned = sylva_runtime::output::load_params(&first.join("params.yaml")).expect("params");
    let second = dir.join("second");
    let params = first.join("params.yaml");
    let result =
        sylva(&["train", model, "--resume", params.to_str().expect("utf-8"), "-o", second.to_str().expect("utf-8")]);
    assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    let text = std::fs::read_to_string(second.join("params.yaml")).expect("params");
    let resumed = sylva_runtime::output::parse_params(&text).expect("reads back");
    let starts: Vec<f64> = text.lines().filter_map(|l| l.trim().strip_prefix("start: ")?.parse().ok()).collect();
    assert_eq!(starts, learned.iter().map(|p| p.value).collect::<Vec<_>>(), "{text}");
    assert_ne!(resumed[0].value, learned[0].value, "it trained on");
    std::fs::write(dir.join("bad.yaml"), "params:\n  - name: nope.weight\n    value: 1\n").expect("file");
    let bad = dir.join("bad.yaml");
    let result = sylva(&["train", model, "--resume", bad.to_str().expect("utf-8"), "-o", second.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:2: the model's `train` block has no trainable `nope.weight`"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Graded synapses and gap junctions on the GPU (a dispatch per pass of the step): `run
/// --backend gpu` writes the CPU engine's spikes and traces (f64, ≤ 1e-6 mV as written), and `--emit
/// wgsl` prints an entry point per pass.
#[test]
fn the_gpu_runs_graded_synapses_and_gap_junctions() {
    for (file, name) in
        [("examples/neuron/gap_pair.syl", "gap_junction"), ("examples/neuron/graded_pair.syl", "graded_syn")]
    {
        let (gpu_out, cpu_out) = (scratch(&format!("gpu-{name}")), scratch(&format!("cpu-{name}")));
        let run = |out: &PathBuf, extra: &[&str]| {
            let mut args = vec!["run", file, "-o", out.to_str().expect("utf-8"), "--no-plots"];
            args.extend(extra);
            sylva(&args)
        };
        let gpu = run(&gpu_out, &["--backend", "gpu"]);
        if no_gpu(&gpu) {
            return;
        }
        assert!(gpu.status.success(), "{file} on the GPU: {}", String::from_utf8_lossy(&gpu.stderr));
        let cpu = run(&cpu_out, &[]);
        assert!(cpu.status.success(), "{file} on the CPU: {}", String::from_utf8_lossy(&cpu.stderr));
        let spikes = |out: &PathBuf| std::fs::read_to_string(out.join("spikes.csv")).expect("spikes.csv");
        assert_eq!(spikes(&gpu_out), spikes(&cpu_out), "{file}: spikes");
        assert!(spikes(&gpu_out).lines().count() > 1, "{file}: the pair spikes");
        let worst = max_trace_difference(&gpu_out.join("trace.csv"), &cpu_out.join("trace.csv"));
        assert!(worst <= 1e-9, "{file}: GPU and CPU traces differ by {worst}");
        let emit = sylva(&["compile", file, "--emit", "wgsl"]);
        assert!(emit.status.success(), "{file}: {}", String::from_utf8_lossy(&emit.stderr));
        let text = String::from_utf8_lossy(&emit.stdout);
        assert!((0..3).all(|p| text.contains(&format!("fn cell_type_0_pass_{p}"))), "{file}: a pass each");
        let _ = (std::fs::remove_dir_all(gpu_out), std::fs::remove_dir_all(cpu_out));
    }
}

/// An IDX file of unsigned bytes: magic, dimensions, data.
fn idx_file(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
    out.extend(data);
    out
}

/// `examples/train/mnist.syl` in `dir` on generated 4 × 4 images (class 0 bright on the left,
/// class 1 on the right), shortened to 3 ms, in batches of 4: the model file.
fn small_mnist(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for k in 0..12u8 {
        let class = k % 2;
        for p in 0..16u8 {
            let left = p % 4 < 2;
            pixels.push(if left == (class == 0) { 200 + 4 * k } else { 10 + k });
        }
        labels.push(class);
    }
    std::fs::write(dir.join("images.idx"), idx_file(0x803, &[12, 4, 4], &pixels)).expect("images");
    std::fs::write(dir.join("labels.idx"), idx_file(0x801, &[12], &labels)).expect("labels");
    let text = std::fs::read_to_string(repo().join("examples/train/mnist.syl")).expect("example");
    let text = text
        .replace("../../../shared/datasets/mnist/train-images-idx3-ubyte.gz", "images.idx")
        .replace("../../../shared/datasets/mnist/train-labels-idx1-ubyte.gz", "labels.idx")
        .replace("../../../shared/datasets/mnist/t10k-images-idx3-ubyte.gz", "images.idx")
        .replace("../../../shared/datasets/mnist/t10k-labels-idx1-ubyte.gz", "labels.idx")
        .replace("duration = 10 ms", "duration = 3 ms")
        .replace("in [2 ms, 10 ms]", "in [1 ms, 3 ms]")
        .replace("batch = 16", "batch = 4");
    let model = dir.join("mnist.syl");
    std::fs::write(&model, text).expect("model");
    model
}

/// `examples/train/mnist.syl` trained on generated images (`small_mnist`): the pipeline of the
/// MNIST benchmark in small (IDX files, a dense input into 16 cells (`n_hidden=16`), a linear
/// readout to 10 classes, test scores); the loss falls and every trained value is written.
#[test]
fn mnist_example_trains_on_generated_images() {
    let dir = scratch("mnist_small");
    let model = small_mnist(&dir);
    let out = dir.join("out");
    let model_arg = model.to_str().expect("utf-8");
    let result =
        sylva(&["train", model_arg, "--set", "n_epochs=2", "--set", "n_hidden=16", "-o", out.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
    let loss = std::fs::read_to_string(out.join("loss.csv")).expect("loss.csv");
    let rows: Vec<Vec<f64>> =
        loss.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().expect("a number")).collect()).collect();
    assert_eq!(rows.len(), 3, "epochs 0 to 2: {loss}");
    assert!(rows[2][3] < rows[0][3], "the test loss falls: {loss}");
    let params = sylva_runtime::output::load_params(&out.join("params.yaml")).expect("params");
    assert_eq!(params.len(), 16 * (16 + 1) + 10 * (16 + 1), "W and b of the input, V and c of the readout");
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"pixel15 -> hidden[15].drive.amp") && names.contains(&"\"h15\" -> class 9"), "{names:?}");
    // Resumed from the checkpoint: the test scores before its first epoch (row 0) are epoch 2's
    // (the training columns of a row are the epoch's running mean), so the dense input's and the
    // readout layer's values were read back, not only the trainables'.
    let resumed = dir.join("resumed");
    let checkpoint = out.join("params.yaml");
    let args = ["--set", "n_epochs=1", "--set", "n_hidden=16", "--resume", checkpoint.to_str().expect("utf-8")];
    let result = sylva(&[&["train", model_arg, "-o", resumed.to_str().expect("utf-8")][..], &args[..]].concat());
    assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    let again = std::fs::read_to_string(resumed.join("loss.csv")).expect("loss.csv");
    let scores = |row: &str| row.split(',').skip(3).collect::<Vec<_>>().join(",");
    let (first_again, last) = (again.lines().nth(1).expect("row 0"), loss.lines().last().expect("a row"));
    assert_eq!(scores(first_again), scores(last), "resumed scores equal the checkpoint's: {again} / {loss}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Output into a pipe its reader closed ends the process by SIGPIPE, as other Unix tools end,
/// not with a panic (exit 101) in `println!`.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sylva"))
        .args(["grad", "examples/train/fit_hh.syl"])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE), "{:?}: {stderr}", output.status);
}
