//! `sylva import`: NMODL files translated to Sylva (`compiler::nmodl`), checked cleanly, run on
//! the CPU engine and compared with NEURON 9.0.2 running the original `.mod` files
//! (`tests/data/nmodl/regenerate.py`); the E08xx fixtures; and mutated `.mod` files, which
//! must give diagnostics and never a panic.

use sylva_compiler::nmodl;
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile};
use sylva_runtime::cpu::{Options, Simulation};
use sylva_tests::reference::Trace;
use sylva_tests::{Rng, compile_text, files_with_extension, render, repo};

/// Largest |ΔV| allowed against NEURON, in mV.
const TOLERANCE_MV: f64 = 1e-6;

/// Translates a `.mod` file of the repository; panics with the diagnostics on any error.
fn translate(path: &str) -> (String, String) {
    let text = std::fs::read_to_string(repo().join(path)).expect("mod file");
    let mut db = SourceDb::new();
    let id = db.add(path, text);
    let result = nmodl::import(&db, id);
    let errors: Vec<_> = result.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    assert!(errors.is_empty(), "{path}:\n{}", render(&db, &errors));
    let m = result.mechanism.expect("a mechanism");
    (m.name, m.text)
}

/// The single compartment of `regenerate.py` with `inserts`, an IClamp and a voltage probe.
fn model(inserts: &str, clamp: (f64, f64, f64), duration: f64, v_init: f64, celsius: f64) -> String {
    let pas = if inserts.contains("insert pas") { "import pas\n" } else { "" };
    format!(
        "import iclamp\n{pas}cell c {{\n    morphology {{ section soma {{ length = 20 um, diam = 20 um, nseg = 1 }} }}\n    cm = 1 uF/cm2\n    Ra = 100 ohm*cm\n    v_init = {v_init} mV\n{inserts}}}\nnetwork main {{\n    population cells = c[1]\n    stimulus clamp = iclamp at cells[0].soma(0.5) {{ del = {} ms, dur = {} ms, amp = {} nA }}\n    probe \"soma_v\" = v at cells[0].soma(0.5)\n}}\nsimulation {{ dt = 0.025 ms, duration = {duration} ms, temperature = {celsius} degC }}\n",
        clamp.0, clamp.1, clamp.2
    )
}

/// Translates `mods`, runs the case at each temperature and returns the largest |ΔV| (mV).
fn run_case(
    case: &str,
    mods: &[&str],
    inserts: &str,
    clamp: (f64, f64, f64),
    duration: f64,
    v_init: f64,
    temps: &[&str],
) -> f64 {
    compare(case, mods, temps, &|celsius| model(inserts, clamp, duration, v_init, celsius))
}

/// Translates `mods`, appends `model(celsius)` and compares `soma_v` with NEURON's trace of
/// `case` at each temperature; returns the largest |ΔV| (mV).
fn compare(case: &str, mods: &[&str], temps: &[&str], model: &dyn Fn(f64) -> String) -> f64 {
    let mut text = String::new();
    for m in mods {
        let (_, syl) = translate(m);
        text.push_str(&syl);
    }
    let mut worst: f64 = 0.0;
    for celsius in temps {
        let source = format!("{text}\n{}", model(celsius.parse().expect("number")));
        let (db, compilation) = compile_text(&format!("{case}.syl"), &source, &[]);
        assert!(compilation.diagnostics.is_empty(), "{case}: {}\n{source}", render(&db, &compilation.diagnostics));
        let artifact = compilation.artifact.expect("compiles");
        let mut sim = Simulation::new(&artifact, Options::default()).expect("builds");
        sim.run(|_, _| {}).unwrap_or_else(|b| panic!("{case} blew up: {b:?}"));
        let reference = Trace::read(&repo().join(format!("tests/data/nmodl/{case}/trace_{celsius}.csv")));
        let expected = reference.column("soma_v").expect("soma_v");
        let got = &sim.columns()[0];
        assert_eq!(got.len(), expected.len(), "{case} at {celsius} degC: samples");
        let delta = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let peak = expected.iter().copied().fold(f64::MIN, f64::max);
        eprintln!("{case} at {celsius} degC: max |dV| = {delta:.3e} mV (peak {peak:.1} mV)");
        assert!(delta <= TOLERANCE_MV, "{case} at {celsius} degC: max |dV| = {delta:e} mV");
        worst = worst.max(delta);
    }
    worst
}

#[test]
fn translated_hh_matches_neuron() {
    run_case(
        "hh2",
        &["tests/data/nmodl/hh2.mod"],
        "    insert hh2 in soma\n",
        (5.0, 30.0, 0.15),
        50.0,
        -65.0,
        &["6.3", "18.5"],
    );
}

