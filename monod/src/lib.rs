//! monod, the mono daemon.
//!
//! It owns everything with state: the SQLite database, tmux sessions, user
//! scripts, docker-mode projects (compose files planned by [`mono_compose`],
//! applied by [`docker`]), the event log ([`events`]), the dependency cache
//! ([`cache`]) and the operations log; it recovers what a crash interrupted
//! at start ([`ops`]), and serves the JSON-RPC API of
//! [`mono_proto`] on `$MONO_HOME/monod.sock`. The binary is a thin `main`
//! around [`daemon::run`].

pub mod busy;
pub mod cache;
pub mod config;
pub mod crashpoint;
pub mod daemon;
pub mod docker;
pub mod events;
pub mod home;
pub mod logs;
pub mod names;
pub mod nofollow;
pub mod ops;
pub mod ports;
pub mod router;
pub mod rpc;
pub mod script;
pub mod settings;
pub mod ssh;
pub mod state;
pub mod tmux;
pub mod units;
pub mod vars;
