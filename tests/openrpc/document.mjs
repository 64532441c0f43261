// Checks monod's rpc.discover document with the standard OpenRPC tools:
// it passes the OpenRPC meta-schema, dereferences with
// @open-rpc/schema-utils-js with the network cut off, and every schema in
// it compiles under ajv's strict mode. Usage: node document.mjs SOCKET
import http from "node:http";
import https from "node:https";
import Ajv from "ajv";
import { dereferenceDocument, validateOpenRPCDocument } from "@open-rpc/schema-utils-js";
import { discover, fail } from "./rpc.mjs";

const socket = process.argv[2];
const doc = await discover(socket);

// From here on nothing may reach the network: a $ref to a URL fails.
const offline = (what) => () => {
  throw new Error(`the document needs the network (${what})`);
};
http.request = http.get = offline("http");
https.request = https.get = offline("https");
globalThis.fetch = offline("fetch");

const valid = validateOpenRPCDocument(doc);
if (valid !== true) fail(`the meta-schema refuses the document: ${valid}`);

let dereferenced;
try {
  dereferenced = await dereferenceDocument(structuredClone(doc));
} catch (e) {
  fail(`schema-utils-js cannot dereference the document offline: ${e.message ?? e}`);
}
// What the tools read (params, results, errors) is whole; x- extensions,
// which they do not read, may still point into components.
for (const m of dereferenced.methods) {
  const standard = { params: m.params, result: m.result, errors: m.errors };
  JSON.stringify(standard, (k, v) => (k === "$ref" ? fail(`${m.name}: a $ref is left: ${v}`) : v));
}
const status = dereferenced.methods.find((m) => m.name === "daemon.status");
if (!status.result.schema.properties?.uptime_ms) fail("the dereferenced daemon.status result lost its schema");

// Every schema, with the components it refers to, under ajv strict.
const components = doc.components.schemas;
const positions = Object.entries(components).map(([name, s]) => [`components.schemas.${name}`, s]);
for (const m of doc.methods) {
  for (const p of [...m.params, ...(m["x-notification"]?.params ?? [])]) {
    positions.push([`${m.name} param ${p.name}`, p.schema]);
  }
  positions.push([`${m.name} result`, m.result.schema]);
}
const failures = [];
for (const [at, schema] of positions) {
  const ajv = new Ajv({ strict: true, allErrors: true });
  ajv.addVocabulary(["components"]);
  try {
    ajv.compile({ ...schema, components: { schemas: components } });
  } catch (e) {
    failures.push(`${at}: ${e.message}`);
  }
}
if (failures.length) fail(`${failures.length} schemas do not compile under ajv strict:\n${failures.join("\n")}`);

const withErrors = doc.methods.filter((m) => Array.isArray(m.errors) && m.errors.length > 0);
if (withErrors.length !== doc.methods.length) {
  fail(`methods without errors: ${doc.methods.filter((m) => !withErrors.includes(m)).map((m) => m.name)}`);
}
console.log(JSON.stringify({ methods: doc.methods.length, schemas: positions.length }));
