//! The JSON-RPC API as a jsonrpsee trait: the server half is implemented by
//! monod, the client half is generated for `mono`. The trait is generated
//! from the one declaration of the API ([`crate::methods`]), so its methods,
//! parameter names and types are those the OpenRPC document describes.
//!
//! Methods take named parameters (a JSON object), so the API is easy to call
//! from curl or any language:
//!
//! ```text
//! curl --unix-socket ~/.mono/monod.sock --json \
//!   '{"jsonrpc":"2.0","id":1,"method":"env.list","params":{}}' http://localhost/
//! ```
//!
//! Long operations (`env.init`, `env.destroy`) accept an optional `op` id. A
//! client that first subscribes to `ops.watch` with that id (on any
//! WebSocket) receives the operation's output live as `ops.output`
//! notifications; the subscription ends when the operation does.

pub use crate::methods::rpc::*;
