// A component for @open-rpc/generator (its `custom` component option): the
// generator's own TypeScript client, whose methods are named by each
// method's `x-js-name` in monod's document. The stock template names a
// method's property after its wire name, and `daemon.status` is no
// TypeScript identifier; the requests it sends still use the wire names.
const { components } = require("@open-rpc/generator");

const stock = components.defaultClientComponent;
const [index] = stock.hooks.templateFiles.typescript;

function template(data) {
  let out = index.template(data);
  for (const m of data.openrpcDocument.methods) {
    if (m["x-js-name"]) out = out.split(`public ${m.name}:`).join(`public ${m["x-js-name"]}:`);
  }
  return out;
}

// The generator reads the module through TypeScript's __importStar: its
// `default` is module.exports.
module.exports = {
  hooks: { ...stock.hooks, templateFiles: { typescript: [{ path: index.path, template }] } },
  staticPath: (language) => stock.staticPath(language, "client"),
};
