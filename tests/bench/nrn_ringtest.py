"""The ringtest network in NEURON 9.0.2, timed (driven by tests/bench/ringtest.py).

The network is the one of examples/bench/ringtest.syl (and of the reference model.py it was
taken from): `rings` rings of 10 cells; each cell = hh soma (L = diam = 20 um, nseg 1, hh
defaults) + a full binary tree of 6 dendrites (2 on soma(1), 2 on the end of each of those),
each 100 um x 1 um, nseg 16, hh with gnabar = 0.012 S/cm2. Ra 100 ohm cm, cm 1 uF/cm2,
celsius 6.3, v_init -65 mV. Cell i -> cell (i+1) % 10 of its ring: threshold -20 mV at
soma(0.5), delay 1 ms, weight 0.05 uS onto an Exp2Syn(tau1 0.5, tau2 2, e 0) at soma(0.5).
Cell 0 of every ring gets one event at t = 1 ms. Fixed step, dt 0.025 ms, secondorder 0,
usetable_hh 0, one thread, 100 ms.

usage: python nrn_ringtest.py --rings R [--tstop 100] [--dt 0.025]
prints one JSON line: setup_s (model building + finitialize), run_s (pc.psolve only),
ncomp, steps, nspikes, spikes per ring (min/max), ring 0 spike times.
"""
import argparse
import json
import time

t_start = time.perf_counter()
from neuron import h

N_PER_RING = 10
NSEG = 16
PARENTS = [-1, -1, 0, 0, 1, 1]  # parent dendrite of dendrite k (-1: soma(1))

p = argparse.ArgumentParser()
p.add_argument("--rings", type=int, default=1)
p.add_argument("--tstop", type=float, default=100.0)
p.add_argument("--dt", type=float, default=0.025)
a = p.parse_args()

t0 = time.perf_counter()
h.load_file("stdrun.hoc")
pc = h.ParallelContext()
pc.nthread(1)
h.cvode_active(0)
h.secondorder = 0
h.usetable_hh = 0
h.celsius = 6.3
h.dt = a.dt
h.steps_per_ms = 1.0 / a.dt


class Cell:
    def __init__(self, gid):
        self.gid = gid
        self.soma = h.Section(name="soma", cell=self)
        self.soma.L = 20.0
        self.soma.diam = 20.0
        self.soma.nseg = 1
        self.dend = []
        for k, par in enumerate(PARENTS):
            d = h.Section(name="dend%d" % k, cell=self)
            d.L = 100.0
            d.diam = 1.0
            d.nseg = NSEG
            d.connect(self.soma(1) if par < 0 else self.dend[par](1), 0)
            self.dend.append(d)
        for sec in [self.soma] + self.dend:
            sec.Ra = 100.0
            sec.cm = 1.0
            sec.insert("hh")
        for d in self.dend:
            for seg in d:
                seg.hh.gnabar = 0.012
        self.syn = h.Exp2Syn(self.soma(0.5))
        self.syn.tau1 = 0.5
        self.syn.tau2 = 2.0
        self.syn.e = 0.0


ncell = a.rings * N_PER_RING
cells = [Cell(g) for g in range(ncell)]
tv = h.Vector()
idv = h.Vector()
netcons = []
for g in range(ncell):
    r, i = divmod(g, N_PER_RING)
    src = cells[g]
    dst = cells[r * N_PER_RING + (i + 1) % N_PER_RING]
    nc = h.NetCon(src.soma(0.5)._ref_v, dst.syn, sec=src.soma)
    nc.threshold = -20.0
    nc.delay = 1.0
    nc.weight[0] = 0.05
    nc.record(tv, idv, g)  # one outgoing NetCon per cell: records each spike once
    netcons.append(nc)
kicks = []
for r in range(a.rings):
    nc = h.NetCon(None, cells[r * N_PER_RING].syn)
    nc.weight[0] = 0.05
    kicks.append(nc)
fih = h.FInitializeHandler(lambda: [k.event(1.0) for k in kicks])  # delivered at t = 1 ms
pc.set_maxstep(10)
h.finitialize(-65.0)
t1 = time.perf_counter()
c1 = time.process_time()
pc.psolve(a.tstop)
c2 = time.process_time()
t2 = time.perf_counter()

ncomp = sum(sec.nseg for sec in h.allsec())
steps = int(round(a.tstop / a.dt))
per_ring = [0] * a.rings
for g in idv:
    per_ring[int(g) // N_PER_RING] += 1
ring0 = sorted(round(t, 4) for t, g in zip(tv, idv) if g < N_PER_RING)
print(json.dumps(dict(sim="neuron", version=h.nrnversion(), threads=int(pc.nthread()), rings=a.rings,
                      ncell=ncell, ncomp=ncomp, steps=steps, import_s=t0 - t_start, setup_s=t1 - t0,
                      run_s=t2 - t1, run_cpu_s=c2 - c1, nspikes=int(tv.size()), spikes_per_ring_min=min(per_ring),
                      spikes_per_ring_max=max(per_ring), spikes_ring0=ring0)))
