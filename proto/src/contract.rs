//! The machinery behind the one declaration of the API ([`crate::methods`]).
//!
//! Clients and the daemon used to learn the API from three places (the
//! jsonrpsee trait, the method names with hand-written parameter structs,
//! and the OpenRPC table), and only the names were checked against each
//! other, so a parameter could drift. Now the table in `methods` is written
//! once, in the grammar of the [`contract!`] macro defined here, and that
//! one macro call yields everything else:
//!
//! - the method-name constants and [`crate::methods::ALL`];
//! - one parameter struct per method (`EnvInitParams`, ...), which knows its
//!   method name and result type ([`Call`], [`Subscribe`]);
//! - [`crate::methods::METHODS`]: every method's summary, description,
//!   parameters (name, meaning, whether required, and with the `schema`
//!   feature their JSON Schema), result or notification, and errors; the
//!   OpenRPC document ([`crate::openrpc`]) and the daemon's check of unknown
//!   parameters read it;
//! - the jsonrpsee trait `MonoApi` ([`crate::api`]), whose server half monod
//!   implements and whose client half `mono` calls.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ErrorCode;
#[cfg(feature = "schema")]
use crate::schema::SchemaFn;

/// Errors any request may get, whatever its method: the socket's limits
/// (size, time, connections), a caller of another user, a daemon stopping
/// while the request arrives. The document lists them on every method.
pub const TRANSPORT_ERRORS: [ErrorCode; 3] =
    [ErrorCode::Limit, ErrorCode::PermissionDenied, ErrorCode::ShuttingDown];

/// One named parameter of a method.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The parameter's key in the params object.
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// Whether a call must give it (its type is not an `Option`).
    pub required: bool,
    /// The schema of its value (an optional parameter is simply left out).
    #[cfg(feature = "schema")]
    pub schema: SchemaFn,
}

/// A method's result, or the payload of a subscription's notifications.
#[derive(Debug, Clone, Copy)]
pub struct Payload {
    /// A name for it (OpenRPC content descriptors have one).
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// Its schema.
    #[cfg(feature = "schema")]
    pub schema: SchemaFn,
}

/// How a method answers.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A call with one result, over HTTP POST or WebSocket.
    Call(Payload),
    /// A subscription (WebSocket only): the call returns a subscription id,
    /// then the daemon sends `notification`s carrying `item`s until the
    /// subscription ends or the client calls `unsubscribe`.
    Subscription {
        /// The method name of the notifications.
        notification: &'static str,
        /// What each notification carries as `params.result`.
        item: Payload,
        /// The method that ends the subscription (it takes the id).
        unsubscribe: &'static str,
    },
}

/// Everything the contract says about one method.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    /// The method name on the wire.
    pub name: &'static str,
    /// One line.
    pub summary: &'static str,
    /// The details a caller needs.
    pub description: &'static str,
    /// Named parameters, in order.
    pub params: &'static [Param],
    /// Call or subscription.
    pub kind: Kind,
    /// The codes the method itself may answer with, beside the
    /// [`TRANSPORT_ERRORS`] of every request.
    pub errors: &'static [ErrorCode],
}

impl Method {
    /// The names of its parameters, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &'static str> {
        self.params.iter().map(|p| p.name)
    }

    /// The first of the keys of a params object that is none of this
    /// method's parameters, in a message naming it and those the method
    /// takes (what the daemon answers with -32602).
    pub fn unknown_param<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let unknown = keys.into_iter().find(|k| !self.params.iter().any(|p| p.name == *k))?;
        let takes = if self.params.is_empty() {
            "it takes none".to_string()
        } else {
            let names: Vec<&str> = self.param_names().collect();
            format!("it takes: {}", names.join(", "))
        };
        Some(format!("unknown parameter {unknown:?} for {}; {takes}", self.name))
    }
}

/// The parameters of a method with one result: its name and result type,
/// so a client can send them and read what comes back without naming either.
pub trait Call: Serialize {
    /// The method name.
    const METHOD: &'static str;
    /// What the method returns.
    type Result: DeserializeOwned;
}

