//! The chain state machine: genesis, accounts and actors, parameter and
//! difficulty history, sessions, the mempool, block production (DeliverTx and
//! the EndBlocker) and the fault knobs. Synchronous and clock-free: the node
//! (`node.rs`) owns it behind a mutex and feeds it block times.

use std::collections::{BTreeMap, HashMap, HashSet};

use protocol::pb::cosmos::base::v1beta1::Coin;
use protocol::pb::pocket::application::Application;
use protocol::pb::pocket::gateway::Gateway;
use protocol::pb::pocket::proof::Claim;
use protocol::pb::pocket::service::RelayMiningDifficulty;
use protocol::pb::pocket::session::{Session, SessionHeader};
use protocol::pb::pocket::shared::{
    ApplicationServiceConfig, Params as SharedParams, Service, ServiceConfigUpdate, Supplier,
    SupplierEndpoint, SupplierServiceConfig,
};
use protocol::relay::BASE_TARGET_HASH;
use protocol::session::{SessionGrid, SessionWindows};
use serde::Serialize;

use crate::block::{Block, Event, TxResult, block_hash, hex_upper};
use crate::error::{Error, Result};
use crate::genesis::{
    DEFAULT_BALANCE_UPOKT, Genesis, parse_gas_price, parse_rpc_type, parse_target,
};
use crate::params::SharedHistory;
use crate::report::{ClaimReport, Counters, ProofReport, SettlementReport, StateReport, TxReport};

/// The placeholder ring key used for applications without gateways
/// (signatures.md §2.1).
pub(crate) const PLACEHOLDER_PUBKEY_HEX: &str =
    "021066f293709356a33e9c13017867586baf52513e845bc4335233a15ed1e00baf";
/// The placeholder key's address.
pub(crate) const PLACEHOLDER_ADDRESS: &str = "pokt1v9utztg8z8e6jv9xzv7rnt3m38570xsyjr2crf";

/// How many tx results the state report keeps (most recent).
const TX_REPORT_LIMIT: usize = 2000;

/// An account (`cosmos.auth.v1beta1.BaseAccount` plus its uPOKT balance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub account_number: u64,
    pub sequence: u64,
    pub pubkey: Option<[u8; 33]>,
    pub balance: u128,
}

/// A stored claim and what happened to its proof.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClaimRecord {
    pub claim: Claim,
    pub created_height: i64,
    pub updated_height: i64,
    /// The proof accepted by a tx, awaiting EndBlocker validation.
    pub pending_proof: Option<PendingProof>,
}

/// A proof accepted by `MsgSubmitProof`, validated in the EndBlocker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingProof {
    pub proof_bytes: Vec<u8>,
    pub height: i64,
}

/// A rejection forced by the `reject_next_tx` knob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ForcedRejection {
    /// Error code to answer with.
    pub code: u32,
    /// Codespace (default `sdk`).
    #[serde(default = "sdk_codespace")]
    pub codespace: String,
    /// Log text.
    #[serde(default)]
    pub log: String,
}

fn sdk_codespace() -> String {
    "sdk".into()
}

/// The fault knobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Faults {
    pub paused: bool,
    pub drop_next_txs: u32,
    pub reject_next: Vec<ForcedRejection>,
}

/// State changed by CheckTx since the last commit (sequences, spent fees,
/// public keys, unordered nonces), so back-to-back txs of one signer pass.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckState {
    pub sequences: HashMap<String, u64>,
    pub spent: HashMap<String, u128>,
    pub pubkeys: HashMap<String, [u8; 33]>,
    pub unordered: HashSet<(String, i128)>,
}

/// Where a recorded tx ended up.
#[derive(Debug, Clone)]
pub(crate) struct TxRecord {
    pub height: i64,
    pub index: usize,
    pub bytes: Vec<u8>,
    pub result: TxResult,
    pub time_unix_nanos: i128,
}

