"""NEURON 9.0.2 reference for `ca1_swc`: the CA1 pyramidal reconstruction
`tests/data/swc/morph_ca1_n120.swc` loaded with Import3d, segmented by the d_lambda rule (0.1 at
100 Hz), `pas` everywhere (g 1e-4 S/cm2, e -65 mV), `hh` in the soma sections, Ra 100 ohm*cm,
cm 1 uF/cm2, an IClamp of 0.5 nA from 5 to 55 ms at soma[0](0.5), 60 ms at dt 0.025 ms.
Writes `ca1_swc/trace.csv` (soma[0](0.5), dend[10](0.5), apic[20](0.5)) and `spikes.csv`.

usage: python tests/data/neuron/swc_ca1.py [--out DIR]   (NEURON 9.0.2: pip install neuron==9.0.2)
"""
import sys

import swc_cell
from neuron import h

case = swc_cell.output_dir(sys.argv, "ca1_swc")
swc_cell.load("morph_ca1_n120.swc", celsius=6.3)
for sec in h.allsec():
    sec.Ra = 100
    sec.cm = 1
    sec.nseg = swc_cell.d_lambda_nseg(sec)
    sec.insert("pas")
    for seg in sec:
        seg.pas.g = 1e-4
        seg.pas.e = -65
for sec in h.soma:
    sec.insert("hh")
stim = h.IClamp(h.soma[0](0.5))
stim.delay, stim.dur, stim.amp = 5, 50, 0.5
sites = [("soma_v", h.soma[0](0.5)), ("dend10_v", h.dend[10](0.5)), ("apic20_v", h.apic[20](0.5))]
spikes = swc_cell.run_and_write(case, [(name, seg._ref_v) for name, seg in sites], -65, 60)
print("ca1_swc: nseg", int(sum(s.nseg for s in h.allsec())), "spikes", spikes)
