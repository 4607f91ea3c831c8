"""The ringtest network in Jaxley 0.14, timed (issue 15: Sylva against Jaxley on the same GPU).

The network is the one of tests/bench/nrn_ringtest.py and examples/bench/ringtest.syl as far as
Jaxley can build it: `rings` rings of 10 cells; each cell = a soma branch (1 compartment,
length 20 um, radius 10 um) + a full binary tree of 6 dendrites (2 on the soma's end, 2 on the
end of each of those), each 100 um long, radius 0.5 um, 16 compartments: 97 compartments a cell.
Axial resistivity 100 ohm cm, capacitance 1 uF/cm2, v_init -65 mV, Jaxley's HH channel
everywhere (the Hodgkin-Huxley rates at 6.3 degC, gNa 0.12 / gK 0.036 / gLeak 0.0003 S/cm2,
eNa 50 / eK -77 / eLeak -54.3 mV: NEURON's hh defaults) with gNa 0.012 S/cm2 on the dendrites.
Backward Euler, dt 0.025 ms, 100 ms, jit-compiled `jx.integrate` with Jaxley's default voltage
solver (`jaxley.dhs`, which picks its GPU or CPU variant from the backend).

What differs from NEURON's and Sylva's ringtest (Jaxley has no event-driven synapses, no
synaptic delays and no NetStim):
* Ring connections (cell i -> cell (i+1) % 10, soma to soma) are Jaxley's IonotropicSynapse, a
  graded synapse integrated every step: s' = (s_inf(v_pre) - s) / tau_s with
  s_inf = 1 / (1 + exp((v_th - v_pre) / delta)) and tau_s = (1 - s_inf) / k_minus, current
  gS * s * (v_post - e_syn). With v_th -20 mV (the NetCon threshold), delta 2 mV, k_minus
  0.5 /ms (decay time constant 2 ms = Exp2Syn's tau2) and e_syn 0 mV it opens while the
  presynaptic soma is above about -20 mV (a presynaptic spike) and decays with 2 ms.
  Exp2Syn's rise (tau1 0.5 ms) and the 1 ms NetCon delay have no equivalent: with gS 0.05 uS
  (the NetCon weight) a spike crosses a hop in 0.45 ms, the ring's 4.5 ms period is inside
  the cells' refractory time and the ring dies after 11 spikes. gS is therefore 0.005 uS, the
  weight whose slower postsynaptic rise gives about NEURON's hop time (1.72 ms against
  NEURON's 1.625 ms = 1 ms delay + 0.625 ms latency; measured with jaxley 0.14.0 on the CPU:
  gS 0.01 gives 1.1 ms, 0.003 gives 2.6 ms, 0.002 does not fire), so the rings keep
  circulating through the 100 ms. Spike times therefore differ from NEURON's. The synapse is
  one more state per connection integrated every step: work the event-driven simulators do
  not do (negligible: one synapse per 97 compartments).
* The kick is a 1 nA current step from 1 to 2 ms into the soma of cell 0 of each ring, not
  one Exp2Syn event at 1 ms.
* Jaxley's branch points: Jaxley couples a child branch to its parent's last compartment by
  its own branch-point scheme; the compartments are the same (97 per cell).
Spikes are counted afterwards, outside run_s, as upward crossings of -20 mV of each recorded
soma voltage (every cell's soma is recorded, as Jaxley's users record).

usage: python jaxley_ringtest.py --rings R [--tstop 100] [--dt 0.025] [--precision f32|f64]
       [--repeats 3]
prints progress to stderr and one JSON line to stdout: build_s (network construction,
channels, synapses, stimuli, recordings), compile_s (first jitted call, tracing + XLA compile +
one run), run_s (median of `repeats` later calls, each ended by block_until_ready), ncomp,
steps, comp_steps_per_s (ncomp * steps / run_s), spikes (total and per ring min/max, ring 0's
spike times), a voltage summary, jax version, backend and device, precision.

Packages (device, Python 3.12): jax 0.11.2 + jax-cuda13 plugin, numpy, pandas, matplotlib,
networkx, scipy are on the lent machine; jaxley 0.14.0 and tridiax 0.2.1 travel as wheels
(tests/bench/jaxley_wheels.txt; tests/bench/jaxley_device.sh installs and runs them).
Locally (Python 3.11) jax 0.10.2 + jaxley 0.14.0 (jax 0.11 needs Python >= 3.12).
"""
import argparse
import json
import statistics
import sys
import time

