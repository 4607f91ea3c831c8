"""NEURON 9.0.2 reference for `allen_stub` (examples/neuron/allen_stub.syl): the edits a published
model makes to a reconstruction after loading it, on the Allen Institute cell
`tests/data/swc/morph_allen_485574832.swc` (Import3d):

    the axon deleted and replaced by a stub of two sections, 30 um long and 1 um thick each,
    axon[0](0) on soma[0](0.5) and axon[1](0) on axon[0](1), nseg 1 (Hay et al. 2011,
    `delete_axon`; BluePyOpt's `replace_axon` and the Allen models do the same);
    the dendrite dend[16] deleted with every section below it (`sec.subtree()`);
    distances measured from apic[0](1) (`h.distance(0, apic[0](1))`).

    all:   pas g 3e-5 S/cm2, e -70 mV; Ra 100 ohm*cm; cm 1 uF/cm2; d_lambda 0.1 (100 Hz)
           for the sections of the file, nseg 1 for the stub
    soma, axon: hh (defaults)
    apic:  Ih with gIhbar = 1e-5 S/cm2 * exp(distance / 300 um), distance from apic[0](1)
    IClamp 0.3 nA from 5 to 45 ms at soma[0](0.5); 50 ms at dt 0.025 ms; 6.3 degC; v_init -65 mV

Writes allen_stub/trace.csv (soma[0](0.5), axon[1](0.5), apic[30](0.5), dend[5](0.5) voltages
and apic[30](0.5)'s Ih conductance density parameter) and allen_stub/spikes.csv. Uses Ih.mod of
tests/data/neuron/mod (compiled by regenerate_channels.compile_mods).

usage: python tests/data/neuron/allen_stub.py [--out DIR]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import regenerate_channels as channels  # noqa: E402
from neuron import h  # noqa: E402

out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else HERE
case = os.path.join(out, "allen_stub")
os.makedirs(case, exist_ok=True)

_, library = channels.compile_mods()
h.nrn_load_dll(library)
h.load_file("stdrun.hoc")
h.load_file("import3d.hoc")
reader = h.Import3d_SWC_read()
reader.input(os.path.join(HERE, "..", "swc", "morph_allen_485574832.swc"))
h.Import3d_GUI(reader, False).instantiate(None)
h.cvode_active(0)
h.secondorder = 0
h.usetable_hh = 0
h.dt = 0.025
h.steps_per_ms = 40
h.celsius = 6.3

# The segment counts of the file's sections, before any edit (as Sylva's `d_lambda` does).
for sec in h.allsec():
    sec.Ra = 100
    sec.cm = 1
    sec.nseg = int((sec.L / (0.1 * h.lambda_f(100, sec=sec)) + 0.9) / 2) * 2 + 1

# Hay et al. 2011's delete_axon: the reconstructed axon replaced by a 60 um stub.
for sec in list(h.axon):
    h.delete_section(sec=sec)
h("create axon[2]")
for sec in h.axon:
    sec.L, sec.diam, sec.nseg, sec.Ra, sec.cm = 30, 1, 1, 100, 1
h.axon[0].connect(h.soma[0](0.5), 0)
h.axon[1].connect(h.axon[0](1), 0)

# A dendrite cut off, with everything below it.
for sec in list(h.dend[16].subtree()):
    h.delete_section(sec=sec)

for sec in h.allsec():
    sec.insert("pas")
    for seg in sec:
        seg.pas.g = 3e-5
        seg.pas.e = -70
for sec in list(h.soma) + list(h.axon):
    sec.insert("hh")
h.distance(0, h.apic[0](1))
for sec in h.apic:
    sec.insert("Ih")
    for seg in sec:
        seg.Ih.gIhbar = 1e-5 * h.exp(h.distance(seg) / 300)

stim = h.IClamp(h.soma[0](0.5))
stim.delay, stim.dur, stim.amp = 5, 40, 0.3
t = h.Vector().record(h._ref_t)
sites = [("soma_v", h.soma[0](0.5)._ref_v), ("axon1_v", h.axon[1](0.5)._ref_v),
         ("apic30_v", h.apic[30](0.5)._ref_v), ("dend5_v", h.dend[5](0.5)._ref_v),
         ("apic30_gIhbar", h.apic[30](0.5).Ih._ref_gIhbar)]
traces = [h.Vector().record(ref) for _, ref in sites]
spikes = h.Vector()
nc = h.NetCon(h.soma[0](0.5)._ref_v, None, sec=h.soma[0])
nc.threshold = -20
nc.record(spikes)
h.finitialize(-65)
h.continuerun(50)
with open(os.path.join(case, "trace.csv"), "w") as f:
    f.write(",".join(["t"] + [name for name, _ in sites]) + "\n")
    for i in range(len(t)):
        f.write(",".join("%.12g" % x for x in [t[i]] + [v[i] for v in traces]) + "\n")
with open(os.path.join(case, "spikes.csv"), "w") as f:
    f.write("gid,time\n")
    for s in spikes:
        f.write("0,%.12g\n" % s)
print("allen_stub: sections", len(list(h.allsec())), "nseg", int(sum(s.nseg for s in h.allsec())),
      "area", sum(seg.area() for s in h.allsec() for seg in s), "spikes", list(spikes))
