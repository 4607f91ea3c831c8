#!/usr/bin/env bash
# Jaxley 0.14's ringtest on the lent GPU machine (issue 15), for the ratio against Sylva's
# tests/bench/gpu.sh on the same card. The machine has jax 0.11.2 + its CUDA 13 plugin, numpy,
# pandas, matplotlib, scipy and networkx; jaxley and tridiax travel as wheels in .whl/
# (tests/bench/jaxley_wheels.txt lists them, 268 KB; pure Python). Download them with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl -r tests/bench/jaxley_wheels.txt
# One device call (carry [".whl"], limit 600 s):
#   bash tests/bench/jaxley_device.sh
# env: SIZES="10 103 1031" (rings of 10 cells x 97 compartments: 9,700 / 99,910 / 1,000,070
#      compartments), PRECISIONS="f32 f64", REPEATS=3, BUDGET_S=560 (no run starts, and a
#      running one is stopped, once the call has used this many seconds: the build-time cap),
#      MNIST="" (precisions of tests/bench/jaxley_mnist_step.py's timed training step, batch 16,
#      run after the ringtests; a call of its own: SIZES="" MNIST="f32 f64"),
#      REQUIRE_GPU=1 (0: a dry run on a machine without one, e.g. SIZES=1 REQUIRE_GPU=0).
# A run that the budget stops (its network still building or compiling) skips the sizes above
# it with a message. Writes versions.txt, ringtest_<rings>_<precision>.json and
# mnist_step_<precision>.json (one JSON line each) and .log (progress) under $OUT (or a
# temporary folder), and prints every result line.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || exit
sizes=${SIZES-"10 103 1031"}
precisions=${PRECISIONS-"f32 f64"}
repeats=${REPEATS:-3}
budget=${BUDGET_S:-560}
mnist=${MNIST:-}
out=${OUT:-$(mktemp -d)}
start=$SECONDS

{
    echo "machine: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo no nvidia-smi); $(lscpu | sed -n 's/^Model name: *//p')"
    python3 -c 'import sys, jax, jaxlib, jaxley, tridiax, numpy, pandas, matplotlib, networkx
print("python", sys.version.split()[0], "jax", jax.__version__, "jaxlib", jaxlib.__version__,
      "jaxley", jaxley.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__,
      "matplotlib", matplotlib.__version__, "networkx", networkx.__version__)
print("backend", jax.default_backend(), "devices", jax.devices())'
} 2>&1 | tee "$out/versions.txt"
grep -q "^backend" "$out/versions.txt" || { echo "jaxley does not import: stopping"; exit 1; }
if [ "${REQUIRE_GPU:-1}" = 1 ] && ! grep -q "^backend gpu" "$out/versions.txt"; then
    echo "jax has no GPU backend: stopping"
    exit 1
fi

# timed NAME COMMAND...: one run within what is left of the budget, its JSON line to NAME.json
# and its progress to NAME.log; fails if it was skipped or stopped.
timed() {
    local name=$1; shift
    local left=$((budget - (SECONDS - start)))
    if [ "$left" -le 10 ]; then
        echo "$name: skipped, $left s of the ${budget} s budget left"
        return 1
    fi
    timeout "$left" "$@" >"$out/$name.json" 2>"$out/$name.log"
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "$name: stopped (exit $rc) after at most $left s, the rest of the ${budget} s budget; last progress:"
        tail -n 3 "$out/$name.log"
        return 1
    fi
    echo "$name | $(cat "$out/$name.json")"
}

ringtests() {
    for rings in $sizes; do
        for precision in $precisions; do
            timed "ringtest_${rings}_$precision" python3 tests/bench/jaxley_ringtest.py --rings "$rings" \
                --precision "$precision" --repeats "$repeats" || { echo "larger sizes skipped"; return; }
        done
    done
}

ringtests
for precision in $mnist; do
    timed "mnist_step_$precision" python3 tests/bench/jaxley_mnist_step.py --batch 16 --steps "$repeats" \
        --precision "$precision"
done
