#!/usr/bin/env bash
# On a real GPU: the big cell (50 ms, f64) with both GPU strategies and the CPU engine; prints
# whether the two strategies' traces are byte-identical and the largest |ΔV| against the CPU.
# usage: tests/bench/gpu_agree.sh SYLVA_BINARY
set -eu
sylva=$1
out=$(mktemp -d)
printf 'duration: 50 ms\n' > "$out/run.yaml"
for engine in "thread --backend gpu --gpu-strategy thread" "workgroup --backend gpu --gpu-strategy workgroup" "cpu"; do
    set -- $engine
    name=$1; shift
    echo "$name | $("$sylva" run examples/bench/bigcell.syl "$@" --config "$out/run.yaml" -o "$out/$name" --no-plots | sed -n 2p)"
done
cmp -s "$out/thread/trace.csv" "$out/workgroup/trace.csv" && echo "thread and workgroup traces: identical" \
    || echo "thread and workgroup traces: differ"
for name in thread workgroup; do
    python3 - "$out/cpu/trace.csv" "$out/$name/trace.csv" "$name" <<'PY'
import csv, sys
a = list(csv.reader(open(sys.argv[1])))[1:]
b = list(csv.reader(open(sys.argv[2])))[1:]
worst = max(abs(float(x[1]) - float(y[1])) for x, y in zip(a, b))
print(f"{sys.argv[3]} vs cpu: {len(a)} rows, max |dV| {worst:.3e} mV")
PY
done
for name in thread workgroup cpu; do echo "$name spikes: $(tail -n +2 "$out/$name/spikes.csv" | tr '\n' ' ')"; done
rm -rf "$out"
