#!/usr/bin/env python3
"""Dependency cache: cold `mono init` (npm ci from the registry) against warm
(node_modules restored from mono's cache), and the disk ten restored
workspaces take.

The workspace is a copy of examples/webapp: a typical web app's
package-lock.json, `scripts.init: npm ci`, and `cache: [{key:
[package-lock.json], paths: [node_modules]}]`.

Per file system ("site": the work directory's own, and loop-mounted ext4, XFS
and btrfs file systems with --loop, root only), with its own MONO_HOME (the cache lives
there, so entry and workspaces share the file system, as clones need) and
tmux server:

1. Rounds, cold then warm each:
   cold  `mono cache clean --all`; a fresh copy of the workspace; `mono init`
         with npm's cache (`npm_config_cache`) in a new empty directory, so
         npm downloads every package from the registry; then wait until
         `mono cache stats --json` shows the entry saved (the save runs in
         the background after init returns); `mono destroy`.
   warm  another fresh copy; `mono init`: the entry is restored and the init
         script skipped; `mono destroy`. Then both workspaces are deleted.
   Both are timed from the start of `mono init` to its exit, after an
   untimed `sync` (the previous step's writes are not flushed in this
   one's time). Warm restores read an entry written moments before, so its
   files are in the page cache, as for a cache in daily use.
2. Disk: from an empty cache, one cold init (npm ci; its node_modules is what
   one workspace takes without mono: `du -sk`), saved, destroyed and removed;
   then WORKSPACES fresh copies initialised from that one entry. Disk used is
   measured with `du -sk` of each workspace separately (du counts an extent
   shared by clones once per file that has it) and as the file system's used
   blocks before and after (statvfs, after `sync`), which count a shared
   extent once. On the work directory's file system the latter also sees
   whatever else the machine writes meanwhile.

    cache.py run --mono MONO --example DIR --work DIR --rounds 5 [--loop ext4,xfs,btrfs] \
        [--loop-rounds 3] [--workspaces 10] [--site-dir DIR] --json out.json
    (--loop: root only; --site-dir: measure there instead of WORK/site)
    cache.py report out.json      # the BENCHMARKS.md section, on stdout
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monolog import log  # noqa: E402

SAVE_TIMEOUT = 600


def fstype(path):
    """`xfs`, `btrfs`, `ext4`, or `ext4 without a journal` (the journal is what a jbd2 entry shows)."""
    r = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target", path], capture_output=True, text=True)
    fs, _, source = r.stdout.strip().partition(" ")
    if fs == "ext4" and os.path.isdir("/proc/fs/jbd2") \
            and not os.path.exists(f"/proc/fs/jbd2/{os.path.basename(source.strip())}-8"):
        return "ext4 without a journal"
    return fs or "unknown"


def used_kb(path):
    s = os.statvfs(path)
    return (s.f_blocks - s.f_bfree) * s.f_frsize // 1024


def du_kb(path):
    return int(subprocess.run(["du", "-sk", path], check=True, capture_output=True, text=True).stdout.split()[0])


def count_files(path):
    """Regular files under path (symlinks not counted, nor followed)."""
    n = 0
    for e in os.scandir(path):
        if e.is_dir(follow_symlinks=False):
            n += count_files(e.path)
        elif e.is_file(follow_symlinks=False):
            n += 1
    return n


def mount_loop(a, kind):
    """A sparse image in the work directory, formatted and loop-mounted."""
    img = os.path.join(a.work, f"{kind}.img")
    mnt = os.path.join(a.work, f"mnt-{kind}")
    os.makedirs(mnt, exist_ok=True)
    with open(img, "wb") as f:
        f.truncate(a.loop_size << 30)
    mkfs = {"xfs": ["mkfs.xfs", "-q", "-m", "reflink=1"], "btrfs": ["mkfs.btrfs", "-q"],
            "ext4": ["mkfs.ext4", "-q", "-F"]}[kind]
    subprocess.run(mkfs + [img], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", img, mnt], check=True, capture_output=True)
    return img, mnt


def unmount(img, mnt):
    subprocess.run(["umount", mnt], capture_output=True)
    try:
        os.remove(img)
    except OSError:
        pass


def run(a):
    lock = json.load(open(os.path.join(a.example, "package-lock.json")))
    npm = subprocess.run(["npm", "--version"], capture_output=True, text=True).stdout.strip()
    registry = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True).stdout.strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    result = {"lock_packages": sum(1 for k in lock.get("packages", {}) if k), "npm": npm, "node": node,
              "registry": registry, "rounds": a.rounds, "sites": [], "loop_skipped": []}
    plan = [("here", a.site_dir or os.path.join(a.work, "site"), None, a.rounds)]
    for kind in filter(None, a.loop.split(",")):
        plan.append((kind, None, kind, a.loop_rounds))
    for name, root, loop, rounds in plan:
        mounted = None
        if loop:
            try:
                mounted = mount_loop(a, loop)
            except (subprocess.CalledProcessError, OSError) as e:
                why = e.stderr.decode(errors="replace").strip() if getattr(e, "stderr", None) else str(e)
                log(f"== cache: no loop-mounted {loop}: {why}")
                result["loop_skipped"].append({"fs": loop, "why": why})
                continue
            root = mounted[1]
        os.makedirs(root, exist_ok=True)
        site = Site(a, name, root, loop)
        try:
            fs = fstype(root)
            log(f"== cache on {fs} ({'loop-mounted' if loop else root}): {rounds} rounds, then {a.workspaces} workspaces")
            site.start()
            rs = site.rounds(rounds)
            disk, cold = site.disk(a.workspaces)
            result["sites"].append({"name": name, "fs": fs, "loop": bool(loop), "root": root, "rounds": rs,
                                    "disk": disk, "packages": cold["packages"]})
        finally:
            site.stop()
            shutil.rmtree(site.tmux, ignore_errors=True)
            shutil.rmtree(site.npm, ignore_errors=True)
            if mounted:
                unmount(*mounted)
            elif not a.site_dir:
                shutil.rmtree(root, ignore_errors=True)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)


def report(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from report import machine
    d = json.load(open(path))
    med = statistics.median
    yes = lambda ok: "yes" if ok else "NO"
    mb = lambda kb: f"{kb / 1024:,.0f} MB"
    rows, disk_rows, notes = [], [], []
    for s in d["sites"]:
        rs = s["rounds"]
        cold = med(r["cold"]["seconds"] for r in rs)
        warm = med(r["warm"]["seconds"] for r in rs)
        ratio = med(r["warm"]["seconds"] / r["cold"]["seconds"] for r in rs)
        where = f"{s['fs']}" + (", loop-mounted" if s["loop"] else ", the work directory's")
        how = "/".join(sorted({r["warm"]["how"] for r in rs}))
        restore = med(r["warm"]["restore_s"] for r in rs)
        rows.append(f"| warm `mono init` against cold, {where} ({len(rs)} rounds) | cold (`npm ci` from the registry): "
                    f"{cold:.2f} s | warm ({how}): {warm * 1000:.0f} ms, of which restore {restore * 1000:.0f} ms | "
                    f"{ratio:.3f}x | at most 0.1x | {yes(ratio <= 0.1)} |")
        k = s["disk"]
        one, n = k["one_du_kb"], k["workspaces"]
        if k["how"] == ["copied"]:
            # Nothing shared: du is exact, and unlike used blocks blind to the rest of the machine.
            total = k["entry_du_kb"] + k["ten_du_kb"]
            mono = (f"copied: cache entry + {n} workspaces {mb(total)} (`du`; used blocks "
                    f"+{mb(k['total_used_kb'])})")
            goal = "copies: about n+1 | |"
        else:
            total = k["total_used_kb"]
            mono = (f"{'/'.join(k['how'])}: cache entry + {n} workspaces {mb(total)} used blocks, of which the "
                    f"{n} workspaces {mb(k['ten_used_kb'])}; `du` of the {n}: {mb(k['ten_du_kb'])}")
            goal = f"little more than one: under 2x | {yes(total < 2 * one)} |"
        extra = (k["ten_du_kb"] if k["how"] == ["copied"] else k["ten_used_kb"]) / n
        disk_rows.append(f"| disk: {n} workspaces restored from one entry, {where} | one workspace's node_modules "
                         f"(`du`): {mb(one)} | {mono}; each workspace {extra / one:.0%} of a copy | "
                         f"{total / one:.2f}x | {goal}")
        scripts = [r["cold"]["script_s"] for r in rs if r["cold"]["script_s"] is not None]
        saves = [r["cold"]["save_s"] for r in rs if r["cold"]["save_s"] is not None]
        colds = ", ".join("%.1f" % r["cold"]["seconds"] for r in rs)
        warms = ", ".join("%.0f" % (r["warm"]["seconds"] * 1000) for r in rs)
        loads = ", ".join("%.1f" % r["load"] for r in rs)
        notes.append(f"{where}: cold {colds} s; warm {warms} ms; load average at each round's start {loads}; "
                     f"`npm ci` itself median "
                     f"{med(scripts):.2f} s; background save median {med(saves):.2f} s; "
                     f"{n} restores in a row median {k['restore_median_s'] * 1000:.0f} ms")
    first = d["sites"][0]
    r0 = first["rounds"][0]["cold"]
    k0 = first["disk"]
    skipped = "".join(f"\n- No loop-mounted {x['fs']} in this run: {x['why']}" for x in d.get("loop_skipped", []))
    print(f"""## Dependency cache

