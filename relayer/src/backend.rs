//! Forwarding a relay's HTTP request to the operator's node: URL building,
//! pooled connections, timeouts, retry on an alternate node for connection
//! errors only, a per-node circuit breaker, and gzip decoding.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use protocol::pb::sdk::types::{Header, PokthttpRequest, PokthttpResponse};

use crate::config::BackendConfig;
use crate::error::RelayError;

/// What the node answered.
#[derive(Debug, Clone)]
pub struct BackendReply {
    /// HTTP status.
    pub status: u16,
    /// Headers, canonical names, multi-valued, sorted by name.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Uncompressed body.
    pub body: Bytes,
}

impl BackendReply {
    /// The `POKTHTTPResponse` payload of the relay response.
    pub fn to_payload(&self) -> PokthttpResponse {
        PokthttpResponse {
            status_code: u32::from(self.status),
            header: self
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Header {
                            key: k.clone(),
                            values: v.clone(),
                        },
                    )
                })
                .collect(),
            body_bz: self.body.to_vec(),
        }
    }
}

struct Node {
    base: Uri,
    failures: AtomicU32,
    open_until_ms: AtomicU64,
}

/// The nodes of one (service, backend kind).
pub struct Backend {
    nodes: Vec<Node>,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: Client<HttpConnector, Full<Bytes>>,
    breaker_failures: u32,
    breaker_cooldown: Duration,
    max_response_bytes: usize,
    epoch: Instant,
}

/// Identity of the relay, sent to the node as `Pocket-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct RelayContext<'a> {
    /// Supplier operator address.
    pub supplier: &'a str,
    /// Service id.
    pub service: &'a str,
    /// Application address.
    pub application: &'a str,
}

