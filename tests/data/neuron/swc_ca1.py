"""NEURON 9.0.2 reference for `ca1_swc`: the CA1 pyramidal reconstruction
`tests/data/swc/morph_ca1_n120.swc` loaded with Import3d, segmented by the d_lambda rule (0.1 at
100 Hz), `pas` everywhere (g 1e-4 S/cm2, e -65 mV), `hh` in the soma sections, Ra 100 ohm*cm,
cm 1 uF/cm2, an IClamp of 0.5 nA from 5 to 55 ms at soma[0](0.5), 60 ms at dt 0.025 ms.
Writes `ca1_swc/trace.csv` (soma[0](0.5), dend[10](0.5), apic[20](0.5)) and `spikes.csv`.

usage: python tests/data/neuron/swc_ca1.py [--out DIR]   (NEURON 9.0.2: pip install neuron==9.0.2)
"""
import os
import sys

from neuron import h

HERE = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else HERE
case = os.path.join(out, "ca1_swc")
os.makedirs(case, exist_ok=True)

h.load_file("stdrun.hoc")
h.load_file("import3d.hoc")
reader = h.Import3d_SWC_read()
reader.input(os.path.join(HERE, "..", "swc", "morph_ca1_n120.swc"))
h.Import3d_GUI(reader, False).instantiate(None)
h.cvode_active(0)
h.secondorder = 0
h.usetable_hh = 0
h.dt = 0.025
h.steps_per_ms = 40
h.celsius = 6.3
for sec in h.allsec():
    sec.Ra = 100
    sec.cm = 1
    sec.nseg = int((sec.L / (0.1 * h.lambda_f(100, sec=sec)) + 0.9) / 2) * 2 + 1
    sec.insert("pas")
    for seg in sec:
        seg.pas.g = 1e-4
        seg.pas.e = -65
for sec in h.soma:
    sec.insert("hh")
stim = h.IClamp(h.soma[0](0.5))
stim.delay, stim.dur, stim.amp = 5, 50, 0.5
t = h.Vector().record(h._ref_t)
sites = [("soma_v", h.soma[0](0.5)), ("dend10_v", h.dend[10](0.5)), ("apic20_v", h.apic[20](0.5))]
traces = [h.Vector().record(seg._ref_v) for _, seg in sites]
spikes = h.Vector()
nc = h.NetCon(h.soma[0](0.5)._ref_v, None, sec=h.soma[0])
nc.threshold = -20
nc.record(spikes)
h.finitialize(-65)
h.continuerun(60)
with open(os.path.join(case, "trace.csv"), "w") as f:
    f.write(",".join(["t"] + [name for name, _ in sites]) + "\n")
    for i in range(len(t)):
        f.write(",".join("%.12g" % x for x in [t[i]] + [v[i] for v in traces]) + "\n")
with open(os.path.join(case, "spikes.csv"), "w") as f:
    f.write("gid,time\n")
    for s in spikes:
        f.write("0,%.12g\n" % s)
print("ca1_swc: nseg", int(sum(s.nseg for s in h.allsec())), "spikes", list(spikes))
