#!/usr/bin/env python3
"""Seeded data (`seed:` in mono.yml): a docker-mode `mono init` that restores
a database's volume from mono's snapshot, against one that migrates and seeds
it, and what capturing the snapshot adds to the init that makes it.

The workspace: compose.yaml with one service `db` on the real stack's image
(bench/stack-image: Postgres 15 from Debian, `initdb` into the empty volume at
its first start), `stop_signal: SIGINT`, health `pg_isready` every 1 s, one
published port (`ports: ["5432"]`, remapped into the environment's block),
and the named volume `pgdata` at /var/lib/postgresql/data. db/migrations/ has
MIGRATIONS files (the first creates `items`, then tables with a foreign key
to it and an index each, alternately); db/seed.sql inserts ROWS rows into
`items` (`generate_series`, `md5`, 40 bytes of padding: ~100 MiB of
pg_total_relation_size at the default), ANALYZEs it and ends with a
CHECKPOINT (without it, every restored copy would start with crash recovery
replaying the seed's WAL: about 2.5 s more per start here). db/seed.sh pipes
the migrations in order and then the seed into one `psql -v ON_ERROR_STOP=1`
in the container (`docker exec -i mono-$MONO_ENV_NAME-db-1`) and echoes
`seeded: miss (MONO_SEED=...)` once it succeeded. mono.yml's setup script
(run once the services are healthy) is
    if [ "$MONO_SEED" = hit ]; then echo "seeded: hit"; else sh db/seed.sh; fi
and the seeded variant adds
    seed: {key: [db/migrations, db/seed.sql], volumes: [pgdata]}

Rounds, each of three inits on fresh copies of the workspace under
WORK/dock/.conductor/workspaces/ (names seed-KIND-N, so environments
dock-seed-KIND-N), each timed from the start of `mono init` to its exit after
an untimed `sync` (the previous step's writes, e.g. a removed volume's, are not
flushed in this one's time), then checked and removed untimed (`mono destroy`,
whose time is recorded too, and the copy deleted):
    plain  mono.yml without `seed:`: initdb, the migrations and the seed at
           every init. The baseline.
    cold   with `seed:`, after an untimed `mono cache clean --all`: a miss;
           initdb, migrations and seed, then monod pauses db, captures the
           volume into $MONO_HOME/cache and unpauses it, all inside the init.
    warm   with `seed:`, the cold round's snapshot there: the volume is made
           from it before db starts, and the setup script skips the seed.
Cold is always right before warm; plain comes first in odd rounds and last in
even ones. One untimed plain round first (page cache, and the workspace's own
check). Checks, each fatal: cold and plain printed `seeded: miss`; cold left
one `kind: seed` entry in `mono cache stats --json` (waited for, if it comes
after init); warm printed `seeded: hit` and not `seeded: miss`; after every
init `SELECT count(*) FROM items` (docker exec, untimed) gives ROWS; nothing
of this MONO_HOME is left in the Engine at the end.

Recorded per init besides its time: from mono.log, when the setup script
started and ended (so before setup = containers, initdb, health; setup = the
seed; after setup = capture on a cold init, the tmux session); the times of
init's own `seed captured ... in X` and `seed hit/restored ... in X` lines if
it prints them; pg_total_relation_size('items'); `du -sk` of the data
directory and of its pg_wal (in the container); the entry's size and files.
Figures: medians; warm/cold and cold/plain as medians of the per-round ratios;
capture cost = median of (cold - plain) / plain.

    seed.py run --mono MONO --image TAG --work DIR [--rounds 5] [--rows N | --mib M] \
        [--migrations 300] [--warmup 1] --json out.json
    seed.py report out.json      # the BENCHMARKS.md section, on stdout
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monolog import clock_s, elapsed_s, log  # noqa: E402

# pg_total_relation_size('items') per row, measured here (Postgres 15,
# 900,000 rows: 118,587,392 bytes, the table and its primary key): 131.8 bytes.
ROWS_PER_MIB = 7950
ENTRY_TIMEOUT = 300
DATA = "/var/lib/postgresql/data"


def local_s(t):
    """A time.time() as seconds since local midnight, as mono.log writes it."""
    lt = time.localtime(t)
    return lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (t % 1)


def since(a, b):
    """b - a on a clock of the day (a round that crosses midnight)."""
    return (b - a) % 86400


def write_workspace(root, image, rows, migrations, seeded):
    os.makedirs(os.path.join(root, "db", "migrations"))
    with open(os.path.join(root, "compose.yaml"), "w") as f:
        f.write(f"""services:
  db:
    image: {image}
    # The official postgres image's STOPSIGNAL: a fast shutdown.
    stop_signal: SIGINT
    ports: ["5432"]
    volumes: ["pgdata:{DATA}"]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 1s
      retries: 120
