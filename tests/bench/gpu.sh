#!/usr/bin/env bash
# GPU benchmark of the ringtest (both strategies), of one big cell and of the layer-5 cell
# (examples/bench/l5pc.syl), with NEURON 9.0.2 single-threaded on the same machine's CPU for the
# ratio. Used on the lent H100/H200 through the device tool (see docs/performance.md for the
# exact call); any machine with a Vulkan GPU works.
#
# usage: tests/bench/gpu.sh SYLVA_BINARY [PYTHON_WITH_NEURON]
# env:   SIZES="103 1031 10310" (rings; 10 cells of 97 compartments each), REPEAT=3,
#        STRATEGIES="thread workgroup" (the ringtest's GPU strategies)
# prints one line per run: what, size, precision, strategy, then sylva's own summary line.
set -u
sylva=$1
python=${2:-}
sizes=${SIZES:-"103 1031 10310"}
repeat=${REPEAT:-3}
strategies=${STRATEGIES:-"thread workgroup"}
out=$(mktemp -d)
echo "machine: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo no nvidia-smi); $(lscpu | sed -n 's/^Model name: *//p')"
run() {  # label, then sylva run arguments
    local label=$1; shift
    for _ in $(seq "$repeat"); do
        echo "$label | $("$sylva" run "$@" -o "$out/run" --no-plots 2>&1 | sed -n 2p)"
    done
}
# Warm up the GPU (it idles at low clocks) with a short run.
"$sylva" run examples/bench/ringtest.syl --set rings=103 --backend gpu -o "$out/warm" --no-plots >/dev/null 2>&1
for precision in f32 f64; do
    run "bigcell 2033 compartments 1 s gpu $precision workgroup" examples/bench/bigcell.syl --backend gpu \
        --precision "$precision" --gpu-strategy workgroup
    run "l5pc 1689 compartments 700 ms gpu $precision workgroup" examples/bench/l5pc.syl --backend gpu \
        --precision "$precision" --gpu-strategy workgroup
    for rings in $sizes; do
        for strategy in $strategies; do
            run "ringtest rings=$rings gpu $precision $strategy" examples/bench/ringtest.syl --set rings="$rings" \
                --backend gpu --precision "$precision" --gpu-strategy "$strategy"
        done
    done
done
run "ringtest rings=103 cpu f64 1 thread" examples/bench/ringtest.syl --set rings=103 --threads 1
run "l5pc 1689 compartments 700 ms cpu f64 1 thread" examples/bench/l5pc.syl --threads 1
if [ -n "$python" ]; then
    echo "neuron rings=103 1 thread | $("$python" tests/bench/nrn_ringtest.py --rings 103 2>/dev/null | tail -1)"
    # Needs nrnivmodl and a C++ compiler on the machine (it compiles examples/bench/l5pc/*.mod).
    echo "neuron l5pc 1 thread | $("$python" tests/bench/nrn_l5pc.py 2>&1 | tail -1)"
fi
rm -rf "$out"
