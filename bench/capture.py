#!/usr/bin/env python3
"""Output capture throughput: one printer, captured and not, interleaved.

The printer is `cat SRC` (SRC: base64 lines, precomputed), run as the
command of a new tmux window, so tmux's reading and rendering of the pane is
what it waits on. Sides, in rotating order each round:

  plain    a window of a plain tmux session (no pipe-pane): the floor
  capture  a window of the mono environment's session; the session's hook
           pipes it into `monod capture` (capture alone, no client)
  run      `mono run WS` in the foreground, stdout to /dev/null: the run
           window is captured and the client streams the output over the
           socket (what a Conductor user sees)

plain and capture are timed from `tmux new-window` to the printer's end
(`tmux wait-for` on a channel the window signals after `cat`); run from the
start of `mono run` to its exit (it exits after the run's last byte is in
the log and streamed). After each captured round the log is checked: it
must hold SRC with the pty's \\n -> \\r\\n, no more and no less (counted in
bytes; the content compared by SHA-256 with \\r removed).

    capture.py --mono MONO --ws WS --home MONO_HOME --src SRC --rounds 7 --json out.json
"""
import argparse, hashlib, json, os, resource, statistics, subprocess, sys, time


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, **kw)


def cpu_ticks(pid):
    try:
        rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(rest[11]) + int(rest[12])


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
        sh("tmux", "new-window", "-d", "-t", f"={session}:", f"cat {self.a.src}; tmux wait-for -S {ch}")
        sh("tmux", "wait-for", ch)
        return time.perf_counter() - t0

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
        captured = side != "plain"
        if captured:
            os.truncate(self.log, 0)
        monod0, kids0 = cpu_ticks(self.monod), children_cpu()
        t = self.window("bench-plain") if side == "plain" else (
            self.window(self.session) if side == "capture" else self.run())
        monod_cpu = (cpu_ticks(self.monod) - monod0) / self.clk
        row = {"seconds": t, "mbps": self.src_bytes / t / 1e6, "monod_cpu_s": monod_cpu}
        if side == "run":
            row["client_cpu_s"] = children_cpu() - kids0
        if captured:
            end = time.perf_counter()
            size, lag = self.settle(self.want_bytes, end)
            # Give a late chunk (or a duplicate) a moment to show up.
            time.sleep(0.2)
            size = os.path.getsize(self.log)
            lost, same = self.verify(size)
            row.update({"log_bytes": size, "lost": lost, "content_ok": same,
                        "to_disk_s": None if lag is None else t + lag})
        return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mono", required=True)
    ap.add_argument("--ws", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    b = Bench(a)
    sides = ["plain", "capture", "run"]
    rows = {s: [] for s in sides}
    size = sh("tmux", "display", "-p", "-t", f"={b.session}:", "#{window_width}x#{window_height}",
              stdout=subprocess.PIPE, text=True).stdout.strip()
    plain_size = sh("tmux", "display", "-p", "-t", "=bench-plain:", "#{window_width}x#{window_height}",
                    stdout=subprocess.PIPE, text=True).stdout.strip()
    for r in range(a.warmup + a.rounds):
        order = sides[r % 3:] + sides[:r % 3]
        for side in order:
            row = b.round(side)
            print(f"round {r}{' (warm-up)' if r < a.warmup else ''} {side:>7}: {row['seconds']:.2f} s "
                  f"{row['mbps']:.1f} MB/s" + (f", lost {row['lost']} bytes, content ok: {row['content_ok']}"
                                                if "lost" in row else ""), file=sys.stderr)
            if r >= a.warmup:
                rows[side].append(row)
    med = lambda side, k: statistics.median(x[k] for x in rows[side])
    ratio = lambda side: statistics.median(p["seconds"] / x["seconds"] for p, x in zip(rows["plain"], rows[side]))
    out = {"src_bytes": b.src_bytes, "log_bytes_expected": b.want_bytes, "rounds": a.rounds,
           "window_size": size, "plain_window_size": plain_size, "rows": rows}
    for side in sides:
        out[side] = {"mbps": med(side, "mbps"), "seconds": med(side, "seconds"),
                     "monod_cpu_s": med(side, "monod_cpu_s")}
        if side != "plain":
            out[side].update({
                "ratio": ratio(side),
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
        print(f"{side:>8}: {o['mbps']:.1f} MB/s" + (f", ratio {o['ratio']:.2f}x, lost {o['lost_total']} bytes "
                                                    f"in {o['lossy_rounds']} of {a.rounds} rounds"
                                                    if side != "plain" else ""), file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