volumes:
  pgdata:
""")
    seed = "seed:\n  key: [db/migrations, db/seed.sql]\n  volumes: [pgdata]\n" if seeded else ""
    with open(os.path.join(root, "mono.yml"), "w") as f:
        f.write(seed + "scripts:\n"
                "  setup: 'if [ \"$MONO_SEED\" = hit ]; then echo \"seeded: hit\"; else sh db/seed.sh; fi'\n")
    mig = os.path.join(root, "db", "migrations")
    with open(os.path.join(mig, "0001_items.sql"), "w") as f:
        f.write("CREATE TABLE items (id integer PRIMARY KEY, digest text NOT NULL, pad text NOT NULL);\n")
    for i in range(2, migrations + 1):
        if i % 2 == 0:
            name, sql = "table", (f"CREATE TABLE t{i:04d} (id bigserial PRIMARY KEY, name text NOT NULL, "
                                  f"created_at timestamptz NOT NULL DEFAULT now(), item integer REFERENCES items (id));\n")
        else:
            name, sql = "index", f"CREATE INDEX t{i - 1:04d}_name ON t{i - 1:04d} (name, created_at);\n"
        with open(os.path.join(mig, f"{i:04d}_{name}.sql"), "w") as f:
            f.write(sql)
    with open(os.path.join(root, "db", "seed.sql"), "w") as f:
        f.write(f"INSERT INTO items SELECT g, md5(g::text), repeat('x', 40) FROM generate_series(1, {rows}) g;\n"
                "ANALYZE items;\n"
                "-- So that a copy of the volume starts without replaying this seed's WAL.\n"
                "CHECKPOINT;\n")
    with open(os.path.join(root, "db", "seed.sh"), "w") as f:
        f.write("""#!/bin/sh
