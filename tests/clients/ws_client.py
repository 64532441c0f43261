#!/usr/bin/python3
"""A JSON-RPC client for monod that is not mono's: Python's `websockets`
over the Unix socket. tests/e2e/protocol.rs drives it; it proves that the
protocol is usable from another language with nothing but the OpenRPC
document (rpc.discover) and a stock WebSocket library.

Usage: ws_client.py SOCKET ENV_NAME

1. rpc.discover: every method the document lists is printed, and the
   document's own shape is checked (OpenRPC version, results, subscriptions'
   notifications and unsubscribe methods).
2. daemon.status and env.list.
3. events.subscribe {since: 0, follow: true}; prints "subscribed" and waits
   (up to 60 s) until `events.event` notifications say ENV_NAME was created
   and is ready, which the test makes happen with `mono init`.
4. events.unsubscribe [id], which must answer true.

Progress goes to stdout as JSON lines ({"step": ...}); on any failure the
script prints one line to stderr and exits 1.
"""

import asyncio
import itertools
import json
import sys

try:
    import websockets
except ImportError:
    print(
        "error: the Python module `websockets` is missing: install python3-websockets "
        "(apt-get install python3-websockets)",
        file=sys.stderr,
    )
    sys.exit(3)

TIMEOUT = 60


class Failure(Exception):
    pass


def report(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


class Client:
    """JSON-RPC 2.0 over one WebSocket: replies matched by id, notifications
    queued by method."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending = {}
        self.notifications = asyncio.Queue()
        self.reader = asyncio.create_task(self.read())

    async def read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in self.pending:
                    self.pending.pop(msg["id"]).set_result(msg)
                elif "method" in msg:
                    self.notifications.put_nowait(msg)
                else:
                    raise Failure(f"unexpected message: {raw}")
            raise Failure("the daemon closed the WebSocket")
        except Exception as e:
            # Whoever waits (a call or the notification loop) sees why.
            for reply in self.pending.values():
                reply.set_exception(e)
            self.pending.clear()
            self.notifications.put_nowait(e)

    async def notification(self):
        note = await asyncio.wait_for(self.notifications.get(), TIMEOUT)
        if isinstance(note, Exception):
            raise note
        return note

    async def call(self, method, params=None):
        id_ = next(self.ids)
        reply = asyncio.get_running_loop().create_future()
        self.pending[id_] = reply
        request = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            request["params"] = params
        await self.ws.send(json.dumps(request))
        try:
            msg = await asyncio.wait_for(reply, TIMEOUT)
        except asyncio.TimeoutError:
            raise Failure(f"{method}: no reply within {TIMEOUT}s")
        if "error" in msg:
            raise Failure(f"{method} failed: {msg['error']}")
        return msg["result"]


def check_document(doc):
    if doc.get("openrpc") != "1.2.6":
        raise Failure(f"rpc.discover: openrpc is {doc.get('openrpc')!r}, not 1.2.6")
    methods = {m["name"]: m for m in doc["methods"]}
    for name, m in methods.items():
        if "schema" not in m.get("result", {}):
            raise Failure(f"rpc.discover: {name} has no result schema")
    for name, m in methods.items():
        if "x-notification" in m:
            unsubscribe = m.get("x-unsubscribe")
            if unsubscribe not in methods:
                raise Failure(f"rpc.discover: {name}'s unsubscribe method {unsubscribe!r} is not listed")
    events = methods.get("events.subscribe", {})
    if events.get("x-notification", {}).get("name") != "events.event":
        raise Failure("rpc.discover: events.subscribe does not say it sends events.event")
    return sorted(methods)


async def main(socket, env_name):
    async with websockets.unix_connect(socket, "ws://localhost/") as ws:
        client = Client(ws)

        doc = await client.call("rpc.discover")
        report("discover", methods=check_document(doc), version=doc["info"]["version"],
               protocol=doc["info"].get("x-protocol-version"))

        status = await client.call("daemon.status", {})
        report("status", version=status["version"], protocol=status["protocol"], pid=status["pid"])

        envs = await client.call("env.list", {})
        report("list", names=[e["name"] for e in envs])

        sub = await client.call(
            "events.subscribe", {"since": 0, "follow": True, "kinds": ["env.created", "env.ready"]}
        )
        report("subscribed", subscription=sub)

        wanted = {"env.created", "env.ready"}
        seen = []
        while wanted:
            try:
                note = await client.notification()
            except asyncio.TimeoutError:
                raise Failure(f"no {sorted(wanted)} event for {env_name} within {TIMEOUT}s; saw {seen}")
            if note["method"] != "events.event":
                raise Failure(f"unexpected notification {note}")
            if note["params"]["subscription"] != sub:
                raise Failure(f"notification for another subscription: {note}")
            event = note["params"]["result"]
            seen.append([event["seq"], event.get("env"), event["kind"]])
            if event.get("env") == env_name:
                wanted.discard(event["kind"])
        report("events", seen=seen)

        ended = await client.call("events.unsubscribe", [sub])
        if ended is not True:
            raise Failure(f"events.unsubscribe answered {ended!r}, not true")
        again = await client.call("events.unsubscribe", [sub])
        report("unsubscribed", ended=ended, again=again)
        client.reader.cancel()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: ws_client.py SOCKET ENV_NAME", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
