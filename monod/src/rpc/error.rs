//! The one mapping from daemon errors to JSON-RPC error objects: every
//! error a handler returns leaves here with a code of
//! [`mono_proto::error`]'s table, so no number is written twice.

use jsonrpsee::types::ErrorObjectOwned;
use mono_proto::Code;

use crate::ops::OpError;

/// A JSON-RPC error with one of the table's codes and a one-line message.
pub fn rpc_error(code: impl Into<Code>, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code.into().code(), message.into(), None::<()>)
}

impl From<OpError> for ErrorObjectOwned {
    fn from(e: OpError) -> Self {
        rpc_error(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use mono_proto::{ErrorCode, ProtocolCode};

    use super::*;

    #[test]
    fn op_errors_leave_with_the_tables_codes_and_their_message() {
        let invalid =
            ErrorObjectOwned::from(OpError::Invalid { what: "give either all or older_than".into() });
        assert_eq!(invalid.code(), ProtocolCode::InvalidParams.code());
        assert_eq!(invalid.message(), "give either all or older_than");
        let gone = ErrorObjectOwned::from(OpError::NotRegistered { path: "/w".into() });
        assert_eq!(gone.code(), ErrorCode::NotFound.code());
        assert_eq!(gone.code(), -33001);
    }
}