{machine()} npm {d['npm']}, Node {d['node']}, registry {d['registry']}.
The workspace is `examples/webapp` (React, Vite, TypeScript, ESLint, Vitest, ...): {d['lock_packages']} packages in
package-lock.json, {first['packages']} installed on this platform; node_modules holds {r0['entry_files']:,} files,
{mb(k0['one_du_kb'])} on disk. Cold and warm alternate round by round; times are medians and each ratio is the
median of the per-round ratios.

| benchmark | baseline (same run) | mono | ratio | goal | met |
|---|---|---|---|---|---|""")
    for r in rows + disk_rows:
        print(r)
    print(f"""
Notes:
- Cold: `mono cache clean --all`, a fresh copy of the workspace, `mono init`, which misses and runs
  `npm ci --no-audit --no-fund` with npm's cache in a new empty directory (`npm_config_cache`), so every package
  is downloaded from the registry; the entry is saved in the background after init returns (not in the cold
  time; the benchmark waits for `mono cache stats --json` to show it). Warm: another fresh copy, `mono init`,
  which restores node_modules and skips the init script. Both timed from the start of `mono init` to its exit,
  after an untimed `sync`; the restore's own time is the one `mono init` reports.
- Warm restores read an entry written moments before, so it is in the page cache, as a cache in daily use is;
  from a cold disk a copying restore takes longer.
