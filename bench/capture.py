#!/usr/bin/env python3
"""Output capture throughput: one printer, captured and not, interleaved.

The printer is `cat SRC` (SRC: base64 lines, precomputed), run as the
command of a new tmux window, so tmux's reading and rendering of the pane is
what it waits on. Sides, in rotating order each round:

  plain    a window of a plain tmux session (no pipe-pane): the floor
  capture  a window of the mono environment's session; the session's hook
           pipes it into `monod capture` (capture alone, no client)
  pipe     (with --pipe-floor) a window of a plain session whose hook pipes
           it into `cat >/dev/null`: what any pipe-pane costs tmux
  frozen   (with --frozen-monod) the captured window with monod stopped
           (SIGSTOP) meanwhile: capture without the daemon's log watcher
  run      `mono run WS` in the foreground, stdout to /dev/null: the run
           window is captured and the client streams the output over the
           socket (what a Conductor user sees)

plain, pipe and capture are timed from `tmux new-window` to the printer's end
(`tmux wait-for` on a channel the window signals after `cat`); run from the
start of `mono run` to its exit (it exits after the run's last byte is in
the log and streamed). Before each side, `sync` (untimed) writes back what
the previous one logged, so that I/O does not land in another side's time. After each captured round the log is checked: it
must hold SRC with the pty's \\n -> \\r\\n, no more and no less (counted in
bytes; the content compared by SHA-256 with \\r removed).

    capture.py --mono MONO --ws WS --home MONO_HOME --src SRC --rounds 7 --json out.json
"""
import argparse, hashlib, json, os, resource, signal, statistics, subprocess, sys, time


# A round counts as quiet when the host stole less than this (CPUs) from each side.
QUIET_STEAL = 0.1


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, **kw)


def cpu_ticks(pid, children=False):
    """utime + stime of a process (of its reaped children with `children`)."""
    try:
        rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(rest[13]) + int(rest[14]) if children else int(rest[11]) + int(rest[12])


