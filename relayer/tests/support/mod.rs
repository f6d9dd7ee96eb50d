//! Test support: loopback backends, a relayer on a free port, an HTTP client.
#![allow(dead_code, clippy::unwrap_used)]

pub mod chain;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use relayer::{ChainView, Readiness, Relayer, RelayerConfig, RelayerParts};

pub const BACKEND_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"result":"0x10"}"#;

pub fn vectors(name: &str) -> serde_json::Value {
    let path = format!("{}/../../shared/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Serves `app` on a free loopback port until the test ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A JSON-RPC node: 200 with a fixed body on `/`, 500 on `/fail`, a gzip
/// body on `/gzip`, and an echo of the request path and body on `/echo…`.
pub async fn spawn_backend() -> SocketAddr {
    use axum::http::StatusCode;
    use axum::routing::any;
    let app = Router::new()
        .route(
            "/",
            any(|| async { ([("content-type", "application/json")], BACKEND_BODY) }),
        )
        .route(
            "/fail",
            any(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "node exploded") }),
        )
        .route(
            "/gzip",
            any(|| async {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(BACKEND_BODY.as_bytes()).unwrap();
                (
                    [
                        ("content-type", "application/json"),
                        ("content-encoding", "gzip"),
                    ],
                    enc.finish().unwrap(),
                )
            }),
        )
        .fallback(any(|uri: axum::http::Uri, body: Bytes| async move {
            format!("{} {}", uri, String::from_utf8_lossy(&body))
        }));
    serve(app).await
}

pub fn service(backend: SocketAddr, path: &str) -> relayer::config::ServiceConfig {
    let mut backends = BTreeMap::new();
    backends.insert(
        relayer::config::RpcKind::Jsonrpc,
        relayer::config::BackendConfig {
            urls: vec![format!("http://{backend}{path}")],
            ..Default::default()
        },
    );
    relayer::config::ServiceConfig {
        backends,
        ..Default::default()
    }
}

pub async fn start_relayer<C: ChainView>(
    config: RelayerConfig,
    keys: Vec<rings::PrivateKey>,
    chain: C,
) -> (SocketAddr, Arc<Relayer<C>>, fred::prelude::Pool) {
    let redis = store::connect_pool(&config.redis).await.unwrap();
    let registry = prometheus::Registry::new();
    let max_body = config.max_body_bytes;
    let relayer = Relayer::new(
        RelayerParts {
            config,
            supplier_keys: keys,
            redis: redis.clone(),
            registry: registry.clone(),
        },
        chain,
    )
    .unwrap();
    let ready = Arc::new(Readiness::default());
    ready.set(true);
    let app = relayer::router(relayer.clone(), ready, registry, max_body);
    (serve(app).await, relayer, redis)
}

pub async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Bytes) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// `GET http://<addr><path>`: status and body as JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let resp = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// Keys matching `pattern` in Redis (tests use a fresh namespace).
pub async fn redis_keys(pool: &fred::prelude::Pool, pattern: &str) -> Vec<String> {
    use fred::prelude::*;
    let v: Vec<String> = pool
        .custom(fred::cmd!("KEYS"), vec![pattern])
        .await
        .unwrap();
    v
}
