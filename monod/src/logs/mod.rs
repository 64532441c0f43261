//! The logs monod keeps, and watching them.
//!
//! - [`monolog`]: `mono.log`, every operation's lines, size-capped and
//!   rotated; [`daemonlog`]: monod's own diagnostics (`monod.log`).
//! - [`progress`]: an operation's lines as they happen, to `mono.log`, to
//!   its `ops.watch` watcher and to the live event channel.
//! - [`capture`]: an environment's session output on disk (`logs/<name>`),
//!   written by the `monod capture` process tmux pipes each pane into, so
//!   output is kept even while monod is down.
//! - [`monitor`]: watches those directories for activity and run exits;
//!   [`follow`]: `logs.follow`, the kept output then the new, across
//!   rotations.
//!
//! They are together because they share one format and one set of limits:
//! what `capture` writes, `monitor` and `follow` read.

pub mod capture;
pub mod daemonlog;
pub mod follow;
pub mod monitor;
pub mod monolog;
pub mod progress;
