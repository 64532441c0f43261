#!/usr/bin/env python3
"""Named URLs: HTTP/1.1 requests through monod's router against the same
requests straight to the service's port, in the same run.

Set-up (untimed): a MONO_HOME of its own whose monod.yml puts the router on a
free loopback port, a simple-mode workspace initialised with `mono init`, and
`http_load serve` (hyper, 200 "hello\\n") listening on the environment's
MONO_PORT. Then ROUNDS rounds, each of two loads in alternating order:
    direct  `http_load load MONO_PORT 127.0.0.1:PORT CONNS SECONDS`
    router  `http_load load ROUTER <env>.localhost:ROUTER CONNS SECONDS`
each CONNS keep-alive connections sending `GET /` in a closed loop for
SECONDS (hyper's client: the router is measured with the code it is made of).
Checks, each fatal: no request failed, and the router's answers came from the
service (a `GET` through it returned "hello"). Figures: medians over rounds;
throughput ratio = median of per-round router/direct rps; added p99 = median
of per-round (router p99 - direct p99).

    router.py run --mono MONO --load HTTP_LOAD --work DIR [--rounds 5] [--conns 16] [--seconds 5] --json out.json
    router.py report out.json      # the BENCHMARKS.md section, on stdout
"""
import argparse, json, os, socket, statistics, subprocess, sys, time, urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(a):
    home = os.path.join(a.work, "router-home")
    ws = os.path.join(a.work, "router-ws", "site", "web")
    os.makedirs(home, mode=0o700, exist_ok=True)
    os.makedirs(ws, exist_ok=True)
    router = free_port()
    with open(os.path.join(home, "monod.yml"), "w") as f:
        f.write(f"router:\n  listen: 127.0.0.1:{router}\nports:\n  first_slot: 300\n")
    env = dict(os.environ, MONO_HOME=home, TMUX_TMPDIR=a.work)
    mono = lambda *args: subprocess.run([a.mono, *args], env=env, check=True, capture_output=True, text=True)
    server = None
    try:
        mono("init", ws)
        info = json.loads(mono("status", ws, "--json").stdout)
        name, base = info["name"], info["port_base"]
        server = subprocess.Popen([a.load, "serve", str(base)])
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", base), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"router.py: the service on {base} never listened")
                time.sleep(0.05)
        host = f"{name}.localhost:{router}"
        req = urllib.request.Request(f"http://127.0.0.1:{router}/", headers={"Host": host})
        body = urllib.request.urlopen(req, timeout=10).read()
        if body != b"hello\n":
            sys.exit(f"router.py: the router answered {body!r}, not the service's hello")

        def load(port, host_header):
            out = subprocess.run([a.load, "load", str(port), host_header, str(a.conns), str(a.seconds)],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out)
            if r["errors"] or not r["requests"]:
                sys.exit(f"router.py: {r['errors']} failed requests ({host_header})")
            return r

        rounds = []
        for i in range(a.rounds):
            order = ["direct", "router"] if i % 2 == 0 else ["router", "direct"]
            r = {"order": order, "load": os.getloadavg()[0]}
            for kind in order:
                r[kind] = load(base, f"127.0.0.1:{base}") if kind == "direct" else load(router, host)
            print(f"  round {i + 1}/{a.rounds}: direct {r['direct']['rps']:,.0f} rps p99 {r['direct']['p99_us']} us; "
                  f"router {r['router']['rps']:,.0f} rps p99 {r['router']['p99_us']} us", flush=True)
            rounds.append(r)
        json.dump({"conns": a.conns, "seconds": a.seconds, "rounds": rounds}, open(a.json, "w"), indent=1)
    finally:
        if server:
            server.kill()
        subprocess.run([a.mono, "destroy", ws], env=env, capture_output=True)
        subprocess.run([a.mono, "daemon", "stop"], env=env, capture_output=True)


def report(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from report import machine
    d = json.load(open(path))
    rs = d["rounds"]
    med = statistics.median
    yes = lambda ok: "yes" if ok else "NO"
    direct_rps = med(r["direct"]["rps"] for r in rs)
    router_rps = med(r["router"]["rps"] for r in rs)
    ratio = med(r["router"]["rps"] / r["direct"]["rps"] for r in rs)
    direct_p99 = med(r["direct"]["p99_us"] for r in rs)
    router_p99 = med(r["router"]["p99_us"] for r in rs)
    added = med(r["router"]["p99_us"] - r["direct"]["p99_us"] for r in rs)
    added50 = med(r["router"]["p50_us"] - r["direct"]["p50_us"] for r in rs)
    n = len(rs)
    print(f"""## Named URLs (router)

{machine()}
`GET /` with a 6-byte answer from a hyper service on a simple-mode environment's `MONO_PORT`, by {d['conns']}
keep-alive connections in a closed loop for {d['seconds']} s, straight to the port (baseline) and through
`http://<env>.localhost:<router>/`; {n} rounds, order alternating; the load generator is hyper's client
(`monod/examples/http_load.rs`), on the same 2 cores as the router and the service.

| benchmark | baseline (same run) | mono | ratio | goal | met |
|---|---|---|---|---|---|
| throughput through the router | direct: {direct_rps:,.0f} requests/s | {router_rps:,.0f} requests/s | {ratio:.2f}x | at least 0.8x | {yes(ratio >= 0.8)} |
| p99 latency through the router | direct: {direct_p99 / 1000:.2f} ms | {router_p99 / 1000:.2f} ms | +{added / 1000:.3f} ms | under 1 ms added | {yes(added < 1000)} |

Notes:
- Median p50 added by the router: {added50 / 1000:.3f} ms. Every request of every round succeeded.
- Per round, direct / router requests per second: {'; '.join(f"{r['direct']['rps']:,.0f} / {r['router']['rps']:,.0f}" for r in rs)}.
- A closed loop on 2 cores: the router's work per request runs on the same cores as the client and the
  service, so it takes their time too.
- Reproduce with `ONLY=router bench/run` (`ROUTER_ROUNDS`, `ROUTER_CONNS`, `ROUTER_SECONDS`).""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["run", "report"])
    ap.add_argument("json_path", nargs="?")
    ap.add_argument("--mono")
    ap.add_argument("--load")
    ap.add_argument("--work")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a)
    else:
        report(a.json_path)


if __name__ == "__main__":
    main()
