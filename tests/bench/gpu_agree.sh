#!/usr/bin/env bash
# The big cell (50 ms, f64) with both GPU strategies and the CPU engine. Every column of each
# GPU trace against the CPU's: `t` identical, voltages (labels `v`, `*_v`, `*_v_*`) within
# 1e-9 mV, other columns within 1e-9 of the CPU column's range; spikes identical. Prints the
# largest differences and exits 1 when a bound is exceeded. Meant for a real GPU; lavapipe
# works too (VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json).
# usage: tests/bench/gpu_agree.sh SYLVA_BINARY
set -eu
sylva=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf 'duration: 50 ms\n' > "$out/run.yaml"
gpu="--backend gpu --precision f64 --gpu-strategy"
for engine in "thread $gpu thread" "workgroup $gpu workgroup" "cpu"; do
    set -- $engine
    name=$1; shift
    summary=$("$sylva" run examples/bench/bigcell.syl "$@" --config "$out/run.yaml" -o "$out/$name" --no-plots)
    echo "$name | $(sed -n 2p <<<"$summary")"
done
cmp -s "$out/thread/trace.csv" "$out/workgroup/trace.csv" && echo "thread and workgroup traces: identical" \
    || echo "thread and workgroup traces: differ"
status=0
for name in thread workgroup; do
    python3 - "$out/cpu" "$out/$name" "$name" <<'PY' || status=1
import csv, re, sys
cpu, gpu, name = sys.argv[1:]
def trace(d):
    rows = list(csv.reader(open(f"{d}/trace.csv")))
    return rows[0], [[float(x) for x in r] for r in rows[1:]]
(labels, a), (gpu_labels, b) = trace(cpu), trace(gpu)
ok = labels == gpu_labels and len(a) == len(b)
if not ok:
    print(f"{name}: {gpu_labels} in {len(b)} rows, the CPU {labels} in {len(a)} rows")
for c, label in enumerate(labels if ok else []):
    column = [r[c] for r in a]
    worst = max(abs(x[c] - y[c]) for x, y in zip(a, b))
    if label == "t":
        bound, what = 0.0, "identical"
    elif re.fullmatch(r"v|.*_v|.*_v_.*", label):
        bound, what = 1e-9, "1e-9 mV"
    else:
        bound = 1e-9 * (max(column) - min(column))
        what = f"1e-9 of the range, {bound:.3e}"
    ok &= worst <= bound
    print(f"{name} vs cpu, {label}: {len(a)} rows, max |diff| {worst:.3e} (bound {what}){'' if worst <= bound else ' EXCEEDED'}")
spikes = [open(f"{d}/spikes.csv").read() for d in (cpu, gpu)]
same = spikes[0] == spikes[1]
ok &= same
print(f"{name} vs cpu, spikes: {'identical' if same else 'DIFFER'} ({spikes[0].count(chr(10)) - 1} on the CPU)")
sys.exit(0 if ok else 1)
PY
done
exit $status
