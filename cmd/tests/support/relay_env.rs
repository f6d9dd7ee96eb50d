//! A network on loopback for the relay client's tests and the relayer bench:
//! chainsim (paused: the session stays open), a fast JSON-RPC backend, Redis
//! (the caller starts it) and the production relayer over the production
//! chain cache. Everything binds 127.0.0.1 only.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chainsim::{ChainSim, ChainSimHandle, Genesis, Options};
use relayer::{Readiness, Relayer, RelayerConfig, RelayerParts};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const APP_KEY: [u8; 32] = key(1);
pub const GATEWAY_KEY: [u8; 32] = key(2);
pub const SUPPLIER_KEY: [u8; 32] = key(3);
/// Not on chain: a relayer signing with it signs for the wrong key.
pub const WRONG_SUPPLIER_KEY: [u8; 32] = key(9);

/// The backend's answer to every request.
pub const BACKEND_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"result":"0x10"}"#;

const fn key(b: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = b;
    k
}

pub fn pk(k: &[u8; 32]) -> rings::PrivateKey {
    rings::PrivateKey::from_bytes(k).unwrap()
}

pub fn addr(k: &[u8; 32]) -> String {
    protocol::address::address_from_pubkey(&pk(k).public_key()).unwrap()
}

/// One application delegating to one gateway, one supplier staked for
/// `anvil` at `endpoint` for JSON-RPC, REST and CometBFT; sessions of 10
/// blocks. `app_stake` sets the relay meter's budget.
pub fn genesis(app_stake: u64, endpoint: &str) -> Genesis {
    let h = hex::encode;
    let yaml = format!(
        r#"
chain_id: pocket
params:
  application: {{ min_stake_upokt: 1 }}
services:
  - {{ id: anvil, compute_units_per_relay: 1 }}
gateways:
  - {{ key: {{ private_key: "{gw}" }}, stake_upokt: 1000000000 }}
applications:
  - key: {{ private_key: "{app}" }}
    stake_upokt: {app_stake}
    service_id: anvil
    delegatee_gateways: ["{gw_addr}"]
suppliers:
  - operator: {{ private_key: "{sup}" }}
    stake_upokt: 1000000000
    services:
      - service_id: anvil
        endpoints:
          - {{ url: "{endpoint}", rpc_type: json_rpc }}
          - {{ url: "{endpoint}", rpc_type: rest }}
          - {{ url: "{endpoint}", rpc_type: comet_bft }}
"#,
        gw = h(GATEWAY_KEY),
        app = h(APP_KEY),
        gw_addr = addr(&GATEWAY_KEY),
        sup = h(SUPPLIER_KEY),
    );
    Genesis::from_yaml(&yaml).unwrap()
}

/// A paused simulator at height 2 (inside the session of blocks 1–10).
pub async fn start_sim(genesis: Genesis, cancel: &CancellationToken) -> ChainSimHandle {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = Options {
        grpc_listen: loopback,
        rpc_listen: loopback,
        block_time: Duration::from_secs(3600),
        start_paused: true,
    };
    let sim = ChainSim::start(genesis, options, cancel.clone())
        .await
        .unwrap();
    sim.produce_block().unwrap();
    sim
}

/// A node that answers every request at once with [`BACKEND_BODY`].
pub async fn spawn_backend(cancel: &CancellationToken) -> SocketAddr {
    use axum::routing::any;
    let app = axum::Router::new().fallback(any(|| async {
        ([("content-type", "application/json")], BACKEND_BODY)
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = cancel.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
    });
    addr
}

/// Full validation (eager), the meter on, `anvil` served by `backend` for
/// every HTTP RPC type.
pub fn relayer_config(redis: store::RedisConfig, backend: SocketAddr) -> RelayerConfig {
    use relayer::config::{BackendConfig, RpcKind, ServiceConfig};
    let mut backends = std::collections::BTreeMap::new();
    for kind in [RpcKind::Jsonrpc, RpcKind::Rest, RpcKind::Cometbft] {
        backends.insert(
            kind,
            BackendConfig {
                urls: vec![format!("http://{backend}/")],
                ..Default::default()
            },
        );
    }
    let mut config = RelayerConfig {
        redis,
        validation: relayer::config::ValidationMode::Eager,
        ..Default::default()
    };
    config.services.insert(
        "anvil".into(),
        ServiceConfig {
            backends,
            ..Default::default()
        },
    );
    config
}

/// Serves the production relayer (chain cache with Redis L2, block feed
/// from chainsim's RPC) on `listener` until `cancel`; `ready` is called once
/// the relayer serves.
pub async fn serve_relayer(
    listener: TcpListener,
    config: RelayerConfig,
    supplier_keys: Vec<rings::PrivateKey>,
    grpc_url: String,
    rpc_url: String,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let metrics = chain::Metrics::new(&registry).context("chain metrics")?;
    let query = chain::QueryClient::new(
        &chain::GrpcConfig {
            url: grpc_url,
            ..Default::default()
        },
        metrics.clone(),
    )?;
    let rpc = chain::RpcClient::new(
        &chain::RpcConfig {
            url: rpc_url,
            ..Default::default()
        },
        metrics,
    )?;
    let (feed, mut blocks, _task) = chain::BlockFeed::spawn(
        rpc,
        chain::BlockFeedConfig::default(),
        chain::StartAt::Tip,
        cancel.clone(),
    );
    tokio::spawn(async move { while blocks.recv().await.is_some() {} });
    let pool = store::connect_pool(&config.redis).await?;
    let keys = store::Keys::new(&config.redis.namespace)?;
    let view = cache::ChainCache::new(
        query,
        feed,
        Some((pool.clone(), keys)),
        cache::Ttls::default(),
    );
    view.feed()
        .wait_for_height(1, Duration::from_secs(10))
        .await
        .context("block feed")?;
    let max_body = config.max_body_bytes;
    let relayer = Relayer::new(
        RelayerParts {
            config,
            supplier_keys,
            redis: pool,
            registry: registry.clone(),
        },
        view,
    )
    .map_err(|e| anyhow::anyhow!("relayer: {e}"))?;
    let ready = Arc::new(Readiness::default());
    ready.set(true);
    let app = relayer::router(relayer, ready, registry, max_body);
    axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
        .context("relayer server")
}

/// Waits until `GET http://{addr}/ready` answers 200 (the relayer has seen a
/// block), failing after `within`.
pub async fn wait_ready(addr: SocketAddr, within: Duration) -> anyhow::Result<()> {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    let client: Client<_, Empty<bytes::Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let uri: http::Uri = format!("http://{addr}/ready").parse()?;
        if let Ok(r) = client.get(uri).await
            && r.status() == 200
        {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "relayer at {addr} not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
