//! Unknown parameters are refused, not ignored.
//!
//! jsonrpsee's generated handlers read the names they know from a params
//! object and drop the rest, so a misspelt optional parameter (`{"folow":
//! false}`) would silently mean its default. Every handler is wrapped here
//! to answer a params object with a key its method does not take with
//! -32602 (invalid params), naming the key and the parameters the method
//! takes, before the handler runs. The names come from the one declaration
//! of the API (`mono_proto::methods::METHODS`), the same one the handlers'
//! trait and the OpenRPC document are made from. Params given by position,
//! and the unsubscribe methods (whose one parameter is the subscription
//! id), are left to jsonrpsee.

use std::collections::BTreeMap;
use std::sync::Arc;

use jsonrpsee::core::server::{
    ConnectionId, Extensions, MaxResponseSize, MethodCallback, MethodResponse, MethodSink, Methods,
    SubscriptionState,
};
use jsonrpsee::types::error::INVALID_PARAMS_CODE;
use jsonrpsee::types::{ErrorObjectOwned, Id, Params};
use mono_proto::methods::Method;

/// `methods` with every method of the contract refusing unknown parameters.
pub fn refuse_unknown(methods: Methods) -> Methods {
    let mut checked = Methods::new();
    for name in methods.method_names() {
        let callback = methods.method(name).cloned().expect("a listed method has a callback");
        let callback = match mono_proto::methods::method(name) {
            Some(method) => wrap(method, callback),
            None => callback,
        };
        checked.verify_and_insert(name, callback).expect("method names are unique");
    }
    checked
}

/// The refusal of a params object naming a parameter `method` does not
/// take; `None` for anything else (jsonrpsee then reads the params).
fn unknown(method: &Method, params: &Params<'_>) -> Option<ErrorObjectOwned> {
    let raw = params.as_str()?;
    if !raw.trim_start().starts_with('{') {
        return None;
    }
    // Values are skipped unread: only the keys matter here.
    let keys: BTreeMap<String, serde::de::IgnoredAny> = serde_json::from_str(raw).ok()?;
    let message = method.unknown_param(keys.keys().map(String::as_str))?;
    Some(ErrorObjectOwned::owned(INVALID_PARAMS_CODE, message, None::<()>))
}

/// `callback`, which first refuses unknown parameters of `method`.
fn wrap(method: &'static Method, callback: MethodCallback) -> MethodCallback {
    match callback {
        MethodCallback::Sync(f) => MethodCallback::Sync(Arc::new(
            move |id: Id<'_>, params: Params<'_>, max: MaxResponseSize, ext: Extensions| match unknown(
                method, &params,
            ) {
                Some(e) => MethodResponse::error(id, e),
                None => f(id, params, max, ext),
            },
        )),
        MethodCallback::Async(f) => MethodCallback::Async(Arc::new(
            move |id: Id<'static>,
                  params: Params<'static>,
                  conn: ConnectionId,
                  max: MaxResponseSize,
                  ext: Extensions| match unknown(method, &params) {
                Some(e) => Box::pin(std::future::ready(MethodResponse::error(id, e))),
                None => f(id, params, conn, max, ext),
            },
        )),
        MethodCallback::Subscription(f) => MethodCallback::Subscription(Arc::new(
            move |id: Id<'_>,
                  params: Params<'_>,
                  sink: MethodSink,
                  state: SubscriptionState<'_>,
                  ext: Extensions| match unknown(method, &params) {
                // As jsonrpsee rejects a subscription: the answer goes out
                // through the connection's sink, and comes back as the
                // subscription's (already answered) response.
                Some(e) => {
                    let response = MethodResponse::subscription_error(id, e);
                    Box::pin(async move {
                        let _ = sink.send(response.to_json()).await;
                        response
                    })
                }
                None => f(id, params, sink, state, ext),
            },
        )),
        other => other,
    }
}
