#!/usr/bin/env python3
"""NEURON references of `sylva import` (tests/it/nmodl.rs): each case runs the ORIGINAL .mod
files in NEURON 9.0.2 and writes CASE/trace_<celsius>.csv beside this script.

usage: python regenerate.py [CASE...]   (all cases by default)

Cases (one compartment L = diam = 20 um, nseg = 1, cm = 1 uF/cm2, Ra = 100 ohm*cm, fixed step
dt = 0.025 ms, cvode off, secondorder = 0), each at two temperatures:
    hh2     hh2.mod (hh in NMODL's usual style), IClamp 5 ms + 30 ms, 0.15 nA, 50 ms, v_init -65
    na_kdr  na2.mod + kdr2.mod + pas (GLOBAL and RANGE), IClamp 5 + 30 ms, 0.1 nA, 50 ms, v_init -65
    ca_sk   ../neuron/mod/{CaDynamics_E2,Ca_HVA,SK_E2}.mod + pas, IClamp 10 + 50 ms, 0.3 nA,
            150 ms, v_init -70 (the model of ../neuron/sk, with every mechanism translated)
    kinetic hh2 (gkbar 0, gnabar 0.06) + ../neuron/mod/kinetic_k.mod + kin3.mod (KINETIC, METHOD
            sparse, CONSERVE, COMPARTMENT), IClamp 5 + 30 ms, 0.3 nA, 50 ms, v_init -65
    steady  hh2 (gkbar 0, gnabar 0.06) + kinss.mod + kin3ss.mod (kinetic_k and kin3 starting at
            `SOLVE kin STEADYSTATE sparse`), as kinetic but v_init -60
    oldstyle  oldstyle.mod (SUFFIX na: INDEPENDENT, a file-level LOCAL, tadj only INITIAL computes,
            v changed in a block, a unit with a blank) + kdr2.mod + pas, as na_kdr
    procedure  hh2p.mod (hh2 with `SOLVE states` of a PROCEDURE), as hh2
    implicit     hh2i.mod (hh2 with METHOD derivimplicit), as hh2
    implicit_ca  cad_implicit.mod (CaDynamics_E2 with METHOD derivimplicit) + Ca_HVA + SK_E2 +
            pas, as ca_sk
    held    hh2m.mod + tlike.mod (ASSIGNED values only the DERIVATIVE block and INITIAL compute,
            read by BREAKPOINT: minf, and gt, which starts at 0), as hh2
    ions    hh2 + hcur.mod (a new ion h, VALENCE 1) + xchan.mod and xpool.mod (a new ion x,
            VALENCE 2, whose xi the pool writes: ex by Nernst), as hh2
    arrays  hh2a.mod (hh2 with ASSIGNED and LOCAL arrays filled by FROM loops, SOLVE of a
            PROCEDURE, INITIAL advancing the gates from 0), as hh2
    euler   hh2e.mod (hh2 with METHOD euler), as hh2
    vclamp_hh2    hh2 under a voltage clamp (SEClamp, rs 1 MOhm): -65 mV 5 ms, -20 mV 10 ms,
            -80 mV 10 ms; 30 ms
    vclamp_ca_sk  the model of ca_sk under a voltage clamp (rs 1 MOhm): -70 mV 10 ms, -10 mV
            50 ms, -70 mV 50 ms; 150 ms
    synapses  hh2 + NEURON's own ExpSyn and Exp2Syn (built in, compiled from expsyn.mod and
            exp2syn.mod, the files beside this script), events through NetCon.event at fixed
            times, no IClamp, 60 ms, v_init -65
The .mod files are compiled once with nrnivmodl in a temporary directory.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NEURON_DIR = os.path.join(HERE, "..", "neuron")
sys.path.insert(0, NEURON_DIR)
sys.dont_write_bytecode = True
import regenerate as base  # noqa: E402  (section, iclamp, Run, neuron_init)

MODS = [os.path.join(HERE, f) for f in ("hh2.mod", "na2.mod", "kdr2.mod", "kin3.mod", "hh2i.mod",
                                        "kinss.mod", "kin3ss.mod", "oldstyle.mod", "hh2p.mod",
                                        "cad_implicit.mod", "hh2m.mod", "tlike.mod",
                                        "hcur.mod", "xchan.mod", "xpool.mod", "hh2a.mod",
                                        "hh2e.mod")] + [
    os.path.join(NEURON_DIR, "mod", f)
    for f in ("CaDynamics_E2.mod", "Ca_HVA.mod", "SK_E2.mod", "kinetic_k.mod")]

# case: (temperatures, mechanisms with parameters, (delay, dur, amp), tstop, v_init)
CASES = {
    "hh2": ((6.3, 18.5), [("hh2", {})], (5.0, 30.0, 0.15), 50.0, -65.0),
    "na_kdr": ((6.3, 30.0), [("na2", {}), ("kdr2", {}), ("pas", {"g": 1e-4, "e": -65.0})],
               (5.0, 30.0, 0.1), 50.0, -65.0),
    "ca_sk": ((34.0, 22.0), [("pas", {"g": 5e-4, "e": -70.0}), ("CaDynamics_E2", {}),
                             ("Ca_HVA", {"gCa_HVAbar": 2e-4}), ("SK_E2", {"gSK_E2bar": 1e-3})],
              (10.0, 50.0, 0.3), 150.0, -70.0),
    "kinetic": ((6.3, 22.0), [("hh2", {"gkbar": 0.0, "gnabar": 0.06}), ("kinetic_k", {}),
                              ("kin3", {"gbar": 0.06})], (5.0, 30.0, 0.3), 50.0, -65.0),
    "steady": ((6.3, 22.0), [("hh2", {"gkbar": 0.0, "gnabar": 0.06}), ("kinss", {}),
                             ("kin3ss", {"gbar": 0.06})], (5.0, 30.0, 0.3), 50.0, -60.0),
    "oldstyle": ((6.3, 34.0), [("na", {}), ("kdr2", {}), ("pas", {"g": 1e-4, "e": -65.0})],
                 (5.0, 30.0, 0.1), 50.0, -65.0),
    "procedure": ((6.3, 18.5), [("hh2p", {})], (5.0, 30.0, 0.15), 50.0, -65.0),
    "implicit": ((6.3, 18.5), [("hh2i", {})], (5.0, 30.0, 0.15), 50.0, -65.0),
    "implicit_ca": ((34.0, 22.0), [("pas", {"g": 5e-4, "e": -70.0}), ("cad_implicit", {}),
                                   ("Ca_HVA", {"gCa_HVAbar": 2e-4}), ("SK_E2", {"gSK_E2bar": 1e-3})],
                    (10.0, 50.0, 0.3), 150.0, -70.0),
    "held": ((6.3, 18.5), [("hh2m", {}), ("tlike", {})], (5.0, 30.0, 0.15), 50.0, -65.0),
    "ions": ((6.3, 18.5), [("hh2", {}), ("hcur", {}), ("xchan", {}), ("xpool", {})],
             (5.0, 30.0, 0.15), 50.0, -65.0),
    "arrays": ((6.3, 18.5), [("hh2a", {})], (5.0, 30.0, 0.15), 50.0, -65.0),
    "euler": ((6.3, 18.5), [("hh2e", {})], (5.0, 30.0, 0.15), 50.0, -65.0),
    "synapses": ((6.3, 18.5), [("hh2", {})], (0.0, 0.0, 0.0), 60.0, -65.0),
    "vclamp_hh2": ((6.3, 18.5), [("hh2", {})], (0.0, 0.0, 0.0), 30.0, -65.0),
    "vclamp_ca_sk": ((34.0, 22.0), [("pas", {"g": 5e-4, "e": -70.0}), ("CaDynamics_E2", {}),
                                    ("Ca_HVA", {"gCa_HVAbar": 2e-4}), ("SK_E2", {"gSK_E2bar": 1e-3})],
                     (0.0, 0.0, 0.0), 150.0, -70.0),
}

# Synapses of the case "synapses": (class, parameters, weight in uS, event times in ms).
SYNAPSES = [
    ("ExpSyn", {"tau": 2.0, "e": 0.0}, 0.004, (2.0, 12.0, 12.5, 30.0)),
    ("Exp2Syn", {"tau1": 0.5, "tau2": 3.0, "e": 0.0}, 0.006, (20.0, 40.0)),
    # tau1 = tau2: Exp2Syn's INITIAL moves tau1 to 0.9999*tau2.
    ("Exp2Syn", {"tau1": 2.0, "tau2": 2.0, "e": -10.0}, 0.01, (48.0,)),
]


def synapses(seg):
    """The synapses of the case "synapses" at `seg`, and their NetCons (kept alive)."""
    kept = []
    for kind, params, weight, times in SYNAPSES:
        syn = getattr(base.h, kind)(seg)
        for key, value in params.items():
            setattr(syn, key, value)
        nc = base.h.NetCon(None, syn)
        nc.weight[0] = weight
        kept.append((syn, nc, times))
    fih = base.h.FInitializeHandler(lambda: [nc.event(t) for _, nc, times in kept for t in times])
    return kept, fih


def compile_mods():
    build = tempfile.mkdtemp(prefix="sylva_nmodl_")
    for path in MODS:
        shutil.copy(path, build)
    nrnivmodl = shutil.which("nrnivmodl") or os.path.join(os.path.dirname(sys.executable), "nrnivmodl")
    log = subprocess.run([nrnivmodl, "."], cwd=build, capture_output=True, text=True)
    if log.returncode != 0:
        sys.exit("nrnivmodl failed:\n" + log.stdout + log.stderr)
    for root, _, files in os.walk(build):
        if "libnrnmech.so" in files:
            return build, os.path.join(root, "libnrnmech.so")
    sys.exit("nrnivmodl produced no libnrnmech.so in " + build)


# Voltage-clamp cases: NEURON's SEClamp at the soma, rs = 1 MOhm (so that v departs from the
# command by the membrane current times 1 MOhm, and the trace carries the channels' currents),
# (level mV, duration ms) x 3; no IClamp.
VOLTAGE_STEPS = {
    "vclamp_hh2": ((-65.0, 5.0), (-20.0, 10.0), (-80.0, 10.0)),
    "vclamp_ca_sk": ((-70.0, 10.0), (-10.0, 50.0), (-70.0, 50.0)),
}


def seclamp(seg, levels):
    clamp = base.h.SEClamp(seg)
    clamp.rs = 1.0
    (clamp.amp1, clamp.dur1), (clamp.amp2, clamp.dur2), (clamp.amp3, clamp.dur3) = levels
    return clamp


def run_case(name, celsius):
    temps, mechanisms, (delay, dur, amp), tstop, v_init = CASES[name]
    base.h.celsius = celsius
    soma = base.section("soma", 20.0, 20.0, 1)
    for mech, params in mechanisms:
        soma.insert(mech)
        for key, value in params.items():
            setattr(soma(0.5), "%s_%s" % (key, mech), value)
    if name in VOLTAGE_STEPS:
        stim = seclamp(soma(0.5), VOLTAGE_STEPS[name])
    else:
        stim = base.iclamp(soma(0.5), delay, dur, amp)
    kept = synapses(soma(0.5)) if name == "synapses" else None
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.run(tstop, v_init=v_init)
    out = os.path.join(HERE, name)
    os.makedirs(out, exist_ok=True)
    r.write_trace(os.path.join(out, "trace_%g.csv" % celsius))
    del stim, soma, kept


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        base.neuron_init(0.025)
        base.h.nrn_load_dll(sys.argv[3])
        name, celsius = sys.argv[2].split("@")
        run_case(name, float(celsius))
        return
    unknown = [c for c in sys.argv[1:] if c not in CASES]
    if unknown:
        sys.exit("unknown case(s): %s (cases: %s)" % (", ".join(unknown), ", ".join(CASES)))
    build, library = compile_mods()
    try:
        for name, (temps, *_rest) in CASES.items():
            if sys.argv[1:] and name not in sys.argv[1:]:
                continue
            for celsius in temps:
                print("%s at %g degC" % (name, celsius), flush=True)
                subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                                "%s@%g" % (name, celsius), library], check=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)


if __name__ == "__main__":
    main()