N_PER_RING = 10
NCOMP_DEND = 16
# Jaxley branch k's parent; branch 0 is the soma, 1-6 the dendrites (NEURON's dend0-dend5).
PARENTS = [-1, 0, 0, 1, 1, 2, 2]
SPIKE_THRESHOLD = -20.0  # mV, the NetCon threshold
SYNAPSE_GS = 0.005  # uS: gives NEURON's hop time without a delay (see the header)


def log(msg, t0):
    print(f"[jaxley_ringtest {time.perf_counter() - t0:8.2f} s] {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--rings", type=int, default=1)
    p.add_argument("--tstop", type=float, default=100.0)
    p.add_argument("--dt", type=float, default=0.025)
    p.add_argument("--precision", choices=["f32", "f64"], default="f32")
    p.add_argument("--repeats", type=int, default=3)
    return p.parse_args()


def build_cell(jx, HH):
    """One ringtest cell: soma branch + 6 dendrites of 16 compartments, HH everywhere."""
    soma = jx.Branch(jx.Compartment(), ncomp=1)
    dend = jx.Branch(jx.Compartment(), ncomp=NCOMP_DEND)
    cell = jx.Cell([soma] + [dend] * (len(PARENTS) - 1), parents=PARENTS)
    cell.set("axial_resistivity", 100.0)
    cell.set("capacitance", 1.0)
    cell.branch(0).set("length", 20.0)
    cell.branch(0).set("radius", 10.0)
    dendrites = list(range(1, len(PARENTS)))
    cell.branch(dendrites).set("length", 100.0 / NCOMP_DEND)  # per compartment
    cell.branch(dendrites).set("radius", 0.5)
    cell.insert(HH())
    cell.branch(dendrites).set("HH_gNa", 0.012)
    return cell


def connect_rings(jx, net, ncell, synapse):
    """Cell i -> cell (i+1) % 10 of its ring, soma to soma; two vectorized connect calls whose
    pre and post lists are both increasing (views keep index order)."""
    inner = [g for g in range(ncell) if g % N_PER_RING != N_PER_RING - 1]
    last = [g for g in range(ncell) if g % N_PER_RING == N_PER_RING - 1]
    jx.connect(net.cell(inner).branch(0).comp(0),
               net.cell([g + 1 for g in inner]).branch(0).comp(0), synapse)
    jx.connect(net.cell(last).branch(0).comp(0),
               net.cell([g - N_PER_RING + 1 for g in last]).branch(0).comp(0), synapse)


def ring_synapse(IonotropicSynapse):
    """The ring's synapse with its parameters set before connecting (every edge copies them,
    which is much cheaper than setting them on the network's edge table afterwards)."""
    synapse = IonotropicSynapse()
    name = synapse._name
    synapse.synapse_params.update({f"{name}_gS": SYNAPSE_GS, f"{name}_e_syn": 0.0,
                                   f"{name}_k_minus": 0.5, f"{name}_v_th": SPIKE_THRESHOLD,
                                   f"{name}_delta": 2.0})
    synapse.synapse_states[f"{name}_s"] = 0.0
    return synapse


