//! The HTTP front door: a relay on any method and path, plus `/health`,
//! `/ready` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::{BodyExt, Limited};

use crate::chain_view::ChainView;
use crate::error::{RelayError, rescue};
use crate::pipeline::{Incoming, Relayer};

/// Readiness: false until caches and the block feed are warm, and again
/// while draining.
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    /// Marks the process ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the process is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

struct AppState<C: ChainView> {
    relayer: Arc<Relayer<C>>,
    ready: Arc<Readiness>,
    registry: prometheus::Registry,
    max_body: usize,
}

/// The relay router.
pub fn router<C: ChainView>(
    relayer: Arc<Relayer<C>>,
    ready: Arc<Readiness>,
    registry: prometheus::Registry,
    max_body: usize,
) -> Router {
    let state = Arc::new(AppState {
        relayer,
        ready,
        registry,
        max_body,
    });
    Router::new()
        .route("/health", get(|| async { "OK" }))
        .route("/healthz", get(|| async { "OK" }))
        .route("/ready", get(ready_handler::<C>))
        .route("/metrics", get(metrics_handler::<C>))
        .fallback(relay_handler::<C>)
        .with_state(state)
}

async fn ready_handler<C: ChainView>(State(s): State<Arc<AppState<C>>>) -> Response {
    let height = s.relayer.chain().current_height();
    // A publish queue more than half full means Redis is not keeping up:
    // let the load balancer send relays to replicas that can pay for them.
    let backlog = s.relayer.publish_backlog();
    let backlog_ok = backlog <= s.relayer.publish_capacity() / 2;
    let ready = s.ready.get() && height > 0 && backlog_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "block_height": height,
        "publish_backlog": backlog,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn metrics_handler<C: ChainView>(State(s): State<Arc<AppState<C>>>) -> Response {
    let mut out = String::new();
    match prometheus::TextEncoder::new().encode_utf8(&s.registry.gather(), &mut out) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            out,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn relay_handler<C: ChainView>(
    State(s): State<Arc<AppState<C>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match Limited::new(body, s.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let err = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                RelayError::BodyTooLarge { limit: s.max_body }
            } else {
                RelayError::ReadBody(e.to_string())
            };
            return rescue(&err);
        }
    };
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let incoming = Incoming {
        rpc_type: text("rpc-type"),
        simulation_key_id: text("pocket-simulation-key-id"),
        body,
    };
    match s.relayer.serve(incoming).await {
        Ok(bytes) => {
            let mut resp = (StatusCode::OK, bytes).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
        Err(e) => {
            if e.blame() == crate::error::Blame::Us {
                tracing::warn!(error = %e, "relay failed on our side");
            }
            rescue(&e)
        }
    }
}