- Disk: from an empty cache, one cold init (its node_modules measured with `du -sk`: one workspace without
  mono), then {k0['workspaces']} fresh workspaces restored from that entry; the ratio is cache entry + the
  workspaces against that one. Where restores clone, it is the growth of the file system's used blocks (statvfs,
  after `sync`) from before the cold init to after the last restore, which counts a shared extent once (`du -sk`
  of each workspace counts it in every one); what a cloned workspace still costs is its own metadata (inodes,
  directories, and on btrfs small files, which are stored inline in the metadata, twice with the default DUP
  metadata). Where restores copy, nothing is shared and `du` is exact: the entry's and the workspaces' `du`
  (used blocks, shown too, also count whatever else the machine wrote meanwhile).
- Each site has its own MONO_HOME on the file system measured (the cache lives there: clones need entry and
  workspace on one file system) and its own tmux server. Loop-mounted file systems are sparse image files in
  the work directory, made with the tools' defaults (XFS with `-m reflink=1`, its default since xfsprogs 5.1;
  ext4 with a journal; btrfs with DUP metadata), unmounted and removed afterwards.
- Each round deletes its two workspaces after the warm init. On an ext4 without a journal (as this VM's root
  file system may be) the kernel will not reuse an inode freed in the last minute (five when its block is
  still dirty), and looks for a free one past each of them: for a few minutes after a workspace's 15,000 files
  are deleted, making files is several times slower, a restore by copy included (and `npm ci`). A journaled
  ext4 does not do this.""")
    for n in notes:
        print(f"- {n}.")
    if skipped:
        print(skipped.lstrip("\n"))
    print("- Reproduce with `ONLY=cache bench/run` (`CACHE_ROUNDS`, `CACHE_LOOP=ext4,xfs,btrfs`, `CACHE_LOOP_ROUNDS`, "
          "`CACHE_WORKSPACES`, `CACHE_FS_DIR=DIR` to measure on another file system).")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        return report(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["run"])
    ap.add_argument("--mono", required=True)
    ap.add_argument("--example", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--loop", default="")
    ap.add_argument("--loop-rounds", type=int, default=3)
    ap.add_argument("--loop-size", type=int, default=6, help="GiB per loop image (sparse)")
    ap.add_argument("--workspaces", type=int, default=10)
    ap.add_argument("--site-dir")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    a.work = os.path.abspath(a.work)
    a.example = os.path.abspath(a.example)
    run(a)


if __name__ == "__main__":
    main()
