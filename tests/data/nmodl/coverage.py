#!/usr/bin/env python3
"""Coverage of `sylva import` over a directory of .mod files (docs/nmodl.md, "Coverage").

usage: python coverage.py DIR [--sylva PATH] [--neuron]

For every .mod file under DIR (sorted), runs `sylva import` and prints one Markdown table row:
the file, translated or refused, and the codes of its diagnostics (errors, then warnings, each
with its count). A translated file is also checked with `sylva check`. With --neuron, every
translated density mechanism is compared with NEURON 9.0.2 running the original file on one
compartment (L = diam = 20 um, cm = 1 uF/cm2, pas g = 1e-4 S/cm2 e = -65 mV, the mechanism with
its defaults except that a conductance (a parameter in S/cm2) whose default is 0 is set to
ZERO_CONDUCTANCE_SET in both, IClamp 5 ms + 20 ms of 0.1 nA, 40 ms, dt = 0.025 ms, 34 degC,
v_init -65 mV):
the largest |dV| over the run, "matches" within 1e-6 mV. Point processes are not compared (they
need events). The corpus stays outside the repository; SOURCES lists where it came from.
"""
import argparse
import collections
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TOLERANCE_MV = 1e-6
CELSIUS = 34.0
# Many ModelDB files ship their conductances as 0, set by the model's hoc code: a comparison
# with 0 would not exercise the mechanism. Such a conductance is set to this value (S/cm2).
ZERO_CONDUCTANCE_SET = 1e-3

MODEL = """import iclamp
import pas
import "{syl}"
cell c {{
    morphology {{ section soma {{ length = 20 um, diam = 20 um, nseg = 1 }} }}
    cm = 1 uF/cm2
    Ra = 100 ohm*cm
    v_init = -65 mV
    insert pas in soma {{ g = 1e-4 S/cm2, e = -65 mV }}
    insert {name} in soma{settings}
}}
network main {{
    population cells = c[1]
    stimulus clamp = iclamp at cells[0].soma(0.5) {{ del = 5 ms, dur = 20 ms, amp = 0.1 nA }}
    probe "soma_v" = v at cells[0].soma(0.5)
}}
simulation {{ dt = 0.025 ms, duration = 40 ms, temperature = {celsius} degC }}
"""


def codes(stderr):
    """'E0802×3 W0006×1' from rendered diagnostics: errors first, then warnings."""
    found = collections.Counter(re.findall(r"^(?:error|warning)\[([EW]\d{4})\]", stderr, re.M))
    order = sorted(found, key=lambda c: (c[0] != "E", c))
    return " ".join("%s×%d" % (c, found[c]) for c in order)


def import_file(sylva, path, out):
    run = subprocess.run([sylva, "import", "--color", "never", path, "-o", out], capture_output=True, text=True)
    translated = run.returncode == 0
    syl = None
    for line in run.stdout.splitlines() + run.stderr.splitlines():
        m = re.search(r": wrote (.*\.syl)$", line)
        if m:
            syl = m.group(1)
    return translated, codes(run.stderr), syl


def mechanism(syl):
    """('density' or 'point', Sylva's name, NMODL's SUFFIX) of a translated file."""
    with open(syl) as f:
        text = f.read()
    m = re.search(r"^(density|point) (\w+) \{", text, re.M)
    suffix = re.search(r"^// (?:SUFFIX|POINT_PROCESS) (\w+) in NMODL", text, re.M)
    return m.group(1), m.group(2), suffix.group(1) if suffix else m.group(2)


def zero_conductances(syl):
    """The parameters in S/cm2 with a default of 0 of a translated file."""
    with open(syl) as f:
        return re.findall(r"^\s*param (\w+): S/cm2 = 0(?:\.0*)?(?: in \[.*\])?$", f.read(), re.M)


