#!/usr/bin/env python3
"""CPU benchmark: Sylva against NEURON 9.0.2 and Arbor 0.12.2 on the ringtest network.

The network is examples/bench/ringtest.syl (rings of 10 cells, 97 compartments per cell, 970 per
ring; hh soma + 6 active hh dendrites; Exp2Syn ring connections; 100 ms at dt 0.025 ms).
nrn_ringtest.py and arb_ringtest.py (next to this file) build the same network in NEURON and
Arbor. For every size (in compartments; rings = round(size / 970), at least 1) and every
repeat, the simulators run back to back, one process each, in this order:

  sylva1  `SYLVA run examples/bench/ringtest.syl --set rings=R -o TMP --no-plots --threads 1`
  sylva2  the same with --threads 2
  neuron  `PYTHON tests/bench/nrn_ringtest.py --rings R`   (1 thread, fixed step, secondorder 0,
          usetable_hh 0, dt 0.025, 100 ms)
  arbor   `PYTHON tests/bench/arb_ringtest.py --rings R`   (1 thread)

Reported per simulator (median over the repeats):
  sim s      wall time of the simulation proper, setup excluded: Sylva's "simulated in" figure,
             NEURON's pc.psolve(), Arbor's sim.run()
  total s    wall time of the whole process (start-up, import, build, run, output)
  c-steps/s  compartments x steps / sim s (wall) and / sim CPU s, with 97 compartments per cell for all three (Arbor
             really solves 100 CVs per cell: it adds a zero-volume CV at each fork)
  sim CPU s  CPU time of the simulation proper (time.process_time() around the run for NEURON
             and Arbor; Sylva's whole process, whose setup takes milliseconds; all threads)
  total CPU s  user + system CPU time of the whole process, all threads
             CPU times are much less sensitive than wall times to other load on the machine
  max RSS    peak resident set of the process (os.wait4 rusage; includes the Python interpreter
             for NEURON and Arbor)
  spikes/ring  spikes in 100 ms per ring (min-max over rings when they differ)
and the ratios of the sim times, e.g. "Sylva 1t vs NEURON (t NEURON / t Sylva 1t)" = how many
times faster Sylva (one thread) is than NEURON (below 1: slower), from the medians of this same invocation.

Usage (from the repository root):
  python3 tests/bench/ringtest.py --sizes 1e3,1e4,1e5 --repeats 3 \
      --sylva /tmp/sylva-bench --python /tmp/nrnvenv/bin/python [--sims sylva1,sylva2,neuron,arbor] \
      [--out results.md] [--json raw.json] [--startup 20] [--nice -10]

--startup N additionally times `SYLVA run examples/neuron/hh_soma.syl -o TMP --no-plots` end to
end N times and prints the median wall time. The markdown table goes to stdout (and --out);
--json keeps every single run.
"""
import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RING_SYL = os.path.join(ROOT, "examples", "bench", "ringtest.syl")
HH_SOMA = os.path.join(ROOT, "examples", "neuron", "hh_soma.syl")
COMP_PER_RING = 970
N_PER_RING = 10
STEPS = 4000
ALL_SIMS = ["sylva1", "sylva2", "neuron", "arbor"]
LABEL = {"sylva1": "Sylva 1 thread", "sylva2": "Sylva 2 threads", "neuron": "NEURON 9.0.2, 1 thread",
         "arbor": "Arbor 0.12.2, 1 thread"}
