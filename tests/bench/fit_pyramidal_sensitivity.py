"""What the somatic voltage of examples/train/fit_pyramidal.syl says about each trained density
(docs/training.md, "Fitting a pyramidal cell"): the Jacobian J of the trace in the log of each
density, by central differences of `sylva run --params` runs (steps of ±0.1 %), scaled to RMS
mV per unit of log density; its singular values (the square roots of the Gauss-Newton Hessian's
curvatures, up to a factor) and the trainables that make up the weakest directions.

With `--line PARAMS.yaml`: the loss (MSE against the target, mV²) at 11 points on the straight
line in log-density coordinates from the values of a params.yaml to the true ones.

The true values are read from the example's `// true X` comments.

usage: python3 tests/bench/fit_pyramidal_sensitivity.py [MODEL] [--line PARAMS.yaml]
       (run from the repository root after `cargo build --release -p sylva-runtime --bin sylva`)
"""
import csv
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

SYLVA = "target/release/sylva"


def trainables(model):
    """(name, true value in S/cm2) of each trainable with a `// true` comment."""
    text = open(model).read()
    pattern = r"trainable (\S+ in [^{]+?) \{ init = \S+ S/cm2 \}\s*// true (\S+)"
    return [(m.group(1), float(m.group(2))) for m in re.finditer(pattern, text)]


def trace(model, names, values, scratch):
    """The somatic voltage of a run with these values."""
    params = os.path.join(scratch, "params.yaml")
    with open(params, "w") as f:
        f.write("params:\n")
        for name, value in zip(names, values):
            f.write(f"  - name: {name}\n    value: {float(value)!r}\n    unit: S/cm2\n")
    out = os.path.join(scratch, "out")
    subprocess.run([SYLVA, "run", model, "--params", params, "-o", out, "--no-plots"], check=True, capture_output=True)
    rows = list(csv.reader(open(os.path.join(out, "trace.csv"))))[1:]
    return np.array([float(r[1]) for r in rows])


def sensitivity(model, names, truth, scratch):
    h = 1e-3
    columns = []
    for i in range(len(names)):
        up, down = list(truth), list(truth)
        up[i] *= np.exp(h)
        down[i] *= np.exp(-h)
        columns.append((trace(model, names, up, scratch) - trace(model, names, down, scratch)) / (2 * h))
    jacobian = np.array(columns).T / np.sqrt(len(columns[0]))
    for name, column in zip(names, jacobian.T):
        print(f"{name:32s} {np.linalg.norm(column):9.3e} mV RMS per unit of log density")
    _, singular, directions = np.linalg.svd(jacobian, full_matrices=False)
    print("singular values", " ".join(f"{s:.2e}" for s in singular))
    for k in range(1, 4):
        v = directions[-k]
        top = np.argsort(-abs(v))[:4]
        print(f"weak direction {k} ({singular[-k]:.2e}):", ", ".join(f"{names[i]} {v[i]:+.2f}" for i in top))


def line(model, names, truth, params, scratch):
    learned = {}
    name = None
    for raw in open(params):
        entry = raw.strip().removeprefix("- ")
        if entry.startswith("name: "):
            name = entry[len("name: "):]
        elif entry.startswith("value: ") and name is not None:
            learned[name] = float(entry[len("value: "):])
    missing = [n for n in names if n not in learned]
    if missing:
        sys.exit(f"{params} has no value for {', '.join(missing)}: it is not a fit of this model")
    start = np.log([learned[n] for n in names])
    end = np.log(truth)
    target = trace(model, names, truth, scratch)
    for s in np.linspace(0, 1, 11):
        loss = np.mean((trace(model, names, np.exp((1 - s) * start + s * end), scratch) - target) ** 2)
        print(f"{s:.1f} {loss:.4e}")


def main():
    args = sys.argv[1:]
    params = None
    if "--line" in args:
        i = args.index("--line")
        params = args[i + 1]
        del args[i:i + 2]
    model = args[0] if args else "examples/train/fit_pyramidal.syl"
    names, truth = zip(*trainables(model))
    with tempfile.TemporaryDirectory() as scratch:
        if params:
            line(model, names, list(truth), params, scratch)
        else:
            sensitivity(model, names, list(truth), scratch)


if __name__ == "__main__":
    main()