#[test]
fn translated_na_and_kdr_match_neuron() {
    run_case(
        "na_kdr",
        &["tests/data/nmodl/na2.mod", "tests/data/nmodl/kdr2.mod"],
        "    insert na2 in soma\n    insert kdr2 in soma\n    insert pas in soma { g = 1e-4 S/cm2, e = -65 mV }\n",
        (5.0, 30.0, 0.1),
        50.0,
        -65.0,
        &["6.3", "30"],
    );
}

#[test]
fn translated_calcium_and_sk_match_neuron() {
    run_case(
        "ca_sk",
        &[
            "tests/data/neuron/mod/CaDynamics_E2.mod",
            "tests/data/neuron/mod/Ca_HVA.mod",
            "tests/data/neuron/mod/SK_E2.mod",
        ],
        "    insert pas in soma { g = 5e-4 S/cm2, e = -70 mV }\n    insert CaDynamics_E2 in soma\n    insert Ca_HVA in soma { gCa_HVAbar = 2e-4 S/cm2 }\n    insert SK_E2 in soma { gSK_E2bar = 1e-3 S/cm2 }\n",
        (10.0, 50.0, 0.3),
        150.0,
        -70.0,
        &["34", "22"],
    );
}

/// The single compartment of `regenerate.py`'s voltage-clamp cases: `inserts` under NEURON's
/// SEClamp (the standard library's `seclamp`, rs = 1 MOhm, so that v departs from the command
/// by the membrane current times 1 MOhm) at three `levels` (mV, ms), and a voltage probe.
fn voltage_clamp_model(inserts: &str, levels: [(f64, f64); 3], duration: f64, v_init: f64, celsius: f64) -> String {
    let pas = if inserts.contains("insert pas") { "import pas\n" } else { "" };
    let [(a1, d1), (a2, d2), (a3, d3)] = levels;
    format!(
        "import seclamp\n{pas}cell c {{\n    morphology {{ section soma {{ length = 20 um, diam = 20 um, nseg = 1 }} }}\n    cm = 1 uF/cm2\n    Ra = 100 ohm*cm\n    v_init = {v_init} mV\n{inserts}}}\nnetwork main {{\n    population cells = c[1]\n    stimulus clamp = seclamp at cells[0].soma(0.5) {{ rs = 1 MOhm, dur1 = {d1} ms, amp1 = {a1} mV, dur2 = {d2} ms, amp2 = {a2} mV, dur3 = {d3} ms, amp3 = {a3} mV }}\n    probe \"soma_v\" = v at cells[0].soma(0.5)\n}}\nsimulation {{ dt = 0.025 ms, duration = {duration} ms, temperature = {celsius} degC }}\n"
    )
}

/// Voltage-step protocols: the translated hh2 and the calcium/SK set under a voltage clamp at
/// two temperatures each (the clamp's current is the channels' current, seen in v through rs).
#[test]
fn translated_channels_under_voltage_steps_match_neuron() {
    let levels = [(-65.0, 5.0), (-20.0, 10.0), (-80.0, 10.0)];
    compare("vclamp_hh2", &["tests/data/nmodl/hh2.mod"], &["6.3", "18.5"], &|celsius| {
        voltage_clamp_model("    insert hh2 in soma\n", levels, 30.0, -65.0, celsius)
    });
    let mods = [
        "tests/data/neuron/mod/CaDynamics_E2.mod",
        "tests/data/neuron/mod/Ca_HVA.mod",
        "tests/data/neuron/mod/SK_E2.mod",
    ];
    let inserts = "    insert pas in soma { g = 5e-4 S/cm2, e = -70 mV }\n    insert CaDynamics_E2 in soma\n    insert Ca_HVA in soma { gCa_HVAbar = 2e-4 S/cm2 }\n    insert SK_E2 in soma { gSK_E2bar = 1e-3 S/cm2 }\n";
    let levels = [(-70.0, 10.0), (-10.0, 50.0), (-70.0, 50.0)];
    compare("vclamp_ca_sk", &mods, &["34", "22"], &|celsius| {
        voltage_clamp_model(inserts, levels, 150.0, -70.0, celsius)
    });
}

