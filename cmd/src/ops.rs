//! What every long-running role shares: the shutdown signal, the operations
//! endpoints (`/health`, `/ready`, `/metrics`) and serving a router with
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the process");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// A readiness flag shared by the role and its `/ready` endpoint.
#[derive(Debug, Default)]
pub struct Ready(AtomicBool);

impl Ready {
    /// Sets readiness.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the role is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// `/health` (the process runs), `/ready` (the role is ready) and
/// `/metrics` (Prometheus text format of `registry`).
pub fn ops_router(ready: Arc<Ready>, registry: prometheus::Registry) -> Router {
    Router::new()
        .route("/health", get(|| async { "OK" }))
        .route("/healthz", get(|| async { "OK" }))
        .route(
            "/ready",
            get(move || {
                let ok = ready.get();
                async move {
                    let status = if ok {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, if ok { "ready" } else { "not ready" })
                }
            }),
        )
        .route(
            "/metrics",
            get(move || async move { metrics_text(&registry) }),
        )
}

fn metrics_text(registry: &prometheus::Registry) -> Response {
    let mut out = String::new();
    match prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            out,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener on {addr}"))
}

/// Serves `router` (HTTP/1.1 and h2c) until `stop` fires, then stops
/// accepting and returns once every open connection has finished its
/// in-flight requests.
pub async fn serve(listener: TcpListener, router: Router, stop: CancellationToken) {
    let addr = listener.local_addr().ok();
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::error!(?addr, error = %e, "server failed");
    }
}

/// Runs a role until a shutdown signal: starts it (a signal during start-up
/// cancels `stop` and returns `None`), then waits for either the role ending
/// by itself (an error is returned as is) or a signal, after which `stop` is
/// cancelled and the role's own shutdown awaited. `Some(true)` when that
/// shutdown completed in time.
pub async fn run_until_signal(
    start: impl std::future::Future<
        Output = anyhow::Result<tokio::task::JoinHandle<anyhow::Result<bool>>>,
    >,
    stop: CancellationToken,
    what: &str,
) -> anyhow::Result<Option<bool>> {
    let mut done = tokio::select! {
        h = start => h?,
        _ = shutdown_signal() => {
            stop.cancel();
            tracing::info!("stopped during start-up");
            return Ok(None);
        }
    };
    tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutdown signal received");
            stop.cancel();
        }
        r = &mut done => {
            return r.with_context(|| format!("{what} task"))?.map(|_| None);
        }
    }
    Ok(Some(done.await.with_context(|| format!("{what} task"))??))
}
