//! The contract between `monod` and its clients.
//!
//! Both sides compile against these types, so a field renamed here is renamed
//! everywhere at once and the wire format cannot drift. The crate holds data
//! types, error codes, the socket-path rules, the rules for which directory
//! may be `MONO_HOME` ([`home`]) and the JSON-RPC trait; it has no runtime,
//! no database, and no I/O beyond reading environment variables and
//! checking (or creating) the home directory.
//!
//! The API itself is declared once, in [`methods`]: the jsonrpsee trait
//! ([`api`]), the method names, the parameter structs and the OpenRPC
//! document ([`openrpc`]) all come from that one table ([`contract`] has
//! the machinery).
//!
//! The wire protocol is JSON-RPC 2.0 over `$MONO_HOME/monod.sock`, as plain
//! HTTP POST for one-shot calls and WebSocket for subscriptions. With the
//! `schema` feature, the `openrpc` module describes all of it as an OpenRPC
//! document, which the daemon serves as `rpc.discover`.

pub mod contract;
pub mod error;
pub mod home;
pub mod methods;
#[cfg(feature = "schema")]
pub mod openrpc;
pub mod paths;
pub mod ports;
#[cfg(feature = "schema")]
pub mod schema;
pub mod types;

#[cfg(any(feature = "server", feature = "client"))]
pub mod api;

pub use error::{Code, ErrorCode, ProtocolCode};
pub use types::*;

/// Version of the wire protocol. Bumped whenever a method, parameter or
/// result changes incompatibly; a client refuses to talk to a daemon of
/// another protocol version (and replaces it when it is idle).
///
/// `daemon.status` and `daemon.stop` keep their shape across all versions so
/// that any client can ask any daemon which protocol it speaks.
///
/// 2: mono's error codes moved to -33001..=-33015 (see [`error`]); a body
/// over the size limit is `oversized_request` (-32007) on HTTP too.
pub const PROTOCOL_VERSION: u32 = 2;

/// The mono release both binaries were built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
