//! Shared test support: a small genesis with known keys, a tx builder
//! (SignDoc → SHA-256 → k256 ECDSA, RFC 6979, low-S), relay and proof
//! builders, gRPC channels and a minimal HTTP client, all over loopback.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use chainsim::genesis::{
    ApplicationGenesis, EndpointGenesis, KeyGenesis, ServiceGenesis, SupplierGenesis,
    SupplierServiceGenesis,
};
use chainsim::{ChainSim, ChainSimHandle, Genesis, Options, TxResult};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use prost::Message;
use protocol::pb::cosmos::base::v1beta1::Coin;
use protocol::pb::cosmos::crypto::secp256k1::PubKey;
use protocol::pb::cosmos::tx::signing::v1beta1::SignMode;
use protocol::pb::cosmos::tx::v1beta1::{
    AuthInfo, Fee, ModeInfo, SignDoc, SignerInfo, TxBody, TxRaw, mode_info,
};
use protocol::pb::pocket::proof::{MsgCreateClaim, MsgSubmitProof};
use protocol::pb::pocket::session::SessionHeader;
use protocol::{RelayRequest, RelayResponse};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// How long any wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Test keys (well-known scalars; never for value).
pub const APP_KEY: [u8; 32] = key(1);
pub const GATEWAY_KEY: [u8; 32] = key(2);
pub const SUPPLIER_KEY: [u8; 32] = key(3);
pub const SUPPLIER2_KEY: [u8; 32] = key(4);
/// A supplier staked only for the `other` service (never in an `anvil` session).
pub const OUTSIDER_KEY: [u8; 32] = key(5);
pub const SERVICE: &str = "anvil";
/// Compute units per relay of [`SERVICE`].
pub const CUPR: u64 = 7;

pub const fn key(n: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = n;
    k
}

pub fn priv_key(k: &[u8; 32]) -> rings::PrivateKey {
    rings::PrivateKey::from_bytes(k).expect("valid test key")
}

pub fn address(k: &[u8; 32]) -> String {
    protocol::address::address_from_pubkey(&priv_key(k).public_key()).expect("address")
}

