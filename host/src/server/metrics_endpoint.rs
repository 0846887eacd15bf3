//! `--metrics-listen`: `GET /metrics` (the registry in `crate::metrics`, for Prometheus) and
//! `GET /health` (200 while the server accepts connections and the plugin answers; 503 while
//! it shuts down, or while the plugin is hung: every call refused because as many calls as
//! `--backend-concurrency` are stuck). HTTP/1 by hyper; meant for loopback or a management
//! network, as it has no authentication.

use super::connection::Shared;
use super::shutdown::Shutdown;
use crate::metrics::metrics;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once: a scraper and a health check need one each. Others wait in
/// the listen backlog until one ends (at the latest after [`REQUEST_TIMEOUT`] of silence), so
/// that whoever reaches the port cannot take the descriptors the sessions need (they fit in
/// `crate::descriptors`'s reserve).
const MAX_CONNECTIONS: usize = 8;

/// Serves until the process ends: through the shutdown too, so that `/health` says so.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: Shutdown) {
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(place) = places.clone().acquire_owned().await else {
            return; // never closed
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("metrics endpoint: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        let respond = hyper::service::service_fn(move |request| {
            let response = respond(&request, &shared, &shutdown);
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(REQUEST_TIMEOUT)
            // One request a connection: an idle kept-alive one would hold its place.
            .keep_alive(false)
            .serve_connection(TokioIo::new(stream), respond);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("metrics endpoint: {error}");
            }
            drop(place);
        });
    }
}

fn respond(
    request: &Request<Incoming>,
    shared: &Shared,
    shutdown: &Shutdown,
) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics().encode(),
        ),
        (&Method::GET, "/health") => {
            let (status, text) = if shutdown.stop_accepting.is_cancelled() {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else if shared.current_service().plugin.is_hung() {
                (StatusCode::SERVICE_UNAVAILABLE, "plugin hung\n")
            } else {
                (StatusCode::OK, "ok\n")
            };
            reply(status, "text/plain; charset=utf-8", text.into())
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "GET /metrics or /health\n".into(),
        ),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
