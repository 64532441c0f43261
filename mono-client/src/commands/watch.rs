//! Running an operation while printing its live output.

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use jsonrpsee::core::client::{Client, Error, Subscription};
use mono_proto::api::MonoApiClient;
use mono_proto::{OpOutput, PROTOCOL_VERSION};

use crate::connect::Endpoint;
use crate::error::from_rpc;
use crate::render;

/// A fresh operation id for `ops.watch`.
fn op_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Runs a long operation over a WebSocket, printing its output as it comes.
///
/// The protocol check and the subscription to the operation's output go out
/// together; `start` then begins the operation under the subscribed id. A
/// daemon of another protocol is replaced first (when idle).
pub fn run_op<T, F, Fut>(ep: &Endpoint, json: bool, start: F) -> anyhow::Result<T>
where
    F: Fn(Arc<Client>, String) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    if !ep.answering() {
        ep.start()?;
    }
    super::block_on(async {
        let mut replaced = false;
        loop {
            let client = Arc::new(ep.websocket().await?);
            let op = op_id();
            let (status, sub) = tokio::join!(client.daemon_status(), client.ops_watch(op.clone()));
            let status = status.map_err(from_rpc)?;
            if status.protocol != PROTOCOL_VERSION && !replaced {
                drop((sub, client));
                ep.replace(&status)?;
                replaced = true;
                continue;
            }
            let sub = sub.map_err(from_rpc)?;
            return print_until_done(sub, start(client, op), json).await.map_err(from_rpc);
        }
    })
}

/// Prints the subscription's lines until `call` replies.
async fn print_until_done<T>(
    mut sub: Subscription<OpOutput>,
    call: impl Future<Output = Result<T, Error>>,
    json: bool,
) -> Result<T, Error> {
    tokio::pin!(call);
    let mut live = true;
    loop {
        tokio::select! {
            biased;
            item = sub.next(), if live => match item {
                Some(Ok(line)) => render::progress(&line, json),
                Some(Err(_)) => {}
                None => live = false,
            },
            result = &mut call => {
                // Lines sent before the reply are already buffered.
                while let Some(Some(Ok(line))) = sub.next().now_or_never() {
                    render::progress(&line, json);
                }
                return result;
            }
        }
    }
}
