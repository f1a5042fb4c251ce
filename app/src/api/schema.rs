//! JSON Schema documents the portal publishes beside what they describe,
//! each served with the absolute address it is served at as its `$id`: JSON
//! Schema 2020-12 wants an absolute URI there, so that validators resolve
//! references against the portal rather than against wherever they found
//! the file.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};

/// `schema` (a document compiled into the binary) with `$id` set to `id`.
pub fn with_id(schema: &str, id: &str) -> Result<serde_json::Value, serde_json::Error> {
    let mut document: serde_json::Value = serde_json::from_str(schema)?;
    if let Some(object) = document.as_object_mut() {
        object.insert("$id".to_owned(), serde_json::Value::String(id.to_owned()));
    }
    Ok(document)
}

/// Serves `schema` with `$id` set to `id`: public, cacheable for an hour,
/// readable from any origin.
pub fn response(schema: &str, id: &str) -> Response {
    match with_id(schema, id) {
        Ok(document) => (
            [
                (CONTENT_TYPE, "application/schema+json"),
                (CACHE_CONTROL, "public, max-age=3600"),
                (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            document.to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a published JSON Schema is not JSON");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The schema is unavailable just now.",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_id;

    #[test]
    fn every_published_schema_parses_and_takes_its_address_as_id() {
        for schema in [
            super::super::subprocessors::JSON_SCHEMA,
            super::super::consent::RECEIPT_SCHEMA,
        ] {
            let document = with_id(schema, "https://portal.example/x.schema.json")
                .expect("the schema is JSON");
            assert_eq!(document["$id"], "https://portal.example/x.schema.json");
            assert!(document["$schema"].is_string());
        }
    }
}
