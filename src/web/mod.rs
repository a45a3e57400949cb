//! The web: the JSON API under `/api/v1` (`api/`), the server-rendered pages (`pages/`),
//! who may do what (`auth`), and the layers every request goes through.

pub mod api;
pub mod app;
pub mod auth;
pub mod charts;
pub mod error;
pub mod limit;
pub mod pages;
pub mod serve;

pub use pages::sweep_held;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::web::app::App;

/// How long a client may take to send its body: long enough for a large upload on a slow
/// link, short enough that trickled bodies cannot hold connections open.
const BODY_DEADLINE: Duration = Duration::from_secs(120);
/// How long any request may take, the body's sending included, so longer than the body's
/// deadline: a slow upload is ended by that deadline, with a clear error, not by this. A
/// return is downloaded from a built artifact, never built inside a request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(150);

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router(app: Arc<App>) -> Router {
    let (api, doc) = api::document();
    let doc = Arc::new(doc);
    let request_id = HeaderName::from_static("x-request-id");
    let limit = app.upload_limit;
    Router::new()
        .merge(pages::router())
        .nest("/api/v1", api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        // Multipart's own limit, a little above the file limit for the form's other fields.
        .layer(DefaultBodyLimit::max(limit + 64 * 1024))
        .layer(middleware::from_fn(record))
        .layer(middleware::from_fn(one_reading))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(
                    |req: &Request| {
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // The path only: a query string could carry anything.
                        tracing::info_span!("Serving a request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    },
                ))
                .layer(PropagateRequestIdLayer::new(request_id))
                // Outside the error bodies below, so that a body they rewrite is compressed
                // afresh rather than sent plain under the old body's `content-encoding`.
                .layer(CompressionLayer::new())
                // Errors the layers and extractors answer in plain text (a body over the
                // limit, a time-out, a query that does not parse, an unknown route) become
                // the API's JSON error or the pages' error page.
                .layer(middleware::from_fn(error_bodies))
                // No sniffing, no framing, no inline scripts or styles, no referrer sent
                // off the site.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP),
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                .layer(RequestBodyDeadlineLayer::new(BODY_DEADLINE))
                .layer(RequestBodyLimitLayer::new(limit + 64 * 1024)),
        )
        .with_state(app)
}

/// Free space below which the service says it is not ready: a landing or an upload would
/// fail on the disk, so traffic is better sent to an instance that has room.
const MOST_FULL: u64 = 100 << 20;

/// Ready when the register answers and the data folder has room.
async fn ready(State(app): State<Arc<App>>) -> Response {
    if let Err(e) = app.store().revision().await {
        tracing::warn!(error = format!("{e:#}"), "The register does not answer.");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the register does not answer\n",
        )
            .into_response();
    }
    match free_space(&app.settings.data_dir) {
        Some(free) if free < MOST_FULL => {
            tracing::warn!(free, "The data folder is nearly full.");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the data folder has {} KiB free, less than the {} MiB that landings need\n",
                    free >> 10,
                    MOST_FULL >> 20
                ),
            )
                .into_response()
        }
        _ => (StatusCode::OK, "ready\n").into_response(),
    }
}

/// Bytes free to this process on the file system that holds `dir` (or, while it does not
/// exist yet, its nearest folder that does).
fn free_space(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = dir.ancestors().find(|d| d.exists())?;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is valid, and statvfs writes it for a NUL-ended path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail * stat.f_frsize)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// Counts each request and times it, by route pattern (never the raw path, which would
/// make a series per provider code or period).
async fn record(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics::histogram!(
        "tally_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// A request that changes nothing reads the register's counters once, and every kept
/// reading it uses is the one labelled with them (`registry::seen`).
async fn one_reading(req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        crate::registry::seen::one_reading(next.run(req)).await
    } else {
        next.run(req).await
    }
}

/// Gives every error the body its caller reads: `{"error": {"code", "message"}}` under
/// `/api/`, the error page elsewhere. Responses that already have one pass untouched.
async fn error_bodies(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    // Health probes answer in a line of plain text, which their callers log as it is.
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz");
    let response = next.run(req).await;
    if probe {
        return response;
    }
    let status = response.status();
    let typed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || typed {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are a line or two; anything longer is cut, never buffered whole.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => crate::web::error::ApiError::PayloadTooLarge(format!(
            "the request is larger than the limit ({message})"
        )),
        StatusCode::NOT_FOUND => crate::web::error::ApiError::NotFound(format!(
            "there is nothing at this address ({message})"
        )),
        StatusCode::UNAUTHORIZED => crate::web::error::ApiError::Unauthorized(message),
        StatusCode::FORBIDDEN => crate::web::error::ApiError::Forbidden(message),
        StatusCode::UNPROCESSABLE_ENTITY => crate::web::error::ApiError::Unprocessable(message),
        s if s.is_server_error() => {
            crate::web::error::ApiError::Internal(anyhow::anyhow!("{s}: {message}"))
        }
        _ => crate::web::error::ApiError::BadRequest(message),
    };
    let mut out = if api {
        let mut body = error.body();
        // The status stays as it was (405, 408, 415…); the code says it in words.
        body.error.code = match status {
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed".into(),
            StatusCode::REQUEST_TIMEOUT => "timeout".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type".into(),
            _ => body.error.code,
        };
        error.log();
        (status, Json(body)).into_response()
    } else {
        let mut page = pages::PageError(error, pages::Nav::default()).into_response();
        *page.status_mut() = status;
        page
    };
    // The new body's own framing stands; the old one's (its type, length and encoding)
    // would describe bytes that are no longer sent.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && name != header::CONTENT_ENCODING
        {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
