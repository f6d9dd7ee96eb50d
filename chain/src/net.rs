//! Endpoints and byte streams (plaintext TCP or TLS over TCP) for the CometBFT
//! JSON-RPC and websocket clients. TLS uses rustls with the ring provider and
//! the system's root certificates.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

use crate::error::{Error, Result};

/// URL family an endpoint must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `http` or `https`.
    Http,
    /// `ws` or `wss`.
    Ws,
}

/// A parsed endpoint: host, port, TLS or not, and the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL as configured.
    pub url: String,
    /// Host name or IP literal (brackets removed).
    pub host: String,
    /// TCP port (scheme default when absent).
    pub port: u16,
    /// Whether TLS is used.
    pub tls: bool,
    /// Path and query (at least `/`).
    pub path: String,
    /// `Host` header value.
    pub authority: String,
}

impl Endpoint {
    /// Parses `url`, which must be of the given family.
    pub(crate) fn parse(url: &str, family: Scheme) -> Result<Self> {
        let bad = |reason: &str| Error::Endpoint {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let scheme = uri.scheme_str().ok_or_else(|| bad("no scheme"))?;
        let (tls, default_port) = match (family, scheme) {
            (Scheme::Http, "http") => (false, 80),
            (Scheme::Http, "https") => (true, 443),
            (Scheme::Ws, "ws") => (false, 80),
            (Scheme::Ws, "wss") => (true, 443),
            (Scheme::Http, _) => return Err(bad("scheme must be http or https")),
            (Scheme::Ws, _) => return Err(bad("scheme must be ws or wss")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        Ok(Endpoint {
            url: url.to_owned(),
            host,
            port: authority.port_u16().unwrap_or(default_port),
            tls,
            path: if path.is_empty() { "/".into() } else { path },
            authority: authority.as_str().to_owned(),
        })
    }

    /// The websocket endpoint of a CometBFT RPC endpoint: same host and port,
    /// `ws`/`wss`, path `/websocket` appended to the RPC path.
    pub(crate) fn websocket_of(&self) -> Result<Self> {
        let base = self.path.trim_end_matches('/');
        let url = format!(
            "{}://{}{}/websocket",
            if self.tls { "wss" } else { "ws" },
            self.authority,
            base
        );
        Endpoint::parse(&url, Scheme::Ws)
    }

    /// Opens a TCP (and TLS) connection within `timeout`.
    pub(crate) async fn connect(&self, timeout: Duration) -> io::Result<Stream> {
        let fut = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
            tcp.set_nodelay(true)?;
            if !self.tls {
                return Ok(Stream::Plain(tcp));
            }
            let config = tls_config()?;
            let name = ServerName::try_from(self.host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = TlsConnector::from(config).connect(name, tcp).await?;
            Ok(Stream::Tls(Box::new(tls)))
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
    }
}

/// The process-wide TLS client configuration (system roots, ring provider).
fn tls_config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<std::result::Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let loaded = rustls_native_certs::load_native_certs();
            for cert in loaded.certs {
                // A malformed system certificate is skipped, as browsers do.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no usable system root certificates".to_owned());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(io::Error::other)
}

/// A plaintext or TLS byte stream.
pub(crate) enum Stream {
    /// TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:26657", Scheme::Http).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("127.0.0.1", 26657, false)
        );
        assert_eq!(e.path, "/");
        let ws = e.websocket_of().unwrap();
        assert_eq!(ws.url, "ws://127.0.0.1:26657/websocket");
        assert_eq!(ws.path, "/websocket");

        let e = Endpoint::parse("https://rpc.example.invalid/pocket/", Scheme::Http).unwrap();
        assert_eq!((e.port, e.tls), (443, true));
        assert_eq!(
            e.websocket_of().unwrap().url,
            "wss://rpc.example.invalid/pocket/websocket"
        );

        let e = Endpoint::parse("http://[::1]:9090", Scheme::Http).unwrap();
        assert_eq!(e.host, "::1");

        assert!(Endpoint::parse("ws://x:1", Scheme::Http).is_err());
        assert!(Endpoint::parse("127.0.0.1:9090", Scheme::Http).is_err());
        assert!(Endpoint::parse("wss://x", Scheme::Ws).unwrap().tls);
    }
}
