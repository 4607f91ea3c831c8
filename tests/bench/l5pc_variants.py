"""Variants of examples/bench/l5pc.syl for tests/bench/bigcell_parts.sh, written next to it (so
its relative paths hold): l5pc_pas.syl (the same cell and segmentation with pas only: the solve's
share of a step) and l5pc_x64.syl / l5pc_x512.syl (64 and 512 copies: does a batch fill the GPU).
usage: python3 tests/bench/l5pc_variants.py [--remove]"""
import os
import re
import sys

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "bench")
NAMES = ["l5pc_pas.syl", "l5pc_x64.syl", "l5pc_x512.syl"]


def passive_only(source):
    """The model without its .mod imports, their inserts (one line or a block) and Ca probes."""
    kept, in_block = [], False
    for line in source.split("\n"):
        text = line.strip()
        if in_block:
            in_block = text != "}"
            continue
        if text.startswith('import "l5pc/') or '_cai"' in text:
            continue
        insert = re.match(r"insert (\w+) in", text)
        if insert and insert.group(1) != "pas":
            in_block = text.endswith("{")
            continue
        kept.append(line)
    return "\n".join(kept)


def main():
    if "--remove" in sys.argv:
        for name in NAMES:
            path = os.path.join(BENCH, name)
            if os.path.exists(path):
                os.remove(path)
        return
    source = open(os.path.join(BENCH, "l5pc.syl")).read()
    variants = {"l5pc_pas.syl": passive_only(source)}
    for n in (64, 512):
        variants[f"l5pc_x{n}.syl"] = source.replace("cells = l5pc[1]", f"cells = l5pc[{n}]")
    for name, text in variants.items():
        with open(os.path.join(BENCH, name), "w") as out:
            out.write(text)


main()
