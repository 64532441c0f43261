#!/usr/bin/env python3
"""Idle cost: CPU of monod and of the capture processes with quiet environments.

1. Baseline: monod with no environment, over SECONDS.
2. `mono init` of ENVS simple-mode workspaces (no mono.yml); their shells
   print a prompt, then nothing. Wait until `mono list` shows every one idle
   (`activity` turns idle after 5 s of quiet), then one more second.
3. Over SECONDS: monod's CPU (utime + stime from /proc/PID/stat), the sum
   over the `monod capture` processes (one per pane, children of tmux) and,
   for context, the tmux server's. Nothing talks to monod meanwhile.
4. Destroy the environments, and measure monod with none again (drift).

    idle.py --mono MONO --home MONO_HOME --work DIR --envs 50 --seconds 30 --json out.json
"""
import argparse, json, os, subprocess, sys, time

CLK = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    try:
        rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[11]) + int(rest[12])


def mono(a, *args, out=False):
    r = subprocess.run([a.mono, *args], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if out else subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.stdout


def envs(a):
    return json.loads(mono(a, "list", "--json", out=True))


def captures(logs_root):
    """pids of `monod capture --dir <under logs_root>` processes."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 3 and argv[0].endswith(b"monod") and argv[1] == b"capture" \
                and any(x.startswith(logs_root.encode()) for x in argv):
            found.append(p)
    return found


def measure(pids, seconds):
    """CPU seconds of each pid over `seconds` (pids gone meanwhile count 0)."""
    before = {p: ticks(p) for p in pids}
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    after = {p: ticks(p) for p in pids}
    cpu = {p: (after[p] - before[p]) / CLK if before[p] is not None and after[p] is not None else 0.0
           for p in pids}
    return cpu, wall


def pct(cpu_s, wall):
    return 100.0 * cpu_s / wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mono", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--envs", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--json")
    a = ap.parse_args()
    monod = open(os.path.join(a.home, "monod.lock")).read().split()[0]
    if envs(a):
        sys.exit("idle.py: the daemon already has environments; the baseline needs none")
    time.sleep(2)
    print(f"idle: baseline, no environment, {a.seconds:.0f} s", file=sys.stderr)
    cpu, wall = measure([monod], a.seconds)
    base = pct(cpu[monod], wall)

    paths = []
    t0 = time.monotonic()
    for i in range(a.envs):
        ws = os.path.join(a.work, "idle", ".conductor", "workspaces", f"quiet{i}")
        os.makedirs(ws, exist_ok=True)
        mono(a, "init", ws)
        paths.append(ws)
    print(f"idle: {a.envs} environments created in {time.monotonic() - t0:.1f} s; waiting until all are idle",
          file=sys.stderr)
    deadline = time.monotonic() + 120
    while True:
        listed = envs(a)
        busy = [e["name"] for e in listed if e.get("activity", {}).get("state") != "idle"]
        if len(listed) == a.envs and not busy:
            break
        if time.monotonic() > deadline:
            sys.exit(f"idle.py: still active after 120 s: {busy}")
        time.sleep(1)
    time.sleep(1)
    caps = captures(os.path.join(a.home, "logs"))
    tmux = subprocess.run(["tmux", "display", "-p", "#{pid}"], check=True, capture_output=True,
                          text=True).stdout.strip()
    print(f"idle: {len(caps)} capture processes; measuring {a.seconds:.0f} s", file=sys.stderr)
    cpu, wall = measure([monod, tmux, *caps], a.seconds)
    busy_monod = pct(cpu[monod], wall)
    busy_caps = pct(sum(cpu[p] for p in caps), wall)
    busy_tmux = pct(cpu[tmux], wall)
    rss = next(int(l.split()[1]) for l in open(f"/proc/{monod}/status") if l.startswith("VmRSS"))

    for ws in paths:
        mono(a, "destroy", ws)
    time.sleep(2)
    print(f"idle: after destroying them, no environment, {a.seconds:.0f} s", file=sys.stderr)
    cpu, wall = measure([monod], a.seconds)
    after = pct(cpu[monod], wall)
    out = {"envs": a.envs, "seconds": a.seconds, "clk_tck": CLK, "captures": len(caps),
           "monod_pct_none": base, "monod_pct_envs": busy_monod, "monod_pct_none_after": after,
           "captures_pct": busy_caps, "tmux_pct": busy_tmux, "monod_rss_kb": rss}
    print(json.dumps(out), file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
