"""One training step of Jaxley's MNIST network, timed (issue 15: training throughput against
Sylva's examples/train/mnist_large.syl on the same GPU).

The network as Jaxley's paper builds it, as far as stated here: 784 pixels -> 64 hidden CA1
cells -> 10 output cells, batch 16, Adam, dt 0.025 ms, 10 ms (400 steps) per image, on random
images (the step's time does not depend on the pixels).
* Hidden cells: the reconstruction tests/data/swc/morph_ca1_n120.swc (155 branches) read by
  `jx.read_swc` with 4 compartments per branch: 620 compartments a cell, 39,680 in all
  (Sylva's mnist_large.syl uses d_lambda 0.1: 626 a cell, 40,064 in all). Jaxley's HH channel
  everywhere, Ra 100 ohm cm, cm 1 uF/cm2, v_init -65 mV.
* Input: a trained dense projection W (784 x 64, nA per unit pixel) of the image is each
  hidden cell's somatic current for the 10 ms (`data_stimulate` inside the jitted loss), as
  Sylva's dense input drives an iclamp at soma[0](0.5).
* Output: 10 single-compartment cells with a leak (Jaxley's pospischil `Leak`), every hidden
  soma connected to every output cell by an IonotropicSynapse with a trained gS (640 weights);
  the logits are the output cells' mean voltages over the 10 ms, softmax cross-entropy.
  (Sylva's mnist_large.syl reads its 10 logits from the hidden cells through a linear map
  instead of leak cells; the 10 output compartments are 0.03 % of the work.)
* Trained: W (50,176) and the 640 synaptic conductances (as their logarithms, so that they
  stay positive); Adam (optax), learning rate 1e-3.
  The gradient is `jax.value_and_grad` through `jx.integrate` over the batch (`jax.vmap`),
  with two levels of checkpointing (`checkpoint_lengths` [21, 20] for the 401 time points of
  10 ms), as Jaxley's paper trains; `--checkpoint-lengths none` is Jaxley's default (no
  checkpointing), which needed 70.8 GiB for batch 16 on an H100 and did not fit (2026-12-06).
  On the dev VM (jax 0.10.2, CPU, f32, batch 1, 1 ms) both give the same losses within 3e-5
  relative (1.805615 and 1.805571: XLA orders the sums differently) and gradient norms.

On the dev VM's CPU (jax 0.10.2, batch 2, 10 ms): a step 10.6 s in f32, 23.8 s in f64; the
loss falls in both (2.435 -> 2.242 -> 2.132 -> 2.076 in f64), but in f32 it became NaN at the
third step (f64 did not), so an f32 result reports `finite: false` when it does; the step's
work, and so its time, is the same.

usage: python jaxley_mnist_step.py [--batch 16] [--steps 3] [--precision f32|f64] [--tmax 10]
                                  [--checkpoint-lengths auto|none|L1,L2,...]
prints progress to stderr and one JSON line: build_s, compile_s (first step: tracing, compile
and one step), step_s (median of `steps` later steps, each ended by block_until_ready),
ncomp, per-image and per-epoch (8,000 images, Sylva's training split) estimates, the losses and
the gradients' global norms (nonzero: the gradient reaches the parameters).
Needs optax (on the lent machine; `pip install optax` locally).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

N_IN, N_HIDDEN, N_OUT = 784, 64, 10
NCOMP_PER_BRANCH = 4
EPOCH_IMAGES = 8000
LEARNING_RATE = 1e-3
SYNAPSE_GS = 0.005  # uS, the initial hidden -> output conductance (as in jaxley_ringtest.py)
SWC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "swc", "morph_ca1_n120.swc")


def log(msg, t0):
    print(f"[jaxley_mnist_step {time.perf_counter() - t0:8.2f} s] {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--precision", choices=["f32", "f64"], default="f32")
    p.add_argument("--tmax", type=float, default=10.0)
    p.add_argument("--dt", type=float, default=0.025)
    p.add_argument("--checkpoint-lengths", default="auto",
                   help="auto: two levels of about sqrt(steps) each; none: no checkpointing; or L1,L2,...")
    return p.parse_args()


def checkpoint_lengths(a):
    """The nested checkpoint lengths for `jx.integrate`: their product covers the time points."""
    points = int(round(a.tmax / a.dt)) + 1
    if a.checkpoint_lengths == "none":
        return None
    if a.checkpoint_lengths == "auto":
        outer = math.ceil(math.sqrt(points))
        return [outer, math.ceil(points / outer)]
    lengths = [int(x) for x in a.checkpoint_lengths.split(",")]
    if math.prod(lengths) < points:
        sys.exit(f"--checkpoint-lengths {a.checkpoint_lengths}: the product must be at least {points}")
    return lengths


def build_network(jx):
    """64 HH CA1 reconstructions and 10 leak cells, all hidden somata onto all outputs."""
    import numpy as np
    from jaxley.channels import HH
    from jaxley.channels.pospischil import Leak
    from jaxley.synapses import IonotropicSynapse

    ca1 = jx.read_swc(SWC, ncomp=NCOMP_PER_BRANCH)
    ca1.set("axial_resistivity", 100.0)
    ca1.set("capacitance", 1.0)
    ca1.insert(HH())
    ca1.set("v", -65.0)
    ca1.init_states()
    out = jx.Cell()
    out.insert(Leak())
    out.set("v", -65.0)
    net = jx.Network([ca1] * N_HIDDEN + [out] * N_OUT)
    nodes = net.nodes
    # Each hidden cell's middle somatic compartment, and each output cell's one compartment.
    somatic = nodes[nodes["soma"].fillna(False).astype(bool)].groupby("global_cell_index")
    somata = [int(rows.index[len(rows) // 2]) for _, rows in somatic]
    outputs = [int(i) for i in nodes.index[nodes["global_cell_index"] >= N_HIDDEN]]
    assert len(somata) == N_HIDDEN and len(outputs) == N_OUT
    # Every hidden soma onto every output cell, as jx.fully_connect does it, but from the soma
    # (fully_connect takes branch 0 compartment 0, here an apical tip).
    pre = net.nodes.loc[[s for s in somata for _ in outputs]]
    post = net.nodes.loc[[o for _ in somata for o in outputs]]
    net._append_multiple_synapses(pre, post, IonotropicSynapse())
    net.set("IonotropicSynapse_s", 0.0)
    net.cell(list(range(N_HIDDEN, N_HIDDEN + N_OUT))).record("v", verbose=False)
    # One trained conductance per synapse (on the network itself make_trainable would share one),
    # initialized at random around SYNAPSE_GS so that the 10 outputs differ.
    nsyn = len(somata) * len(outputs)
    initial_gs = SYNAPSE_GS * np.exp(np.random.default_rng(1).normal(0.0, 0.5, nsyn))
    net.select(edges=list(range(nsyn))).make_trainable("IonotropicSynapse_gS", initial_gs.tolist(), verbose=False)
    return net, somata


def make_loss(jax, jnp, jx, net, somata, a):
    """Cross-entropy of one batch; params = (W, Jaxley's trainable list holding log gS: the
    conductances stay positive under Adam's steps)."""
    steps = int(round(a.tmax / a.dt)) + 1
    soma_view = net.select(nodes=somata)
    lengths = checkpoint_lengths(a)

    def image_loss(w, syn_params, image, label):
        amps = image @ w  # nA, one per hidden cell
        currents = jnp.broadcast_to(amps[:, None], (N_HIDDEN, steps))
        stimuli = soma_view.data_stimulate(currents, None)
        v = jx.integrate(net, params=syn_params, data_stimuli=stimuli, delta_t=a.dt, t_max=a.tmax,
                         checkpoint_lengths=lengths)
        logits = v.mean(axis=1) + 65.0
        return -jax.nn.log_softmax(logits)[label]

    def loss(params, images, labels):
        w, log_syn_params = params
        syn_params = jax.tree.map(jnp.exp, log_syn_params)
        per_image = jax.vmap(image_loss, in_axes=(None, None, 0, 0))(w, syn_params, images, labels)
        return per_image.mean()

    return loss


def main():
    t0 = time.perf_counter()
    a = parse_args()
    import jax

    if a.precision == "f64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    import optax
    import jaxley as jx

    log(f"jax {jax.__version__}, jaxley {jx.__version__}, backend {jax.default_backend()}", t0)
    b0 = time.perf_counter()
    net, somata = build_network(jx)
    build_s = time.perf_counter() - b0
    ncomp = int(net.nodes.shape[0])
    log(f"built in {build_s:.2f} s: {ncomp} compartments", t0)
    rng = np.random.default_rng(0)
    dtype = jnp.float64 if a.precision == "f64" else jnp.float32
    images = jnp.asarray(rng.random((a.batch, N_IN)), dtype)
    labels = jnp.asarray(rng.integers(0, N_OUT, a.batch))
    # 0.5 nA makes a hidden cell fire (docs/training.md); a mean pixel of 0.5 over 784 inputs.
    w = jnp.asarray(rng.normal(0.0, 1.0, (N_IN, N_HIDDEN)) * 0.5 / (0.5 * np.sqrt(N_IN)), dtype)
    params = (w, jax.tree.map(jnp.log, net.get_parameters()))
    optimizer = optax.adam(LEARNING_RATE)
    opt_state = optimizer.init(params)
    loss = make_loss(jax, jnp, jx, net, somata, a)

    @jax.jit
    def train_step(params, opt_state, images, labels):
        value, grads = jax.value_and_grad(loss)(params, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value, optax.global_norm(grads)

    times, losses, grad_norms = [], [], []
    for k in range(a.steps + 1):
        s0 = time.perf_counter()
        params, opt_state, value, grad_norm = train_step(params, opt_state, images, labels)
        jax.block_until_ready((params, opt_state, value, grad_norm))
        times.append(time.perf_counter() - s0)
        losses.append(float(value))
        grad_norms.append(float(grad_norm))
        log(f"step {k}: {times[-1]:.3f} s, loss {losses[-1]:.6f}, gradient norm {grad_norms[-1]:.3g}", t0)
    step_s = statistics.median(times[1:])
    print(json.dumps(dict(
        sim="jaxley", what="mnist training step", jaxley_version=jx.__version__,
        jax_version=jax.__version__, backend=jax.default_backend(), device=str(jax.devices()[0]),
        precision=a.precision, batch=a.batch, tmax_ms=a.tmax, dt=a.dt, ncomp=ncomp,
        checkpoint_lengths=checkpoint_lengths(a),
        build_s=build_s, compile_s=times[0], step_s=step_s, steps_s=times[1:],
        image_s=step_s / a.batch, epoch_s_estimate=step_s * EPOCH_IMAGES / a.batch,
        losses=losses, grad_norms=grad_norms,
        finite=bool(np.isfinite(losses).all() and np.isfinite(grad_norms).all()))))


if __name__ == "__main__":
    main()