impl Backend {
    /// A backend from its config. Fails on URLs or headers that cannot be used.
    pub fn new(cfg: &BackendConfig, max_response_bytes: usize) -> Result<Arc<Self>, String> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(cfg.connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(30)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        let nodes = cfg
            .urls
            .iter()
            .map(|u| {
                let base: Uri = u.parse().map_err(|e| format!("{u}: {e}"))?;
                Ok(Node {
                    base,
                    failures: AtomicU32::new(0),
                    open_until_ms: AtomicU64::new(0),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let headers = cfg
            .headers
            .iter()
            .map(|(k, v)| {
                Ok((
                    HeaderName::try_from(k.as_str()).map_err(|e| format!("header {k}: {e}"))?,
                    HeaderValue::try_from(v.as_str()).map_err(|e| format!("header {k}: {e}"))?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Arc::new(Backend {
            nodes,
            headers,
            client,
            breaker_failures: cfg.breaker_failures.max(1),
            breaker_cooldown: cfg.breaker_cooldown,
            max_response_bytes,
            epoch: Instant::now(),
        }))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether any node is usable (breaker closed or cooling down over).
    pub fn has_healthy(&self) -> bool {
        let now = self.now_ms();
        self.nodes
            .iter()
            .any(|n| n.open_until_ms.load(Ordering::Relaxed) <= now)
    }

    fn record(&self, node: &Node, ok: bool) {
        if ok {
            node.failures.store(0, Ordering::Relaxed);
            return;
        }
        let n = node.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.breaker_failures {
            let until = self.now_ms() + self.breaker_cooldown.as_millis() as u64;
            node.open_until_ms.store(until, Ordering::Relaxed);
            node.failures.store(0, Ordering::Relaxed);
            tracing::warn!(node = %node.base, "backend circuit breaker open");
        }
    }

    /// Sends `req` to the first usable node, moving to the next one only when
    /// the connection could not be made. The whole call, body included, is
    /// bounded by `timeout`.
    pub async fn call(
        &self,
        req: &PokthttpRequest,
        ctx: RelayContext<'_>,
        timeout: Duration,
    ) -> Result<BackendReply, RelayError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let now = self.now_ms();
        let mut last_err = "no backend node available (all circuit breakers open)".to_owned();
        for node in self
            .nodes
            .iter()
            .filter(|n| n.open_until_ms.load(Ordering::Relaxed) <= now)
        {
            let request = build_request(&node.base, req, &self.headers, ctx)?;
            let result = tokio::time::timeout_at(deadline, self.client.request(request)).await;
            let resp = match result {
                Err(_) => {
                    // A slow node is not a broken node: no breaker count, no retry
                    // (the relay's time budget is spent).
                    return Err(RelayError::BackendUnavailable(format!(
                        "{} timed out after {timeout:?}",
                        node.base
                    )));
                }
                Ok(Err(e)) if e.is_connect() => {
                    self.record(node, false);
                    last_err = format!("{}: connect: {e}", node.base);
                    continue;
                }
                Ok(Err(e)) => {
                    self.record(node, false);
                    return Err(RelayError::BackendUnavailable(format!(
                        "{}: {e}",
                        node.base
                    )));
                }
                Ok(Ok(resp)) => resp,
            };
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, self.max_response_bytes);
            let body = match tokio::time::timeout_at(deadline, body.collect()).await {
                Err(_) => {
                    return Err(RelayError::BackendUnavailable(format!(
                        "{} body timed out after {timeout:?}",
                        node.base
                    )));
                }
                Ok(Err(e)) => {
                    self.record(node, false);
                    return Err(RelayError::BackendUnavailable(format!(
                        "{} body: {e}",
                        node.base
                    )));
                }
                Ok(Ok(b)) => b.to_bytes(),
            };
            self.record(node, parts.status.as_u16() < 500);
            return Ok(reply_from(parts.status.as_u16(), &parts.headers, body));
        }
        Err(RelayError::BackendUnavailable(last_err))
    }
}

fn build_request(
    base: &Uri,
    req: &PokthttpRequest,
    extra: &[(HeaderName, HeaderValue)],
    ctx: RelayContext<'_>,
) -> Result<Request<Full<Bytes>>, RelayError> {
    let uri = backend_uri(base, &req.url)
        .map_err(|e| RelayError::Invalid(format!("request url {:?}: {e}", req.url)))?;
    let method = if req.method.is_empty() {
        Method::POST
    } else {
        Method::from_bytes(req.method.as_bytes())
            .map_err(|_| RelayError::Invalid(format!("http method {:?}", req.method)))?
    };
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, h) in &req.header {
        // Hop-by-hop and framing headers are ours to set.
        if matches!(
            name.to_ascii_lowercase().as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding" | "accept-encoding"
        ) {
            continue;
        }
        for v in &h.values {
            builder = builder.header(name.as_str(), v.as_str());
        }
    }
    for (k, v) in extra {
        builder = builder.header(k, v);
    }
    builder = builder
        .header("Accept-Encoding", "identity")
        .header("Pocket-Supplier", ctx.supplier)
        .header("Pocket-Service", ctx.service)
        .header("Pocket-Application", ctx.application);
    builder
        .body(Full::new(Bytes::from(req.body_bz.clone())))
        .map_err(|e| RelayError::Invalid(format!("cannot build backend request: {e}")))
}

/// The node URL for a relay: the node's scheme and authority, the node's base
/// path joined with the request's path (not duplicated when the request path
/// already starts with it, no `//`), the request's query then the node's.
pub fn backend_uri(base: &Uri, request_url: &str) -> Result<Uri, String> {
    let (req_path, req_query) = split_path_query(request_url);
    let base_path = base.path().trim_end_matches('/');
    let req_path = if req_path.is_empty() { "/" } else { req_path };
    let joined = if !base_path.is_empty()
        && (req_path == base_path || req_path.starts_with(&format!("{base_path}/")))
    {
        req_path.to_owned()
    } else {
        format!("{base_path}/{}", req_path.trim_start_matches('/'))
    };
    let mut path = String::with_capacity(joined.len());
    for c in joined.chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let query: Vec<&str> = [req_query, base.query().unwrap_or("")]
        .into_iter()
        .filter(|q| !q.is_empty())
        .collect();
    let pq = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    let authority = base.authority().ok_or("backend url has no host")?.as_str();
    let scheme = base.scheme_str().unwrap_or("http");
    format!("{scheme}://{authority}{pq}")
        .parse::<Uri>()
        .map_err(|e| e.to_string())
}

fn split_path_query(url: &str) -> (&str, &str) {
    // Absolute URL: drop scheme and authority. Relative: use as is.
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find(['/', '?']) {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => url,
    };
    let rest = rest.split('#').next().unwrap_or("");
    match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    }
}

fn reply_from(status: u16, headers: &http::HeaderMap, body: Bytes) -> BackendReply {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(canonical_header_name(name.as_str()))
            .or_default()
            .push(v);
    }
    let gzip_header = map
        .get("Content-Encoding")
        .is_some_and(|v| v.iter().any(|e| e.eq_ignore_ascii_case("gzip")));
    let mut body = body;
    if gzip_header || body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        if flate2::read::MultiGzDecoder::new(body.as_ref())
            .take(256 << 20)
            .read_to_end(&mut out)
            .is_ok()
        {
            body = Bytes::from(out);
            map.remove("Content-Encoding");
            map.remove("Content-Length");
        }
    }
    BackendReply {
        status,
        headers: map,
        body,
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`.
pub fn canonical_header_name(raw: &str) -> String {
    let valid = !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return raw.to_owned();
    }
    let mut upper = true;
    raw.bytes()
        .map(|b| {
            let c = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
            c as char
        })
        .collect()
}