SHORT = {"sylva1": "Sylva 1t", "sylva2": "Sylva 2t", "neuron": "NEURON", "arbor": "Arbor"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


NICE = 0


def spawn(cmd, cwd=ROOT):
    """Run cmd, reaping it with os.wait4: (stdout, stderr, wall s, max RSS MB, CPU s)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fo, stderr=fe,
                                preexec_fn=(lambda: os.nice(NICE)) if NICE else None)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), proc.returncode, out, err))
    # ru_maxrss is in kB on Linux; CPU = user + system time of the whole process (all threads)
    return out, err, wall, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime


def run_sylva(args, rings, threads):
    tmp = tempfile.mkdtemp(prefix="sylva-ring-")
    try:
        cmd = [args.sylva, "run", RING_SYL, "--set", "rings=%d" % rings, "-o", tmp, "--no-plots",
               "--threads", str(threads)]
        out, err, wall, rss, cpu = spawn(cmd)
        text = out + err
        m = re.search(r"(\d+) cells, (\d+) compartments, (\d+) steps", text)
        s = re.search(r"(\d+) spikes; simulated in ([0-9.eE+-]+) s", text)
        if not (m and s):
            raise RuntimeError("cannot parse Sylva output:\n" + text)
        ncell, ncomp, steps = int(m.group(1)), int(m.group(2)), int(m.group(3))
        per_ring = [0] * rings
        ring0 = []
        with open(os.path.join(tmp, "spikes.csv")) as f:
            for row in csv.DictReader(f):
                g = int(row["gid"])
                per_ring[g // N_PER_RING] += 1
                if g < N_PER_RING:
                    ring0.append(round(float(row["time"]), 4))
        return dict(sim="sylva%d" % threads, threads=threads, rings=rings, ncell=ncell, ncomp=ncomp,
                    steps=steps, run_s=float(s.group(2)), nspikes=int(s.group(1)), total_s=wall,
                    cpu_s=cpu, maxrss_mb=rss, spikes_per_ring_min=min(per_ring), spikes_per_ring_max=max(per_ring),
                    spikes_ring0=sorted(ring0), report=text.strip().splitlines()[:2])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_python(args, script, rings):
    cmd = [args.python, os.path.join(HERE, script), "--rings", str(rings)]
    out, err, wall, rss, cpu = spawn(cmd)
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    r.update(total_s=wall, cpu_s=cpu, maxrss_mb=rss)
    return r


def run_one(args, sim, rings):
    if sim == "sylva1":
        return run_sylva(args, rings, 1)
    if sim == "sylva2":
        return run_sylva(args, rings, 2)
    if sim == "neuron":
        return run_python(args, "nrn_ringtest.py", rings)
    if sim == "arbor":
        return run_python(args, "arb_ringtest.py", rings)
    raise ValueError(sim)


def sim_cpu(r):
    """CPU seconds of the simulation proper: measured around the run by the NEURON and Arbor
    scripts; for Sylva the whole process (its setup takes a few ms)."""
    return r.get("run_cpu_s", r["cpu_s"])


def cmed(rs):
    return statistics.median(sim_cpu(r) for r in rs)


def fmt_time(s):
    return "%.3g" % s if s < 100 else "%.0f" % s


def spikes_cell(rs):
    lo = min(r["spikes_per_ring_min"] for r in rs)
    hi = max(r["spikes_per_ring_max"] for r in rs)
    return str(lo) if lo == hi else "%d-%d" % (lo, hi)


def ring0_diff(a, b):
    """max |t_a - t_b| over ring-0 spikes when the counts agree, else None."""
    if len(a) != len(b):
        return None
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e3,1e4,1e5", help="comma-separated compartment counts")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sylva", default=os.path.join(ROOT, "target", "release", "sylva"))
    ap.add_argument("--python", default=sys.executable, help="a Python with neuron==9.0.2 and arbor==0.12.2")
    ap.add_argument("--sims", default=",".join(ALL_SIMS), help="subset of " + ",".join(ALL_SIMS))
    ap.add_argument("--out", help="also write the markdown to this file")
    ap.add_argument("--json", help="write every run as JSON to this file")
    ap.add_argument("--startup", type=int, default=0, help="time hh_soma.syl end to end this many times")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the simulators at this niceness (e.g. -10 as root on a shared machine)")
    args = ap.parse_args()
    global NICE
    NICE = args.nice
    sims = [s for s in args.sims.split(",") if s]
    for s in sims:
        if s not in ALL_SIMS:
            ap.error("unknown simulator %r" % s)

    raw = []
    rows = []
    for size in [float(x) for x in args.sizes.split(",") if x]:
        rings = max(1, int(round(size / COMP_PER_RING)))
        runs = {s: [] for s in sims}
        for rep in range(args.repeats):
            for s in sims:
                log("size %g (rings %d), repeat %d/%d: %s ..." % (size, rings, rep + 1, args.repeats, s))
                r = run_one(args, s, rings)
                r["size"] = size
                r["repeat"] = rep
                log("   sim %.3f s, total %.2f s, CPU %.2f s, RSS %.0f MB, %d spikes" %
                    (r["run_s"], r["total_s"], r["cpu_s"], r["maxrss_mb"], r["nspikes"]))
                runs[s].append(r)
                raw.append(r)
        med = {s: statistics.median(r["run_s"] for r in runs[s]) for s in sims}
        rows.append((size, rings, runs, med))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(raw, f, indent=1)

    lines = []
    lines.append("| compartments | rings | simulator | sim s | sim CPU s | total s | total CPU s | c-steps/s (wall) | c-steps/s (CPU) | max RSS MB | spikes/ring |")
    lines.append("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, rings, runs, med in rows:
        ncomp = rings * COMP_PER_RING
        for s in sims:
            rs = runs[s]
            tot = statistics.median(r["total_s"] for r in rs)
            rss = statistics.median(r["maxrss_mb"] for r in rs)
            cpu = statistics.median(r["cpu_s"] for r in rs)
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %.3g | %.3g | %.0f | %s |" % (
                "{:,}".format(ncomp), rings, LABEL[s], fmt_time(med[s]), fmt_time(cmed(rs)), fmt_time(tot),
                fmt_time(cpu), ncomp * STEPS / med[s], ncomp * STEPS / cmed(rs), rss, spikes_cell(rs)))
    lines.append("")
    # ratios (other's time / Sylva's time: > 1 means Sylva is faster)
    pairs = [(o, sy) for sy in ("sylva1", "sylva2") if sy in sims for o in ("neuron", "arbor") if o in sims]
    if pairs:
        head = ["compartments"] + ["%s vs %s (t %s / t %s)" % (
            SHORT[sy], SHORT[o], SHORT[o], SHORT[sy]) for o, sy in pairs]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("| ---: " * len(head) + "|")
        for size, rings, runs, med in rows:
            cells = ["{:,}".format(rings * COMP_PER_RING)] + ["%.2f" % (med[o] / med[sy]) for o, sy in pairs]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    # the same from CPU time (robust against other load on the machine); single-threaded runs only
    pairs1 = [(o, "sylva1") for o in ("neuron", "arbor") if o in sims and "sylva1" in sims]
    if pairs1:
        head = ["compartments"] + ["Sylva 1t vs %s, CPU (t %s / t Sylva 1t)" % (SHORT[o], SHORT[o]) for o, _ in pairs1]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("| ---: " * len(head) + "|")
        for size, rings, runs, med in rows:
            cells = ["{:,}".format(rings * COMP_PER_RING)] + ["%.2f" % (cmed(runs[o]) / cmed(runs[sy])) for o, sy in pairs1]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    # spike-time agreement on ring 0 (first repeat)
    notes = []
    for size, rings, runs, med in rows:
        ref = runs.get("neuron") or runs.get("arbor")
        if not ref:
            continue
        refname = "neuron" if "neuron" in runs else "arbor"
        for s in sims:
            if s == refname:
                continue
            d = ring0_diff(runs[s][0]["spikes_ring0"], ref[0]["spikes_ring0"])
            notes.append("%s vs %s at %s compartments, ring 0: %s" % (
                s, refname, "{:,}".format(rings * COMP_PER_RING),
                "%d spikes each, max |dt| %.4g ms" % (len(ref[0]["spikes_ring0"]), d) if d is not None else
                "%d vs %d spikes" % (len(runs[s][0]["spikes_ring0"]), len(ref[0]["spikes_ring0"]))))
    if notes:
        lines += ["- " + n for n in notes] + [""]

    if args.startup:
        walls = []
        tmp = tempfile.mkdtemp(prefix="sylva-hh-")
        try:
            for _ in range(args.startup):
                _, _, wall, _, _ = spawn([args.sylva, "run", HH_SOMA, "-o", tmp, "--no-plots"])
                walls.append(wall)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        lines.append("`sylva run examples/neuron/hh_soma.syl -o TMP --no-plots`, end to end, %d runs: "
                     "median %.1f ms, min %.1f ms, max %.1f ms" % (
                         len(walls), 1e3 * statistics.median(walls), 1e3 * min(walls), 1e3 * max(walls)))
        lines.append("")

    md = "\n".join(lines)
    print(md)
    if args.out:
        with open(args.out, "w") as f:
            f.write(md + "\n")


if __name__ == "__main__":
    main()
