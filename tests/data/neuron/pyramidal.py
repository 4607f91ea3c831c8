"""NEURON 9.0.2 reference for `pyramidal` (examples/neuron/pyramidal.syl): the CA1
reconstruction `tests/data/swc/morph_ca1_n120.swc` with hh-type Na/K channels, an Ih density that
rises exponentially with distance from the soma in the apical tree, high-voltage-activated
calcium channels with calcium dynamics, and an SK channel in the soma; stimulated at the soma.

    soma:        pas, hh (defaults), Ca_HVA 1e-3, CaDynamics_E2, SK_E2 1e-4 S/cm2
    dend, apic:  pas, hh with gnabar 0.03, gkbar 0.012, gl 0 S/cm2
    apic:        Ih with gIhbar = 1e-5 S/cm2 * exp(distance / 300 um), Ca_HVA 1e-4, CaDynamics_E2
    all:         pas g 3e-5 S/cm2, e -70 mV; Ra 100 ohm*cm; cm 1 uF/cm2; d_lambda 0.1 (100 Hz)
    IClamp 1 nA from 10 to 110 ms at soma[0](0.5); 150 ms at dt 0.025 ms; 6.3 degC; v_init -65 mV

Writes pyramidal/trace.csv (soma[0](0.5), dend[10](0.5), apic[20](0.5) voltages and the soma's
cai) and pyramidal/spikes.csv. Uses the mod files of tests/data/neuron/mod (compiled by
regenerate_channels.compile_mods).

usage: python tests/data/neuron/pyramidal.py [--out DIR]
"""
import math
import sys

import regenerate_channels as channels
import swc_cell
from neuron import h

case = swc_cell.output_dir(sys.argv, "pyramidal")
_, library = channels.compile_mods()
h.nrn_load_dll(library)
swc_cell.load("morph_ca1_n120.swc", celsius=6.3)

soma = list(h.soma)
dendrites = list(h.dend) + list(h.apic)
h.distance(0, soma[0](0.5))
for sec in h.allsec():
    sec.Ra = 100
    sec.cm = 1
    sec.nseg = swc_cell.d_lambda_nseg(sec)
    sec.insert("pas")
    sec.insert("hh")
    for seg in sec:
        seg.pas.g = 3e-5
        seg.pas.e = -70
for sec in soma:
    for mech in ("CaDynamics_E2", "Ca_HVA", "SK_E2"):
        sec.insert(mech)
    for seg in sec:
        seg.Ca_HVA.gCa_HVAbar = 1e-3
        seg.SK_E2.gSK_E2bar = 1e-4
for sec in dendrites:
    for seg in sec:
        seg.hh.gnabar = 0.03
        seg.hh.gkbar = 0.012
        seg.hh.gl = 0
for sec in h.apic:
    for mech in ("CaDynamics_E2", "Ca_HVA", "Ih"):
        sec.insert(mech)
    for seg in sec:
        seg.Ca_HVA.gCa_HVAbar = 1e-4
        seg.Ih.gIhbar = 1e-5 * math.exp(h.distance(seg) / 300)

stim = h.IClamp(soma[0](0.5))
stim.delay, stim.dur, stim.amp = 10, 100, 1.0
columns = [
    ("soma_v", soma[0](0.5)._ref_v),
    ("dend10_v", h.dend[10](0.5)._ref_v),
    ("apic20_v", h.apic[20](0.5)._ref_v),
    ("soma_cai", soma[0](0.5)._ref_cai),
]
spikes = swc_cell.run_and_write(case, columns, -65, 150)
print("pyramidal: nseg", int(sum(s.nseg for s in h.allsec())), "spikes", len(spikes), [round(s, 3) for s in spikes])