def build_network(jx, a, t0):
    from jaxley.channels import HH
    from jaxley.synapses import IonotropicSynapse

    ncell = a.rings * N_PER_RING
    cell = build_cell(jx, HH)
    # v and the gates' steady states are set on the one cell, which the network copies.
    cell.set("v", -65.0)
    cell.init_states()
    log(f"cell built ({cell.nodes.shape[0]} compartments); building {ncell} cells", t0)
    net = jx.Network([cell] * ncell)
    log("network built; connecting rings", t0)
    connect_rings(jx, net, ncell, ring_synapse(IonotropicSynapse))
    log("rings connected; stimuli and recordings", t0)
    kick = jx.step_current(i_delay=1.0, i_dur=1.0, i_amp=1.0, delta_t=a.dt, t_max=a.tstop)
    starts = list(range(0, ncell, N_PER_RING))
    net.cell(starts).branch(0).comp(0).stimulate(kick, verbose=False)
    net.cell("all").branch(0).comp(0).record("v", verbose=False)
    # One shared trainable parameter (gLeak, the same everywhere) so that the network's
    # parameters are the jitted function's argument, as in Jaxley's training loops.
    net.make_trainable("HH_gLeak", verbose=False)
    return net, ncell


def spike_summary(v, a, rings):
    """Upward crossings of the threshold per recorded soma (rows: cells in gid order)."""
    import numpy as np

    above = v >= SPIKE_THRESHOLD
    crossings = above[:, 1:] & ~above[:, :-1]
    per_cell = crossings.sum(axis=1)
    per_ring = per_cell.reshape(rings, N_PER_RING).sum(axis=1)
    ring0 = sorted(round(float(s * a.dt), 4) for s in np.nonzero(crossings[:N_PER_RING])[1] + 1)
    return dict(nspikes=int(per_cell.sum()), spikes_per_ring_min=int(per_ring.min()),
                spikes_per_ring_max=int(per_ring.max()), spikes_ring0=ring0,
                v_min=float(v.min()), v_max=float(v.max()), v_mean=float(v.mean()),
                v_finite=bool(np.isfinite(v).all()))


def time_runs(jax, simulate, params, repeats, t0):
    c0 = time.perf_counter()
    v = simulate(params).block_until_ready()
    compile_s = time.perf_counter() - c0
    log(f"first call (compile + run) {compile_s:.2f} s", t0)
    runs = []
    for k in range(repeats):
        r0 = time.perf_counter()
        v = simulate(params).block_until_ready()
        runs.append(time.perf_counter() - r0)
        log(f"run {k + 1}/{repeats}: {runs[-1]:.3f} s", t0)
    return v, compile_s, runs


def main():
    t0 = time.perf_counter()
    a = parse_args()
    import jax

    if a.precision == "f64":
        jax.config.update("jax_enable_x64", True)
    import numpy as np
    import jaxley as jx

    import_s = time.perf_counter() - t0
    log(f"jax {jax.__version__}, jaxley {jx.__version__}, backend {jax.default_backend()}, "
        f"devices {jax.devices()}", t0)
    b0 = time.perf_counter()
    net, ncell = build_network(jx, a, t0)
    build_s = time.perf_counter() - b0
    ncomp = int(net.nodes.shape[0])
    steps = int(round(a.tstop / a.dt))
    log(f"built in {build_s:.2f} s: {ncell} cells, {ncomp} compartments, {steps} steps", t0)
    params = net.get_parameters()
    simulate = jax.jit(lambda p: jx.integrate(net, params=p, delta_t=a.dt, t_max=a.tstop))
    v, compile_s, runs = time_runs(jax, simulate, params, a.repeats, t0)
    run_s = statistics.median(runs)
    v = np.asarray(v)
    dtype = str(v.dtype)
    print(json.dumps(dict(
        sim="jaxley", jaxley_version=jx.__version__, jax_version=jax.__version__,
        backend=jax.default_backend(), device=str(jax.devices()[0]),
        device_kind=jax.devices()[0].device_kind, precision=a.precision, dtype=dtype,
        rings=a.rings, ncell=ncell, ncomp=ncomp, steps=steps, dt=a.dt, tstop=a.tstop,
        import_s=import_s, build_s=build_s, compile_s=compile_s, run_s=run_s, runs_s=runs,
        comp_steps_per_s=ncomp * steps / run_s, recorded_shape=list(v.shape),
        **spike_summary(v, a, a.rings))))


if __name__ == "__main__":
    main()
