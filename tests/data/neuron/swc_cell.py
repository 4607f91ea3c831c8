"""What the SWC reference scripts (swc_ca1.py, pyramidal.py, allen_stub.py) share: loading a
reconstruction with Import3d under NEURON's fixed-step settings, the d_lambda segmentation, a
somatic spike detector, and writing a case's trace.csv and spikes.csv in the format the tests
read (every step, %.12g)."""
import os

from neuron import h

HERE = os.path.dirname(os.path.abspath(__file__))


def output_dir(argv, case):
    """The case's directory under `--out DIR` (default: next to the scripts), created."""
    out = argv[argv.index("--out") + 1] if "--out" in argv else HERE
    path = os.path.join(out, case)
    os.makedirs(path, exist_ok=True)
    return path


def load(swc_name, celsius, dt=0.025):
    """tests/data/swc/SWC_NAME instantiated by Import3d; fixed step dt, secondorder 0, tables off."""
    h.load_file("stdrun.hoc")
    h.load_file("import3d.hoc")
    reader = h.Import3d_SWC_read()
    reader.input(os.path.join(HERE, "..", "swc", swc_name))
    h.Import3d_GUI(reader, False).instantiate(None)
    h.cvode_active(0)
    h.secondorder = 0
    h.usetable_hh = 0
    h.dt = dt
    h.steps_per_ms = 1 / dt
    h.celsius = celsius


def d_lambda_nseg(sec, d_lambda=0.1, frequency=100):
    """NEURON's d_lambda rule (an odd count), as Sylva's `d_lambda` computes it."""
    return int((sec.L / (d_lambda * h.lambda_f(frequency, sec=sec)) + 0.9) / 2) * 2 + 1


def run_and_write(case, columns, v_init, tstop):
    """Records `columns` ((name, pointer) pairs) and soma[0](0.5)'s spikes (threshold -20 mV),
    runs to `tstop` from `v_init` and writes CASE/trace.csv and CASE/spikes.csv; returns the
    spike times."""
    t = h.Vector().record(h._ref_t)
    traces = [h.Vector().record(ref) for _, ref in columns]
    spikes = h.Vector()
    detector = h.NetCon(h.soma[0](0.5)._ref_v, None, sec=h.soma[0])
    detector.threshold = -20
    detector.record(spikes)
    h.finitialize(v_init)
    h.continuerun(tstop)
    with open(os.path.join(case, "trace.csv"), "w") as f:
        f.write(",".join(["t"] + [name for name, _ in columns]) + "\n")
        for i in range(len(t)):
            f.write(",".join("%.12g" % x for x in [t[i]] + [v[i] for v in traces]) + "\n")
    with open(os.path.join(case, "spikes.csv"), "w") as f:
        f.write("gid,time\n")
        for s in spikes:
            f.write("0,%.12g\n" % s)
    return list(spikes)