# The migrations in order, then the seed, in one psql session in the db container.
set -eu
cat db/migrations/*.sql db/seed.sql \\
  | docker exec -i "mono-$MONO_ENV_NAME-db-1" psql -v ON_ERROR_STOP=1 -U postgres -q
echo "seeded: miss (MONO_SEED=${MONO_SEED:-unset})"
""")


class Bench:
    def __init__(self, a):
        self.a = a
        self.root = os.path.join(a.work, "seed")
        self.home = os.path.join(self.root, "home")
        self.tmux = os.path.join(self.root, "tmux")
        self.ws_root = os.path.join(a.work, "dock", ".conductor", "workspaces")
        for d in (self.tmux, self.ws_root):
            os.makedirs(d, exist_ok=True)
        self.templates = {}
        for kind, seeded in (("plain", False), ("seeded", True)):
            t = os.path.join(self.root, f"template-{kind}")
            shutil.rmtree(t, ignore_errors=True)
            write_workspace(t, a.image, a.rows, a.migrations, seeded)
            self.templates[kind] = t
        self.env = dict(os.environ, MONO_HOME=self.home, TMUX_TMPDIR=self.tmux, SHELL="/bin/sh")
        for k in ("TMUX", "CONDUCTOR_WORKSPACE_PATH", "CONDUCTOR_ROOT_PATH", "CONDUCTOR_WORKSPACE_NAME"):
            self.env.pop(k, None)
        self.seq = 0
        self.live = {}  # workspace -> environment name, until destroyed

    def mono(self, *args, check=True):
        r = subprocess.run([self.a.mono, *args], env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True)
        if check and r.returncode != 0:
            raise SystemExit(f"seed.py: `mono {' '.join(args)}` failed ({r.returncode}):\n{r.stdout}{r.stderr}"
                             + self.log_tail())
        return r

    def log_tail(self, n=40):
        try:
            return "\n--- mono.log (end) ---\n" + "".join(open(os.path.join(self.home, "mono.log")).readlines()[-n:])
        except OSError:
            return ""

    def log_lines(self, env):
        try:
            lines = open(os.path.join(self.home, "mono.log"), errors="replace").readlines()
        except OSError:
            return []
        return [l for l in lines if f"] [{env}] " in l]

    def psql(self, container, sql):
        r = subprocess.run(["docker", "exec", container, "psql", "-U", "postgres", "-Atc", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"seed.py: `{sql}` in {container} failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def du_kb(self, container, path):
        r = subprocess.run(["docker", "exec", container, "du", "-sk", path], capture_output=True, text=True)
        return int(r.stdout.split()[0]) if r.returncode == 0 and r.stdout.strip() else None

    def seed_entries(self):
        return [e for e in json.loads(self.mono("cache", "stats", "--json").stdout)["entries"]
                if e.get("kind") == "seed" and e.get("saved")]

    def clean(self):
        self.mono("cache", "clean", "--all")
        left = self.seed_entries()
        if left:
            raise SystemExit(f"seed.py: `mono cache clean --all` left {len(left)} seed entries")

    def init(self, kind):
        """A fresh copy, `mono init` timed, then the checks shared by every kind."""
        self.seq += 1
        ws = os.path.join(self.ws_root, f"seed-{kind}-{self.seq}")
        shutil.copytree(self.templates["plain" if kind == "plain" else "seeded"], ws)
        os.sync()
        wall0 = time.time()
        t0 = time.monotonic()
        r = self.mono("init", ws, check=False)
        t = time.monotonic() - t0
        wall1 = wall0 + t
        out = r.stdout + r.stderr
        m = re.search(r"registered as (\S+)", out)
        env = m.group(1) if m else None
        if env:
            self.live[ws] = env
        if r.returncode != 0:
            raise SystemExit(f"seed.py: {kind} `mono init {ws}` failed ({r.returncode}):\n{out}" + self.log_tail())
        if not env:
            raise SystemExit(f"seed.py: no `registered as NAME` in the output of `mono init {ws}`:\n{out}")
        res = {"seconds": t, "env": env}
        # Where the time went, from mono.log.
        lines = self.log_lines(env)
        # This init's lines: from its own first line on (a name can come again, e.g. after a failed run).
        first = max((i for i, l in enumerate(lines) if "] mono init " in l), default=0)
        lines = lines[first:]
        start = next((clock_s(l) for l in lines if "] running setup script" in l), None)
        end = next((clock_s(l) for l in lines if "] setup script completed" in l), None)
        if start is not None and end is not None:
            res["before_setup_s"] = since(local_s(wall0), start)
            res["setup_s"] = since(start, end)
            res["after_setup_s"] = since(end, local_s(wall1))
            if max(res["before_setup_s"], res["after_setup_s"]) > t + 1:  # clocks disagree: no breakdown
                for k in ("before_setup_s", "setup_s", "after_setup_s"):
                    res.pop(k)
        # mono's own lines about the seed (not the setup script's `seeded:` echo).
        res["seed_lines"] = [l.strip() for l in out.splitlines()
                             if re.search(r"\[mono\] seed\b", l) and "seeded:" not in l]
        for l in res["seed_lines"]:
            m = re.search(r"seed captured\b.*\bin (\d+(?:\.\d+)?(?:ms|s))\b", l)
            if m:
                res["captured_s"] = elapsed_s(m.group(1))
            m = re.search(r"seed (?:hit|restored)\b.*\bin (\d+(?:\.\d+)?(?:ms|s))\b", l)
            if m:
                res["restore_s"] = elapsed_s(m.group(1))
        # The setup script's own echo (its output lines; init's progress also shows the script's text).
        said = [l.strip() for l in out.splitlines() if "running setup script" not in l]
        hit = any(l.endswith("seeded: hit") for l in said)
        miss = next((m for m in (re.search(r"seeded: miss \(MONO_SEED=([^)]*)\)$", l) for l in said) if m), None)
        res["setup_said"] = "hit" if hit and not miss else f"miss, MONO_SEED={miss.group(1)}" if miss and not hit \
            else "both" if hit else None
        want = "hit" if kind == "warm" else "miss"
        if not res["setup_said"] or not res["setup_said"].startswith(want):
            raise SystemExit(f"seed.py: the {kind} init's setup script should have said `seeded: {want}`; "
                             f"it said {res['setup_said'] or 'neither'}:\n{out}")
        container = f"mono-{env}-db-1"
        count = int(self.psql(container, "SELECT count(*) FROM items"))
        if count != self.a.rows:
            raise SystemExit(f"seed.py: after the {kind} init, items has {count} rows, not {self.a.rows}")
        res["rel_bytes"] = int(self.psql(container, "SELECT pg_total_relation_size('items')"))
        res["volume_kb"] = self.du_kb(container, DATA)
        res["wal_kb"] = self.du_kb(container, f"{DATA}/pg_wal")
        res["output"] = out
        return ws, res

    def destroy(self, ws, res):
        t0 = time.monotonic()
        self.mono("destroy", ws)
        res["destroy_s"] = time.monotonic() - t0
        self.live.pop(ws, None)
        shutil.rmtree(ws)

    def plain(self):
        ws, res = self.init("plain")
        self.destroy(ws, res)
        return res

    def cold(self):
        self.clean()
        bases_before = sum("seed base" in l and "ready" in l for l in self.log_lines("cache"))
        ws, res = self.init("cold")
        t0 = time.monotonic()
        while True:
            entries = self.seed_entries()
            if entries:
                break
            if time.monotonic() - t0 > ENTRY_TIMEOUT:
                raise SystemExit(f"seed.py: no seed entry in `mono cache stats --json` {ENTRY_TIMEOUT} s after the "
                                 f"cold init:\n{res['output']}" + self.log_tail())
            time.sleep(0.2)
        if len(entries) != 1:
            raise SystemExit(f"seed.py: {len(entries)} seed entries after one cold init: {entries}")
        e = entries[0]
        res["entry"] = {"size": e["size"], "files": e["files"], "label": e["label"], "key": e["key"],
                        "wait_s": time.monotonic() - t0}
        # monod fills the engine's base of the snapshot in the background
        # after the capture; the next workspace's restore is copy-on-write
        # over it. Waited for, untimed: a next workspace comes later.
        while sum("seed base" in l and "ready" in l for l in self.log_lines("cache")) <= bases_before:
            if time.monotonic() - t0 > ENTRY_TIMEOUT:
                raise SystemExit("seed.py: no `seed base ... ready` in mono.log after the cold init" + self.log_tail())
            time.sleep(0.2)
        res["base_s"] = time.monotonic() - t0
        self.destroy(ws, res)
        return res

    def warm(self):
        ws, res = self.init("warm")
        hits = [e["hits"] for e in self.seed_entries()]
        res["entry_hits"] = hits[0] if hits else None
        self.destroy(ws, res)
        return res

    def leftovers(self):
        """Containers and volumes the Engine still has of this home."""
        label = f"label=dev.mono.home={self.home}"
        c = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True).stdout.split()
        v = subprocess.run(["docker", "volume", "ls", "-q", "--filter", label], capture_output=True,
                           text=True).stdout.split()
        return c, v

    def start(self):
        self.mono("daemon", "start")

    def stop(self):
        for ws in list(self.live):
            self.mono("destroy", ws, check=False)
            shutil.rmtree(ws, ignore_errors=True)
        self.mono("cache", "clean", "--all", check=False)
        self.mono("daemon", "stop", check=False)
        subprocess.run(["tmux", "kill-server"], env=self.env, capture_output=True)
        c, v = self.leftovers()
        if c:
            subprocess.run(["docker", "rm", "-f", "-v", *c], capture_output=True)
        if v:
            subprocess.run(["docker", "volume", "rm", "-f", *v], capture_output=True)
        return c, v


def brief(res):
    s = f"{res['seconds']:.2f} s"
    if "setup_s" in res:
        s += f" (before setup {res['before_setup_s']:.2f}, setup {res['setup_s']:.2f}, after {res['after_setup_s']:.2f})"
    return s


def run(a):
    image_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", a.image], capture_output=True,
                              text=True).stdout.strip()
    if not image_id:
        raise SystemExit(f"seed.py: no image {a.image} (bench/stack-image builds it)")
    engine = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True,
                            text=True).stdout.strip()
    b = Bench(a)
    result = {"image": a.image, "engine": engine, "rows": a.rows, "migrations": a.migrations, "rounds": [],
              "warmup": a.warmup}
    failed = True
    try:
        b.start()
        for i in range(a.warmup):
            log(f"  warm-up {i + 1}/{a.warmup}: plain {brief(b.plain())}")
        for r in range(a.rounds):
            load = os.getloadavg()[0]
            order = ["plain", "cold", "warm"] if r % 2 == 0 else ["cold", "warm", "plain"]
            got = {}
            for kind in order:
                got[kind] = getattr(b, kind)()
            for kind in order:
                got[kind].pop("output")
            c, p, w = got["cold"], got["plain"], got["warm"]
            cap = f", `seed captured` {c['captured_s']:.2f} s" if "captured_s" in c else ""
            log(f"  round {r + 1}/{a.rounds} ({' '.join(order)}): plain {brief(p)}; cold {brief(c)}{cap}; "
                f"warm {brief(w)}; warm/cold {w['seconds'] / c['seconds']:.3f}x, "
                f"capture cost {(c['seconds'] - p['seconds']) / p['seconds']:+.1%}; "
                f"snapshot {c['entry']['size'] / 2**20:.0f} MiB")
            result["rounds"].append({"order": order, "load": load, **got})
        failed = False
    finally:
        c, v = b.stop()
        if c or v:
            log(f"  removed what the Engine still had of this home: containers {c}, volumes {v}")
        if (c or v) and not failed:
            raise SystemExit(f"seed.py: the Engine still had {len(c)} containers and {len(v)} volumes of this home "
                             "after every environment was destroyed (now removed)")
        shutil.rmtree(b.root, ignore_errors=True)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)


def report(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from report import machine
    d = json.load(open(path))
    rs = d["rounds"]
    med = statistics.median
    yes = lambda ok: "yes" if ok else "NO"
    mib = lambda b: f"{b / 2**20:,.0f} MiB"
    sec = lambda s: f"{s:.2f} s"
    col = lambda kind, key: [r[kind][key] for r in rs if r[kind].get(key) is not None]
    plain, cold, warm = (med(col(k, "seconds")) for k in ("plain", "cold", "warm"))
    warm_cold = med(r["warm"]["seconds"] / r["cold"]["seconds"] for r in rs)
    cost = med((r["cold"]["seconds"] - r["plain"]["seconds"]) / r["plain"]["seconds"] for r in rs)
    warm_plain = med(r["warm"]["seconds"] / r["plain"]["seconds"] for r in rs)
    captured = col("cold", "captured_s")
    restored = col("warm", "restore_s")
    entry = [r["cold"]["entry"] for r in rs]
    rel = med(col("plain", "rel_bytes") + col("cold", "rel_bytes"))
    vol = med(col("cold", "volume_kb")) * 1024
    wal = med(col("cold", "wal_kb")) * 1024
    size = med(e["size"] for e in entry)
    files = med(e["files"] for e in entry)
    n = len(rs)

    def phases(kind):
        if not col(kind, "setup_s"):
            return f"{kind}: no breakdown (mono.log's setup lines not found)"
        return (f"{kind} {med(col(kind, 'before_setup_s')):.2f} / {med(col(kind, 'setup_s')):.2f} / "
                f"{med(col(kind, 'after_setup_s')):.2f} s")

    cap_row = ""
    if captured:
        cap_row = (f"| the capture itself (init's `seed captured ... in`) | plain init: {sec(plain)} | "
                   f"{sec(med(captured))} | {med(captured) / plain:.1%} of plain | | |\n")
    restore = f", of which restore {sec(med(restored))} (init's own line)" if restored else ""
    waits = [e["wait_s"] for e in entry]
    background = (f"The entry was listed by `mono cache stats` only after init returned in {sum(w > 0.5 for w in waits)} "
                  f"of {n} cold rounds (up to {max(waits):.1f} s later): that part of the capture is not in the "
                  f"cold time." if max(waits) > 0.5 else
                  "The entry was in `mono cache stats --json` as soon as init returned: the capture is inside the cold time.")
    per_round = "; ".join(f"{r['plain']['seconds']:.1f} / {r['cold']['seconds']:.1f} / {r['warm']['seconds']:.2f}"
                          for r in rs)
    destroys = ", ".join(f"{k} {med(col(k, 'destroy_s')):.2f} s" for k in ("plain", "cold", "warm"))
    mono_seed = "; ".join(f"{k}: " + ", ".join(sorted({r[k]["setup_said"].split(", ", 1)[-1] for r in rs}))
                          for k in ("plain", "cold"))
    lines = sorted({re.sub(r"[0-9a-f]{8,}\S*", "KEY", l) for r in rs for k in ("cold", "warm")
                    for l in r[k]["seed_lines"]})[:6]
    print(f"""## Seeded data

{machine()} Docker Engine {d['engine']}, image `{d['image']}` (Postgres 15, bench/stack-image).
The workspace's one service is Postgres on a named volume; its setup script applies {d['migrations']} migrations and
a seed of {d['rows']:,} rows ({mib(rel)} of `pg_total_relation_size('items')`; the data directory, WAL
included, {mib(vol)}). {n} rounds of three fresh workspaces each (plain, then cold then warm, plain moved last
every other round); times are medians of `mono init`, start to exit, and each ratio the median of the
per-round ratios.

| benchmark | baseline (same run) | mono | ratio | goal | met |
|---|---|---|---|---|---|
| warm `mono init`: volume made copy-on-write over the engine's base of the snapshot, seed skipped | cold init (seeded, then captured): {sec(cold)} | {sec(warm)}{restore} | {warm_cold:.3f}x | at most 0.1x | {yes(warm_cold <= 0.1)} |
| cold `mono init` with `seed:`: seeded, then captured | the same workspace without `seed:`, seeded at every init: {sec(plain)} | {sec(cold)} | {cost:+.1%} | capture cost under 20% | {yes(cost < 0.2)} |
{cap_row}| warm `mono init` against no `seed:` at all | plain init: {sec(plain)} | {sec(warm)} | {warm_plain:.3f}x | | |
| snapshot size (`mono cache stats --json`, kind `seed`) | the data directory (`du -sk`): {mib(vol)}, of which WAL {mib(wal)} | {mib(size)}, {files:,.0f} files | {size / vol:.2f}x | | |
| warm rounds that restored, with every row | | {n} of {n}: `seeded: hit`, `count(*)` = {d['rows']:,} | | all | yes |

Notes:
- Plain and cold run the same setup script (the seed); cold also has `seed:` {{key: [db/migrations, db/seed.sql],
  volumes: [pgdata]}}, so after the setup script monod pauses db, captures the volume into `$MONO_HOME/cache`
  and unpauses it before init returns; the capture cost is the median of (cold - plain) / plain per round.
  {background}
- Cold starts from `mono cache clean --all` (which also removes the engine's bases of the snapshots it drops); warm
  uses the snapshot the cold init just made. After the capture monod unpacks the snapshot once into a base volume
  of the engine, in the background (untimed here, as a next workspace comes later: median {med(col('cold', 'base_s')):.1f} s
  from the cold init's return until `seed base ... ready` in mono.log); each warm volume is then an overlay over it
  (the local driver's `type=overlay`), so a restore is a few Engine calls and no copy.
- Where warm goes: the restore (the overlay's Engine calls) is the `seed hit` line's time; the rest is the container's
  start, Postgres' start and its health check. On an overlay a file is copied up whole the first time it is opened
  for writing, and Postgres writes its table files at the end of its crash recovery, so its first start costs about a
  second more than on a plain volume here. Before copy-on-write restores (2026-12-03, the archive unpacked into each
  new volume) the restore alone took 2.7 s of a 3.4 s warm init.
- Each init is a fresh copy of the workspace (`dock-seed-KIND-N`), after an untimed `sync`; each is removed with
  `mono destroy` (untimed; medians {destroys}). Checked, or the benchmark fails: plain and cold said
  `seeded: miss` ({mono_seed}), each cold left one seed entry, each warm said `seeded: hit` and
  not `miss`, and every init's database had all {d['rows']:,} rows (`SELECT count(*) FROM items` through
  `docker exec`, untimed).
- Where init's time goes, from mono.log, medians before the setup script (plan, volume, made from the snapshot
  on warm, container start, initdb on plain and cold, health) / the setup script (migrations and seed, or the
  `hit` echo) / after it (capture on cold, tmux session): {phases('plain')}; {phases('cold')}; {phases('warm')}.
- The seed ends with `CHECKPOINT`: the snapshot is taken of a paused, running Postgres (crash-consistent), and
  without a checkpoint every restored copy would start by replaying the seed's WAL (about 2.5 s here).
- Per round, plain / cold / warm in seconds: {per_round}.
- mono's seed lines (keys elided): {'; '.join(f'`{l}`' for l in lines) if lines else 'none found in the output'}.
- Reproduce with `ONLY=seed bench/run` (`SEED_ROUNDS`, `SEED_ROWS` or `SEED_MB`).""")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        return report(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["run"])
    ap.add_argument("--mono", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rows", type=int, help="rows of the seed (default: from --mib)")
    ap.add_argument("--mib", type=float, default=100, help="pg_total_relation_size of the seeded table, about")
    ap.add_argument("--migrations", type=int, default=300)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    a.work = os.path.abspath(a.work)
    a.rows = a.rows or round(a.mib * ROWS_PER_MIB)
    run(a)


if __name__ == "__main__":
    main()
