"""The ringtest network in Arbor 0.12.2, timed (driven by tests/bench/ringtest.py).

Same network as nrn_ringtest.py and examples/bench/ringtest.syl, with Arbor's default
catalogue ('hh', 'exp2syn'): soma a cylinder L = diam = 20 um in one CV; six dendrites of
100 um x 1 um in a full binary tree from the soma's distal end, 16 CVs each
(fixed-per-branch 16). Arbor also puts a zero-volume CV at each of the 3 forks, so a cell has
100 CVs where NEURON and Sylva have 97 compartments. Ra 100 ohm cm, cm 1 uF/cm2 (0.01 F/m2),
6.3 degC, Vm -65 mV, ena 50 mV, ek -77 mV (NEURON's hh values), gnabar = 0.012 S/cm2 on the
dendrites. Ring connections: detector at -20 mV at the soma centre, delay 1 ms, weight 0.05 uS
onto exp2syn(tau1 0.5, tau2 2, e 0) at the soma centre; cell 0 of each ring gets one event at
1 ms. One thread, dt 0.025 ms, 100 ms.

usage: python arb_ringtest.py --rings R [--tstop 100] [--dt 0.025] [--threads 1]
prints one JSON line: setup_s (recipe, partition, simulation object), run_s (sim.run only),
ncomp (97 per cell, for comparison), ncv (Arbor's own count), nspikes, per-ring counts,
ring 0 spike times.
"""
import argparse
import json
import time

t_start = time.perf_counter()
import arbor as A

U = A.units
N_PER_RING = 10
NSEG = 16
PARENTS = [-1, -1, 0, 0, 1, 1]

p = argparse.ArgumentParser()
p.add_argument("--rings", type=int, default=1)
p.add_argument("--tstop", type=float, default=100.0)
p.add_argument("--dt", type=float, default=0.025)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()

t0 = time.perf_counter()


def make_cell():
    tree = A.segment_tree()
    soma = tree.append(A.mnpos, A.mpoint(0, 0, 0, 10.0), A.mpoint(20.0, 0, 0, 10.0), tag=1)
    segs, ends = [], []
    for k, par in enumerate(PARENTS):
        pseg, start = (soma, (20.0, 0.0, 0.0)) if par < 0 else (segs[par], ends[par])
        sign = 1.0 if k % 2 else -1.0
        end = (start[0] + 80.0, start[1] + 60.0 * sign, 0.0)  # |(80, 60)| = 100 um
        segs.append(tree.append(pseg, A.mpoint(*start, 0.5), A.mpoint(*end, 0.5), tag=3))
        ends.append(end)
    labels = A.label_dict({"soma": "(tag 1)", "dend": "(tag 3)", "center": "(location 0 0.5)"})
    dec = (A.decor()
           .set_property(Vm=-65 * U.mV, cm=0.01 * U.F / U.m2, rL=100 * U.Ohm * U.cm,
                         tempK=(6.3 + 273.15) * U.Kelvin)
           .set_ion("na", rev_pot=50 * U.mV)
           .set_ion("k", rev_pot=-77 * U.mV)
           .paint('"soma"', A.density("hh"))
           .paint('"dend"', A.density("hh", {"gnabar": 0.012}))
           .place('"center"', A.synapse("exp2syn", {"tau1": 0.5, "tau2": 2.0, "e": 0.0}), "syn")
           .place('"center"', A.threshold_detector(-20 * U.mV), "detector"))
    pol = A.cv_policy("(join (single (tag 1)) (fixed-per-branch %d (tag 3)))" % NSEG)
    return A.cable_cell(tree, dec, labels, discretization=pol)


class Ring(A.recipe):
    def __init__(self, cell, rings):
        A.recipe.__init__(self)
        self.cell, self.rings = cell, rings
        self.props = A.neuron_cable_properties()

    def num_cells(self):
        return self.rings * N_PER_RING

    def cell_kind(self, gid):
        return A.cell_kind.cable

    def cell_description(self, gid):
        return self.cell

    def connections_on(self, gid):
        r, i = divmod(gid, N_PER_RING)
        src = r * N_PER_RING + (i - 1) % N_PER_RING
        return [A.connection((src, "detector"), "syn", 0.05, 1.0 * U.ms)]

    def event_generators(self, gid):
        if gid % N_PER_RING == 0:
            return [A.event_generator("syn", 0.05, A.explicit_schedule([1.0 * U.ms]))]
        return []

    def probes(self, gid):
        return []

    def global_properties(self, kind):
        return self.props


cell = make_cell()
ncv_cell = A.cv_data(cell).num_cv
rec = Ring(cell, a.rings)
ctx = A.context(threads=a.threads)
dd = A.partition_load_balance(rec, ctx)
sim = A.simulation(rec, ctx, dd)
sim.record(A.spike_recording.all)
t1 = time.perf_counter()
c1 = time.process_time()
sim.run(a.tstop * U.ms, a.dt * U.ms)
c2 = time.process_time()
t2 = time.perf_counter()

spk = sim.spikes()
ncell = a.rings * N_PER_RING
per_ring = [0] * a.rings
for s in spk:
    per_ring[s[0][0] // N_PER_RING] += 1
ring0 = sorted(round(float(s[1]), 4) for s in spk if s[0][0] < N_PER_RING)
print(json.dumps(dict(sim="arbor", version=A.__version__, threads=a.threads, rings=a.rings, ncell=ncell,
                      ncomp=97 * ncell, ncv=ncv_cell * ncell, steps=int(round(a.tstop / a.dt)),
                      import_s=t0 - t_start, setup_s=t1 - t0, run_s=t2 - t1, run_cpu_s=c2 - c1, nspikes=len(spk),
                      spikes_per_ring_min=min(per_ring), spikes_per_ring_max=max(per_ring),
                      spikes_ring0=ring0)))