/// A genesis with small windows: N = 4, grace 1, claim window [E+2, E+4],
/// proof window [E+4, E+6], settlement at E+6. Every claim worth ≥ 1 uPOKT
/// needs a proof (threshold 1).
pub fn genesis() -> Genesis {
    let mut g = Genesis::default();
    let s = &mut g.params.shared;
    s.num_blocks_per_session = 4;
    s.grace_period_end_offset_blocks = 1;
    s.claim_window_open_offset_blocks = 1;
    s.claim_window_close_offset_blocks = 2;
    s.proof_window_open_offset_blocks = 0;
    s.proof_window_close_offset_blocks = 2;
    g.params.proof.proof_requirement_threshold_upokt = 1;
    g.params.proof.proof_request_probability = 0.0;
    g.params.proof.proof_missing_penalty_upokt = 1_000;
    g.params.proof.proof_submission_fee_upokt = 10;
    g.services = vec![
        ServiceGenesis {
            id: SERVICE.into(),
            name: None,
            compute_units_per_relay: CUPR,
            owner_address: None,
            target_hash: None,
        },
        ServiceGenesis {
            id: "other".into(),
            name: None,
            compute_units_per_relay: 1,
            owner_address: None,
            target_hash: None,
        },
    ];
    g.applications = vec![ApplicationGenesis {
        key: KeyGenesis::private(hex::encode(APP_KEY)),
        stake_upokt: 1_000_000_000_000,
        service_id: SERVICE.into(),
        delegatee_gateways: Vec::new(),
        balance_upokt: None,
    }];
    let supplier = |k: &[u8; 32], service: &str| SupplierGenesis {
        operator: KeyGenesis::private(hex::encode(k)),
        owner_address: None,
        stake_upokt: 1_000_000,
        pubkey_on_chain: true,
        services: vec![SupplierServiceGenesis {
            service_id: service.into(),
            endpoints: vec![EndpointGenesis {
                url: "http://127.0.0.1:1".into(),
                rpc_type: "json_rpc".into(),
            }],
        }],
        balance_upokt: None,
    };
    g.suppliers = vec![
        supplier(&SUPPLIER_KEY, SERVICE),
        supplier(&SUPPLIER2_KEY, SERVICE),
        supplier(&OUTSIDER_KEY, "other"),
    ];
    g
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A running simulator on free loopback ports; shut down on drop.
pub struct Sim {
    pub handle: ChainSimHandle,
    pub cancel: CancellationToken,
    nonce: std::sync::atomic::AtomicI64,
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
    Sim {
        handle,
        cancel,
        nonce: std::sync::atomic::AtomicI64::new(0),
    }
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

    /// Session header of [`SERVICE`] for the app at `height`.
    pub fn header(&self, height: i64) -> SessionHeader {
        self.handle
            .session(&address(&APP_KEY), SERVICE, height)
            .expect("session")
            .header
            .expect("header")
    }

    /// A unique timeout for an unordered tx: latest block time + 1 min + n ns.
    pub fn timeout(&self) -> prost_types::Timestamp {
        let h = self.handle.height();
        let t = self.handle.block(h).expect("latest block").time_unix_nanos
            + 60_000_000_000
            + i128::from(self.nonce.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        prost_types::Timestamp {
            seconds: (t / 1_000_000_000) as i64,
            nanos: (t % 1_000_000_000) as i32,
        }
    }

    /// Signs `msgs` as `signer` in an unordered tx and broadcasts it.
    pub fn send_unordered(
        &self,
        signer: &[u8; 32],
        msgs: Vec<prost_types::Any>,
    ) -> (String, TxResult) {
        let acc = self.handle.account(&address(signer)).expect("account");
        let tx = TxSpec {
            chain_id: self.handle.chain_id(),
            account_number: acc.account_number,
            sequence: 0,
            unordered: Some(self.timeout()),
            ..TxSpec::default()
        }
        .sign(signer, msgs);
        self.handle.broadcast_tx(&tx)
    }

    /// Broadcasts `msgs` unordered, then produces the next block; returns
    /// the included height and the DeliverTx result.
    pub fn include(&self, signer: &[u8; 32], msgs: Vec<prost_types::Any>) -> (i64, TxResult) {
        let (hash, check) = self.send_unordered(signer, msgs);
        assert_eq!(check.code, 0, "CheckTx: {}", check.log);
        let h = self.block();
        let (height, result) = self.handle.tx_result(&hash).expect("tx included");
        assert_eq!(height, h);
        (height, result)
    }
}

/// What to sign.
#[derive(Debug, Clone)]
pub struct TxSpec {
    pub chain_id: String,
    pub account_number: u64,
    pub sequence: u64,
    pub fee_upokt: u128,
    pub gas_limit: u64,
    pub unordered: Option<prost_types::Timestamp>,
    pub memo: String,
    pub include_pubkey: bool,
}

impl Default for TxSpec {
    fn default() -> Self {
        TxSpec {
            chain_id: "pocket".into(),
            account_number: 0,
            sequence: 0,
            fee_upokt: 1,
            gas_limit: 1_000_000,
            unordered: None,
            memo: "chainsim test".into(),
            include_pubkey: true,
        }
    }
}

impl TxSpec {
    /// Builds and signs a SIGN_MODE_DIRECT tx; returns the raw bytes.
    pub fn sign(&self, signer: &[u8; 32], msgs: Vec<prost_types::Any>) -> Vec<u8> {
        let key = priv_key(signer);
        let body = TxBody {
            messages: msgs,
            memo: self.memo.clone(),
            timeout_height: 0,
            unordered: self.unordered.is_some(),
            timeout_timestamp: self.unordered,
            extension_options: Vec::new(),
            non_critical_extension_options: Vec::new(),
        };
        let auth = AuthInfo {
            signer_infos: vec![SignerInfo {
                public_key: self.include_pubkey.then(|| prost_types::Any {
                    type_url: protocol::SECP256K1_PUBKEY_TYPE_URL.into(),
                    value: PubKey {
                        key: key.public_key().to_vec(),
                    }
                    .encode_to_vec(),
                }),
                mode_info: Some(ModeInfo {
                    sum: Some(mode_info::Sum::Single(mode_info::Single {
                        mode: SignMode::Direct as i32,
                    })),
                }),
                sequence: self.sequence,
            }],
            fee: Some(Fee {
                amount: vec![Coin {
                    denom: "upokt".into(),
                    amount: self.fee_upokt.to_string(),
                }],
                gas_limit: self.gas_limit,
                payer: String::new(),
                granter: String::new(),
            }),
            tip: None,
        };
        let body_bytes = body.encode_to_vec();
        let auth_info_bytes = auth.encode_to_vec();
        let sign_doc = SignDoc {
            body_bytes: body_bytes.clone(),
            auth_info_bytes: auth_info_bytes.clone(),
            chain_id: self.chain_id.clone(),
            account_number: self.account_number,
        }
        .encode_to_vec();
        let signing_key =
            k256::ecdsa::SigningKey::from_bytes(&(*signer).into()).expect("signing key");
        let sig: k256::ecdsa::Signature = signing_key
            .sign_prehash(&Sha256::digest(&sign_doc))
            .expect("sign");
        TxRaw {
            body_bytes,
            auth_info_bytes,
            signatures: vec![sig.to_bytes().to_vec()],
        }
        .encode_to_vec()
    }
}

pub fn any<M: Message>(type_url: &str, m: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url.into(),
        value: m.encode_to_vec(),
    }
}

/// A `MsgCreateClaim` in an `Any`.
pub fn claim_msg(supplier: &[u8; 32], header: &SessionHeader, root: &[u8]) -> prost_types::Any {
    any(
        protocol::MSG_CREATE_CLAIM_TYPE_URL,
        &MsgCreateClaim {
            supplier_operator_address: address(supplier),
            session_header: Some(header.clone()),
            root_hash: root.to_vec(),
        },
    )
}

/// A `MsgSubmitProof` in an `Any`.
pub fn proof_msg(supplier: &[u8; 32], header: &SessionHeader, proof: &[u8]) -> prost_types::Any {
    any(
        protocol::MSG_SUBMIT_PROOF_TYPE_URL,
        &MsgSubmitProof {
            supplier_operator_address: address(supplier),
            session_header: Some(header.clone()),
            proof: proof.to_vec(),
        },
    )
}

/// A root `digest ‖ sum ‖ count` with an arbitrary digest.
pub fn fake_root(count: u64, sum: u64) -> Vec<u8> {
    let mut r = vec![0xab; 32];
    r.extend_from_slice(&sum.to_be_bytes());
    r.extend_from_slice(&count.to_be_bytes());
    r
}

/// The placeholder ring key (signatures.md §2.1).
pub fn placeholder_pubkey() -> [u8; 33] {
    let mut k = [0u8; 33];
    hex::decode_to_slice(
        "021066f293709356a33e9c13017867586baf52513e845bc4335233a15ed1e00baf",
        &mut k,
    )
    .expect("hex");
    k
}

/// How to spoil a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayFault {
    None,
    /// Ring-signed by a key outside the application's ring.
    BadRingSignature,
    /// Response signed by a key that is not the supplier's.
    BadSupplierSignature,
    /// Ring-signed by the gateway with the ring `[app, gateway]` (what PATH does).
    GatewaySigned,
}

