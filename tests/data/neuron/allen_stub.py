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
import sys

import regenerate_channels as channels
import swc_cell
from neuron import h

case = swc_cell.output_dir(sys.argv, "allen_stub")
_, library = channels.compile_mods()
h.nrn_load_dll(library)
swc_cell.load("morph_allen_485574832.swc", celsius=6.3)

# The segment counts of the file's sections, before any edit (as Sylva's `d_lambda` does).
for sec in h.allsec():
    sec.Ra = 100
    sec.cm = 1
    sec.nseg = swc_cell.d_lambda_nseg(sec)

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
sites = [("soma_v", h.soma[0](0.5)._ref_v), ("axon1_v", h.axon[1](0.5)._ref_v),
         ("apic30_v", h.apic[30](0.5)._ref_v), ("dend5_v", h.dend[5](0.5)._ref_v),
         ("apic30_gIhbar", h.apic[30](0.5).Ih._ref_gIhbar)]
spikes = swc_cell.run_and_write(case, sites, -65, 50)
print("allen_stub: sections", len(list(h.allsec())), "nseg", int(sum(s.nseg for s in h.allsec())),
      "area", sum(seg.area() for s in h.allsec() for seg in s), "spikes", spikes)
