"""A stand-in for monod that answers what `mono init` asks, and nothing more.

Usage: fake_monod.py SOCKET VERSION PROTOCOL RECORD

It serves JSON-RPC over a WebSocket on SOCKET, answers `daemon.status` as a
daemon of VERSION and PROTOCOL, accepts any subscription, and answers
`env.init` with one `ops.output` line and then the environment. It never
publishes an event: a client that waits for one after the reply (an
`env.ready` carrying the same data) is what the test catches. Every request
is appended to RECORD, one JSON object a line, before it is answered.
"""

import asyncio
import json
import sys

import websockets

SOCKET, VERSION, PROTOCOL, RECORD = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

STATUS = {
    "version": VERSION,
    "protocol": PROTOCOL,
    "pid": 1,
    "uptime_ms": 1,
    "home": "/nowhere",
    "environments": 0,
    "operations": 0,
    "tmux": {"available": True, "detail": "fake"},
    "docker": {"available": False, "detail": "fake"},
}


def environment(path):
    return {
        "id": 7,
        "name": "fake-env",
        "path": path,
        "status": "running",
        "mode": "simple",
        "project": "fake",
        "workspace": "env",
        "session": "mono-fake-env",
        "data_dir": "/nowhere/data/fake-env",
        "port_base": 10700,
        "created_at": "2026-01-01T00:00:00Z",
    }


async def serve(ws, _path=None):
    try:
        await answer(ws)
    except websockets.ConnectionClosed:
        pass  # the client is done; it need not say goodbye


async def answer(ws):
    watching = {}
    async for raw in ws:
        msg = json.loads(raw)
        with open(RECORD, "a") as record:
            record.write(json.dumps({"method": msg.get("method"), "params": msg.get("params")}) + "\n")
        method, rid, params = msg.get("method"), msg.get("id"), msg.get("params") or {}

        async def reply(result):
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}))

        if method == "daemon.status":
            await reply(STATUS)
        elif method in ("ops.watch", "events.subscribe"):
            sub = f"sub-{rid}"
            if method == "ops.watch":
                watching[params.get("op")] = sub
            await reply(sub)
        elif method == "env.init":
            sub = watching.get(params.get("op"))
            if sub is not None:
                line = {"stream": "out", "line": "fake output"}
                note = {"jsonrpc": "2.0", "method": "ops.output", "params": {"subscription": sub, "result": line}}
                await ws.send(json.dumps(note))
            await reply(environment(params.get("path")))
        elif method in ("ops.unwatch", "events.unsubscribe"):
            await reply(True)
        elif rid is not None:
            error = {"code": -32601, "message": f"the fake monod does not know {method}"}
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": error}))


async def main():
    async with websockets.unix_serve(serve, SOCKET):
        await asyncio.Future()


asyncio.run(main())