/// The constructs of older ModelDB files (oldstyle.mod: INDEPENDENT, a file-level LOCAL, tadj
/// computed only in INITIAL, a block's copy of v changed, a unit with a blank, SUFFIX na).
#[test]
fn translated_old_style_file_matches_neuron() {
    let (_, text) = translate("tests/data/nmodl/oldstyle.mod");
    assert!(text.contains("density na_ {") && text.contains("let tadj = "), "{text}");
    run_case(
        "oldstyle",
        &["tests/data/nmodl/oldstyle.mod", "tests/data/nmodl/kdr2.mod"],
        "    insert na_ in soma\n    insert kdr2 in soma\n    insert pas in soma { g = 1e-4 S/cm2, e = -65 mV }\n",
        (5.0, 30.0, 0.1),
        50.0,
        -65.0,
        &["6.3", "34"],
    );
}

/// ASSIGNED values only the solved DERIVATIVE block (and INITIAL) compute, read by BREAKPOINT
/// (hh2m's `minf`, tlike's `gt`, as IT.mod's `m_inf`): states set at each step, so the
/// conductance dI/dv holds them fixed as NEURON's nrn_cur does, and tlike's `gt` starts at 0.
#[test]
fn translated_values_held_from_the_state_update_match_neuron() {
    let (_, text) = translate("tests/data/nmodl/tlike.mod");
    assert!(text.contains("state gt: S/cm2") && text.contains("gt = 1 S/cm2 * gt_2 each step"), "{text}");
    run_case(
        "held",
        &["tests/data/nmodl/hh2m.mod", "tests/data/nmodl/tlike.mod"],
        "    insert hh2m in soma\n    insert tlike in soma\n",
        (5.0, 30.0, 0.15),
        50.0,
        -65.0,
        &["6.3", "18.5"],
    );
}

/// Ions other than na, k and ca: each translation declares the new ion as a species with
/// NEURON 9's defaults for it (charge from VALENCE, 1 mM inside and outside, reversal 0 mV);
/// xchan and xpool declare the same `x`, which xpool's concentration drives by Nernst.
#[test]
fn translated_new_ions_match_neuron() {
    let (_, text) = translate("tests/data/nmodl/xpool.mod");
    assert!(text.contains("species x { charge = 2, reversal = 0 mV, inside = 1 mM, outside = 1 mM }"), "{text}");
    run_case(
        "ions",
        &[
            "tests/data/nmodl/hh2.mod",
            "tests/data/nmodl/hcur.mod",
            "tests/data/nmodl/xchan.mod",
            "tests/data/nmodl/xpool.mod",
        ],
        "    insert hh2 in soma\n    insert hcur in soma\n    insert xchan in soma\n    insert xpool in soma\n",
        (5.0, 30.0, 0.15),
        50.0,
        -65.0,
        &["6.3", "18.5"],
    );
}

/// Two declarations of one species are one when they are identical (two translations of the
/// same new ion), and still a located duplicate when they differ.
#[test]
fn identical_species_declarations_are_one() {
    let species =
        |charge: i32| format!("species x {{ charge = {charge}, reversal = 0 mV, inside = 1 mM, outside = 1 mM }}\n");
    let (db, same) = compile_text("two.syl", &format!("{}{}", species(2), species(2)), &[]);
    assert!(same.diagnostics.is_empty(), "{}", render(&db, &same.diagnostics));
    let (db, different) = compile_text("two.syl", &format!("{}{}", species(2), species(-1)), &[]);
    let rendered = render(&db, &different.diagnostics);
    assert!(
        rendered.contains("error[E0202]: `x` is defined more than once") && rendered.contains("two.syl:2:9"),
        "{rendered}"
    );
}

/// A new ion needs its VALENCE (NEURON requires it too), and two CONSERVEs may not share a
/// state: both refused where they are written.
#[test]
fn new_ions_without_valence_and_overlapping_conserves_are_located() {
    let ion = "NEURON {\n    SUFFIX hx\n    USEION h READ eh WRITE ih\n}\nASSIGNED { v (mV) eh (mV) ih (mA/cm2) }\nBREAKPOINT { ih = 0.001*(v - eh) }\n";
    let rendered = import_text(ion);
    assert!(rendered.contains("error[E0802]: ion `h` has no VALENCE"), "{rendered}");
    assert!(rendered.contains("old.mod:3:12"), "{rendered}");
    let conserves = "NEURON { SUFFIX kx NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (mA/cm2) }\nSTATE { a b c }\nBREAKPOINT { SOLVE kin METHOD sparse i = 0.001*b*v }\nKINETIC kin {\n    ~ a <-> b (1, 2)\n    ~ b <-> c (1, 2)\n    CONSERVE a + b = 1\n    CONSERVE b + c = 1\n}\n";
    let rendered = import_text(conserves);
    assert!(rendered.contains("error[E0805]: `b` is in two CONSERVE statements"), "{rendered}");
    assert!(rendered.contains("old.mod:9:5"), "{rendered}");
}

