//! One module per command.

pub mod attach;
pub mod daemon;
pub mod destroy;
pub mod init;
pub mod list;
pub mod run;
pub mod status;
pub mod watch;

use mono_proto::CallerEnv;

/// The caller's environment, forwarded so scripts and the tmux session see
/// what the caller sees. Variables that are not UTF-8 are left out.
pub fn caller_env() -> CallerEnv {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}
