//! A chainsim-backed chain view for end-to-end tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chainsim::{ChainSim, ChainSimHandle, Genesis, Options};
use tokio_util::sync::CancellationToken;

pub const APP_KEY: [u8; 32] = key(1);
pub const GATEWAY_KEY: [u8; 32] = key(2);
pub const SUPPLIER_KEY: [u8; 32] = key(3);
pub const OTHER_SUPPLIER_KEY: [u8; 32] = key(4);
pub const ROGUE_GATEWAY_KEY: [u8; 32] = key(5);

const fn key(b: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = b;
    k
}

pub fn addr(k: &[u8; 32]) -> String {
    let pk = rings::PrivateKey::from_bytes(k).unwrap().public_key();
    protocol::address::address_from_pubkey(&pk).unwrap()
}

pub fn pk(k: &[u8; 32]) -> rings::PrivateKey {
    rings::PrivateKey::from_bytes(k).unwrap()
}

/// Localnet windows (N = 10, grace 1, claim E+2..E+6, proof E+6..E+10);
/// `app_stake` sets the relay meter's budget.
pub fn genesis(app_stake: u64) -> Genesis {
    let h = |k: &[u8; 32]| hex::encode(k);
    let yaml = format!(
        r#"
chain_id: pocket
params:
  application: {{ min_stake_upokt: 1 }}
services:
  - {{ id: anvil, compute_units_per_relay: 1 }}
  - {{ id: other, compute_units_per_relay: 1 }}
gateways:
  - {{ key: {{ private_key: "{gw}" }}, stake_upokt: 1000000000 }}
  - {{ key: {{ private_key: "{rogue}" }}, stake_upokt: 1000000000 }}
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
        endpoints: [{{ url: "http://127.0.0.1:1", rpc_type: json_rpc }}]
  - operator: {{ private_key: "{other}" }}
    stake_upokt: 1000000000
    services:
      - service_id: other
        endpoints: [{{ url: "http://127.0.0.1:1", rpc_type: json_rpc }}]
"#,
        gw = h(&GATEWAY_KEY),
        rogue = h(&ROGUE_GATEWAY_KEY),
        app = h(&APP_KEY),
        gw_addr = addr(&GATEWAY_KEY),
        sup = h(&SUPPLIER_KEY),
        other = h(&OTHER_SUPPLIER_KEY),
    );
    Genesis::from_yaml(&yaml).unwrap()
}

/// A paused simulator (blocks made by the test) on free ports.
pub async fn start_sim(genesis: Genesis, cancel: &CancellationToken) -> ChainSimHandle {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = Options {
        grpc_listen: loopback,
        rpc_listen: loopback,
        block_time: Duration::from_secs(3600),
        start_paused: true,
    };
    ChainSim::start(genesis, options, cancel.clone())
        .await
        .unwrap()
}

/// The production chain view (block feed + three-level cache) over `sim`.
pub async fn chain_view(
    sim: &ChainSimHandle,
    redis: Option<(fred::prelude::Pool, store::Keys)>,
    cancel: &CancellationToken,
) -> Arc<cache::ChainCache> {
    let metrics = chain::Metrics::new(&prometheus::Registry::new()).unwrap();
    let grpc = chain::GrpcConfig {
        url: sim.grpc_url(),
        ..Default::default()
    };
    let query = chain::QueryClient::new(&grpc, metrics.clone()).unwrap();
    let rpc = chain::RpcClient::new(
        &chain::RpcConfig {
            url: sim.rpc_url(),
            ..Default::default()
        },
        metrics,
    )
    .unwrap();
    let (feed, mut blocks, _task) = chain::BlockFeed::spawn(
        rpc,
        chain::BlockFeedConfig::default(),
        chain::StartAt::Tip,
        cancel.clone(),
    );
    tokio::spawn(async move { while blocks.recv().await.is_some() {} });
    let view = cache::ChainCache::new(query, feed, redis, cache::Ttls::default());
    wait_tip(&view, sim.height()).await;
    view
}

/// Waits until the view has seen `height`.
pub async fn wait_tip(view: &cache::ChainCache, height: i64) {
    view.feed()
        .wait_for_height(height as u64, Duration::from_secs(10))
        .await
        .unwrap();
}