def machine_busy():
    """(busy, steal, total) jiffies of all CPUs, from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle - f[7], f[7], sum(f)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Bench:
    def __init__(self, a):
        self.a = a
        self.clk = os.sysconf("SC_CLK_TCK")
        status = json.loads(sh(a.mono, "status", a.ws, "--json", stdout=subprocess.PIPE).stdout)
        self.session = status["session"]
        self.log = os.path.join(a.home, "logs", status["name"], "output.log")
        self.monod = open(os.path.join(a.home, "monod.lock")).read().split()[0]
        self.tmux = sh("tmux", "display", "-p", "#{pid}", stdout=subprocess.PIPE, text=True).stdout.strip()
        size = os.path.getsize(a.src)
        lines = 0
        digest = hashlib.sha256()
        with open(a.src, "rb") as f:
            while chunk := f.read(1 << 20):
                lines += chunk.count(b"\n")
                digest.update(chunk)
        self.src_bytes, self.want_bytes, self.want_sha = size, size + lines, digest.hexdigest()
        self.n = 0

    def window(self, session):
        """Runs the printer in a new window of `session`; seconds to its end."""
        self.n += 1
        ch = f"bench-done-{os.getpid()}-{self.n}"
        t0 = time.perf_counter()
        wid = sh("tmux", "new-window", "-d", "-P", "-F", "#{window_id}", "-t", f"={session}:",
                 f"cat {self.a.src}; tmux wait-for -S {ch}", stdout=subprocess.PIPE, text=True).stdout.strip()
        sh("tmux", "wait-for", ch)
        t = time.perf_counter() - t0
        # Untimed: until the window has closed (its shell reaped by tmux).
        while wid in sh("tmux", "list-windows", "-a", "-F", "#{window_id}", stdout=subprocess.PIPE,
                        text=True).stdout.split():
            time.sleep(0.01)
        return t

    def run(self):
        """`mono run` in the foreground, output discarded; seconds to exit."""
        t0 = time.perf_counter()
        sh(self.a.mono, "run", self.a.ws, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0

    def settle(self, want, t_end, limit=30.0):
        """Waits until the log holds `want` bytes, or stops growing for 3 s;
        returns (size, seconds from t_end until it was complete)."""
        deadline = time.perf_counter() + limit
        last, since = -1, time.perf_counter()
        while True:
            size = os.path.getsize(self.log)
            now = time.perf_counter()
            if size >= want:
                return size, now - t_end
            if size != last:
                last, since = size, now
            elif now - since > 3 or now > deadline:
                return size, None
            time.sleep(0.005)

    def verify(self, size):
        """Bytes lost (negative: extra) and whether the content matches."""
        digest = hashlib.sha256()
        with open(self.log, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk.replace(b"\r", b""))
        return self.want_bytes - size, digest.hexdigest() == self.want_sha

    def round(self, side):
        captured = side in ("capture", "frozen", "run")
        if captured:
            os.truncate(self.log, 0)
        if side == "frozen":
            os.kill(int(self.monod), signal.SIGSTOP)
        monod0, kids0, m0 = cpu_ticks(self.monod), children_cpu(), machine_busy()
        tmux0, tmux_kids0 = cpu_ticks(self.tmux), cpu_ticks(self.tmux, children=True)
        if side == "run":
            t = self.run()
        else:
            t = self.window({"plain": "bench-plain", "pipe": "bench-pipe", "capture": self.session,
                             "frozen": self.session}[side])
        m1 = machine_busy()
        monod_cpu = (cpu_ticks(self.monod) - monod0) / self.clk
        tmux_cpu = (cpu_ticks(self.tmux) - tmux0) / self.clk
        row = {"seconds": t, "mbps": self.src_bytes / t / 1e6, "monod_cpu_s": monod_cpu,
               # CPUs busy (of os.cpu_count()) and stolen by the host during the round.
               "machine_busy": (m1[0] - m0[0]) / (m1[2] - m0[2]) * os.cpu_count(),
               "steal": (m1[1] - m0[1]) / (m1[2] - m0[2]) * os.cpu_count(),
               # The tmux server's own CPU while the printer ran.
               "tmux_cpu_s": tmux_cpu}
        if side == "run":
            row["client_cpu_s"] = children_cpu() - kids0
        if side == "frozen":
            os.kill(int(self.monod), signal.SIGCONT)
        if captured:
            end = time.perf_counter()
            size, lag = self.settle(self.want_bytes, end)
            # Give a late chunk (or a duplicate) a moment to show up.
            time.sleep(0.2)
            size = os.path.getsize(self.log)
            lost, same = self.verify(size)
            row.update({"log_bytes": size, "lost": lost, "content_ok": same,
                        "to_disk_s": None if lag is None else t + lag})
        time.sleep(0.2)
        # The window's processes, reaped by tmux once it closed: the shell,
        # `cat` and, when captured, `monod capture`.
        row["window_cpu_s"] = (cpu_ticks(self.tmux, children=True) - tmux_kids0) / self.clk
        return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mono", required=True)
    ap.add_argument("--ws", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--pipe-floor", action="store_true",
                    help="also a plain session whose windows are piped into `cat >/dev/null`")
    ap.add_argument("--frozen-monod", action="store_true",
                    help="also the captured window with monod stopped (SIGSTOP) while it prints")
    ap.add_argument("--json")
    a = ap.parse_args()
    b = Bench(a)
    sides = ["plain", "capture", "run"]
    if a.pipe_floor:
        sh("tmux", "new-session", "-d", "-s", "bench-pipe")
        sh("tmux", "set-hook", "-t", "bench-pipe", "after-new-window", "pipe-pane -O 'cat >/dev/null'")
        sides.insert(1, "pipe")
    if a.frozen_monod:
        sides.insert(sides.index("capture") + 1, "frozen")
    rows = {s: [] for s in sides}
    size = sh("tmux", "display", "-p", "-t", f"={b.session}:", "#{window_width}x#{window_height}",
              stdout=subprocess.PIPE, text=True).stdout.strip()
    plain_size = sh("tmux", "display", "-p", "-t", "=bench-plain:", "#{window_width}x#{window_height}",
                    stdout=subprocess.PIPE, text=True).stdout.strip()
    for r in range(a.warmup + a.rounds):
        # Rotated, and reversed every other round, so each side follows each
        # other side about as often.
        k = (r // 2) % len(sides)
        order = sides[k:] + sides[:k]
        if r % 2:
            order.reverse()
        for side in order:
            # The log written by a captured side is flushed now, not during
            # the next side's round (the kernel would write it back ~30 s
            # later, and on this VM that I/O slows whatever runs then).
            sh("sync")
            time.sleep(0.5)
            row = b.round(side)
            print(f"round {r}{' (warm-up)' if r < a.warmup else ''} {side:>7}: {row['seconds']:.2f} s "
                  f"{row['mbps']:.1f} MB/s, CPU: tmux {row['tmux_cpu_s']:.2f} s, window {row['window_cpu_s']:.2f} s, "
                  f"monod {row['monod_cpu_s']:.2f} s, stolen {row['steal']:.2f} CPUs" + (f", lost {row['lost']} bytes, content ok: {row['content_ok']}"
                                                if "lost" in row else ""), file=sys.stderr)
            if r >= a.warmup:
                rows[side].append(row)
    med = lambda side, k: statistics.median(x[k] for x in rows[side])
    ratio = lambda side: statistics.median(p["seconds"] / x["seconds"] for p, x in zip(rows["plain"], rows[side]))
    # Rounds in which the host stole under 0.1 CPU from every side.
    quiet = [i for i in range(a.rounds) if all(rows[s][i]["steal"] < QUIET_STEAL for s in sides)]
    ratio_quiet = lambda side: statistics.median(rows["plain"][i]["seconds"] / rows[side][i]["seconds"]
                                                 for i in quiet) if quiet else None
    out = {"src_bytes": b.src_bytes, "quiet_rounds": len(quiet), "quiet_steal": QUIET_STEAL, "log_bytes_expected": b.want_bytes, "rounds": a.rounds,
           "window_size": size, "plain_window_size": plain_size, "rows": rows}
    for side in sides:
        out[side] = {"mbps": med(side, "mbps"), "seconds": med(side, "seconds"),
                     "monod_cpu_s": med(side, "monod_cpu_s"), "ratio": ratio(side),
                     "ratio_quiet": ratio_quiet(side), "tmux_cpu_s": med(side, "tmux_cpu_s"), "window_cpu_s": med(side, "window_cpu_s"),
                     "steal": med(side, "steal")}
        if side in ("capture", "frozen", "run"):
            out[side].update({
                "lost_total": sum(x["lost"] for x in rows[side]),
                "lost_max": max(x["lost"] for x in rows[side]),
                "lossy_rounds": sum(1 for x in rows[side] if x["lost"] != 0 or not x["content_ok"]),
                "to_disk_s": statistics.median(x["to_disk_s"] if x["to_disk_s"] is not None else float("inf")
                                               for x in rows[side]),
            })
        if side == "run":
            out[side]["client_cpu_s"] = med(side, "client_cpu_s")
    for side in sides:
        o = out[side]
        lost = f", lost {o['lost_total']} bytes in {o['lossy_rounds']} of {a.rounds} rounds" \
            if side in ("capture", "frozen", "run") else ""
        q = f" ({o['ratio_quiet']:.2f}x in the {len(quiet)} quiet rounds)" if quiet else ""
        print(f"{side:>8}: {o['mbps']:.1f} MB/s, ratio {o['ratio']:.2f}x{q}{lost}", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
