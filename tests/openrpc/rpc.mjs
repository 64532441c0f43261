// JSON-RPC over monod's Unix socket, for the OpenRPC tool checks: plain
// HTTP POST (node's http with socketPath) and a WebSocket (ws's
// ws+unix: URLs). Nothing of mono's own client is used.
import http from "node:http";

let nextId = 1;

/** POSTs one request to the daemon at `socket`; resolves with the reply. */
export function post(socket, method, params) {
  const body = JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socket,
        path: "/",
        method: "POST",
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
        timeout: 30000,
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (data += chunk));
        res.on("end", () => {
          try {
            resolve(JSON.parse(data));
          } catch (e) {
            reject(new Error(`${method}: not JSON (${res.statusCode}): ${data}`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method}: no reply in time`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The daemon's OpenRPC document, from rpc.discover. */
export async function discover(socket) {
  const reply = await post(socket, "rpc.discover", {});
  if (!reply.result) throw new Error(`rpc.discover failed: ${JSON.stringify(reply)}`);
  return reply.result;
}

/** The ws+unix URL of the daemon's WebSocket. */
export function wsUrl(socket) {
  return `ws+unix://${socket}:/`;
}

/** Fails the check: prints why and exits non-zero. */
export function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}
