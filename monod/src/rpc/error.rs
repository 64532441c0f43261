//! The one mapping from daemon errors to JSON-RPC error objects.

use jsonrpsee::types::ErrorObjectOwned;
use mono_proto::ErrorCode;

use crate::ops::OpError;

/// A JSON-RPC error with one of our codes and a one-line message.
pub fn rpc_error(code: ErrorCode, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code.code(), message.into(), None::<()>)
}

impl From<OpError> for ErrorObjectOwned {
    fn from(e: OpError) -> Self {
        rpc_error(e.code(), e.to_string())
    }
}
