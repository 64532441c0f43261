//! JSON Schema helpers for the contract (`schema` feature): how a parameter,
//! result or notification type becomes a schema, and the few schemas that
//! are not a Rust type of the wire.
//!
//! Kept apart from [`crate::openrpc`] so that the method table
//! ([`crate::methods`]) can name these schemas while the document builder
//! reads the table, without the two modules importing each other.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// Makes the JSON Schema of one Rust type. Named types (structs, enums) are
/// added to the generator's definitions, which become
/// `components.schemas`, and referenced with `$ref`.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a [`SchemaFn`].
pub fn schema<T: JsonSchema + ?Sized>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The id of a subscription: jsonrpsee gives integers, and accepts strings.
pub struct SubscriptionId;

impl JsonSchema for SubscriptionId {
    fn schema_name() -> Cow<'static, str> {
        "SubscriptionId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The id the subscribe call returned; every notification carries it as \
                            params.subscription.",
            "oneOf": [{ "type": "integer", "minimum": 0 }, { "type": "string" }],
        })
    }
}

/// The result of `rpc.discover`: an OpenRPC document. Described by its
/// required top-level members only (the meta-schema has the rest), so the
/// document needs nothing from the network to be read.
pub struct OpenRpcDocument;

impl JsonSchema for OpenRpcDocument {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "OpenRpcDocument".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "OpenRPC document",
            "description": "An OpenRPC 1.2.6 document; its full schema is the OpenRPC meta-schema, \
                            https://meta.open-rpc.org/.",
            "type": "object",
            "required": ["openrpc", "info", "methods"],
            "properties": {
                "openrpc": { "type": "string" },
                "info": { "type": "object" },
                "servers": { "type": "array", "items": { "type": "object" } },
                "methods": { "type": "array", "items": { "type": "object" } },
                "components": { "type": "object" },
            },
        })
    }
}
