//! Embedded static files: the compiled stylesheet and `public/`.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use http::{HeaderMap, StatusCode};

/// `/assets/{file}`: hashed names are cached for a year as immutable, plain
/// names for an hour; both answer `If-None-Match` with 304.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((asset, immutable)) = app::assets::find(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [(ETAG, asset.etag), (CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            (CONTENT_TYPE, asset.content_type),
            (ETAG, asset.etag),
            (CACHE_CONTROL, cache),
        ],
        asset.bytes,
    )
        .into_response()
}

/// `/robots.txt`.
pub async fn robots(headers: HeaderMap) -> Response {
    serve(Path("robots.txt".to_owned()), headers).await
}
