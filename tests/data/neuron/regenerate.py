#!/usr/bin/env python3
"""Rebuild Sylva's NEURON reference data with NEURON 9.0.2.

usage:
    python regenerate.py [--out DIR] [CASE ...]
    python regenerate.py --compare DIR_A DIR_B

Cases: hh_soma passive_cable ball_and_stick y_tree syn_pair ringtest (default: all of them).
Without --out the files are written next to this script, into <case>/ folders, replacing the
checked-in references. Each case runs in a fresh Python process, so no NEURON state (sections,
NetCons, event queues) leaks from one case into the next.

Settings common to every case (see README.md beside this script and the cases' spec.md):
fixed step (cvode off), secondorder = 0, usetable_hh = 0, celsius = 6.3 degC, v_init = -65 mV,
dt = 0.025 ms unless the file name says otherwise, cm = 1 uF/cm2, Ra = 100 ohm*cm.

Output formats (identical to the shared references):
  trace*.csv   header "t,<col>,...", one row per step from t = 0 (after finitialize) to tstop,
               every value printed with "%.12g";
  spikes*.csv  header "gid,time", one "gid,time" row per NetCon threshold event (-20 mV at
               soma(0.5)), time printed with "%.12g", sorted by time then gid.

--compare prints, for every CSV present in both trees, the number of rows and the largest
absolute difference per column (and whether the spike lists are identical).

Requires: pip install neuron==9.0.2 numpy
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ["hh_soma", "passive_cable", "ball_and_stick", "vclamp", "y_tree", "syn_pair", "ringtest"]

# ----------------------------------------------------------------------------------------------
# NEURON side. Imported lazily so that --compare runs without NEURON.
# ----------------------------------------------------------------------------------------------

h = None


def neuron_init(dt):
    global h
    from neuron import h as _h
    h = _h
    h.load_file("stdrun.hoc")
    h.cvode_active(0)
    h.secondorder = 0
    h.usetable_hh = 0
    h.celsius = 6.3
    h.dt = dt
    h.steps_per_ms = 1.0 / dt


def section(name, L, diam, nseg, parent=None, Ra=100.0, cm=1.0):
    """A section of the given geometry; `parent` is a segment (e.g. soma(1)) that its x=0 end joins."""
    s = h.Section(name=name)
    s.L = L
    s.diam = diam
    s.nseg = nseg
    s.Ra = Ra
    s.cm = cm
    if parent is not None:
        s.connect(parent, 0)
    return s


def iclamp(seg, delay, dur, amp):
    c = h.IClamp(seg)
    c.delay = delay
    c.dur = dur
    c.amp = amp
    return c


def ball_and_stick(tag):
    soma = section("soma_%s" % tag, 20.0, 20.0, 1)
    dend = section("dend_%s" % tag, 500.0, 1.0, 21, parent=soma(1))
    soma.insert("hh")
    dend.insert("pas")
    for seg in dend:
        seg.pas.g = 1e-3
        seg.pas.e = -65.0
    return soma, dend


class Run:
    """Records t and the named columns at every step, and NetCon spikes; runs and writes CSVs."""

    def __init__(self):
        self.t = h.Vector()
        self.t.record(h._ref_t)
        self.names = []
        self.vecs = []
        self.spike_t = h.Vector()
        self.spike_gid = h.Vector()
        self.detectors = []

    def record(self, name, ref):
        vec = h.Vector()
        vec.record(ref)
        self.names.append(name)
        self.vecs.append(vec)

    def detector(self, gid, seg, threshold=-20.0):
        nc = h.NetCon(seg._ref_v, None, sec=seg.sec)
        nc.threshold = threshold
        nc.record(self.spike_t, self.spike_gid, gid)
        self.detectors.append(nc)

    def run(self, tstop, v_init=-65.0):
        h.finitialize(v_init)
        h.continuerun(tstop)

    def write_trace(self, path):
        import numpy as np
        data = np.column_stack([np.array(self.t)] + [np.array(v) for v in self.vecs])
        assert np.all(np.isfinite(data)), "non-finite value in " + path
        np.savetxt(path, data, delimiter=",", fmt="%.12g", comments="",
                   header=",".join(["t"] + self.names))
        print("  wrote %s (%d rows x %d columns)" % (path, data.shape[0], data.shape[1]))

    def write_spikes(self, path):
        pairs = sorted(zip(self.spike_t, self.spike_gid), key=lambda p: (p[0], p[1]))
        write_spike_file(path, [(int(g), t) for t, g in pairs])


def write_spike_file(path, spikes):
    with open(path, "w") as f:
        f.write("gid,time\n")
        for gid, t in spikes:
            f.write("%d,%.12g\n" % (gid, t))
    print("  wrote %s (%d spikes): %s" % (path, len(spikes), ", ".join("%d@%.4f" % s for s in spikes)))


def dt_suffix(dt):
    return "" if dt == 0.025 else "_dt%g" % dt


# ---- the cases --------------------------------------------------------------------------------

def case_hh_soma(out, dt):
    soma = section("soma", 20.0, 20.0, 1)
    soma.insert("hh")
    stim = iclamp(soma(0.5), 5.0, 40.0, 0.2)
    r = Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.detector(0, soma(0.5))
    r.run(50.0)
    r.write_trace(os.path.join(out, "trace%s.csv" % dt_suffix(dt)))
    if dt == 0.025:
        r.write_spikes(os.path.join(out, "spikes.csv"))


def case_passive_cable(out, dt):
    cable = section("cable", 1000.0, 2.0, 101)
    cable.insert("pas")
    for seg in cable:
        seg.pas.g = 1e-4
        seg.pas.e = -65.0
    stim = iclamp(cable(0.0), 1.0, 50.0, 0.5)    # on the zero-area node at x = 0
    r = Run()
    for x, label in ((0.0, "v_x0"), (0.25, "v_x0.25"), (0.5, "v_x0.5"), (1.0, "v_x1")):
        r.record(label, cable(x)._ref_v)
    r.run(60.0)
    r.write_trace(os.path.join(out, "trace%s.csv" % dt_suffix(dt)))


def case_ball_and_stick(out, dt):
    soma, dend = ball_and_stick("0")
    stim = iclamp(soma(0.5), 5.0, 30.0, 0.15)
    r = Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("dend_v_x0.5", dend(0.5)._ref_v)
    r.record("dend_v_x1", dend(1.0)._ref_v)
    r.detector(0, soma(0.5))
    r.run(50.0)
    r.write_trace(os.path.join(out, "trace%s.csv" % dt_suffix(dt)))
    if dt == 0.025:
        r.write_spikes(os.path.join(out, "spikes.csv"))


def case_vclamp(out, dt):
    soma, dend = ball_and_stick("0")
    clamp = h.SEClamp(soma(0.5))
    clamp.rs = 0.01
    clamp.dur1, clamp.amp1, clamp.dur2, clamp.amp2, clamp.dur3, clamp.amp3 = 5, -65, 10, -10, 10, -90
    r = Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("dend_v_x0.5", dend(0.5)._ref_v)
    r.record("dend_v_x1", dend(1.0)._ref_v)
    r.record("soma_m", soma(0.5)._ref_m_hh)
    r.detector(0, soma(0.5))
    r.run(30.0)
    r.write_trace(os.path.join(out, "trace.csv"))
    r.write_spikes(os.path.join(out, "spikes.csv"))


def case_y_tree(out, dt):
    soma = section("soma", 20.0, 20.0, 1)
    trunk = section("trunk", 200.0, 3.0, 9, parent=soma(1))
    d1 = section("daughter1", 300.0, 1.5, 11, parent=trunk(1))
    d2 = section("daughter2", 150.0, 0.8, 7, parent=trunk(1))
    for s in (soma, trunk, d1, d2):
        s.insert("hh")
    for s in (trunk, d1, d2):
        for seg in s:
            seg.hh.gnabar = 0.012
    stim = iclamp(d1(1.0), 2.0, 20.0, 0.3)       # on the zero-area tip node of daughter1
    r = Run()
    r.record("soma_v", soma(0.5)._ref_v)
    r.record("trunk_v_x0.5", trunk(0.5)._ref_v)
    r.record("daughter1_v_x1", d1(1.0)._ref_v)
    r.record("daughter2_v_x1", d2(1.0)._ref_v)
    r.detector(0, soma(0.5))
    r.run(40.0)
    r.write_trace(os.path.join(out, "trace%s.csv" % dt_suffix(dt)))
    if dt == 0.025:
        r.write_spikes(os.path.join(out, "spikes.csv"))


def case_syn_pair(out, dt, weight, variant):
    soma0, dend0 = ball_and_stick("0")
    soma1, dend1 = ball_and_stick("1")
    stim = iclamp(soma0(0.5), 5.0, 30.0, 0.15)
    syn = h.Exp2Syn(dend1(0.5))
    syn.tau1 = 0.5
    syn.tau2 = 2.0
    syn.e = 0.0
    nc = h.NetCon(soma0(0.5)._ref_v, syn, sec=soma0)
    nc.threshold = -20.0
    nc.delay = 1.0
    nc.weight[0] = weight
    r = Run()
    r.record("cell0_soma_v", soma0(0.5)._ref_v)
    r.record("cell1_soma_v", soma1(0.5)._ref_v)
    r.record("cell1_dend_v_x0.5", dend1(0.5)._ref_v)
    r.record("cell1_syn_i", syn._ref_i)
    r.record("cell1_syn_g", syn._ref_g)
    r.detector(0, soma0(0.5))
    r.detector(1, soma1(0.5))
    r.run(50.0)
    r.write_trace(os.path.join(out, "trace%s%s.csv" % (variant, dt_suffix(dt))))
    r.write_spikes(os.path.join(out, "spikes%s%s.csv" % (variant, dt_suffix(dt))))


def case_ringtest(out, dt, rings=1, ncell=10, ncomp=16, weight=0.05, tstop=100.0):
    """shared/bench/model.py's ringtest network; writes the spikes of ring 0 (gids 0..9)."""
    pc = h.ParallelContext()
    cells = []
    for gid in range(rings * ncell):
        soma = section("soma_%d" % gid, 20.0, 20.0, 1)
        soma.insert("hh")
        dends = []
        for k in range(6):                        # branches 0,1 on soma(1); 2,3 on 0; 4,5 on 1
            parent = soma(1) if k < 2 else dends[(k - 2) // 2](1)
            d = section("dend%d_%d" % (k, gid), 100.0, 1.0, ncomp, parent=parent)
            d.insert("hh")
            for seg in d:
                seg.hh.gnabar = 0.012
            dends.append(d)
        syn = h.Exp2Syn(soma(0.5))
        syn.tau1 = 0.5
        syn.tau2 = 2.0
        syn.e = 0.0
        pc.set_gid2node(gid, pc.id())
        det = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
        det.threshold = -20.0
        pc.cell(gid, det)
        cells.append((soma, dends, syn, det))
    conns = []
    for gid in range(rings * ncell):
        ring, i = divmod(gid, ncell)
        src = ring * ncell + (i - 1) % ncell
        nc = pc.gid_connect(src, cells[gid][2])
        nc.delay = 1.0
        nc.weight[0] = weight
        conns.append(nc)
    kicks = []
    for ring in range(rings):
        nc = h.NetCon(None, cells[ring * ncell][2])
        nc.weight[0] = weight
        kicks.append(nc)
    fih = h.FInitializeHandler(lambda: [k.event(1.0) for k in kicks])   # delivered at t = 1 ms
    tv = h.Vector()
    idv = h.Vector()
    pc.spike_record(-1, tv, idv)
    pc.set_maxstep(10)
    h.finitialize(-65.0)
    pc.psolve(tstop)
    spikes = sorted(((int(g), t) for t, g in zip(tv, idv) if g < ncell), key=lambda p: (p[1], p[0]))
    print("  %d spikes in all, %d in ring 0" % (int(tv.size()), len(spikes)))
    write_spike_file(os.path.join(out, "spikes.csv"), spikes)


# (case, variant label) -> function run in a child process
JOBS = {
    "hh_soma": [("", lambda o: case_hh_soma(o, 0.025), 0.025),
                ("dt0.001", lambda o: case_hh_soma(o, 0.001), 0.001)],
    "passive_cable": [("", lambda o: case_passive_cable(o, 0.025), 0.025)],
    "ball_and_stick": [("", lambda o: case_ball_and_stick(o, 0.025), 0.025),
                       ("dt0.001", lambda o: case_ball_and_stick(o, 0.001), 0.001)],
    "vclamp": [("", lambda o: case_vclamp(o, 0.025), 0.025)],
    "y_tree": [("", lambda o: case_y_tree(o, 0.025), 0.025)],
    "syn_pair": [("", lambda o: case_syn_pair(o, 0.025, 0.01, ""), 0.025),
                 ("w0.05", lambda o: case_syn_pair(o, 0.025, 0.05, "_w0.05"), 0.025)],
    "ringtest": [("", lambda o: case_ringtest(o, 0.025), 0.025)],
}


# ----------------------------------------------------------------------------------------------
# Comparison of two trees of CSV files.
# ----------------------------------------------------------------------------------------------

def read_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    return header, rows


def compare(dir_a, dir_b):
    worst = 0.0
    for case in sorted(os.listdir(dir_a)):
        pa, pb = os.path.join(dir_a, case), os.path.join(dir_b, case)
        if not (os.path.isdir(pa) and os.path.isdir(pb)):
            continue
        for name in sorted(os.listdir(pa)):
            if not name.endswith(".csv") or not os.path.exists(os.path.join(pb, name)):
                continue
            ha, ra = read_csv(os.path.join(pa, name))
            hb, rb = read_csv(os.path.join(pb, name))
            if ha != hb or len(ra) != len(rb):
                print("%s/%s: DIFFERENT SHAPE %s x %d vs %s x %d" % (case, name, ha, len(ra), hb, len(rb)))
                worst = float("inf")
                continue
            if name.startswith("spikes"):
                same = ra == rb
                print("%s/%s: %d spikes, %s" % (case, name, len(ra), "identical" if same else "DIFFERENT"))
                if not same:
                    worst = float("inf")
                continue
            diffs = []
            for j, col in enumerate(ha):
                d = max(abs(float(x[j]) - float(y[j])) for x, y in zip(ra, rb))
                diffs.append("%s %.3g" % (col, d))
                if col != "t":
                    worst = max(worst, d)
            print("%s/%s: %d rows, max |diff|: %s" % (case, name, len(ra), ", ".join(diffs)))
    print("largest difference over all trace columns: %.3g" % worst)
    return worst


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", help="cases to rebuild (default: all)")
    ap.add_argument("--out", default=HERE, help="output root; files go to OUT/<case>/ (default: beside this script)")
    ap.add_argument("--compare", nargs=2, metavar=("DIR_A", "DIR_B"), help="compare two output roots and exit")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "VARIANT"), help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.compare:
        compare(*a.compare)
        return
    if a.child:
        case, variant = a.child
        for label, fn, dt in JOBS[case]:
            if label == variant:
                out = os.path.join(a.out, case)
                os.makedirs(out, exist_ok=True)
                neuron_init(dt)
                fn(out)
                return
        sys.exit("unknown variant %r of %s" % (variant, case))

    cases = a.cases or CASES
    for case in cases:
        if case not in JOBS:
            sys.exit("unknown case %r; known: %s" % (case, " ".join(CASES)))
    for case in cases:
        for label, _, _ in JOBS[case]:
            print("%s%s" % (case, " (%s)" % label if label else ""), flush=True)
            subprocess.run([sys.executable, os.path.abspath(__file__), "--out", a.out,
                            "--child", case, label], check=True)


if __name__ == "__main__":
    main()