/// The chain.
pub(crate) struct Chain {
    pub chain_id: String,
    pub app_version: String,
    /// Minimum gas price as `numerator / 10^scale` uPOKT.
    pub min_gas_price: (u128, u32),
    pub blocks: Vec<Block>,
    pub accounts: BTreeMap<String, Account>,
    pub next_account_number: u64,
    pub applications: BTreeMap<String, Application>,
    pub gateways: BTreeMap<String, Gateway>,
    pub suppliers: BTreeMap<String, Supplier>,
    pub services: BTreeMap<String, Service>,
    /// Shared params: genesis snapshot and scheduled changes.
    pub shared_history: SharedHistory,
    pub session_params: protocol::pb::pocket::session::Params,
    pub proof_params: protocol::pb::pocket::proof::Params,
    pub service_params: protocol::pb::pocket::service::Params,
    pub tokenomics_params: protocol::pb::pocket::tokenomics::Params,
    pub application_params: protocol::pb::pocket::application::Params,
    pub supplier_params: protocol::pb::pocket::supplier::Params,
    pub gateway_params: protocol::pb::pocket::gateway::Params,
    /// Per service: `(effective_height, difficulty)`, ascending.
    pub difficulty_history: BTreeMap<String, Vec<(i64, RelayMiningDifficulty)>>,
    /// Per service: `(effective_height, compute units per relay)`, ascending.
    pub cupr_history: BTreeMap<String, Vec<(i64, u64)>>,
    /// Claims keyed by (session id, supplier operator address).
    pub claims: BTreeMap<(String, String), ClaimRecord>,
    pub proofs: Vec<ProofReport>,
    pub settlements: Vec<SettlementReport>,
    pub tx_index: HashMap<String, TxRecord>,
    pub tx_order: std::collections::VecDeque<String>,
    /// Unordered-tx nonces `(signer, timeout_timestamp nanos)` still live.
    pub unordered_nonces: BTreeMap<(String, i128), ()>,
    pub mempool: Vec<Vec<u8>>,
    pub mempool_hashes: HashSet<String>,
    pub check: CheckState,
    pub faults: Faults,
    pub counters: Counters,
    pub ring_cache: rings::KeyCache,
}