/// Arrays of constant size filled by FROM loops (hh2a.mod, in the style of ModelDB 20212's
/// hha2.mod: ASSIGNED and LOCAL arrays, a FUNCTION selecting by index, an INITIAL that
/// advances the gates from NEURON's start value 0): unrolled element by element.
#[test]
fn translated_arrays_and_loops_match_neuron() {
    let (_, text) = translate("tests/data/nmodl/hh2a.mod");
    assert!(text.contains("let fac_2 = ") && text.contains("initial { m = 0 + fac_0 * (inf_0 - 0)"), "{text}");
    run_case(
        "arrays",
        &["tests/data/nmodl/hh2a.mod"],
        "    insert hh2a in soma\n",
        (5.0, 30.0, 0.15),
        50.0,
        -65.0,
        &["6.3", "18.5"],
    );
}

/// `METHOD euler` (hh2e.mod): NEURON's forward Euler from the states before the step at the
/// step's new voltage, which is `x = x + dt * x' each step`.
#[test]
fn translated_euler_matches_neuron() {
    let (_, text) = translate("tests/data/nmodl/hh2e.mod");
    assert!(text.contains("m = m + dt / 1 ms * ((minf - m) / mtau) each step"), "{text}");
    run_case(
        "euler",
        &["tests/data/nmodl/hh2e.mod"],
        "    insert hh2e in soma\n",
        (5.0, 30.0, 0.15),
        50.0,
        -65.0,
        &["6.3", "18.5"],
    );
}

/// An index that is not a constant, one outside its array and an array too large are refused
/// where they are written.
#[test]
fn array_indices_that_cannot_be_unrolled_are_located() {
    let header = "NEURON { SUFFIX ar NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (mA/cm2) a[2] }\n";
    let variable = format!("{header}BREAKPOINT {{\n    a[v] = 1\n    i = 0\n}}\n");
    let rendered = import_text(&variable);
    assert!(
        rendered.contains("error[E0802]: the index of `a` is not a constant") && rendered.contains("old.mod:4:7"),
        "{rendered}"
    );
    let outside = format!("{header}BREAKPOINT {{\n    FROM k = 0 TO 2 {{ a[k] = k }}\n    i = 0\n}}\n");
    let rendered = import_text(&outside);
    assert!(
        rendered.contains("error[E0804]: `a[2]` is outside the array `a`") && rendered.contains("old.mod:4:23"),
        "{rendered}"
    );
    let large =
        "NEURON { SUFFIX ar NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (mA/cm2) a[100] }\nBREAKPOINT { i = 0 }\n";
    let rendered = import_text(large);
    assert!(
        rendered.contains("error[E0802]: an array of 100 elements") && rendered.contains("old.mod:2:31"),
        "{rendered}"
    );
}

/// Compiles `source` as the repository file `name` and runs it; the probe `soma_v`.
fn run_text(name: &str, source: &str) -> Vec<f64> {
    let (db, compilation) = compile_text(name, source, &[]);
    assert!(compilation.diagnostics.is_empty(), "{name}: {}\n{source}", render(&db, &compilation.diagnostics));
    let artifact = compilation.artifact.expect("compiles");
    let mut sim = Simulation::new(&artifact, Options::default()).expect("builds");
    sim.run(|_, _| {}).unwrap_or_else(|b| panic!("{name} blew up: {b:?}"));
    sim.columns()[0].clone()
}

/// Runs `body` (the model of case `case` at `celsius`) with `mods` (relative to
/// tests/data/nmodl) imported and with their translations pasted in: bit for bit the same
/// trace, within tolerance of NEURON's.
fn compare_import_with_translation(case: &str, mods: &[&str], body: &str, celsius: &str) {
    let imports: String = mods.iter().map(|m| format!("import \"{m}\"\n")).collect();
    let imported = run_text(&format!("tests/data/nmodl/{case}_imports.syl"), &format!("{imports}{body}"));
    let pasted: String = mods.iter().map(|m| translate(&format!("tests/data/nmodl/{m}")).1).collect();
    let translated = run_text(&format!("tests/data/nmodl/{case}_pasted.syl"), &format!("{pasted}\n{body}"));
    assert_eq!(imported.len(), translated.len(), "{case}: samples");
    let differing = imported.iter().zip(&translated).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(differing, 0, "{case}: {differing} samples differ between the import and the translation");
    let reference = Trace::read(&repo().join(format!("tests/data/nmodl/{case}/trace_{celsius}.csv")));
    let expected = reference.column("soma_v").expect("soma_v");
    let delta = imported.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    eprintln!("{case} imported at {celsius} degC: max |dV| = {delta:.3e} mV against NEURON");
    assert!(delta <= TOLERANCE_MV, "{case}: max |dV| = {delta:e} mV");
}

