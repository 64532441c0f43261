//! Running an operation while printing its live output.

use std::future::Future;

use futures_util::FutureExt;
use jsonrpsee::core::client::{Client, Error};
use mono_proto::api::MonoApiClient;

use crate::render;

/// A fresh operation id for `ops.watch`.
pub fn op_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Subscribes to operation `op`, then runs `call` (which must start the
/// operation with the same id), printing output until the reply arrives.
pub async fn with_progress<T, F>(client: &Client, op: &str, json: bool, call: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    let mut sub = client.ops_watch(op.to_string()).await?;
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