impl Chain {
    /// Builds the state of a validated genesis (no block yet).
    pub fn from_genesis(genesis: &Genesis) -> Result<Self> {
        genesis.validate()?;
        let p = &genesis.params;
        let coin = |amount: u64| Coin {
            denom: protocol::DENOM.into(),
            amount: amount.to_string(),
        };
        let shared_history = SharedHistory::from_genesis(genesis)?;
        let mut chain = Chain {
            chain_id: genesis.chain_id.clone(),
            app_version: genesis.app_version.clone(),
            min_gas_price: parse_gas_price(&genesis.min_gas_price)?,
            blocks: Vec::new(),
            accounts: BTreeMap::new(),
            next_account_number: 0,
            applications: BTreeMap::new(),
            gateways: BTreeMap::new(),
            suppliers: BTreeMap::new(),
            services: BTreeMap::new(),
            shared_history,
            session_params: protocol::pb::pocket::session::Params {
                num_suppliers_per_session: p.session.num_suppliers_per_session,
            },
            proof_params: protocol::pb::pocket::proof::Params {
                proof_request_probability: p.proof.proof_request_probability,
                proof_requirement_threshold: Some(coin(p.proof.proof_requirement_threshold_upokt)),
                proof_missing_penalty: Some(coin(p.proof.proof_missing_penalty_upokt)),
                proof_submission_fee: Some(coin(p.proof.proof_submission_fee_upokt)),
            },
            service_params: protocol::pb::pocket::service::Params {
                add_service_fee: Some(coin(p.service.add_service_fee_upokt)),
                target_num_relays: p.service.target_num_relays,
            },
            tokenomics_params: protocol::pb::pocket::tokenomics::Params {
                mint_allocation_percentages: Some(Default::default()),
                dao_reward_address: p.tokenomics.dao_reward_address.clone(),
                global_inflation_per_claim: p.tokenomics.global_inflation_per_claim,
                mint_equals_burn_claim_distribution: Some(Default::default()),
                mint_ratio: p.tokenomics.mint_ratio,
                overservicing_bonus_multiplier: p.tokenomics.overservicing_bonus_multiplier,
            },
            application_params: protocol::pb::pocket::application::Params {
                max_delegated_gateways: p.application.max_delegated_gateways,
                min_stake: Some(coin(p.application.min_stake_upokt)),
            },
            supplier_params: protocol::pb::pocket::supplier::Params {
                min_stake: Some(coin(p.supplier.min_stake_upokt)),
                staking_fee: Some(coin(p.supplier.staking_fee_upokt)),
            },
            gateway_params: protocol::pb::pocket::gateway::Params {
                min_stake: Some(coin(p.gateway.min_stake_upokt)),
            },
            difficulty_history: BTreeMap::new(),
            cupr_history: BTreeMap::new(),
            claims: BTreeMap::new(),
            proofs: Vec::new(),
            settlements: Vec::new(),
            tx_index: HashMap::new(),
            tx_order: Default::default(),
            unordered_nonces: BTreeMap::new(),
            mempool: Vec::new(),
            mempool_hashes: HashSet::new(),
            check: CheckState::default(),
            faults: Faults::default(),
            counters: Counters::default(),
            ring_cache: rings::KeyCache::default(),
        };
        for s in &genesis.services {
            chain.services.insert(
                s.id.clone(),
                Service {
                    id: s.id.clone(),
                    name: s.name.clone().unwrap_or_else(|| s.id.clone()),
                    compute_units_per_relay: s.compute_units_per_relay,
                    owner_address: s.owner_address.clone().unwrap_or_default(),
                    metadata: None,
                },
            );
            chain
                .cupr_history
                .insert(s.id.clone(), vec![(1, s.compute_units_per_relay)]);
            if let Some(t) = &s.target_hash {
                let target =
                    parse_target(t).map_err(|r| Error::genesis("services.target_hash", r))?;
                chain.difficulty_history.insert(
                    s.id.clone(),
                    vec![(
                        1,
                        RelayMiningDifficulty {
                            service_id: s.id.clone(),
                            block_height: 1,
                            num_relays_ema: p.service.target_num_relays,
                            target_hash: target.to_vec(),
                        },
                    )],
                );
            }
        }
        for (i, g) in genesis.gateways.iter().enumerate() {
            let key = g.key.resolve(&format!("gateways[{i}].key"))?;
            chain.add_account(&key.address, key.public_key, g.balance_upokt);
            chain.gateways.insert(
                key.address.clone(),
                Gateway {
                    address: key.address,
                    stake: Some(coin(g.stake_upokt)),
                    unstake_session_end_height: 0,
                    metadata: None,
                },
            );
        }
        for (i, a) in genesis.applications.iter().enumerate() {
            let key = a.key.resolve(&format!("applications[{i}].key"))?;
            chain.add_account(&key.address, key.public_key, a.balance_upokt);
            let config = ApplicationServiceConfig {
                service_id: a.service_id.clone(),
            };
            chain.applications.insert(
                key.address.clone(),
                Application {
                    address: key.address.clone(),
                    stake: Some(coin(a.stake_upokt)),
                    service_configs: vec![config.clone()],
                    delegatee_gateway_addresses: a.delegatee_gateways.clone(),
                    pending_undelegations: BTreeMap::new(),
                    unstake_session_end_height: 0,
                    pending_transfer: None,
                    per_session_spend_limit: None,
                    service_config_history: vec![
                        protocol::pb::pocket::application::ApplicationServiceConfigUpdate {
                            application_address: key.address,
                            service: Some(config),
                            activation_height: 1,
                            deactivation_height: 0,
                        },
                    ],
                },
            );
        }
        for (i, s) in genesis.suppliers.iter().enumerate() {
            let key = s.operator.resolve(&format!("suppliers[{i}].operator"))?;
            let pubkey = if s.pubkey_on_chain {
                key.public_key
            } else {
                None
            };
            chain.add_account(&key.address, pubkey, s.balance_upokt);
            let owner = s
                .owner_address
                .clone()
                .unwrap_or_else(|| key.address.clone());
            if !chain.accounts.contains_key(&owner) {
                chain.add_account(&owner, None, Some(0));
            }
            let mut services = Vec::new();
            for svc in &s.services {
                let mut endpoints = Vec::new();
                for e in &svc.endpoints {
                    endpoints.push(SupplierEndpoint {
                        url: e.url.clone(),
                        rpc_type: parse_rpc_type(&e.rpc_type)
                            .map_err(|r| Error::genesis("suppliers.endpoints.rpc_type", r))?,
                        configs: Vec::new(),
                    });
                }
                services.push(SupplierServiceConfig {
                    service_id: svc.service_id.clone(),
                    endpoints,
                    rev_share: vec![protocol::pb::pocket::shared::ServiceRevenueShare {
                        address: owner.clone(),
                        rev_share_percentage: 100,
                    }],
                });
            }
            let history = services
                .iter()
                .map(|svc| ServiceConfigUpdate {
                    operator_address: key.address.clone(),
                    service: Some(svc.clone()),
                    activation_height: 1,
                    deactivation_height: 0,
                })
                .collect();
            chain.suppliers.insert(
                key.address.clone(),
                Supplier {
                    owner_address: owner,
                    operator_address: key.address,
                    stake: Some(coin(s.stake_upokt)),
                    services,
                    unstake_session_end_height: 0,
                    service_config_history: history,
                },
            );
        }
        for (i, a) in genesis.accounts.iter().enumerate() {
            let key = a.key.resolve(&format!("accounts[{i}].key"))?;
            if let Some(acc) = chain.accounts.get_mut(&key.address) {
                acc.balance = u128::from(a.balance_upokt);
                acc.pubkey = acc.pubkey.or(key.public_key);
            } else {
                chain.add_account(&key.address, key.public_key, Some(a.balance_upokt));
            }
        }
        Ok(chain)
    }