/// `import "x.mod"` in a model runs the same translation as `sylva import`: the trace is the
/// same bit for bit as the model with the translated text pasted in, and within tolerance of
/// NEURON's trace of the original files.
#[test]
fn imported_mod_files_run_as_their_translations() {
    let hh2 = model("    insert hh2 in soma\n", (5.0, 30.0, 0.15), 50.0, -65.0, 18.5);
    compare_import_with_translation("hh2", &["hh2.mod"], &hh2, "18.5");
    let kinetic = model(
        "    insert hh2 in soma { gkbar = 0 S/cm2, gnabar = 0.06 S/cm2 }\n    insert kinetic_k in soma\n    insert kin3 in soma { gbar = 0.06 S/cm2 }\n",
        (5.0, 30.0, 0.3),
        50.0,
        -65.0,
        22.0,
    );
    compare_import_with_translation("kinetic", &["hh2.mod", "../neuron/mod/kinetic_k.mod", "kin3.mod"], &kinetic, "22");
    let ca_sk = model(
        "    insert pas in soma { g = 5e-4 S/cm2, e = -70 mV }\n    insert CaDynamics_E2 in soma\n    insert Ca_HVA in soma { gCa_HVAbar = 2e-4 S/cm2 }\n    insert SK_E2 in soma { gSK_E2bar = 1e-3 S/cm2 }\n",
        (10.0, 50.0, 0.3),
        150.0,
        -70.0,
        34.0,
    );
    let ca_sk_mods = ["../neuron/mod/CaDynamics_E2.mod", "../neuron/mod/Ca_HVA.mod", "../neuron/mod/SK_E2.mod"];
    compare_import_with_translation("ca_sk", &ca_sk_mods, &ca_sk, "34");
}

/// A model importing a `.mod` file that cannot be translated gets the E08xx at the `.mod`
/// line, as `sylva import` reports it, and nothing from the partial translation.
#[test]
fn a_broken_mod_import_is_reported_in_the_mod_file() {
    let fixture = "tests/data/diagnostics/E0802.mod";
    let mut db = SourceDb::new();
    let text = std::fs::read_to_string(repo().join(fixture)).expect("fixture");
    let id = db.add(fixture, text);
    let alone = nmodl::import(&db, id).diagnostics;
    let source = "import \"../diagnostics/E0802.mod\"\ncell c {\n    morphology { section soma { length = 20 um, diam = 20 um } }\n}\n";
    let (db2, compilation) = compile_text("tests/data/nmodl/broken_import.syl", source, &[]);
    let rendered = render(&db2, &compilation.diagnostics);
    let errors: Vec<_> = compilation.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(!errors.is_empty(), "{rendered}");
    for d in &errors {
        assert_eq!(db2.get(d.primary.span.file).name, fixture, "{rendered}");
    }
    let located = |db: &SourceDb, d: &sylva_compiler::diagnostics::Diagnostic| {
        (d.code.as_str().to_string(), db.get(d.primary.span.file).line_col(d.primary.span.start as usize))
    };
    let expected: Vec<_> = alone.iter().filter(|d| d.is_error()).map(|d| located(&db, d)).collect();
    let got: Vec<_> = errors.iter().map(|d| located(&db2, d)).collect();
    assert_eq!(got, expected, "{rendered}");
    assert!(
        got[0].0 == "E0802" && rendered.contains(&format!("{fixture}:{}:{}", got[0].1.0, got[0].1.1)),
        "{rendered}"
    );
}

/// Imports NMODL text; the rendered diagnostics.
fn import_text(text: &str) -> String {
    let mut db = SourceDb::new();
    let id = db.add("old.mod", text.to_string());
    render(&db, &nmodl::import(&db, id).diagnostics)
}

/// What older files do that Sylva cannot: a value INITIAL computes from the voltage and
/// BREAKPOINT reads frozen, and a state a PROCEDURE advances other than towards a target.
#[test]
fn old_style_refusals_are_located() {
    let header = "NEURON { SUFFIX old NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) v0 (mV) minf }\nSTATE { m }\n";
    let frozen = format!(
        "{header}INITIAL {{ v0 = v m = 0 }}\nBREAKPOINT {{ SOLVE s METHOD cnexp i = g*m*(v - v0) }}\nDERIVATIVE s {{ m' = -m }}\n"
    );
    let rendered = import_text(&frozen);
    assert!(rendered.contains("error[E0802]: `v0` keeps the value INITIAL computed from `v`"), "{rendered}");
    assert!(rendered.contains("old.mod:6:"), "{rendered}");
}

