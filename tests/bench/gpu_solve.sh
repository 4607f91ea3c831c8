#!/usr/bin/env bash
# The workgroup solve with long chains split into pieces (`--gpu-solve split`, the default)
# against every chain on one lane (`--gpu-solve chains`): the big cell (examples/bench/bigcell.syl)
# and the layer-5 cell (examples/bench/l5pc.syl), f32 and f64, REPEAT runs each, alternating the
# two solves so that both see the same clocks; then the big cell with 4- and 1-segment chains
# once each. Each line: what, then sylva's summary line, which names the lanes, the solve, its
# serial depth and the barriers of a step (the step-cost model, docs/gpu.md).
# usage: tests/bench/gpu_solve.sh SYLVA_BINARY   (after `. tests/bench/device_vulkan.sh` on the
#        lent GPU machine; any machine with a Vulkan GPU works)
# env:   REPEAT=3
set -u
sylva=$1
repeat=${REPEAT:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo no nvidia-smi)"
line() {  # label, then sylva run arguments
    local label=$1; shift
    echo "$label | $("$sylva" run "$@" -o "$out/run" --no-plots 2>&1 | sed -n 2p)"
}
gpu() { echo --backend gpu --precision "$1" --gpu-strategy workgroup --gpu-solve "$2"; }
# Warm up the GPU (it idles at low clocks).
"$sylva" run examples/bench/bigcell.syl --backend gpu -o "$out/warm" --no-plots >/dev/null 2>&1
b=examples/bench/bigcell.syl
for model in bigcell l5pc; do
    for p in f32 f64; do
        for _ in $(seq "$repeat"); do
            for solve in chains split; do line "$model $p $solve" "examples/bench/$model.syl" $(gpu "$p" "$solve"); done
        done
    done
done
for n in 4 1; do
    sed -e "s/nseg = 16/nseg = $n/" $b > "$out/nseg$n.syl"
    for p in f32 f64; do
        for solve in chains split; do line "bigcell-nseg$n $p $solve" "$out/nseg$n.syl" $(gpu "$p" "$solve"); done
    done
done