/// Adds a staked gateway ([`GATEWAY_KEY`]) and, if `delegate`, delegates the
/// application to it.
pub fn with_gateway(mut g: Genesis, delegate: bool) -> Genesis {
    g.gateways.push(chainsim::genesis::GatewayGenesis {
        key: KeyGenesis::private(hex::encode(GATEWAY_KEY)),
        stake_upokt: 1_000_000,
        balance_upokt: None,
    });
    if delegate {
        g.applications[0].delegatee_gateways = vec![address(&GATEWAY_KEY)];
    }
    g
}

/// A signed relay for `header` served by `supplier`; returns the mined relay bytes.
pub fn signed_relay(
    header: &SessionHeader,
    supplier: &[u8; 32],
    n: u32,
    fault: RelayFault,
) -> Vec<u8> {
    let app = priv_key(&APP_KEY);
    let mut req = RelayRequest::default();
    req.meta.session_header = Some(header.clone());
    req.meta.supplier_operator_address = address(supplier);
    req.payload =
        format!("{{\"jsonrpc\":\"2.0\",\"method\":\"eth_blockNumber\",\"id\":{n}}}").into_bytes();
    let msg = req.signable_hash();
    let sig = if fault == RelayFault::GatewaySigned {
        let gateway = priv_key(&GATEWAY_KEY);
        rings::RingSignature::sign(&msg, &[app.public_key(), gateway.public_key()], &gateway)
    } else if fault == RelayFault::BadRingSignature {
        let stranger = priv_key(&key(99));
        rings::RingSignature::sign(
            &msg,
            &[stranger.public_key(), placeholder_pubkey()],
            &stranger,
        )
    } else {
        rings::RingSignature::sign(&msg, &[app.public_key(), placeholder_pubkey()], &app)
    };
    req.meta.signature = sig.expect("ring sign").to_bytes();
    let mut res = RelayResponse::new(
        header.clone(),
        format!("{{\"result\":\"0x{n:x}\"}}").into_bytes(),
    );
    let signer = if fault == RelayFault::BadSupplierSignature {
        priv_key(&key(98))
    } else {
        priv_key(supplier)
    };
    res.meta.supplier_operator_signature = signer
        .sign_response(&res.signable_hash())
        .expect("sign response")
        .to_vec();
    protocol::relay::mined_relay_bytes(&req, &res)
}

/// A session tree of relays.
pub struct Tree {
    pub trie: smst::Trie,
}

impl Tree {
    /// A tree of `n` relays (relay `fault_at` spoiled by `fault`).
    pub fn new(header: &SessionHeader, supplier: &[u8; 32], n: u32, fault: RelayFault) -> Self {
        let mut trie = smst::Trie::new();
        for i in 0..n {
            let bytes = signed_relay(header, supplier, i, fault);
            trie.update(&protocol::relay::relay_hash(&bytes), &bytes, CUPR);
        }
        Tree { trie }
    }

    pub fn root(&self) -> Vec<u8> {
        self.trie.root().as_bytes().to_vec()
    }

    /// The gob closest proof for `path`.
    pub fn proof(&self, path: &smst::Path) -> Vec<u8> {
        self.trie
            .prove_closest(path)
            .compact()
            .expect("compact")
            .to_gob()
    }
}

/// A minimal HTTP/1.1 GET or POST over loopback; returns (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("http response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, body.to_owned())
}

/// GET returning JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

/// A gRPC channel to the simulator.
pub async fn channel(sim: &Sim) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(sim.handle.grpc_url())
        .expect("url")
        .connect()
        .await
        .expect("grpc connect")
}