/// A state assignment in a SOLVE'd PROCEDURE of another form than `m = m + a*(b - m)` sets
/// the state each step (nap.mod of ModelDB 20212); NEURON's conductance is the secant.
#[test]
fn other_state_updates_set_the_state_each_step() {
    let header = "NEURON { SUFFIX old NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) }\nSTATE { m }\n";
    let procedure =
        format!("{header}BREAKPOINT {{\n    SOLVE states\n    i = g*m*v\n}}\nPROCEDURE states() {{ m = m*m }}\n");
    let mut db = SourceDb::new();
    let id = db.add("old.mod", procedure);
    let result = nmodl::import(&db, id);
    assert!(!result.has_errors(), "{}", render(&db, &result.diagnostics));
    let text = result.mechanism.expect("a mechanism").text;
    assert!(text.contains("    m = m * m each step\n") && text.contains("by secant\n"), "{text}");
}

/// A POINTER is translated only as a point process's presynaptic voltage (`v_pre`): one in a
/// density mechanism, a second one, or one in another unit (a transmitter) is E0802 at it.
#[test]
fn pointers_other_than_the_presynaptic_voltage_are_refused() {
    let point = |pointers: &str, unit: &str| {
        format!(
            "NEURON {{ POINT_PROCESS syn {pointers} NONSPECIFIC_CURRENT i }}\nPARAMETER {{ g = 0.001 (uS) }}\nASSIGNED {{ v (mV) i (nA) pre ({unit}) other (mV) }}\nBREAKPOINT {{ i = g*(v - pre) }}\n"
        )
    };
    let ok = import_text(&point("POINTER pre", "mV"));
    assert!(!ok.contains("error"), "{ok}");
    let two = import_text(&point("POINTER pre, other", "mV"));
    assert!(
        two.contains("error[E0802]: POINTER `pre`: Sylva translates a POINTER only as the presynaptic voltage"),
        "{two}"
    );
    assert!(two.contains("old.mod:1:36"), "{two}");
    let transmitter = import_text(&point("POINTER pre", "mM"));
    assert!(
        transmitter.contains("error[E0802]: POINTER `pre` is in (mM): the presynaptic voltage is in (mV)"),
        "{transmitter}"
    );
    assert!(transmitter.contains("old.mod:3:"), "{transmitter}");
    let density = import_text(
        "NEURON { SUFFIX d POINTER p NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (mA/cm2) p (mV) }\nBREAKPOINT { i = 0.001*(v - p) }\n",
    );
    assert!(density.contains("error[E0802]: POINTER `p`: Sylva translates a POINTER only"), "{density}");
}

/// `SOLVE states` of a PROCEDURE that advances the gates by assignments (hh2p.mod, both
/// forms `m = m + mexp*(minf - m)` and `h = hinf + (h - hinf)*hkeep`, `VERBATIM return 0;`).
#[test]
fn translated_procedure_updates_match_neuron() {
    run_case(
        "procedure",
        &["tests/data/nmodl/hh2p.mod"],
        "    insert hh2p in soma\n",
        (5.0, 30.0, 0.15),
        50.0,
        -65.0,
        &["6.3", "18.5"],
    );
}

/// KINETIC blocks with METHOD sparse: the five-state K scheme (CONSERVE) and kin3.mod's
/// three-state Na scheme (COMPARTMENT, CONSERVE), beside hh2's sodium.
#[test]
fn translated_kinetic_schemes_match_neuron() {
    run_case(
        "kinetic",
        &["tests/data/nmodl/hh2.mod", "tests/data/neuron/mod/kinetic_k.mod", "tests/data/nmodl/kin3.mod"],
        "    insert hh2 in soma { gkbar = 0 S/cm2, gnabar = 0.06 S/cm2 }\n    insert kinetic_k in soma\n    insert kin3 in soma { gbar = 0.06 S/cm2 }\n",
        (5.0, 30.0, 0.3),
        50.0,
        -65.0,
        &["6.3", "22"],
    );
}

/// `SOLVE kin STEADYSTATE sparse` in INITIAL (Sylva's `kinetic steady_state`): the five-state
/// K scheme and kin3's scheme start at their steady state for v_init.
#[test]
fn translated_steady_states_match_neuron() {
    run_case(
        "steady",
        &["tests/data/nmodl/hh2.mod", "tests/data/nmodl/kinss.mod", "tests/data/nmodl/kin3ss.mod"],
        "    insert hh2 in soma { gkbar = 0 S/cm2, gnabar = 0.06 S/cm2 }\n    insert kinss in soma\n    insert kin3ss in soma { gbar = 0.06 S/cm2 }\n",
        (5.0, 30.0, 0.3),
        50.0,
        -60.0,
        &["6.3", "22"],
    );
}