    fn add_account(&mut self, address: &str, pubkey: Option<[u8; 33]>, balance: Option<u64>) {
        let balance = u128::from(balance.unwrap_or(DEFAULT_BALANCE_UPOKT));
        if let Some(acc) = self.accounts.get_mut(address) {
            acc.pubkey = acc.pubkey.or(pubkey);
            return;
        }
        self.accounts.insert(
            address.to_owned(),
            Account {
                account_number: self.next_account_number,
                sequence: 0,
                pubkey,
                balance,
            },
        );
        self.next_account_number += 1;
    }

    /// Creates an account on first receipt of funds (bank send).
    pub(crate) fn ensure_account(&mut self, address: &str) {
        if !self.accounts.contains_key(address) {
            self.add_account(address, None, Some(0));
        }
    }

    // ---------------------------------------------------------------- heights

    /// Latest committed height (0 before the first block).
    pub fn height(&self) -> i64 {
        self.blocks.len() as i64
    }

    /// A committed block.
    pub fn block(&self, height: i64) -> Option<&Block> {
        usize::try_from(height - 1)
            .ok()
            .and_then(|i| self.blocks.get(i))
    }

    /// The hash of a committed block.
    pub fn block_hash(&self, height: i64) -> Option<[u8; 32]> {
        self.block(height).map(|b| b.hash)
    }

    /// Latest block time (0 before the first block).
    pub fn latest_time(&self) -> i128 {
        self.blocks.last().map_or(0, |b| b.time_unix_nanos)
    }

    // ---------------------------------------------------------------- params

