//! The dashboard's page, served by `millrace serve` itself at `/`: one HTML page,
//! its script and its style sheet, compiled into the binary (no bundler, nothing
//! fetched from elsewhere). The page asks for a token, keeps it in the tab's
//! session storage and sends it as a bearer token to the same API the CLI uses,
//! so a tenant sees in the page exactly what the API lets it see. The files are
//! public; everything they show comes through the authenticated API.
//!
//! Every answer carries a content security policy that allows only this origin's
//! script, style and API (no inline script or style, no frames, no forms posting
//! elsewhere), so text from the server that slipped into the page as markup could
//! still not run.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// What the dashboard's answers may load and run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const APP_CSS: &str = include_str!("dashboard/app.css");

/// The dashboard's routes: `/`, `/ui/app.js` and `/ui/app.css`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { file(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/ui/app.js",
            get(|| async { file(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/ui/app.css",
            get(|| async { file(APP_CSS, "text/css; charset=utf-8") }),
        )
}

fn file(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        // The page is small and changes with the binary: always ask.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body)
}