/// METHOD derivimplicit: hh2 and a calcium pool integrated by backward Euler.
#[test]
fn translated_derivimplicit_matches_neuron() {
    run_case(
        "implicit",
        &["tests/data/nmodl/hh2i.mod"],
        "    insert hh2i in soma\n",
        (5.0, 30.0, 0.15),
        50.0,
        -65.0,
        &["6.3", "18.5"],
    );
    run_case(
        "implicit_ca",
        &["tests/data/nmodl/cad_implicit.mod", "tests/data/neuron/mod/Ca_HVA.mod", "tests/data/neuron/mod/SK_E2.mod"],
        "    insert pas in soma { g = 5e-4 S/cm2, e = -70 mV }\n    insert cad_implicit in soma\n    insert Ca_HVA in soma { gCa_HVAbar = 2e-4 S/cm2 }\n    insert SK_E2 in soma { gSK_E2bar = 1e-3 S/cm2 }\n",
        (10.0, 50.0, 0.3),
        150.0,
        -70.0,
        &["34", "22"],
    );
}

/// The synapses of `regenerate.py`'s case "synapses": NEURON's own ExpSyn and Exp2Syn
/// (NET_RECEIVE), one of them with tau1 = tau2 (Exp2Syn's INITIAL changes tau1), on hh2.
fn synapse_model(celsius: f64) -> String {
    format!(
        "cell c {{
    morphology {{ section soma {{ length = 20 um, diam = 20 um, nseg = 1 }} }}
    cm = 1 uF/cm2
    Ra = 100 ohm*cm
    v_init = -65 mV
    insert hh2 in soma
    synapse fast = ExpSyn at soma(0.5) {{ tau = 2 ms, e_ = 0 mV }}
    synapse slow = Exp2Syn at soma(0.5) {{ tau1 = 0.5 ms, tau2 = 3 ms, e_ = 0 mV }}
    synapse alpha = Exp2Syn at soma(0.5) {{ tau1 = 2 ms, tau2 = 2 ms, e_ = -10 mV }}
}}
network main {{
    population cells = c[1]
    source a = spikes(2 ms, 12 ms, 12.5 ms, 30 ms)
    source b = spikes(20 ms, 40 ms)
    source d = spikes(48 ms)
    connect a -> cells.fast all_to_all {{ weight = 0.004 uS, delay = 0 ms }}
    connect b -> cells.slow all_to_all {{ weight = 0.006 uS, delay = 0 ms }}
    connect d -> cells.alpha all_to_all {{ weight = 0.01 uS, delay = 0 ms }}
    probe \"soma_v\" = v at cells[0].soma(0.5)
}}
simulation {{ dt = 0.025 ms, duration = 60 ms, temperature = {celsius} degC }}
"
    )
}

/// NET_RECEIVE: NEURON's expsyn.mod and exp2syn.mod translated, against NEURON's built-in
/// ExpSyn and Exp2Syn (compiled from those files).
#[test]
fn translated_synapses_match_neuron() {
    compare(
        "synapses",
        &["tests/data/nmodl/hh2.mod", "tests/data/nmodl/expsyn.mod", "tests/data/nmodl/exp2syn.mod"],
        &["6.3", "18.5"],
        &synapse_model,
    );
}

/// Each E08xx/W0006 fixture `tests/data/diagnostics/<CODE>.mod` reports its code first.
#[test]
fn each_nmodl_fixture_reports_its_code_first() {
    let fixtures = files_with_extension("tests/data/diagnostics", "mod");
    assert!(!fixtures.is_empty());
    for fixture in fixtures {
        let text = std::fs::read_to_string(repo().join(&fixture)).expect("fixture");
        let mut db = SourceDb::new();
        let id = db.add(fixture.as_str(), text);
        let result = nmodl::import(&db, id);
        let rendered = render(&db, &result.diagnostics);
        let code = sylva_tests::fixture_code(&fixture, &result.diagnostics, &rendered);
        insta::assert_snapshot!(format!("diagnostic_{code}"), rendered);
    }
}

const GARBAGE: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "'",
    "=",
    "<",
    ">",
    ",",
    ":",
    "?",
    "-",
    "^",
    "COMMENT",
    "VERBATIM",
    "ENDCOMMENT",
    "if",
    "else",
    "LOCAL",
    "TABLE",
    "SOLVE",
    "(mV)",
    "(furlong)",
    "1e999",
    "é",
    "\u{0}",
    "\n",
    "UNITSOFF",
    "FROM",
    "KINETIC {",
    "~",
    "<->",
    "<<",
    "+",
    "2",
    "CONSERVE",
    "COMPARTMENT",
    "NET_RECEIVE",
    "STEADYSTATE",
    "derivimplicit",
    "sparse",
    "net_send(1, 1)",
];

