#!/usr/bin/env python3
"""Writes one section of BENCHMARKS.md, leaving the others as they are.

    report.py NAME FILE < section.md

Each section of bench/run owns the block between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->`; the block is replaced by stdin, or added in its
place in SECTIONS order when it is not there yet. So `ONLY=capture bench/run`
rewrites the capture section and nothing else.

As a module: `machine()`, the line saying when and where a section was
measured.
"""
import datetime, os, platform, re, subprocess, sys

SECTIONS = ["foundation", "capture", "fanout", "idle", "cache", "seed", "router", "remote"]
HEAD = """# Benchmarks

Written by `bench/run`, one section per part (`ONLY=capture,fanout bench/run` runs some parts and leaves the
other sections as they were). Each section says when and on what it was measured; every figure is compared
with a baseline measured in the same run, because this machine is a shared VM whose speed drifts by several
times within a minute.
"""


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    return (f"Measured on {datetime.date.today()} ({platform.system()} {platform.release()}, {os.cpu_count()} cores, "
            f"{cpu}, {tmux}), release build.")


def block(name, text):
    return f"<!-- bench:{name} -->\n{text.strip()}\n<!-- /bench:{name} -->\n"


def replace(path, name, text):
    old = open(path).read() if os.path.exists(path) else HEAD
    found = re.compile(rf"<!-- bench:{name} -->\n.*?<!-- /bench:{name} -->\n", re.S)
    new = block(name, text)
    if found.search(old):
        out = found.sub(lambda _: new, old, count=1)
    else:
        # Before the first present section that comes after this one.
        later = [s for s in SECTIONS[SECTIONS.index(name) + 1:] if f"<!-- bench:{s} -->" in old] \
            if name in SECTIONS else []
        if later:
            at = old.index(f"<!-- bench:{later[0]} -->")
            out = old[:at] + new + "\n" + old[at:]
        else:
            out = old.rstrip("\n") + "\n\n" + new
    with open(path, "w") as f:
        f.write(out)


if __name__ == "__main__":
    replace(sys.argv[2], sys.argv[1], sys.stdin.read())
