#!/usr/bin/env python3
"""Interleaved timing for a noisy machine.

Runs each command once per round, in rotating order, for N rounds, and reports
each command's median wall time and the median of its per-round ratio to the
first command (the baseline). Drift on a shared machine then hits baseline and
candidate alike, which back-to-back batches (hyperfine's way) do not ensure.

    pairs.py --runs 100 --warmup 5 --json out.json \
        'floor=tmux new-session -d -s f && tmux kill-session -t =f' \
        'mono=mono init W && mono destroy W'

A command is argv split with shlex; `&&` chains several, run in order without
a shell; output is discarded; any failure aborts. `BEFORE >>> CMD ||| AFTER`
runs BEFORE and AFTER untimed around each measured CMD (set-up and clean-up,
e.g. timing destroy alone: 'mono init W >>> mono destroy W'). With
--time-after, AFTER is timed too and reported as NAME.after (init and destroy
from one interleaved run: 'mono init W ||| mono destroy W').
"""
import argparse, json, shlex, statistics, subprocess, sys, time


def chain(cmd):
    steps, cur = [], []
    for tok in shlex.split(cmd):
        if tok == "&&":
            steps.append(cur)
            cur = []
        else:
            cur.append(tok)
    steps.append(cur)
    return [s for s in steps if s]


def parse(spec):
    name, _, cmd = spec.partition("=")
    before, _, rest = cmd.rpartition(" >>> ")
    measured, _, after = rest.partition(" ||| ")
    return name, (chain(before), chain(measured), chain(after))


def execute(steps):
    for argv in steps:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, close_fds=False)


def run(parts):
    before, measured, after = parts
    execute(before)
    start = time.perf_counter()
    execute(measured)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    execute(after)
    return elapsed, time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--time-after", action="store_true")
    ap.add_argument("commands", nargs="+")
    a = ap.parse_args()
    cmds = [parse(c) for c in a.commands]
    names = [name for name, _ in cmds]
    if a.time_after:
        names += [f"{name}.after" for name, _ in cmds]
    times = {name: [] for name in names}
    for r in range(a.warmup + a.runs):
        order = cmds[r % len(cmds):] + cmds[:r % len(cmds)]
        for name, steps in order:
            t, after = run(steps)
            if r >= a.warmup:
                times[name].append(t)
                if a.time_after:
                    times[f"{name}.after"].append(after)
    out = {}
    for name in names:
        base = cmds[0][0] + (".after" if name.endswith(".after") else "")
        ratios = [t / b for t, b in zip(times[name], times[base])]
        out[name] = {"median": statistics.median(times[name]), "ratio": statistics.median(ratios),
                     "times": times[name],
                     "min": min(times[name]), "max": max(times[name])}
        print(f"{name:>10}: median {out[name]['median'] * 1000:8.2f} ms  "
              f"(min {out[name]['min'] * 1000:.2f}, max {out[name]['max'] * 1000:.2f})  "
              f"ratio to {base}: {out[name]['ratio']:.2f}x", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
