// Runs @open-rpc/test-coverage on monod's document: every method is called
// over the daemon's socket (a WebSocket, which carries calls and
// subscriptions alike) and every result must be valid against the
// method's result schema. Methods that take arbitrary values get the tool's
// own json-schema-faker params; methods that need real state (a workspace,
// its environment) get OpenRPC examples naming the sandbox's workspace,
// which the tool's examples rule calls. The passes run in an order that
// keeps the state they need: the environment is destroyed last but one, and
// the daemon stopped last.
// Usage: node coverage.mjs SOCKET WORKSPACE DOCKER_WORKSPACE (the last one
// already initialised, in docker mode, for logs.services).
import WebSocket from "ws";
import { dereferenceDocument } from "@open-rpc/schema-utils-js";
import coverageModule from "@open-rpc/test-coverage";
import { discover, fail, wsUrl } from "./rpc.mjs";

const testCoverage = coverageModule.default ?? coverageModule;
const [socket, workspace, services] = process.argv.slice(2);
const doc = await dereferenceDocument(await discover(socket));

/** An example pairing: by-name params (as the tool wants: one example per param, in order). */
function example(method, params, result) {
  const m = doc.methods.find((x) => x.name === method);
  if (!m) fail(`no method ${method} in the document`);
  m.examples = [
    {
      name: `${method} on the sandbox`,
      params: m.params.filter((p) => p.name in params).map((p) => ({ name: p.name, value: params[p.name] })),
      result: { name: "result", value: result },
    },
  ];
  // The tool maps example values onto params by position.
  m.params = m.params.filter((p) => p.name in params);
}
example("env.init", { path: workspace }, null);
example("env.destroy", { path: workspace }, null);
example("env.run", { path: workspace }, null);
example("env.stop", { path: workspace }, null);
example("env.status", { path: workspace }, null);
example("cache.clean", { older_than: "30d" }, null);
example("seed.refresh", { path: workspace }, null);
example("events.publish", { kind: "user.coverage", data: { from: "test-coverage" } }, null);
example("logs.follow", { path: workspace, lines: 10, follow: false }, null);
example("logs.services", { path: services, service: "all", lines: 10, follow: false }, null);
example("service.restart", { path: services, service: "app" }, null);

const ws = new WebSocket(wsUrl(socket));
await new Promise((resolve, reject) => {
  ws.once("open", resolve);
  ws.once("error", reject);
});
const pending = new Map();
let nextId = 1;
ws.on("message", (raw) => {
  const msg = JSON.parse(raw.toString());
  if (msg.id !== undefined && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
/** The tool's transport: one request over the WebSocket, the raw reply back. */
function transport(_url, method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${method}: no reply in time`)), 60000);
    pending.set(id, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
    ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
}

const later = ["env.destroy", "daemon.stop"];
const passes = [
  { skip: later, only: [] },
  { skip: [], only: ["env.destroy"] },
  { skip: [], only: ["daemon.stop"] },
];
const calls = [];
for (const pass of passes) {
  calls.push(...(await testCoverage({ openrpcDocument: doc, transport, reporters: ["empty"], ...pass })));
}
ws.terminate();

const invalid = calls.filter((c) => c.valid !== true);
for (const c of invalid) {
  console.error(
    `invalid: ${c.title}: params ${JSON.stringify(c.params)}: ${c.reason ?? ""} ${JSON.stringify(c.error ?? c.requestError ?? null)}`,
  );
}
const called = new Set(calls.map((c) => c.methodName));
const missed = doc.methods.map((m) => m.name).filter((n) => !called.has(n));
if (missed.length) fail(`methods never called: ${missed}`);
if (invalid.length) fail(`${invalid.length} of ${calls.length} calls had an invalid result`);
console.log(JSON.stringify({ calls: calls.length, methods: called.size }));
