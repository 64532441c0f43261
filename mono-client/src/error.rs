//! Turning RPC failures into the one line the user sees.

use jsonrpsee::core::client::Error;

/// A daemon error keeps its message (it already says what, where and what
/// to do); a transport failure says the daemon went away.
pub fn from_rpc(e: Error) -> anyhow::Error {
    match e {
        Error::Call(obj) => anyhow::Error::new(crate::unary::RpcError {
            code: obj.code().into(),
            message: obj.message().to_string(),
        }),
        Error::RestartNeeded(inner) => {
            anyhow::anyhow!(
                "lost the connection to monod ({inner}); an operation it was running is finished or rolled back when it restarts (`mono list` restarts it); see monod.log in MONO_HOME"
            )
        }
        other => anyhow::anyhow!("talking to monod failed: {other}"),
    }
}
