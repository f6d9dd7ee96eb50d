//! One HTTP relay (transports.md §2): the signed `RelayRequest` as the body,
//! `Content-Type: application/json` (historical), `Rpc-Type`, the client's
//! method, the endpoint URL exactly as given.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::target::RpcKind;
use super::verify::{Failure, FailureKind};

/// Largest reply read (PATH's limit).
const MAX_REPLY_BYTES: usize = 100 << 20;

/// What came back, before any check.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body, decompressed if the relayer gzipped it.
    pub body: Bytes,
    /// From just before sending to the last body byte.
    pub latency: Duration,
}

/// Sends relays to one relayer URL over a pool of keep-alive connections.
#[derive(Clone)]
pub struct Sender {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
    method: http::Method,
    rpc_type: &'static str,
    timeout: Duration,
    extra_headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl Sender {
    /// A sender to `url` (`http://` only for now) keeping up to `connections`
    /// idle connections.
    pub fn new(
        url: &str,
        method: &str,
        kind: RpcKind,
        timeout: Duration,
        connections: usize,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("relayer URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => bail!(
                "relayer URL {url}: https is not supported by this client yet; use the relayer's http:// address"
            ),
            _ => bail!("relayer URL {url} is not an http:// URL"),
        }
        let method = http::Method::from_bytes(method.as_bytes())
            .with_context(|| format!("HTTP method {method:?}"))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections.max(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Sender {
            client,
            uri,
            method,
            rpc_type: kind.header_value(),
            timeout,
            extra_headers: Vec::new(),
        })
    }

    /// This sender, adding the header `name: value` to every relay.
    pub fn with_header(mut self, name: &str, value: &str) -> anyhow::Result<Self> {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .with_context(|| format!("header name {name:?}"))?;
        let value = http::HeaderValue::from_str(value)
            .with_context(|| format!("{name} header value {value:?}"))?;
        self.extra_headers.push((name, value));
        Ok(self)
    }

    /// The URL relays go to.
    pub fn url(&self) -> String {
        self.uri.to_string()
    }

    /// Sends one encoded, signed `RelayRequest`.
    pub async fn send(&self, body: Bytes) -> Result<Reply, Failure> {
        let mut request = http::Request::builder()
            .method(self.method.clone())
            .uri(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("Rpc-Type", self.rpc_type);
        for (name, value) in &self.extra_headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Failure::new(FailureKind::Transport, e.to_string()))?;
        let started = Instant::now();
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Failure::new(FailureKind::Transport, transport_text(&e)))?;
            let status = response.status().as_u16();
            let gzip = response
                .headers()
                .get(http::header::CONTENT_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
                .collect()
                .await
                .map_err(|e| Failure::new(FailureKind::Transport, format!("reading reply: {e}")))?
                .to_bytes();
            Ok::<_, Failure>((status, gzip, body))
        };
        let (status, gzip, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                Failure::new(
                    FailureKind::Timeout,
                    format!("no complete reply within {:?}", self.timeout),
                )
            })??;
        let latency = started.elapsed();
        let body = if gzip { gunzip(&body)? } else { body };
        Ok(Reply {
            status,
            body,
            latency,
        })
    }
}

fn gunzip(body: &[u8]) -> Result<Bytes, Failure> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_REPLY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Failure::new(FailureKind::Decode, format!("gzip reply: {e}")))?;
    if out.len() > MAX_REPLY_BYTES {
        return Err(Failure::new(
            FailureKind::Decode,
            "gzip reply larger than 100 MiB".into(),
        ));
    }
    Ok(out.into())
}

/// The error and its causes on one line.
fn transport_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
