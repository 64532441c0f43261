//! Turning RPC failures into the one line the user sees.
//!
//! Three kinds of failure come back from monod, and each must read as what
//! it is:
//!
//! - the daemon failed the operation: one of mono's codes, whose message
//!   already says what, where and what to do ([`RpcError`]);
//! - the protocol layer refused the request (not JSON-RPC, a bad parameter,
//!   too many subscriptions): one of the protocol's codes, said as a
//!   refusal, never as a daemon failure;
//! - the connection ended ([`Lost`]): only then may the client say monod
//!   is gone, and only after checking that it no longer runs
//!   ([`crate::connect::explain`]).
//!
//! A request larger than monod reads is refused before it is sent
//! ([`TooLarge`]): jsonrpsee's WebSocket server answers one with an error of
//! id null, which jsonrpsee's client cannot match to a call and takes for a
//! broken connection, so the daemon's answer would read as a crash.

use std::fmt;

use jsonrpsee::client_transport::ws::WsError;
use jsonrpsee::core::client::Error;
use jsonrpsee::types::InvalidRequestId;
use mono_proto::error::MAX_REQUEST;
use mono_proto::{Code, ProtocolCode};

/// A JSON-RPC error reply.
#[derive(Debug)]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// The error's `data`, if any (jsonrpsee puts the detail of an invalid
    /// parameter there).
    pub data: Option<String>,
}

impl RpcError {
    /// The code, when it is one the contract defines.
    pub fn known(&self) -> Option<Code> {
        i32::try_from(self.code).ok().and_then(Code::of)
    }

    /// Whether the error has code `code`.
    pub fn is(&self, code: impl Into<Code>) -> bool {
        i64::from(code.into().code()) == self.code
    }
}

impl fmt::Display for RpcError {
    /// A daemon failure is its message; anything else also says it is a
    /// refusal and which code it has, so it is not read as a failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = self.data.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        match self.known() {
            Some(Code::Mono(_)) => write!(f, "{}", self.message),
            Some(Code::Protocol(ProtocolCode::InvalidParams)) => {
                write!(f, "monod refused the request's parameters: {}{detail}", self.message)
            }
            Some(Code::Protocol(p)) => {
                write!(
                    f,
                    "monod refused the request: {}{detail} (JSON-RPC error {}, {})",
                    self.message,
                    self.code,
                    p.name()
                )
            }
            None => write!(
                f,
                "monod refused the request: {}{detail} (JSON-RPC error {})",
                self.message, self.code
            ),
        }
    }
}

/// The request is larger than monod reads, so it was not sent.
#[derive(Debug)]
pub struct TooLarge {
    /// Its size in bytes, when known.
    pub size: Option<usize>,
}

impl std::error::Error for RpcError {}

impl std::error::Error for TooLarge {}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.size.map(|s| format!(" ({})", mib(s))).unwrap_or_default();
        write!(
            f,
            "the request is too large for monod{size}, which reads at most {}",
            mib(MAX_REQUEST as usize)
        )?;
        // The caller's environment is what can make a request this large.
        let mut vars: Vec<(String, usize)> =
            std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), k.len() + v.len())).collect();
        let total: usize = vars.iter().map(|(_, n)| n + 6).sum();
        if total < MAX_REQUEST as usize / 2 {
            return write!(f, "; nothing was sent");
        }
        vars.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let largest: Vec<String> = vars.iter().take(3).map(|(k, n)| format!("{k} {}", kib(*n))).collect();
        write!(
            f,
            ": the environment forwarded with it takes {} ({} variables; the largest: {}); unset the \
             variables the workspace does not need and run the command again (nothing was sent)",
            mib(total),
            vars.len(),
            largest.join(", ")
        )
    }
}

/// The connection to monod ended before the reply; whether monod is gone
/// is checked before the user is told ([`crate::connect::explain`]).
#[derive(Debug, thiserror::Error)]
#[error("the connection to monod ended ({detail})")]
pub struct Lost {
    /// What the client library saw.
    pub detail: String,
}

/// A daemon error keeps its message (it already says what, where and what
/// to do), a protocol refusal says it is one, a request too large says so,
/// and a connection that ended is [`Lost`].
pub fn from_rpc(e: Error) -> anyhow::Error {
    match e {
        Error::Call(obj) => anyhow::Error::new(RpcError {
            code: obj.code().into(),
            message: obj.message().to_string(),
            data: obj.data().map(|d| d.get().trim_matches('"').to_string()),
        }),
        Error::RestartNeeded(inner) if is_too_large(&inner) => anyhow::Error::new(TooLarge { size: None }),
        Error::RestartNeeded(inner) => anyhow::Error::new(Lost { detail: lost_detail(&inner) }),
        other => anyhow::anyhow!("talking to monod failed: {other}"),
    }
}

/// What ended the connection, in words: jsonrpsee's client gives up on an
/// error reply of id null, which answers no call, as if the connection had
/// broken.
fn lost_detail(e: &Error) -> String {
    match e {
        Error::InvalidRequestId(InvalidRequestId::NotPendingRequest(id)) if id == "null" => {
            "monod answered with an error of id null, which it sends for a message it cannot read".to_string()
        }
        other => other.to_string(),
    }
}

/// Whether the client library refused to send a message over the limit
/// ([`crate::connect`] sets it to monod's).
fn is_too_large(e: &Error) -> bool {
    match e {
        Error::Transport(t) => {
            t.downcast_ref::<WsError>().is_some_and(|w| matches!(w, WsError::MessageTooLarge))
        }
        _ => false,
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", (bytes as f64 / 1024.0).ceil())
}

#[cfg(test)]
mod tests {
    use mono_proto::ErrorCode;

    use super::*;

    #[test]
    fn a_daemon_failure_is_its_message_and_a_refusal_says_so() {
        let failure =
            RpcError { code: ErrorCode::Busy.code().into(), message: "x is busy".into(), data: None };
        assert_eq!(failure.to_string(), "x is busy");
        assert!(failure.is(ErrorCode::Busy));
        let refusal = RpcError {
            code: ProtocolCode::TooManySubscriptions.code().into(),
            message: "Too many subscriptions on the connection".into(),
            data: Some("Exceeded max limit of 1024".into()),
        };
        let line = refusal.to_string();
        assert!(
            line.starts_with("monod refused the request: Too many subscriptions on the connection: Exceeded")
        );
        assert!(line.contains("JSON-RPC error -32006, too_many_subscriptions"), "{line}");
        let old = RpcError { code: -32003, message: "busy".into(), data: None };
        assert!(!old.is(ErrorCode::Busy), "a code of the old table is not mono's");
    }

    #[test]
    fn a_message_the_client_refused_to_send_is_too_large_not_lost() {
        let refused =
            Error::RestartNeeded(std::sync::Arc::new(Error::Transport(WsError::MessageTooLarge.into())));
        let e = from_rpc(refused);
        assert!(e.is::<TooLarge>(), "{e}");
        assert!(
            e.to_string().starts_with("the request is too large for monod, which reads at most 4.0 MiB"),
            "{e}"
        );
        let closed = Error::RestartNeeded(std::sync::Arc::new(Error::Custom("gone".into())));
        assert!(from_rpc(closed).is::<Lost>());
    }
}
