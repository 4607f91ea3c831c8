#!/usr/bin/env python3
"""Rebuild the NEURON references of Sylva's biophysics cases (calcium, SK, Ih, Markov K).

usage:
    python regenerate_channels.py [--out DIR] [CASE ...]
    python regenerate.py --compare DIR_A DIR_B        (the comparison lives in regenerate.py)

Cases: cadyn ca_hva ca_hva_eca sk ih kinetic_k ca_sk graded_pair gap_pair (default: all of them).

The mechanisms are the .mod files in mod/ beside this script (each states the published source
of its equations in its COMMENT). They are compiled once per run with `nrnivmodl` in a fresh
temporary directory (nrnivmodl must be on PATH or next to the Python interpreter, as in a venv
with `pip install neuron==9.0.2`), then every case runs in a fresh Python process that loads the
compiled library, exactly as regenerate.py runs its cases; the helpers (sections, IClamp,
recording, CSV writing) are regenerate.py's, so the file formats are identical.

Settings common to every case: one compartment L = diam = 20 um, nseg = 1, cm = 1 uF/cm2,
Ra = 100 ohm*cm, fixed step dt = 0.025 ms (cvode off, secondorder = 0), usetable_hh = 0.
celsius: 34 degC for the cases built from the Hay et al. (2011) channels (cadyn, ca_hva, sk,
ih: those channels have no temperature dependence, but eca, from the Nernst equation, does);
6.3 degC for the cases with hh (kinetic_k, ca_sk), hh's own temperature.

Calcium: every case with Ca_HVA except ca_hva_eca also has CaDynamics_E2, which WRITES cai, so
NEURON computes eca = RT/(2F) ln(cao/cai) at every step (cao = 2 mM, cai starting at 5e-5 mM);
this is also what Sylva's `species ca { reversal = nernst }` does. ca_hva_eca is ca_hva without
any calcium dynamics: there NEURON keeps eca at its default, 132.4579341637009 mV, for the
whole run (it does not apply Nernst), and the Sylva model has to say so with
`species ca { reversal = 132.4579341637009 mV }`. It is the only case that depends on that rule.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the references
import regenerate as base  # noqa: E402  (helpers: section, iclamp, Run, neuron_init)

MOD_DIR = os.path.join(HERE, "mod")
CASES = ["cadyn", "ca_hva", "ca_hva_eca", "sk", "ih", "kinetic_k", "ca_sk", "graded_pair", "gap_pair"]


def compile_mods():
    """Compiles mod/*.mod in a fresh temporary directory; returns it and libnrnmech.so's path."""
    build = tempfile.mkdtemp(prefix="sylva_nrnmod_")
    for name in sorted(os.listdir(MOD_DIR)):
        if name.endswith(".mod"):
            shutil.copy(os.path.join(MOD_DIR, name), build)
    nrnivmodl = shutil.which("nrnivmodl") or os.path.join(os.path.dirname(sys.executable), "nrnivmodl")
    log = subprocess.run([nrnivmodl, "."], cwd=build, capture_output=True, text=True)
    if log.returncode != 0:
        sys.exit("nrnivmodl failed:\n" + log.stdout + log.stderr)
    for root, _, files in os.walk(build):
        if "libnrnmech.so" in files:
            return build, os.path.join(root, "libnrnmech.so")
    sys.exit("nrnivmodl produced no libnrnmech.so in " + build)


def soma_with(mechanisms):
    """The single compartment of every case, with (mechanism, {parameter: value}) inserted."""
    soma = base.section("soma", 20.0, 20.0, 1)
    for name, params in mechanisms:
        soma.insert(name)
        for key, value in params.items():
            setattr(soma(0.5), "%s_%s" % (key, name), value)
    return soma


# ---- the cases --------------------------------------------------------------------------------

def case_cadyn(out):
    """Calcium decay: a 20 ms depolarisation opens Ca_HVA, then cai decays back to minCai."""
    soma = soma_with([("pas", {"g": 5e-4, "e": -70.0}),
                      ("CaDynamics_E2", {"gamma": 0.1, "decay": 50.0, "depth": 0.5}),
                      ("Ca_HVA", {"gCa_HVAbar": 3e-4})])
    stim = base.iclamp(soma(0.5), 20.0, 20.0, 0.3)
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("cai", soma(0.5)._ref_cai)
    r.record("eca", soma(0.5)._ref_eca)  # Nernst, as CaDynamics_E2 writes cai
    r.record("ica", soma(0.5)._ref_ica)  # the ion's total current density, mA/cm2
    r.run(200.0, v_init=-70.0)
    r.write_trace(os.path.join(out, "trace.csv"))


def case_ca_hva(out):
    """Ca_HVA: a 50 ms depolarising step, regenerative calcium plateau."""
    soma = soma_with([("pas", {"g": 5e-4, "e": -70.0}),
                      ("CaDynamics_E2", {}),
                      ("Ca_HVA", {"gCa_HVAbar": 1e-4})])
    stim = base.iclamp(soma(0.5), 10.0, 50.0, 0.3)
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("ca_hva_ica", soma(0.5).Ca_HVA._ref_ica)
    r.record("ca_hva_m", soma(0.5).Ca_HVA._ref_m)
    r.record("ca_hva_h", soma(0.5).Ca_HVA._ref_h)
    r.run(150.0, v_init=-70.0)
    r.write_trace(os.path.join(out, "trace.csv"))


def case_ca_hva_eca(out):
    """ca_hva without calcium dynamics: nothing writes cai, so eca stays at 132.458 mV."""
    soma = soma_with([("pas", {"g": 5e-4, "e": -70.0}),
                      ("Ca_HVA", {"gCa_HVAbar": 1e-4})])
    stim = base.iclamp(soma(0.5), 10.0, 50.0, 0.3)
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("ca_hva_ica", soma(0.5).Ca_HVA._ref_ica)
    r.record("ca_hva_m", soma(0.5).Ca_HVA._ref_m)
    r.record("ca_hva_h", soma(0.5).Ca_HVA._ref_h)
    r.record("eca", soma(0.5)._ref_eca)
    r.run(150.0, v_init=-70.0)
    r.write_trace(os.path.join(out, "trace.csv"))


def case_sk(out):
    """SK_E2 driven by calcium from Ca_HVA through CaDynamics_E2, no spikes (no hh)."""
    soma = soma_with([("pas", {"g": 5e-4, "e": -70.0}),
                      ("CaDynamics_E2", {}),
                      ("Ca_HVA", {"gCa_HVAbar": 2e-4}),
                      ("SK_E2", {"gSK_E2bar": 1e-3})])
    stim = base.iclamp(soma(0.5), 10.0, 50.0, 0.3)
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("cai", soma(0.5)._ref_cai)
    r.record("sk_z", soma(0.5).SK_E2._ref_z)
    r.record("sk_ik", soma(0.5).SK_E2._ref_ik)
    r.run(150.0, v_init=-70.0)
    r.write_trace(os.path.join(out, "trace.csv"))


def case_ih(out):
    """Ih: a 100 ms hyperpolarising step; the sag and the rebound after it."""
    soma = soma_with([("pas", {"g": 1e-4, "e": -70.0}),
                      ("Ih", {"gIhbar": 2e-4})])
    stim = base.iclamp(soma(0.5), 20.0, 100.0, -0.05)
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("ih_m", soma(0.5).Ih._ref_m)
    r.record("ih_i", soma(0.5).Ih._ref_ihcn)
    r.run(200.0, v_init=-70.0)
    r.write_trace(os.path.join(out, "trace.csv"))


def case_kinetic_k(out):
    """hh_soma with hh's K current replaced by the 5-state Markov scheme kinetic_k."""
    soma = soma_with([("hh", {"gkbar": 0.0}), ("kinetic_k", {})])
    stim = base.iclamp(soma(0.5), 5.0, 40.0, 0.2)
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("kinetic_k_o", soma(0.5).kinetic_k._ref_o)
    r.detector(0, soma(0.5))
    r.run(50.0)
    r.write_trace(os.path.join(out, "trace.csv"))
    r.write_spikes(os.path.join(out, "spikes.csv"))


def case_ca_sk(out):
    """hh + Ca_HVA + CaDynamics_E2 + SK_E2: each spike lets calcium in, which drives SK."""
    soma = soma_with([("hh", {}),
                      ("CaDynamics_E2", {}),
                      ("Ca_HVA", {"gCa_HVAbar": 1e-4}),
                      ("SK_E2", {"gSK_E2bar": 3e-4})])
    stim = base.iclamp(soma(0.5), 5.0, 80.0, 0.3)
    r = base.Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("cai", soma(0.5)._ref_cai)
    r.detector(0, soma(0.5))
    r.run(100.0)
    r.write_trace(os.path.join(out, "trace.csv"))
    r.write_spikes(os.path.join(out, "spikes.csv"))


def hh_soma(tag):
    """The hh_soma compartment of regenerate.py (L = diam = 20 um, hh defaults)."""
    soma = base.section("soma_%s" % tag, 20.0, 20.0, 1)
    soma.insert("hh")
    return soma


def case_graded_pair(out):
    """An hh soma (gid 0) under a current step drives ball_and_stick (gid 1) through GradedSyn
    on dend(0.5), whose POINTER reads gid 0's soma(0.5) v (Sylva: v_pre at its detector)."""
    soma0 = hh_soma("0")
    soma1, dend1 = base.ball_and_stick("1")
    stim = base.iclamp(soma0(0.5), 5.0, 30.0, 0.15)
    syn = base.h.GradedSyn(dend1(0.5))
    syn.g, syn.e, syn.alpha, syn.beta, syn.v_th, syn.delta = 0.02, 0.0, 2.0, 0.2, -30.0, 4.0
    base.h.setpointer(soma0(0.5)._ref_v, "vpre", syn)
    r = base.Run()
    r.record("cell0_soma_v", soma0(0.5)._ref_v)
    r.record("cell1_soma_v", soma1(0.5)._ref_v)
    r.record("cell1_dend_v_x0.5", dend1(0.5)._ref_v)
    r.record("cell1_syn_s", syn._ref_s)
    r.record("cell1_syn_i", syn._ref_i)
    r.detector(0, soma0(0.5))
    r.detector(1, soma1(0.5))
    r.run(50.0)
    r.write_trace(os.path.join(out, "trace.csv"))
    r.write_spikes(os.path.join(out, "spikes.csv"))


def case_gap_pair(out):
    """Two hh somata joined by a gap junction (a Gap on each, pointing at the other's v); a
    current step on gid 0."""
    soma0, soma1 = hh_soma("0"), hh_soma("1")
    stim = base.iclamp(soma0(0.5), 5.0, 30.0, 0.3)
    gap0, gap1 = base.h.Gap(soma0(0.5)), base.h.Gap(soma1(0.5))
    gap0.g = gap1.g = 0.02
    base.h.setpointer(soma1(0.5)._ref_v, "vgap", gap0)
    base.h.setpointer(soma0(0.5)._ref_v, "vgap", gap1)
    r = base.Run()
    r.record("cell0_soma_v", soma0(0.5)._ref_v)
    r.record("cell1_soma_v", soma1(0.5)._ref_v)
    r.record("cell0_gap_i", gap0._ref_i)
    r.record("cell1_gap_i", gap1._ref_i)
    r.detector(0, soma0(0.5))
    r.detector(1, soma1(0.5))
    r.run(50.0)
    r.write_trace(os.path.join(out, "trace.csv"))
    r.write_spikes(os.path.join(out, "spikes.csv"))


# case -> (function, celsius)
JOBS = {
    "cadyn": (case_cadyn, 34.0),
    "ca_hva": (case_ca_hva, 34.0),
    "ca_hva_eca": (case_ca_hva_eca, 34.0),
    "sk": (case_sk, 34.0),
    "ih": (case_ih, 34.0),
    "kinetic_k": (case_kinetic_k, 6.3),
    "ca_sk": (case_ca_sk, 6.3),
    "graded_pair": (case_graded_pair, 6.3),
    "gap_pair": (case_gap_pair, 6.3),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", help="cases to rebuild (default: all)")
    ap.add_argument("--out", default=HERE, help="output root; files go to OUT/<case>/ (default: beside this script)")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "LIBRARY"), help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.child:
        case, library = a.child
        fn, celsius = JOBS[case]
        out = os.path.join(a.out, case)
        os.makedirs(out, exist_ok=True)
        base.neuron_init(0.025)
        base.h.nrn_load_dll(library)
        base.h.celsius = celsius
        fn(out)
        return

    cases = a.cases or CASES
    for case in cases:
        if case not in JOBS:
            sys.exit("unknown case %r; known: %s" % (case, " ".join(CASES)))
    build, library = compile_mods()
    try:
        for case in cases:
            print("%s (celsius %g)" % (case, JOBS[case][1]), flush=True)
            subprocess.run([sys.executable, os.path.abspath(__file__), "--out", a.out,
                            "--child", case, library], check=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)


if __name__ == "__main__":
    main()