/// Gives the model the text of the one `.mod` file it imports.
struct MutantLoader<'a>(&'a str);

impl Loader for MutantLoader<'_> {
    fn read(&mut self, _path: &str) -> Result<String, String> {
        Ok(self.0.to_string())
    }
}

/// A model that imports the mutated file: the compiler does not panic, every label lies in a
/// file, the diagnostics render, and the `.mod` file's own diagnostics are `import`'s.
fn check_imported_mutant(case: usize, name: &str, mutated: &str, alone: &nmodl::Import) {
    let mut db = SourceDb::new();
    let root = db.add("model.syl", "import \"mutant.mod\"\n");
    let compilation = compile(&mut db, root, &mut MutantLoader(mutated), &[]);
    for d in &compilation.diagnostics {
        for l in d.labels() {
            assert!(db.contains(l.span), "case {case} ({name}) imported: label outside its file: {d:?}\n{mutated}");
        }
    }
    render(&db, &compilation.diagnostics);
    let in_mod: Vec<_> = compilation
        .diagnostics
        .iter()
        .filter(|d| db.get(d.primary.span.file).name == "mutant.mod")
        .map(|d| (d.code, d.primary.span.range()))
        .collect();
    let expected: Vec<_> = alone.diagnostics.iter().map(|d| (d.code, d.primary.span.range())).collect();
    assert_eq!(in_mod, expected, "case {case} ({name}) imported:\n{mutated}");
}

/// Mutated `.mod` files (deleted, duplicated and swapped lines, truncations, inserted tokens and
/// bytes): the import never panics, every label lies in the file on character boundaries, the
/// diagnostics render, and whatever is translated without errors checks without errors. Each
/// goes through a model's `import "mutant.mod"` too.
#[test]
fn mutated_mod_files_never_panic() {
    let mut sources: Vec<(String, String)> = files_with_extension("tests/data/nmodl", "mod")
        .into_iter()
        .chain(files_with_extension("tests/data/neuron/mod", "mod"))
        .map(|f| {
            let t = std::fs::read_to_string(repo().join(&f)).expect("mod");
            (f, t)
        })
        .collect();
    sources.sort();
    let cases: usize = std::env::var("SYLVA_FUZZ_NMODL_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let mut rng = Rng(0x5eed_0d0d);
    for case in 0..cases {
        let (name, text) = &sources[case % sources.len()];
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for _ in 0..1 + rng.below(3) {
            let n = lines.len().max(1);
            match rng.below(6) {
                0 if !lines.is_empty() => {
                    lines.remove(rng.below(n));
                }
                1 if !lines.is_empty() => {
                    let l = lines[rng.below(n)].clone();
                    lines.insert(rng.below(n), l);
                }
                2 if !lines.is_empty() => {
                    let (a, b) = (rng.below(n), rng.below(n));
                    lines.swap(a, b);
                }
                3 => lines.truncate(rng.below(n)),
                _ if !lines.is_empty() => {
                    let i = rng.below(n);
                    let l = &mut lines[i];
                    let mut at = rng.below(l.len() + 1);
                    while !l.is_char_boundary(at) {
                        at -= 1;
                    }
                    l.insert_str(at, GARBAGE[rng.below(GARBAGE.len())]);
                }
                _ => {}
            }
        }
        let mutated = lines.join("\n");
        let mut db = SourceDb::new();
        let id = db.add(name.as_str(), mutated.clone());
        let result = nmodl::import(&db, id);
        for d in &result.diagnostics {
            for l in d.labels() {
                assert!(db.contains(l.span), "case {case} ({name}): label outside the file: {d:?}\n{mutated}");
            }
        }
        let rendered = render(&db, &result.diagnostics);
        check_imported_mutant(case, name, &mutated, &result);
        if !result.has_errors()
            && let Some(m) = result.mechanism
        {
            let (db2, compilation) = compile_text("mutant.syl", &m.text, &[]);
            let errors: Vec<_> = compilation.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
            // Renaming a state or deleting its equation is the NMODL file's own error, which
            // NEURON's nocmodl reports too; the translation never produces a syntax error.
            assert!(
                errors.iter().all(|d| d.code.as_str() != "E0101"),
                "case {case} ({name}): the translation does not parse:\n{}\n{}\n{rendered}",
                render(&db2, &errors),
                m.text
            );
        }
    }
}
