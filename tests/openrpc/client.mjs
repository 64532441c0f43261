// Generates a TypeScript client from monod's document with
// @open-rpc/generator, compiles it with tsc (strict, as the generated
// tsconfig says), and uses it: calls daemon.status and env.list, subscribes
// to events.subscribe and receives an event published meanwhile, and
// unsubscribes. The generator's stock client names its methods after the
// wire names, which have dots; ts-client.cjs (the generator's `custom`
// component option) is that stock client with each method named by its
// x-js-name from the document instead.
// Usage: node client.mjs SOCKET WORKSPACE
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import generate from "@open-rpc/generator";
import { discover, fail, post, wsUrl } from "./rpc.mjs";

const [socket] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "generated");
fs.rmSync(out, { recursive: true, force: true });

const doc = await discover(socket);
await (generate.default ?? generate)({
  openrpcDocument: doc,
  outDir: out,
  components: [
    {
      type: "custom",
      customComponent: path.join(here, "ts-client.cjs"),
      customType: "client",
      language: "typescript",
      name: "monod-client",
    },
  ],
});
const dir = path.join(out, "custom", "typescript");
if (!fs.existsSync(path.join(dir, "src", "index.ts"))) fail(`the generator wrote no client in ${dir}`);

// Compile it with the packages installed here (the generated package.json's
// dependencies are among them), strictly.
const tsc = path.join(here, "node_modules", "typescript", "bin", "tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", dir], { stdio: "pipe", encoding: "utf8" });
} catch (e) {
  fail(`the generated client does not compile:\n${e.stdout}${e.stderr}`);
}
const built = path.join(dir, "build", "index.js");
if (!fs.existsSync(built)) fail(`tsc wrote no ${built}`);

const require = createRequire(path.join(dir, "package.json"));
const { Monod } = require(built);
const { Client, RequestManager, WebSocketTransport } = require("@open-rpc/client-js");
// The generated constructor knows TCP only (and an HTTP transport connects
// on the first request): the daemon is on a Unix socket, so its client then
// gets a WebSocket transport over the socket.
const client = new Monod({ transport: { type: "http", host: "localhost", port: 80 } });
client.rpc = new Client(new RequestManager([new WebSocketTransport(wsUrl(socket))]));

const status = await client.daemonStatus();
const list = await client.envList();
const event = new Promise((resolve) => {
  client.onNotification((n) => {
    if (n.method === "events.event" && n.params.result.kind === "user.generated") resolve(n.params.result);
  });
});
const subscription = await client.eventsSubscribe(undefined, undefined, ["user.generated"]);
const published = await post(socket, "events.publish", { kind: "user.generated" });
if (published.error) fail(`events.publish: ${JSON.stringify(published.error)}`);
const got = await Promise.race([event, new Promise((r) => setTimeout(() => r(null), 30000))]);
if (!got) fail("no events.event notification reached the generated client");
const ended = await client.eventsUnsubscribe(subscription);
client.rpc.close();
console.log(JSON.stringify({ status, list, event: got, ended }));
