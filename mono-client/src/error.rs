//! Turning RPC failures into the one line the user sees.

use jsonrpsee::core::client::Error;

/// A daemon error keeps its message (it already says what, where and what
/// to do); a transport failure says the daemon went away.
pub fn from_rpc(e: Error) -> anyhow::Error {
    match e {
        Error::Call(obj) => anyhow::anyhow!("{}", obj.message()),
        Error::RestartNeeded(inner) => {
            anyhow::anyhow!("lost the connection to monod ({inner}); see monod.log in MONO_HOME")
        }
        other => anyhow::anyhow!("talking to monod failed: {other}"),
    }
}
