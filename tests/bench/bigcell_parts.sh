#!/usr/bin/env bash
# Where the big cell's GPU time goes: examples/bench/bigcell.syl and variants of it (hh only at
# the soma, chains of 4 and 1 segments instead of 16, 64 and 512 copies for 100 ms), f32 and
# f64, workgroup strategy; then the l5pc cell on the GPU and the CPU, with pas only (the solve's
# share) and 64 and 512 copies for 200 ms (tests/bench/l5pc_variants.py). One line per run.
# usage: tests/bench/bigcell_parts.sh SYLVA_BINARY [OTHER_BINARY …]  (each binary runs the big cell)
set -u
out=$(mktemp -d)
trap 'rm -rf "$out"; python3 tests/bench/l5pc_variants.py --remove' EXIT
b=examples/bench/bigcell.syl
sed -e 's/insert hh in all { gnabar = 0.012 S\/cm2 }/insert pas in all/' -e 's/^import hh/import hh\nimport pas/' $b > "$out/pas.syl"
sed -e 's/nseg = 16/nseg = 4/' $b > "$out/nseg4.syl"
sed -e 's/nseg = 16/nseg = 1/' $b > "$out/nseg1.syl"
for n in 64 512; do sed -e "s/population cells = big\[1\]/population cells = big[$n]/" $b > "$out/copies$n.syl"; done
python3 tests/bench/l5pc_variants.py
printf 'duration: 100 ms\n' > "$out/d100.yaml"
line() { local s=$1 label=$2; shift 2; echo "$label | $("$s" run "$@" -o "$out/run" --no-plots 2>&1 | sed -n 2p)"; }
gpu() { echo --backend gpu --precision "$1" --gpu-strategy workgroup; }
for s in "$@"; do for p in f32 f64; do line "$s" "$s bigcell $p" $b $(gpu $p); done; done
s=$1
for v in pas nseg4 nseg1; do for p in f32 f64; do line "$s" "bigcell-$v $p" "$out/$v.syl" $(gpu $p); done; done
for v in copies64 copies512; do for p in f32 f64; do line "$s" "bigcell-$v 100 ms $p" "$out/$v.syl" --config "$out/d100.yaml" $(gpu $p); done; done
l5=examples/bench
for p in f32 f64; do line "$s" "l5pc 700 ms gpu $p" $l5/l5pc.syl $(gpu $p); done
for p in f32 f64; do line "$s" "l5pc-pas 700 ms gpu $p" $l5/l5pc_pas.syl $(gpu $p); done
for n in 64 512; do for p in f32 f64; do line "$s" "l5pc x$n 200 ms gpu $p" $l5/l5pc_x$n.syl --set 'duration=200 ms' $(gpu $p); done; done
line "$s" "l5pc 700 ms cpu 1 thread" $l5/l5pc.syl --threads 1
