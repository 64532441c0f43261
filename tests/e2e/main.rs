//! End-to-end tests: the real `mono` and `monod` binaries over the real
//! socket, a real tmux server and real SQLite files, one sandbox per test.

mod bad_input;
mod cache;
mod compose_fidelity;
mod compose_files;
mod concurrency;
mod conductor;
mod daemon;
mod demo;
mod diagnostics;
mod docker;
mod docker_engines;
mod docker_faults;
mod docker_ownership;
mod docker_users;
mod error_codes;
mod events;
mod home;
mod input_limits;
mod lifecycle;
mod liveness;
mod logs;
mod names;
mod openrpc_tools;
mod progress;
mod protocol;
mod recovery;
mod router;
mod run;
mod secrets;
mod seed;
mod service;
mod socket;
mod state;
mod tmux_socket;
mod upgrade;
