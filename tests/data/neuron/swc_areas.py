"""NEURON 9.0.2 reference for Sylva's SWC import (`compiler/src/morph/swc.rs`): every file in
`tests/data/swc/` is loaded with NEURON's Import3d, exactly as

    r = h.Import3d_SWC_read(); r.input(path); h.Import3d_GUI(r, False).instantiate(None)

then every section gets nseg = 1 and Ra = 100 ohm*cm. One row per section, in `h.allsec()`
order, is written to `swc_areas.csv`:

    file         the SWC file name (in tests/data/swc/)
    section      NEURON's name, e.g. soma[0], dend[12]
    parent       the parent section's name ("" for the root)
    parent_x     the x of the parent location (`sec.parentseg().x`; "" for the root)
    n3d          the number of 3-D points NEURON stores
    L            section length, um
    area         sec(0.5).area(), um2 (the whole section, nseg = 1)
    ri           sec(0.5).ri(), MOhm: the left half of the segment (to the parent node)
    ri_end       sec(1).ri(), MOhm: the right half (centre to the x = 1 node)

Floats are printed with %.17g (round-trip exact). A file that NEURON refuses to load
(`morph_multiple_roots.swc`: several roots) gets one row with section `<error>` and empty fields.
Each file is loaded in a fresh Python process, so nothing of one cell survives into the next.

usage: /tmp/nrnvenv/bin/python tests/data/neuron/swc_areas.py [--out FILE]
       (NEURON 9.0.2: pip install neuron==9.0.2)
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SWC = os.path.normpath(os.path.join(HERE, "..", "swc"))
COLUMNS = ["file", "section", "parent", "parent_x", "n3d", "L", "area", "ri", "ri_end"]


def one(path):
    """Runs in a child process: prints the CSV rows of one file (without the file column)."""
    from neuron import h

    h.load_file("import3d.hoc")
    r = h.Import3d_SWC_read()
    r.input(path)
    h.Import3d_GUI(r, False).instantiate(None)
    for s in h.allsec():
        s.nseg = 1
        s.Ra = 100
    g = lambda v: "%.17g" % v
    for s in h.allsec():
        ps = s.parentseg()
        parent = ps.sec.name() if ps is not None else ""
        px = g(ps.x) if ps is not None else ""
        print("ROW", ",".join([s.name(), parent, px, str(s.n3d()), g(s.L),
                               g(s(0.5).area()), g(s(0.5).ri()), g(s(1).ri())]))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        one(sys.argv[2])
        return
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else os.path.join(HERE, "swc_areas.csv")
    lines = [",".join(COLUMNS)]
    for name in sorted(f for f in os.listdir(SWC) if f.endswith(".swc")):
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", os.path.join(SWC, name)],
                           capture_output=True, text=True)
        rows = [l[4:] for l in p.stdout.splitlines() if l.startswith("ROW ")]
        if p.returncode != 0 or not rows:
            lines.append(",".join([name, "<error>"] + [""] * (len(COLUMNS) - 2)))
            print(f"{name}: NEURON refused it", file=sys.stderr)
        else:
            lines += [f"{name},{row}" for row in rows]
            print(f"{name}: {len(rows)} sections", file=sys.stderr)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
