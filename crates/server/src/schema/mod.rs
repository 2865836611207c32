//! The typed API: the shapes of request and response bodies (here and in
//! `datahooks_domain::model`), and the OpenAPI 3.1 document built from them.
//!
//! Schemas are derived with `utoipa` (`#[derive(ToSchema)]`): it reads the same serde
//! attributes (`rename_all`, `flatten`, `skip_serializing_if`) that make the wire format, so a
//! schema cannot drift from the struct that is serialized, and it emits OpenAPI 3.1 (JSON
//! Schema 2020-12: `type: ["string", "null"]`). It also leaves the router alone: routes are
//! registered with [`crate::routes::ApiRouter`] as before, and a route's bodies are declared
//! next to it (`.body::<T>()`, `.returns::<T>(201)`), so adding a typed route touches nothing
//! else. (`aide` would have replaced the router's API in every file; `schemars` alone gives
//! JSON Schema but no OpenAPI document.)
//!
//! Request bodies are still checked field by field by the parsers in `datahooks_domain::inputs`
//! and `datahooks_webhooks` (field-precise messages the SDKs show, absent vs `null` in PATCH);
//! the `…In` structs here are their contract, proved by the generated-client e2e test.

pub mod platform;
pub mod svix;

use std::borrow::Cow;

use serde::Serialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

/// Named schemas collected for `components.schemas`.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// A documented body: a named schema, alone or as a JSON array of it.
#[derive(Clone, Copy)]
pub struct Body {
    name: fn() -> Cow<'static, str>,
    collect: fn(&mut Schemas),
    array: bool,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Body({}{})",
            (self.name)(),
            if self.array { "[]" } else { "" }
        )
    }
}

fn collect<T: ToSchema>(s: &mut Schemas) {
    s.push((T::name().into_owned(), T::schema()));
    T::schemas(s);
}

impl Body {
    /// A body of type `T`.
    pub fn of<T: ToSchema>() -> Body {
        Body {
            name: T::name,
            collect: collect::<T>,
            array: false,
        }
    }

    /// A JSON array of `T`.
    pub fn list<T: ToSchema>() -> Body {
        Body {
            array: true,
            ..Body::of::<T>()
        }
    }

    /// The schema to put in an operation: a `$ref` (or an array of one).
    pub fn schema_ref(&self) -> serde_json::Value {
        let r = serde_json::json!({"$ref": format!("#/components/schemas/{}", (self.name)())});
        if self.array {
            serde_json::json!({"type": "array", "items": r})
        } else {
            r
        }
    }

    /// Adds the body's schema and the schemas it refers to.
    pub fn collect(&self, into: &mut Schemas) {
        (self.collect)(into)
    }
}

/// The error body of both APIs (`crate::error::ApiError`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A stable code, e.g. `not_found`, `missing_field`, `invalid_url`.
    pub code: String,
    /// What went wrong, for a person (the segments-ai SDK picks its exception from it).
    pub detail: String,
}

/// The body of a 422 (Svix's `HTTPValidationError`, which the `svix` client parses): `detail`
/// is a list, not a string (`crate::error::ApiError`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct ValidationErrorBody {
    /// One entry (the first fault found).
    pub detail: Vec<ValidationError>,
    /// The stable code, as in `Error`.
    pub code: String,
}

/// Svix's `ValidationError`: where and what.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationError {
    /// Where the fault lies: `["body", "since"]`, `["query", "limit"]`.
    pub loc: Vec<String>,
    /// What went wrong, for a person.
    pub msg: String,
    /// The stable code.
    #[serde(rename = "type")]
    pub kind: String,
}