def sylva_trace(sylva, syl, name, work):
    model = os.path.join(work, "model.syl")
    zeros = zero_conductances(syl)
    settings = " { %s }" % ", ".join("%s = %g S/cm2" % (p, ZERO_CONDUCTANCE_SET) for p in zeros) if zeros else ""
    with open(model, "w") as f:
        f.write(MODEL.format(syl=os.path.basename(syl), name=name, celsius=CELSIUS, settings=settings))
    out = os.path.join(work, "out")
    run = subprocess.run([sylva, "run", "--no-plots", model, "-o", out], capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "sylva run failed"
    with open(os.path.join(out, "trace.csv")) as f:
        return [float(r["soma_v"]) for r in csv.DictReader(f)], None


def neuron_trace(path, suffix, zeros, work):
    build = os.path.join(work, "nrn")
    os.makedirs(build, exist_ok=True)
    shutil.copy(path, build)
    nrnivmodl = shutil.which("nrnivmodl") or os.path.join(os.path.dirname(sys.executable), "nrnivmodl")
    log = subprocess.run([nrnivmodl, "."], cwd=build, capture_output=True, text=True)
    library = next((os.path.join(r, "libnrnmech.so") for r, _, fs in os.walk(build) if "libnrnmech.so" in fs), None)
    if log.returncode != 0 or library is None:
        return None, "nrnivmodl fails"
    out = os.path.join(work, "neuron.csv")
    run = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", library, suffix, out, ",".join(zeros)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return None, "NEURON fails: " + (run.stderr.strip().splitlines() or ["?"])[-1]
    with open(out) as f:
        return [float(x) for x in f.read().split()], None


def child(library, suffix, out, zeros):
    """Runs in a fresh process: NEURON with the compiled .mod, the protocol of MODEL."""
    from neuron import h
    h.nrn_load_dll(library)
    h.load_file("stdrun.hoc")
    soma = h.Section(name="soma")
    soma.L = soma.diam = 20.0
    soma.nseg = 1
    soma.cm = 1.0
    soma.Ra = 100.0
    soma.insert("pas")
    soma(0.5).pas.g = 1e-4
    soma(0.5).pas.e = -65.0
    soma.insert(suffix)
    for name in filter(None, zeros.split(",")):
        try:
            setattr(soma(0.5), "%s_%s" % (name, suffix), ZERO_CONDUCTANCE_SET)
        except (AttributeError, LookupError, TypeError):
            setattr(h, "%s_%s" % (name, suffix), ZERO_CONDUCTANCE_SET)  # a GLOBAL
    if hasattr(h, "usetable_" + suffix):
        setattr(h, "usetable_" + suffix, 0)   # Sylva computes TABLEs exactly (W0006)
    stim = h.IClamp(soma(0.5))
    stim.delay, stim.dur, stim.amp = 5.0, 20.0, 0.1
    h.celsius = CELSIUS
    h.dt = 0.025
    h.steps_per_ms = 40
    h.secondorder = 0
    h.cvode_active(0)
    v = h.Vector().record(soma(0.5)._ref_v)
    h.finitialize(-65.0)
    h.continuerun(40.0)
    with open(out, "w") as f:
        f.write("\n".join("%.17g" % x for x in v))


def compare(sylva, path, syl, work):
    kind, name, suffix = mechanism(syl)
    if kind != "density":
        return "point process: not compared"
    ours, why = sylva_trace(sylva, syl, name, work)
    if ours is None:
        return why
    theirs, why = neuron_trace(path, suffix, zero_conductances(syl), work)
    if theirs is None:
        return why
    if len(ours) != len(theirs):
        return "%d samples, NEURON %d" % (len(ours), len(theirs))
    delta = max(abs(a - b) for a, b in zip(ours, theirs))
    return "%s, max \\|ΔV\\| %.1e mV" % ("matches" if delta <= TOLERANCE_MV else "DIFFERS", delta)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--sylva", default=os.path.join(REPO, "target", "debug", "sylva"))
    parser.add_argument("--neuron", action="store_true")
    args = parser.parse_args()
    files = sorted(os.path.relpath(os.path.join(r, f), args.dir)
                   for r, _, fs in os.walk(args.dir) for f in fs if f.endswith(".mod"))
    print("| file | result | diagnostics |%s" % (" NEURON, one compartment |" if args.neuron else ""))
    print("| --- | --- | --- |%s" % (" --- |" if args.neuron else ""))
    counts = collections.Counter()
    for rel in files:
        work = tempfile.mkdtemp(prefix="sylva_coverage_")
        try:
            translated, found, syl = import_file(args.sylva, os.path.join(args.dir, rel), work)
            if translated and syl:
                check = subprocess.run([args.sylva, "check", "--color", "never", syl], capture_output=True, text=True)
                translated = check.returncode == 0 and "warning" not in check.stderr
            result = "translated" if translated else "refused"
            counts[result] += 1
            row = "| %s | %s | %s |" % (rel, result, found or "none")
            if args.neuron:
                verdict = compare(args.sylva, os.path.join(args.dir, rel), syl, work) if translated else ""
                counts[verdict.split(",")[0]] += 1 if translated else 0
                row += " %s |" % verdict
            print(row, flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("%d files: %d translated, %d refused%s" % (
        len(files), counts["translated"], counts["refused"],
        "; of the translated, %d match NEURON, %d differ" % (counts["matches"], counts["DIFFERS"])
        if args.neuron else ""))


if __name__ == "__main__":
    main()