/// The parameters of a subscription: its names and item type.
pub trait Subscribe: Serialize {
    /// The subscribe method.
    const METHOD: &'static str;
    /// The method name of its notifications.
    const NOTIFICATION: &'static str;
    /// The method that ends it.
    const UNSUBSCRIBE: &'static str;
    /// What each notification carries.
    type Item: DeserializeOwned;
}

/// A required parameter of type `T` in the table (`path: Required<String>`),
/// beside `Option<T>` for an optional one. Only a marker: the value is a
/// plain `T`. Spelling both wrappers out keeps `Option` visible to
/// jsonrpsee's macro, which makes a parameter optional only when it sees
/// that word (a type passed through a `macro_rules!` fragment is opaque).
pub type Required<T> = T;

/// What the table knows of a parameter's type: `Option<T>` is optional,
/// the rest ([`Required`]) required. Required types are listed one by one
/// below (a blanket impl would overlap `Option`); a new one needs a line.
pub trait ParamValue {
    /// Whether a call must give the parameter.
    const REQUIRED: bool;
    /// Whether the value is left out of a params object (`None`).
    fn is_absent(&self) -> bool;
}

impl<T> ParamValue for Option<T> {
    const REQUIRED: bool = false;

    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl ParamValue for String {
    const REQUIRED: bool = true;

    fn is_absent(&self) -> bool {
        false
    }
}

/// The schema of a result: its own type's, or the one named after `as`.
#[cfg(feature = "schema")]
macro_rules! result_schema {
    ($wire:ty) => {
        $crate::schema::schema::<$wire>
    };
    ($wire:ty, $documented:ty) => {
        $crate::schema::schema::<$documented>
    };
}
#[cfg(feature = "schema")]
pub(crate) use result_schema;

/// Declares the whole API: see the module documentation for what it yields,
/// and [`crate::methods`] for the one place it is called. Calls come first,
/// then subscriptions (each followed by its unsubscribe method), which is
/// also the order of [`crate::methods::ALL`] and of the OpenRPC document.
///
/// A call: `CONST = "wire.name", fn rust_name, ParamsStruct { summary,
/// description, params: { name: Required<T> => "meaning", name: Option<T>
/// => "meaning", ... }, result: "name": Type [as DocumentedType] =>
/// "meaning", errors: [ErrorCode variants] }`. A subscription has
/// `notification` and `unsubscribe` names, and an `item` instead of a
/// result.
macro_rules! contract {
    (
        $(#$tattr:tt)* trait $trait:ident(&$slf:tt);
        calls {
            $(
                $cconst:ident = $cwire:tt, fn $cfn:ident, $cparams:ident {
                    summary: $csummary:literal,
                    description: $cdescription:literal,
                    params: { $( $cp:ident : $cwrap:ident < $cpty:ty > => $cpdoc:expr ),* $(,)? },
                    result: $cresname:literal : $cres:ty $(as $cresdoc_ty:ty)? => $cresdoc:expr,
                    errors: [ $( $cerr:ident ),* $(,)? ] $(,)?
                }
            )*
        }
        subscriptions {
            $(
                $sconst:ident = $swire:tt, fn $sfn:ident, $sparams:ident {
                    notification: $snconst:ident = $snotif:tt,
                    unsubscribe: $suconst:ident = $sunsub:tt,
                    summary: $ssummary:literal,
                    description: $sdescription:literal,
                    params: { $( $sp:ident : $swrap:ident < $spty:ty > => $spdoc:expr ),* $(,)? },
                    item: $sitemname:literal : $sitem:ty => $sitemdoc:expr,
                    errors: [ $( $serr:ident ),* $(,)? ] $(,)?
                }
            )*
        }
    ) => {
        $(
            #[doc = concat!("`", $cwire, "`: ", $csummary)]
            pub const $cconst: &str = $cwire;
        )*
        $(
            #[doc = concat!("`", $swire, "` (subscription): ", $ssummary)]
            pub const $sconst: &str = $swire;
            #[doc = concat!("`", $snotif, "`: the notifications of `", $swire, "`.")]
            pub const $snconst: &str = $snotif;
            #[doc = concat!("`", $sunsub, "`: ends a subscription made with `", $swire, "`.")]
            pub const $suconst: &str = $sunsub;
        )*

        /// Every method the daemon serves, unsubscribe methods included.
        pub const ALL: &[&str] = &[$($cconst,)* $($sconst, $suconst,)*];

        $(
            #[doc = concat!("The parameters of `", $cwire, "`.")]
            #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $cparams {
                $(
                    #[doc = $cpdoc]
                    #[serde(skip_serializing_if = "crate::contract::ParamValue::is_absent")]
                    pub $cp: $cwrap<$cpty>,
                )*
            }

            impl $crate::contract::Call for $cparams {
                const METHOD: &'static str = $cconst;
                type Result = $cres;
            }
        )*
        $(
            #[doc = concat!("The parameters of `", $swire, "`.")]
            #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $sparams {
                $(
                    #[doc = $spdoc]
                    #[serde(skip_serializing_if = "crate::contract::ParamValue::is_absent")]
                    pub $sp: $swrap<$spty>,
                )*
            }

            impl $crate::contract::Subscribe for $sparams {
                const METHOD: &'static str = $sconst;
                const NOTIFICATION: &'static str = $snconst;
                const UNSUBSCRIBE: &'static str = $suconst;
                type Item = $sitem;
            }
        )*

        /// Every method of the API with everything the contract says about
        /// it, in document order (unsubscribe methods are described by their
        /// subscription's entry).
        pub const METHODS: &[$crate::contract::Method] = &[
            $(
                $crate::contract::Method {
                    name: $cconst,
                    summary: $csummary,
                    description: $cdescription,
                    params: &[
                        $(
                            $crate::contract::Param {
                                name: stringify!($cp),
                                description: $cpdoc,
                                required: <$cwrap<$cpty> as $crate::contract::ParamValue>::REQUIRED,
                                #[cfg(feature = "schema")]
                                schema: $crate::schema::schema::<$cpty>,
                            },
                        )*
                    ],
                    kind: $crate::contract::Kind::Call($crate::contract::Payload {
                        name: $cresname,
                        description: $cresdoc,
                        #[cfg(feature = "schema")]
                        schema: $crate::contract::result_schema!($cres $(, $cresdoc_ty)?),
                    }),
                    errors: &[$($crate::ErrorCode::$cerr),*],
                },
            )*
            $(
                $crate::contract::Method {
                    name: $sconst,
                    summary: $ssummary,
                    description: $sdescription,
                    params: &[
                        $(
                            $crate::contract::Param {
                                name: stringify!($sp),
                                description: $spdoc,
                                required: <$swrap<$spty> as $crate::contract::ParamValue>::REQUIRED,
                                #[cfg(feature = "schema")]
                                schema: $crate::schema::schema::<$spty>,
                            },
                        )*
                    ],
                    kind: $crate::contract::Kind::Subscription {
                        notification: $snconst,
                        item: $crate::contract::Payload {
                            name: $sitemname,
                            description: $sitemdoc,
                            #[cfg(feature = "schema")]
                            schema: $crate::schema::schema::<$sitem>,
                        },
                        unsubscribe: $suconst,
                    },
                    errors: &[$($crate::ErrorCode::$serr),*],
                },
            )*
        ];

        /// The jsonrpsee trait of the API: the server half is implemented by
        /// monod, the client half is generated for `mono`. Every method takes
        /// named parameters (`param_kind = map`).
        #[cfg(any(feature = "server", feature = "client"))]
        pub mod rpc {
            #![allow(missing_docs)]

            #[allow(unused_imports)]
            use $crate::contract::Required;

            /// Every method of monod.
            $(#$tattr)*
            pub trait $trait {
                $(
                    #[doc = $csummary]
                    #[doc = ""]
                    #[doc = $cdescription]
                    #[method(name = $cwire, param_kind = map)]
                    async fn $cfn(&$slf $(, $cp: $cwrap<$cpty>)*) -> ::jsonrpsee::core::RpcResult<$cres>;
                )*
                $(
                    #[doc = $ssummary]
                    #[doc = ""]
                    #[doc = $sdescription]
                    #[subscription(name = $swire => $snotif, unsubscribe = $sunsub, item = $sitem, param_kind = map)]
                    async fn $sfn(&$slf $(, $sp: $swrap<$spty>)*) -> ::jsonrpsee::core::SubscriptionResult;
                )*
            }
        }
    };
}
pub(crate) use contract;