    /// Shared params in force at `height` (`ParamsAtHeight`): the snapshot
    /// with the greatest effective height ≤ `height`, which may be a change
    /// scheduled for a future block. Below block 1 no snapshot applies and,
    /// as on chain, the live params answer.
    pub fn shared_params_at(&self, height: i64) -> SharedParams {
        let height = if height < 1 { self.height() } else { height };
        *self.shared_history.at(height)
    }

    /// The live shared params (`Params`): those in force at the latest
    /// committed block. poktroll promotes a scheduled snapshot to live in the
    /// EndBlocker of its effective height, so this equals `ParamsAtHeight`
    /// of the latest height. (poktroll also applies a change that leaves
    /// every session-timing field alone to live at once, before its effective
    /// height; the simulator defers it too.)
    pub fn shared_params_live(&self) -> SharedParams {
        *self.shared_history.at(self.height())
    }

    /// Schedules `params` to take effect at `effective_height`, a session
    /// boundary after the latest block (see `SharedHistory::schedule`);
    /// returns the snapshot as recorded, with the derived grid-anchor fields.
    pub fn schedule_shared_params(
        &mut self,
        effective_height: i64,
        params: SharedParams,
    ) -> Result<SharedParams> {
        let latest = self.height();
        let recorded = self
            .shared_history
            .schedule(latest, effective_height, params)
            .map_err(|reason| Error::ParamsChange {
                effective_height,
                reason,
            })?;
        tracing::info!(
            effective_height,
            num_blocks_per_session = recorded.num_blocks_per_session,
            session_grid_anchor_height = recorded.session_grid_anchor_height,
            "shared params change scheduled"
        );
        Ok(recorded)
    }

    /// The windows of the session ending at `session_end`.
    pub fn windows(&self, session_end: i64) -> Result<SessionWindows> {
        Ok(SessionWindows::new(
            &self.shared_params_at(session_end),
            session_end,
        )?)
    }

