//! Test support: a genesis with known keys, an in-process chainsim on free
//! loopback ports, chain client configuration for it, and a TCP proxy that can
//! cut and restore connections (to kill the websocket mid-stream).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chain::{BlockFeedConfig, ChainConfig, GrpcConfig, RetryConfig, RpcConfig, TxConfig};
use chainsim::genesis::{
    AccountGenesis, ApplicationGenesis, EndpointGenesis, GatewayGenesis, KeyGenesis,
    ServiceGenesis, SupplierGenesis, SupplierServiceGenesis,
};
use chainsim::{ChainSim, ChainSimHandle, Genesis, Options};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long any wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub const SERVICE: &str = "anvil";
/// Compute units per relay of [`SERVICE`].
pub const CUPR: u64 = 7;
pub const APP_STAKE: u64 = 1_000_000_000_000;
pub const GATEWAY_STAKE: u64 = 5_000_000;
pub const SUPPLIER_STAKE: u64 = 2_000_000;
pub const SENDER_BALANCE: u64 = 900_000_000_000;

pub const fn key(n: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = n;
    k
}

pub const APP_KEY: [u8; 32] = key(1);
pub const GATEWAY_KEY: [u8; 32] = key(2);
pub const SUPPLIER_KEY: [u8; 32] = key(3);
pub const SUPPLIER2_KEY: [u8; 32] = key(4);
/// A funded, unstaked account used as a tx signer.
pub const SENDER_KEY: [u8; 32] = key(7);

pub fn operator(k: &[u8; 32]) -> chain::OperatorKey {
    chain::OperatorKey::from_bytes(k).expect("valid test key")
}

pub fn address(k: &[u8; 32]) -> String {
    operator(k).address().to_owned()
}

/// Small windows: N = 4, grace 1, claim window [E+2, E+4], proof window
/// [E+4, E+6].
pub fn genesis() -> Genesis {
    let mut g = Genesis::default();
    let s = &mut g.params.shared;
    s.num_blocks_per_session = 4;
    s.grace_period_end_offset_blocks = 1;
    s.claim_window_open_offset_blocks = 1;
    s.claim_window_close_offset_blocks = 2;
    s.proof_window_open_offset_blocks = 0;
    s.proof_window_close_offset_blocks = 2;
    g.params.session.num_suppliers_per_session = 15;
    g.params.proof.proof_requirement_threshold_upokt = 123_456;
    g.params.proof.proof_request_probability = 0.5;
    g.services = vec![
        ServiceGenesis {
            id: SERVICE.into(),
            name: Some("Anvil".into()),
            compute_units_per_relay: CUPR,
            owner_address: None,
            target_hash: None,
        },
        ServiceGenesis {
            id: "other".into(),
            name: None,
            compute_units_per_relay: 3,
            owner_address: None,
            target_hash: Some(format!("00{}", "ff".repeat(31))),
        },
    ];
    g.gateways = vec![GatewayGenesis {
        key: KeyGenesis::private(hex::encode(GATEWAY_KEY)),
        stake_upokt: GATEWAY_STAKE,
        balance_upokt: None,
    }];
    g.applications = vec![ApplicationGenesis {
        key: KeyGenesis::private(hex::encode(APP_KEY)),
        stake_upokt: APP_STAKE,
        service_id: SERVICE.into(),
        delegatee_gateways: vec![address(&GATEWAY_KEY)],
        balance_upokt: None,
    }];
    let supplier = |k: &[u8; 32]| SupplierGenesis {
        operator: KeyGenesis::private(hex::encode(k)),
        owner_address: None,
        stake_upokt: SUPPLIER_STAKE,
        pubkey_on_chain: true,
        services: vec![SupplierServiceGenesis {
            service_id: SERVICE.into(),
            endpoints: vec![EndpointGenesis {
                url: "http://127.0.0.1:1".into(),
                rpc_type: "json_rpc".into(),
            }],
        }],
        balance_upokt: None,
    };
    g.suppliers = vec![supplier(&SUPPLIER_KEY), supplier(&SUPPLIER2_KEY)];
    g.accounts = vec![AccountGenesis {
        key: KeyGenesis::private(hex::encode(SENDER_KEY)),
        balance_upokt: SENDER_BALANCE,
    }];
    g
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A running simulator on free loopback ports; shut down on drop.
pub struct Sim {
    pub handle: ChainSimHandle,
    pub cancel: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Starts a simulator. `block_time: None` starts paused: blocks are made only
/// by [`Sim::block`].
pub async fn start(genesis: Genesis, block_time: Option<Duration>) -> Sim {
    let cancel = CancellationToken::new();
    let options = Options {
        grpc_listen: loopback(),
        rpc_listen: loopback(),
        block_time: block_time.unwrap_or(Duration::from_secs(3600)),
        start_paused: block_time.is_none(),
    };
    let handle = ChainSim::start(genesis, options, cancel.clone())
        .await
        .expect("chainsim starts");
    Sim { handle, cancel }
}

impl Sim {
    /// Produces one block.
    pub fn block(&self) -> i64 {
        self.handle.produce_block().expect("block")
    }

    /// Produces blocks until the latest height is `h`.
    pub fn advance_to(&self, h: i64) {
        while self.handle.height() < h {
            self.block();
        }
    }

    /// A client configuration for this simulator (fast retries and polls).
    pub fn config(&self) -> ChainConfig {
        ChainConfig {
            chain_id: self.handle.chain_id(),
            grpc: GrpcConfig {
                url: self.handle.grpc_url(),
                connect_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(5),
                retry: fast_retry(),
                ..GrpcConfig::default()
            },
            rpc: RpcConfig {
                url: self.handle.rpc_url(),
                websocket_url: None,
                connect_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(5),
                retry: fast_retry(),
                ..RpcConfig::default()
            },
            block_feed: BlockFeedConfig {
                poll_interval: Duration::from_millis(50),
                stall_timeout: Duration::from_secs(2),
                reconnect_initial_backoff: Duration::from_millis(20),
                reconnect_max_backoff: Duration::from_millis(200),
                ping_interval: Duration::from_millis(500),
                ..BlockFeedConfig::default()
            },
            tx: TxConfig {
                tip_wait: Duration::from_secs(10),
                ..TxConfig::default()
            },
        }
    }
}

pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

/// A loopback TCP proxy that can cut every connection and refuse new ones
/// until restored.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<watch::Sender<bool>>,
    cancel: CancellationToken,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(loopback()).await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (up, _) = watch::channel(true);
        let up = Arc::new(up);
        let cancel = CancellationToken::new();
        let (up2, cancel2) = (up.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    () = cancel2.cancelled() => return,
                    r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
                };
                if !*up2.borrow() {
                    drop(client);
                    continue;
                }
                let mut down = up2.subscribe();
                let cancel3 = cancel2.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        () = cancel3.cancelled() => {}
                        _ = down.wait_for(|up| !*up) => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Proxy { addr, up, cancel }
    }

    /// Cuts every live connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// Waits until `rx` satisfies `f`, or panics after [`DEADLINE`].
pub async fn wait_watch<T>(rx: &mut watch::Receiver<T>, what: &str, f: impl FnMut(&T) -> bool) {
    tokio::time::timeout(DEADLINE, rx.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|_| panic!("channel closed waiting for {what}"));
}
