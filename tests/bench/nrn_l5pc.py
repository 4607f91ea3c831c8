"""The layer-5 pyramidal cell of examples/bench/l5pc.syl in NEURON 9.0.2, timed: the same SWC
(tests/data/swc/morph_allen_485574832.swc, Import3d), the same .mod files
(examples/bench/l5pc/, compiled with nrnivmodl in a temporary directory), the same d_lambda
segmentation (0.02 at 100 Hz, with each section's own cm) and the same densities (see the .syl
for their origin). Fixed step dt 0.025 ms, secondorder 0, one thread, celsius 34, v_init -80 mV.

usage: python nrn_l5pc.py [--tstop 700] [--delay 100] [--amp 0.6] [--dend-delay 380]
                          [--dend-amp 0.2] [--out DIR]
(the somatic and dendritic steps, as the .syl's params). Prints one JSON line: setup_s
(compiling excluded), run_s and run_cpu_s (pc.psolve only, wall and CPU), ncomp, steps,
nspikes and the spike times. With --out, writes DIR/trace.csv (t, soma_v, apic20_v, soma_cai,
apic20_cai; every step, %.12g) and DIR/spikes.csv (gid,time) in the format of tests/data/neuron.
The reference of tests/it/fidelity.rs (l5pc_cell_matches_neuron) is
    python tests/bench/nrn_l5pc.py --tstop 50 --delay 5 --dend-delay 30 --out tests/data/neuron/l5pc
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

from neuron import h

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MODS = os.path.join(ROOT, "examples", "bench", "l5pc")
SWC = os.path.join(ROOT, "tests", "data", "swc", "morph_allen_485574832.swc")
LONGEST_APICAL_PATH = 741.0  # um, the normaliser of the Ih density (as in the .syl)
HOT_ZONE = (400.0, 600.0)  # um from soma(0.5): the apical Ca channels' hot zone

# (mechanism, {parameter: value}) per region (NEURON runs them in its order of mechanism types).
SOMATIC = [
    ("CaDynamics_E2", {"decay": 460, "gamma": 0.000501}),
    ("Ca_LVAst", {"gCa_LVAstbar": 0.00343}),
    ("Ca_HVA", {"gCa_HVAbar": 0.000992}),
    ("SKv3_1", {"gSKv3_1bar": 0.693}),
    ("SK_E2", {"gSK_E2bar": 0.0441}),
    ("K_Tst", {"gK_Tstbar": 0.0812}),
    ("K_Pst", {"gK_Pstbar": 0.00223}),
    ("Nap_Et2", {"gNap_Et2bar": 0.00172}),
    ("NaTa_t", {"gNaTa_tbar": 2.04}),
    ("Ih", {"gIhbar": 0.0002}),
]
AXONAL = [
    ("CaDynamics_E2", {"decay": 287.198731, "gamma": 0.000525}),
    ("Ca_LVAst", {"gCa_LVAstbar": 0.008752}),
    ("Ca_HVA", {"gCa_HVAbar": 0.00099}),
    ("SKv3_1", {"gSKv3_1bar": 1.021945}),
    ("SK_E2", {"gSK_E2bar": 0.007104}),
    ("K_Tst", {"gK_Tstbar": 0.089259}),
    ("K_Pst", {"gK_Pstbar": 0.973538}),
    ("Nap_Et2", {"gNap_Et2bar": 0.006827}),
    ("NaTa_t", {"gNaTa_tbar": 3.137968}),
]
BASAL = [("Ih", {"gIhbar": 0.0002})]
APICAL = [
    ("CaDynamics_E2", {"decay": 122, "gamma": 0.000509}),
    ("SK_E2", {"gSK_E2bar": 0.0012}),
    ("SKv3_1", {"gSKv3_1bar": 0.000261}),
    ("NaTa_t", {"gNaTa_tbar": 0.0213}),
    ("Im", {"gImbar": 6.75e-5}),
]
PAS_G = {"soma": 3.38e-5, "axon": 3.25e-5, "dend": 4.67e-5, "apic": 5.89e-5}


def compile_mods():
    """nrnivmodl on a copy of the .mod files in a temporary directory; returns (dir, library)."""
    work = tempfile.mkdtemp(prefix="nrn_l5pc_")
    for name in sorted(os.listdir(MODS)):
        if name.endswith(".mod"):
            shutil.copy(os.path.join(MODS, name), work)
    nrnivmodl = shutil.which("nrnivmodl") or os.path.join(os.path.dirname(sys.executable), "nrnivmodl")
    log = subprocess.run([nrnivmodl, "."], cwd=work, capture_output=True, text=True)
    for root, _, files in os.walk(work):
        if log.returncode == 0 and "libnrnmech.so" in files:
            return work, os.path.join(root, "libnrnmech.so")
    shutil.rmtree(work)
    sys.exit("nrnivmodl failed:\n" + log.stdout + log.stderr)


def insert(sections, mechanisms):
    for sec in sections:
        for mech, params in mechanisms:
            sec.insert(mech)
            for seg in sec:
                for name, value in params.items():
                    setattr(getattr(seg, mech), name, value)


def in_hot_zone(seg):
    return HOT_ZONE[0] < h.distance(seg) < HOT_ZONE[1]


def build():
    """The cell of l5pc.syl; returns its soma and apic lists."""
    h.load_file("stdrun.hoc")
    h.load_file("import3d.hoc")
    reader = h.Import3d_SWC_read()
    reader.input(SWC)
    h.Import3d_GUI(reader, False).instantiate(None)
    soma, axon, dend, apic = list(h.soma), list(h.axon), list(h.dend), list(h.apic)
    h.distance(0, soma[0](0.5))
    for region, sections in (("soma", soma), ("axon", axon), ("dend", dend), ("apic", apic)):
        for sec in sections:
            sec.Ra = 100
            sec.cm = 2 if region in ("dend", "apic") else 1
            sec.nseg = int((sec.L / (0.02 * h.lambda_f(100, sec=sec)) + 0.9) / 2) * 2 + 1
            sec.insert("pas")
            for seg in sec:
                seg.pas.g = PAS_G[region]
                seg.pas.e = -90
    insert(soma, SOMATIC)
    insert(axon, AXONAL)
    insert(dend, BASAL)
    insert(apic, APICAL)
    for sec in apic:
        for mech in ("Ih", "Ca_LVAst", "Ca_HVA"):
            sec.insert(mech)
        for seg in sec:
            seg.Ih.gIhbar = 0.0002 * (-0.8696 + 2.087 * math.exp(3.6161 * h.distance(seg) / LONGEST_APICAL_PATH))
            seg.Ca_LVAst.gCa_LVAstbar = 0.0187 * (1 if in_hot_zone(seg) else 0.01)
            seg.Ca_HVA.gCa_HVAbar = 0.000555 * (1 if in_hot_zone(seg) else 0.1)
    for sec in soma + axon + apic:
        sec.ena = 50
        sec.ek = -85
    return soma, apic


def write_outputs(out, t, columns, traces, spikes):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "trace.csv"), "w") as f:
        f.write(",".join(["t"] + [name for name, _ in columns]) + "\n")
        for i in range(len(t)):
            f.write(",".join("%.12g" % x for x in [t[i]] + [v[i] for v in traces]) + "\n")
    with open(os.path.join(out, "spikes.csv"), "w") as f:
        f.write("gid,time\n")
        for s in spikes:
            f.write("0,%.12g\n" % s)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tstop", type=float, default=700.0)
    p.add_argument("--delay", type=float, default=100.0)
    p.add_argument("--amp", type=float, default=0.6)
    p.add_argument("--dend-delay", type=float, default=380.0)
    p.add_argument("--dend-amp", type=float, default=0.2)
    p.add_argument("--out")
    a = p.parse_args()
    work, library = compile_mods()
    try:
        h.nrn_load_dll(library)
    finally:
        shutil.rmtree(work)  # the library stays mapped
    t0 = time.perf_counter()
    soma, apic = build()
    pc = h.ParallelContext()
    pc.nthread(1)
    h.cvode_active(0)
    h.secondorder = 0
    h.celsius = 34
    h.dt = 0.025
    h.steps_per_ms = 40
    stim = h.IClamp(soma[0](0.5))
    stim.delay, stim.dur, stim.amp = a.delay, 500, a.amp
    dendritic = h.IClamp(apic[20](0.5))
    dendritic.delay, dendritic.dur, dendritic.amp = a.dend_delay, 10, a.dend_amp
    columns = [
        ("soma_v", soma[0](0.5)._ref_v),
        ("apic20_v", apic[20](0.5)._ref_v),
        ("soma_cai", soma[0](0.5)._ref_cai),
        ("apic20_cai", apic[20](0.5)._ref_cai),
    ]
    t = h.Vector().record(h._ref_t) if a.out else None
    traces = [h.Vector().record(ref) for _, ref in columns] if a.out else []
    spikes = h.Vector()
    nc = h.NetCon(soma[0](0.5)._ref_v, None, sec=soma[0])
    nc.threshold = -20
    nc.record(spikes)
    pc.set_maxstep(10)
    h.finitialize(-80)
    t1, c1 = time.perf_counter(), time.process_time()
    pc.psolve(a.tstop)
    t2, c2 = time.perf_counter(), time.process_time()
    if a.out:
        write_outputs(a.out, t, columns, traces, spikes)
    print(json.dumps(dict(sim="neuron", version=h.nrnversion(), threads=int(pc.nthread()),
                          ncomp=int(sum(sec.nseg for sec in h.allsec())), steps=int(round(a.tstop / h.dt)),
                          setup_s=t1 - t0, run_s=t2 - t1, run_cpu_s=c2 - c1, nspikes=int(spikes.size()),
                          spikes=[round(s, 4) for s in spikes])))


if __name__ == "__main__":
    main()