    /// Difficulty of `service` at `height` (history entry ≤ height, else base).
    pub fn difficulty_at(&self, service: &str, height: i64) -> RelayMiningDifficulty {
        self.difficulty_history
            .get(service)
            .and_then(|h| h.iter().rev().find(|(eff, _)| *eff <= height))
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| RelayMiningDifficulty {
                service_id: service.to_owned(),
                block_height: 0,
                num_relays_ema: self.service_params.target_num_relays,
                target_hash: BASE_TARGET_HASH.to_vec(),
            })
    }

    /// The live difficulty of `service` (latest entry, else base at the current height).
    pub fn difficulty_live(&self, service: &str) -> RelayMiningDifficulty {
        let mut d = self.difficulty_at(service, i64::MAX);
        if d.block_height == 0 {
            d.block_height = self.height();
        }
        d
    }

    /// Compute units per relay of `service` at `height`.
    pub fn cupr_at(&self, service: &str, height: i64) -> Option<u64> {
        let history = self.cupr_history.get(service)?;
        history
            .iter()
            .rev()
            .find(|(eff, _)| *eff <= height)
            .or_else(|| history.first())
            .map(|(_, c)| *c)
    }

    // ---------------------------------------------------------------- sessions

    /// `GetSession(app, service, height)` exactly as the chain hydrates it
    /// (sessions-and-windows.md §1.3, §2, §3).
    pub fn session(&self, app: &str, service: &str, height: i64) -> Result<Session> {
        let latest = self.height();
        let height = if height == 0 { latest } else { height };
        if height < 1 || height > latest {
            return Err(Error::Query(format!(
                "session height {height} is not in 1..={latest} (latest committed height)"
            )));
        }
        let params = self.shared_params_at(height);
        let grid = SessionGrid::new(&params)?;
        let start = grid.session_start(height);
        let end = grid.session_end(height);
        let number = grid.session_number(height);
        let start_hash = self
            .block_hash(start)
            .ok_or_else(|| Error::Query(format!("no block at session start {start}")))?;
        let application = self
            .applications
            .get(app)
            .ok_or_else(|| Error::Query(format!("application {app} not found")))?;
        if !application
            .service_configs
            .iter()
            .any(|c| c.service_id == service)
        {
            return Err(Error::Query(format!(
                "application {app} is not staked for service {service}"
            )));
        }
        if !self.services.contains_key(service) {
            return Err(Error::Query(format!("service {service} not found")));
        }
        let preimage = protocol::session::session_id_preimage(&start_hash, service, app, start);
        let session_id = protocol::session::session_id(&preimage);
        let mut candidates: Vec<Supplier> = self
            .suppliers
            .values()
            .filter_map(|s| {
                let active = s.service_config_history.iter().find(|u| {
                    u.service.as_ref().is_some_and(|c| c.service_id == service)
                        && u.activation_height <= height
                        && (u.deactivation_height == 0 || height < u.deactivation_height)
                })?;
                Some(Supplier {
                    owner_address: s.owner_address.clone(),
                    operator_address: s.operator_address.clone(),
                    stake: s.stake.clone(),
                    services: active.service.clone().into_iter().collect(),
                    unstake_session_end_height: s.unstake_session_end_height,
                    service_config_history: Vec::new(),
                })
            })
            .collect();
        if candidates.is_empty() {
            return Err(Error::Query(format!(
                "no suppliers found for session of app {app} service {service} at height {height}"
            )));
        }
        let wanted =
            usize::try_from(self.session_params.num_suppliers_per_session).unwrap_or(usize::MAX);
        if candidates.len() >= wanted {
            candidates.sort_by(|a, b| {
                let wa =
                    protocol::session::supplier_selection_weight(&preimage, &a.operator_address);
                let wb =
                    protocol::session::supplier_selection_weight(&preimage, &b.operator_address);
                wa.cmp(&wb)
                    .then_with(|| a.operator_address.cmp(&b.operator_address))
            });
            candidates.truncate(wanted);
        }
        Ok(Session {
            header: Some(SessionHeader {
                application_address: app.to_owned(),
                service_id: service.to_owned(),
                session_id: session_id.clone(),
                session_start_block_height: start,
                session_end_block_height: end,
            }),
            session_id,
            session_number: number,
            num_blocks_per_session: grid.blocks_per_session(),
            application: Some(application.clone()),
            suppliers: candidates,
        })
    }

    /// The application's ring for a session ending at `session_end`: the app,
    /// its delegated gateways and gateways still pending undelegation at or
    /// after `session_end`, or the placeholder key (signatures.md §2.1).
    pub fn ring(&self, app: &str, session_end: i64) -> std::result::Result<Vec<[u8; 33]>, String> {
        let application = self
            .applications
            .get(app)
            .ok_or_else(|| format!("application {app} not found"))?;
        let mut gateways: Vec<String> = application.delegatee_gateway_addresses.clone();
        let mut added = HashSet::new();
        for (h, list) in &application.pending_undelegations {
            if i64::try_from(*h).unwrap_or(i64::MAX) >= session_end {
                for g in &list.gateway_addresses {
                    if added.insert(g.clone()) {
                        gateways.push(g.clone());
                    }
                }
            }
        }
        if gateways.is_empty() {
            gateways.push(PLACEHOLDER_ADDRESS.to_owned());
        }
        let mut ring = Vec::with_capacity(gateways.len() + 1);
        for addr in std::iter::once(app.to_owned()).chain(gateways) {
            if addr == PLACEHOLDER_ADDRESS {
                let mut key = [0u8; 33];
                hex::decode_to_slice(PLACEHOLDER_PUBKEY_HEX, &mut key)
                    .map_err(|e| format!("placeholder key: {e}"))?;
                ring.push(key);
                continue;
            }
            let key = self
                .accounts
                .get(&addr)
                .and_then(|a| a.pubkey)
                .ok_or_else(|| format!("ring member {addr} has no public key on chain"))?;
            ring.push(key);
        }
        Ok(ring)
    }

    // ---------------------------------------------------------------- reports

    /// The JSON report for tests.
    pub fn report(&self) -> StateReport {
        let claims = self
            .claims
            .values()
            .map(|r| ClaimReport::new(&r.claim, r.created_height, r.updated_height))
            .collect();
        let txs = self
            .tx_order
            .iter()
            .filter_map(|h| self.tx_index.get(h).map(|r| (h, r)))
            .map(|(hash, r)| TxReport {
                hash: hash.clone(),
                height: r.height,
                index: r.index,
                code: r.result.code,
                codespace: r.result.codespace.clone(),
                log: r.result.log.clone(),
            })
            .collect();
        StateReport {
            chain_id: self.chain_id.clone(),
            height: self.height(),
            latest_block_hash: self
                .blocks
                .last()
                .map(|b| hex_upper(&b.hash))
                .unwrap_or_default(),
            paused: self.faults.paused,
            mempool_size: self.mempool.len(),
            claims,
            proofs: self.proofs.clone(),
            settlements: self.settlements.clone(),
            txs,
            counters: self.counters.clone(),
        }
    }

    pub(crate) fn record_tx(&mut self, hash: String, record: TxRecord) {
        if self.tx_index.insert(hash.clone(), record).is_none() {
            self.tx_order.push_back(hash);
        }
        while self.tx_order.len() > TX_REPORT_LIMIT {
            if let Some(old) = self.tx_order.pop_front() {
                self.tx_index.remove(&old);
            }
        }
    }

    // ---------------------------------------------------------------- blocks

    /// Produces and commits the next block at `time_unix_nanos`: includes the
    /// whole mempool (DeliverTx), runs the EndBlocker (proof validation, then
    /// settlement) and resets the CheckTx state.
    pub fn produce_block(&mut self, time_unix_nanos: i128) -> &Block {
        let height = self.height() + 1;
        let prev_hash = self.blocks.last().map_or([0u8; 32], |b| b.hash);
        let hash = block_hash(&self.chain_id, height, &prev_hash);
        // Block times strictly increase even if the wall clock steps back.
        let time = time_unix_nanos.max(self.latest_time() + 1_000_000);
        // The block is pushed first (without txs) so that handlers can read its
        // hash: the chain knows block h's hash while executing block h.
        self.blocks.push(Block {
            height,
            hash,
            prev_hash,
            time_unix_nanos: time,
            txs: Vec::new(),
            tx_results: Vec::new(),
            finalize_events: Vec::new(),
        });
        let txs = std::mem::take(&mut self.mempool);
        self.mempool_hashes.clear();
        let mut results = Vec::with_capacity(txs.len());
        for (index, tx) in txs.iter().enumerate() {
            let result = self.deliver_tx(tx, height, time);
            let hash = crate::ante::tx_hash_hex(tx);
            if result.is_ok() {
                self.counters.txs_included_ok += 1;
            } else {
                self.counters.txs_failed_in_block += 1;
                tracing::warn!(
                    height,
                    txhash = %hash,
                    code = result.code,
                    codespace = %result.codespace,
                    log = %result.log,
                    "tx failed in block"
                );
            }
            self.record_tx(
                hash,
                TxRecord {
                    height,
                    index,
                    bytes: tx.clone(),
                    result: result.clone(),
                    time_unix_nanos: time,
                },
            );
            results.push(result);
        }
        let events = self.end_block(height, time);
        self.check = CheckState::default();
        self.counters.blocks += 1;
        let block = self
            .blocks
            .last_mut()
            .unwrap_or_else(|| unreachable!("the block was pushed above"));
        block.txs = txs;
        block.tx_results = results;
        block.finalize_events = events;
        block
    }

    /// The EndBlocker: validate the proofs submitted in this block, settle the
    /// claims whose proof window closes at this height, prune unordered nonces.
    fn end_block(&mut self, height: i64, time: i128) -> Vec<Event> {
        let mut events = self.validate_pending_proofs(height);
        events.extend(self.settle_claims(height));
        self.unordered_nonces.retain(|(_, t), _| *t >= time);
        events
    }
}
