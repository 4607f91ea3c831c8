#!/usr/bin/env bash
# CPU benchmark in rounds: Sylva on one core and on two, NEURON 9.0.2 and Arbor 0.12.2 on one
# core, back to back in every round, on the ringtest (docs/performance.md, "windows of steps").
# Runs from the repository root on a machine with `taskset`; NEURON and Arbor come from
# PYTHONPATH (their wheels unpacked there).
#
#   tests/bench/cpu_rounds.sh SYLVA [CPU_A CPU_B] [ROUNDS_1E4 ROUNDS_1E5]
#
# Prints one line per run: the simulator, its cores and Sylva's summary line or the JSON line
# of tests/bench/{nrn,arb}_ringtest.py (sim wall seconds: "simulated in" / "run_s").
set -u
SYLVA=$1; A=${2:-2}; C=${3:-4}; R4=${4:-5}; R5=${5:-2}
sy() { local cpus=$1; shift; echo "sylva cpus $cpus $* | $(taskset -c "$cpus" "$SYLVA" run "$@" -o "/tmp/sylva-rounds-$RANDOM" --no-plots 2>&1 | grep -o 'simulated in [0-9.]* s.*' | head -1)"; }
py() { echo "$1 $2 | $(taskset -c "$A" timeout "$3" python3 "tests/bench/$1_ringtest.py" --rings "$2" 2>&1 | tail -1 | sed 's/, "spikes_ring0".*//')"; }
lscpu | sed -n 's/^Model name: *//p'; uptime
for r in $(seq "$R4"); do
  sy "$A" examples/bench/ringtest.syl --set rings=10 --threads 1
  sy "$A,$C" examples/bench/ringtest.syl --set rings=10 --threads 2
  py nrn 10 60; py arb 10 60
done
for r in $(seq "$R5"); do
  sy "$A" examples/bench/ringtest.syl --set rings=103 --threads 1
  sy "$A,$C" examples/bench/ringtest.syl --set rings=103 --threads 2
  py arb 103 90
done
py nrn 103 120
uptime
