//! The genesis file: chain id, module parameters, services, applications,
//! gateways, suppliers and balances (`genesis.example.yaml` documents every
//! key). Parameter defaults are poktroll's `config.yml` localnet values
//! (sessions-and-windows.md §9.2).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default balance (uPOKT) of every account named in the genesis when its entry
/// gives none: enough for many fees and proof submission fees.
pub const DEFAULT_BALANCE_UPOKT: u64 = 1_000_000_000_000;

/// The whole genesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id (`pocket` on localnet and mainnet). Part of every sign doc.
    #[serde(default = "default_chain_id")]
    pub chain_id: String,
    /// Application version reported by `abci_info` (the Go relayer gates
    /// features on it).
    #[serde(default = "default_app_version")]
    pub app_version: String,
    /// Minimum gas price in uPOKT per gas unit, a decimal string (a node
    /// setting, not a protocol constant). A tx whose fee is below
    /// `ceil(min_gas_price × gas_limit)` is rejected by CheckTx with code 13.
    #[serde(default = "default_min_gas_price")]
    pub min_gas_price: String,
    /// Module parameters.
    #[serde(default)]
    pub params: Params,
    /// Scheduled parameter changes, in height order: each takes effect at
    /// its `effective_height`, a session boundary (sessions-and-windows.md
    /// §1.1). Empty: the parameters never change.
    #[serde(default)]
    pub params_history: Vec<ParamsChangeGenesis>,
    /// Services.
    #[serde(default)]
    pub services: Vec<ServiceGenesis>,
    /// Staked applications.
    #[serde(default)]
    pub applications: Vec<ApplicationGenesis>,
    /// Staked gateways.
    #[serde(default)]
    pub gateways: Vec<GatewayGenesis>,
    /// Staked suppliers.
    #[serde(default)]
    pub suppliers: Vec<SupplierGenesis>,
    /// Other funded accounts (not staked as any actor).
    #[serde(default)]
    pub accounts: Vec<AccountGenesis>,
}

/// Every module's parameters. Each block may be omitted; omitted fields take
/// the localnet value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// `pocket.shared.Params`.
    pub shared: SharedParams,
    /// `pocket.session.Params`.
    pub session: SessionParams,
    /// `pocket.proof.Params`.
    pub proof: ProofParams,
    /// `pocket.service.Params`.
    pub service: ServiceParams,
    /// `pocket.tokenomics.Params`.
    pub tokenomics: TokenomicsParams,
    /// `pocket.application.Params`.
    pub application: ApplicationParams,
    /// `pocket.supplier.Params`.
    pub supplier: SupplierParams,
    /// `pocket.gateway.Params`.
    pub gateway: GatewayParams,
}

/// `pocket.shared.Params` (wire.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedParams {
    /// Blocks per session (N).
    pub num_blocks_per_session: u64,
    /// Blocks after the session end during which relays are still served.
    pub grace_period_end_offset_blocks: u64,
    /// Claim window open offset.
    pub claim_window_open_offset_blocks: u64,
    /// Claim window close offset.
    pub claim_window_close_offset_blocks: u64,
    /// Proof window open offset.
    pub proof_window_open_offset_blocks: u64,
    /// Proof window close offset.
    pub proof_window_close_offset_blocks: u64,
    /// Supplier unbonding period (sessions).
    pub supplier_unbonding_period_sessions: u64,
    /// Application unbonding period (sessions).
    pub application_unbonding_period_sessions: u64,
    /// Gateway unbonding period (sessions).
    pub gateway_unbonding_period_sessions: u64,
    /// CUTTM, in 1/granularity uPOKT per compute unit.
    pub compute_units_to_tokens_multiplier: u64,
    /// Denominator of CUTTM.
    pub compute_unit_cost_granularity: u64,
    /// Session grid anchor height (0 = legacy grid from block 1).
    pub session_grid_anchor_height: u64,
    /// Session number at the anchor.
    pub session_number_at_anchor: u64,
}

impl Default for SharedParams {
    fn default() -> Self {
        SharedParams {
            num_blocks_per_session: 10,
            grace_period_end_offset_blocks: 1,
            claim_window_open_offset_blocks: 1,
            claim_window_close_offset_blocks: 4,
            proof_window_open_offset_blocks: 0,
            proof_window_close_offset_blocks: 4,
            supplier_unbonding_period_sessions: 1,
            application_unbonding_period_sessions: 1,
            gateway_unbonding_period_sessions: 1,
            compute_units_to_tokens_multiplier: 42_000_000,
            compute_unit_cost_granularity: 1_000_000,
            session_grid_anchor_height: 0,
            session_number_at_anchor: 0,
        }
    }
}

impl SharedParams {
    /// The protobuf message the chain serves.
    pub fn to_proto(&self) -> protocol::pb::pocket::shared::Params {
        protocol::pb::pocket::shared::Params {
            num_blocks_per_session: self.num_blocks_per_session,
            grace_period_end_offset_blocks: self.grace_period_end_offset_blocks,
            claim_window_open_offset_blocks: self.claim_window_open_offset_blocks,
            claim_window_close_offset_blocks: self.claim_window_close_offset_blocks,
            proof_window_open_offset_blocks: self.proof_window_open_offset_blocks,
            proof_window_close_offset_blocks: self.proof_window_close_offset_blocks,
            supplier_unbonding_period_sessions: self.supplier_unbonding_period_sessions,
            application_unbonding_period_sessions: self.application_unbonding_period_sessions,
            compute_units_to_tokens_multiplier: self.compute_units_to_tokens_multiplier,
            gateway_unbonding_period_sessions: self.gateway_unbonding_period_sessions,
            compute_unit_cost_granularity: self.compute_unit_cost_granularity,
            session_grid_anchor_height: self.session_grid_anchor_height,
            session_number_at_anchor: self.session_number_at_anchor,
        }
    }

    /// The values of a protobuf message.
    pub fn from_proto(p: &protocol::pb::pocket::shared::Params) -> Self {
        SharedParams {
            num_blocks_per_session: p.num_blocks_per_session,
            grace_period_end_offset_blocks: p.grace_period_end_offset_blocks,
            claim_window_open_offset_blocks: p.claim_window_open_offset_blocks,
            claim_window_close_offset_blocks: p.claim_window_close_offset_blocks,
            proof_window_open_offset_blocks: p.proof_window_open_offset_blocks,
            proof_window_close_offset_blocks: p.proof_window_close_offset_blocks,
            supplier_unbonding_period_sessions: p.supplier_unbonding_period_sessions,
            application_unbonding_period_sessions: p.application_unbonding_period_sessions,
            gateway_unbonding_period_sessions: p.gateway_unbonding_period_sessions,
            compute_units_to_tokens_multiplier: p.compute_units_to_tokens_multiplier,
            compute_unit_cost_granularity: p.compute_unit_cost_granularity,
            session_grid_anchor_height: p.session_grid_anchor_height,
            session_number_at_anchor: p.session_number_at_anchor,
        }
    }
}

/// A scheduled parameter change (as a governance `MsgUpdateParams` makes on
/// the real chain). Also the body of `POST /chainsim/shared_params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsChangeGenesis {
    /// First block the new parameters apply to. Must be the first block of a
    /// session under the parameters in force before it, after block 1 and
    /// after the previous change (the same height replaces it).
    pub effective_height: i64,
    /// The shared parameters that change.
    #[serde(default)]
    pub shared: SharedParamsChange,
}

/// Shared parameters that change; omitted keys keep the value in force
/// before the change. `session_grid_anchor_height` and
/// `session_number_at_anchor` are derived, as on chain: changing
/// `num_blocks_per_session` anchors the new grid at the effective height.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedParamsChange {
    /// Blocks per session (N).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_blocks_per_session: Option<u64>,
    /// Blocks after the session end during which relays are still served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_end_offset_blocks: Option<u64>,
    /// Claim window open offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_window_open_offset_blocks: Option<u64>,
    /// Claim window close offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_window_close_offset_blocks: Option<u64>,
    /// Proof window open offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_window_open_offset_blocks: Option<u64>,
    /// Proof window close offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_window_close_offset_blocks: Option<u64>,
    /// Supplier unbonding period (sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier_unbonding_period_sessions: Option<u64>,
    /// Application unbonding period (sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_unbonding_period_sessions: Option<u64>,
    /// Gateway unbonding period (sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_unbonding_period_sessions: Option<u64>,
    /// CUTTM, in 1/granularity uPOKT per compute unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_units_to_tokens_multiplier: Option<u64>,
    /// Denominator of CUTTM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_unit_cost_granularity: Option<u64>,
}

impl SharedParamsChange {
    /// `before` with this change applied (grid-anchor fields untouched: the
    /// chain derives them when the change is scheduled).
    pub fn apply(
        &self,
        before: &protocol::pb::pocket::shared::Params,
    ) -> protocol::pb::pocket::shared::Params {
        let mut p = *before;
        let set = |field: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut p.num_blocks_per_session, self.num_blocks_per_session);
        set(
            &mut p.grace_period_end_offset_blocks,
            self.grace_period_end_offset_blocks,
        );
        set(
            &mut p.claim_window_open_offset_blocks,
            self.claim_window_open_offset_blocks,
        );
        set(
            &mut p.claim_window_close_offset_blocks,
            self.claim_window_close_offset_blocks,
        );
        set(
            &mut p.proof_window_open_offset_blocks,
            self.proof_window_open_offset_blocks,
        );
        set(
            &mut p.proof_window_close_offset_blocks,
            self.proof_window_close_offset_blocks,
        );
        set(
            &mut p.supplier_unbonding_period_sessions,
            self.supplier_unbonding_period_sessions,
        );
        set(
            &mut p.application_unbonding_period_sessions,
            self.application_unbonding_period_sessions,
        );
        set(
            &mut p.gateway_unbonding_period_sessions,
            self.gateway_unbonding_period_sessions,
        );
        set(
            &mut p.compute_units_to_tokens_multiplier,
            self.compute_units_to_tokens_multiplier,
        );
        set(
            &mut p.compute_unit_cost_granularity,
            self.compute_unit_cost_granularity,
        );
        p
    }
}

/// `pocket.session.Params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionParams {
    /// Suppliers per session.
    pub num_suppliers_per_session: u64,
}

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            num_suppliers_per_session: 15,
        }
    }
}

/// `pocket.proof.Params` (amounts in uPOKT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProofParams {
    /// Probability that a below-threshold claim needs a proof.
    pub proof_request_probability: f64,
    /// Claims worth at least this many uPOKT always need a proof.
    pub proof_requirement_threshold_upokt: u64,
    /// Slash for a missing or invalid required proof.
    pub proof_missing_penalty_upokt: u64,
    /// Fee moved from the operator on every accepted `MsgSubmitProof`.
    pub proof_submission_fee_upokt: u64,
}

impl Default for ProofParams {
    fn default() -> Self {
        ProofParams {
            proof_request_probability: 0.25,
            proof_requirement_threshold_upokt: 20_000_000,
            proof_missing_penalty_upokt: 320_000_000,
            proof_submission_fee_upokt: 1_000_000,
        }
    }
}

/// `pocket.service.Params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceParams {
    /// Fee to add a service (uPOKT); informational.
    pub add_service_fee_upokt: u64,
    /// Difficulty EMA target (also the `num_relays_ema` of the base difficulty).
    pub target_num_relays: u64,
}

impl Default for ServiceParams {
    fn default() -> Self {
        ServiceParams {
            add_service_fee_upokt: 1_000_000_000,
            target_num_relays: 100_000,
        }
    }
}

/// `pocket.tokenomics.Params` (served by the query; settlement pays the whole
/// claimed amount to the supplier owner, see the crate docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenomicsParams {
    /// DAO reward address.
    pub dao_reward_address: String,
    /// Global inflation per claim.
    pub global_inflation_per_claim: f64,
    /// Mint ratio.
    pub mint_ratio: f64,
    /// Overservicing bonus multiplier.
    pub overservicing_bonus_multiplier: u64,
}

impl Default for TokenomicsParams {
    fn default() -> Self {
        TokenomicsParams {
            dao_reward_address: String::new(),
            global_inflation_per_claim: 0.1,
            mint_ratio: 1.0,
            overservicing_bonus_multiplier: 1,
        }
    }
}

/// `pocket.application.Params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplicationParams {
    /// Maximum delegated gateways per application.
    pub max_delegated_gateways: u64,
    /// Minimum stake (uPOKT).
    pub min_stake_upokt: u64,
}

impl Default for ApplicationParams {
    fn default() -> Self {
        ApplicationParams {
            max_delegated_gateways: 7,
            min_stake_upokt: 1_000_000,
        }
    }
}

/// `pocket.supplier.Params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupplierParams {
    /// Minimum stake (uPOKT).
    pub min_stake_upokt: u64,
    /// Staking fee (uPOKT).
    pub staking_fee_upokt: u64,
}

impl Default for SupplierParams {
    fn default() -> Self {
        SupplierParams {
            min_stake_upokt: 1_000_000,
            staking_fee_upokt: 1,
        }
    }
}

/// `pocket.gateway.Params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayParams {
    /// Minimum stake (uPOKT).
    pub min_stake_upokt: u64,
}

impl Default for GatewayParams {
    fn default() -> Self {
        GatewayParams {
            min_stake_upokt: 1_000_000,
        }
    }
}

/// A service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceGenesis {
    /// Service id (`[a-zA-Z0-9_-]{1,42}`).
    pub id: String,
    /// Description (defaults to the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Compute units per relay (1 … 2 097 152); the SMST weight of each relay.
    #[serde(default = "one")]
    pub compute_units_per_relay: u64,
    /// Owner address (optional).
    #[serde(default)]
    pub owner_address: Option<String>,
    /// Relay mining difficulty target, 64 hex characters (default: 32 × `ff`,
    /// every relay is mined).
    #[serde(default)]
    pub target_hash: Option<String>,
}

/// An account key: exactly one of `private_key` (hex, 32 bytes),
/// `public_key` (hex, 33-byte compressed secp256k1) or `address` (bech32
/// `pokt1…`, public key unknown to the chain).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyGenesis {
    /// Hex private key (test keys only: the simulator never signs with it,
    /// it only derives the public key and address).
    #[serde(default)]
    pub private_key: Option<String>,
    /// Hex compressed public key.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Bech32 address.
    #[serde(default)]
    pub address: Option<String>,
}

/// A staked application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationGenesis {
    /// The application's key.
    pub key: KeyGenesis,
    /// Stake (uPOKT).
    pub stake_upokt: u64,
    /// The one service it is staked for.
    pub service_id: String,
    /// Addresses of the gateways it delegates to (must be staked gateways).
    #[serde(default)]
    pub delegatee_gateways: Vec<String>,
    /// Spendable balance (uPOKT); default [`DEFAULT_BALANCE_UPOKT`].
    #[serde(default)]
    pub balance_upokt: Option<u64>,
}

/// A staked gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayGenesis {
    /// The gateway's key.
    pub key: KeyGenesis,
    /// Stake (uPOKT).
    pub stake_upokt: u64,
    /// Spendable balance (uPOKT); default [`DEFAULT_BALANCE_UPOKT`].
    #[serde(default)]
    pub balance_upokt: Option<u64>,
}

/// A staked supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplierGenesis {
    /// The operator's key (signs responses, claims and proofs).
    pub operator: KeyGenesis,
    /// Owner address (receives rewards); defaults to the operator address.
    #[serde(default)]
    pub owner_address: Option<String>,
    /// Stake (uPOKT).
    pub stake_upokt: u64,
    /// Whether the operator account's public key is on chain at genesis
    /// (default true when the key is known). `false` reproduces an operator
    /// that never signed a tx: its first tx must carry the public key.
    #[serde(default = "yes")]
    pub pubkey_on_chain: bool,
    /// Services with their endpoints.
    pub services: Vec<SupplierServiceGenesis>,
    /// Operator's spendable balance (uPOKT); default [`DEFAULT_BALANCE_UPOKT`].
    #[serde(default)]
    pub balance_upokt: Option<u64>,
}

/// One service a supplier serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplierServiceGenesis {
    /// Service id.
    pub service_id: String,
    /// Public endpoints, one per RPC type by convention.
    pub endpoints: Vec<EndpointGenesis>,
}

/// One supplier endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointGenesis {
    /// URL the gateway connects to (http, https, ws, wss).
    pub url: String,
    /// `grpc`, `websocket`, `json_rpc`, `rest` or `comet_bft`.
    pub rpc_type: String,
}

/// A funded account that is not a staked actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountGenesis {
    /// The account's key or address.
    pub key: KeyGenesis,
    /// Spendable balance (uPOKT).
    pub balance_upokt: u64,
}

/// A key resolved from a [`KeyGenesis`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedKey {
    pub address: String,
    pub public_key: Option<[u8; 33]>,
}

fn default_chain_id() -> String {
    "pocket".into()
}

fn default_app_version() -> String {
    "v0.1.35".into()
}

fn default_min_gas_price() -> String {
    "0.000001".into()
}

fn one() -> u64 {
    1
}

fn yes() -> bool {
    true
}

impl Default for Genesis {
    fn default() -> Self {
        Genesis {
            chain_id: default_chain_id(),
            app_version: default_app_version(),
            min_gas_price: default_min_gas_price(),
            params: Params::default(),
            params_history: Vec::new(),
            services: Vec::new(),
            applications: Vec::new(),
            gateways: Vec::new(),
            suppliers: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

impl Genesis {
    /// Parses a genesis from YAML (unknown keys are errors).
    pub fn from_yaml(yaml: &str) -> Result<Self> {
        serde_saphyr::from_str(yaml).map_err(|e| Error::ParseGenesis(e.to_string()))
    }

    /// Reads and parses a genesis file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadGenesis {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Checks the genesis for consistency: keys decode, every referenced
    /// service and gateway exists, no actor appears twice, parameters are sane.
    pub fn validate(&self) -> Result<()> {
        if self.chain_id.is_empty() {
            return Err(Error::genesis("chain_id", "empty"));
        }
        parse_gas_price(&self.min_gas_price)?;
        let shared = &self.params.shared;
        if shared.num_blocks_per_session == 0 {
            return Err(Error::genesis(
                "params.shared.num_blocks_per_session",
                "must be at least 1",
            ));
        }
        if shared.compute_unit_cost_granularity == 0 {
            return Err(Error::genesis(
                "params.shared.compute_unit_cost_granularity",
                "must be at least 1",
            ));
        }
        let p = self.params.proof.proof_request_probability;
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::genesis(
                "params.proof.proof_request_probability",
                format!("{p} is not in [0, 1]"),
            ));
        }
        if self.params.session.num_suppliers_per_session == 0 {
            return Err(Error::genesis(
                "params.session.num_suppliers_per_session",
                "must be at least 1",
            ));
        }
        crate::params::SharedHistory::from_genesis(self)?;
        let mut service_ids = BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let field = format!("services[{i}]");
            protocol::session::validate_service_id(&s.id)
                .map_err(|e| Error::genesis(format!("{field}.id"), e.to_string()))?;
            if !(1..=2_097_152).contains(&s.compute_units_per_relay) {
                return Err(Error::genesis(
                    format!("{field}.compute_units_per_relay"),
                    "must be in 1..=2097152",
                ));
            }
            if let Some(t) = &s.target_hash {
                parse_target(t).map_err(|r| Error::genesis(format!("{field}.target_hash"), r))?;
            }
            if !service_ids.insert(s.id.clone()) {
                return Err(Error::genesis(field, format!("duplicate service {}", s.id)));
            }
        }
        let mut gateways = BTreeSet::new();
        for (i, g) in self.gateways.iter().enumerate() {
            let key = g.key.resolve(&format!("gateways[{i}].key"))?;
            if !gateways.insert(key.address.clone()) {
                return Err(Error::genesis(
                    format!("gateways[{i}]"),
                    format!("duplicate gateway {}", key.address),
                ));
            }
        }
        let mut apps = BTreeSet::new();
        for (i, a) in self.applications.iter().enumerate() {
            let field = format!("applications[{i}]");
            let key = a.key.resolve(&format!("{field}.key"))?;
            if !apps.insert(key.address.clone()) {
                return Err(Error::genesis(
                    field,
                    format!("duplicate application {}", key.address),
                ));
            }
            if !service_ids.contains(&a.service_id) {
                return Err(Error::genesis(
                    format!("{field}.service_id"),
                    format!("unknown service {}", a.service_id),
                ));
            }
            if a.delegatee_gateways.len() as u64 > self.params.application.max_delegated_gateways {
                return Err(Error::genesis(
                    format!("{field}.delegatee_gateways"),
                    "more than max_delegated_gateways",
                ));
            }
            for g in &a.delegatee_gateways {
                if !gateways.contains(g) {
                    return Err(Error::genesis(
                        format!("{field}.delegatee_gateways"),
                        format!("{g} is not a staked gateway"),
                    ));
                }
            }
        }
        let mut suppliers = BTreeSet::new();
        for (i, s) in self.suppliers.iter().enumerate() {
            let field = format!("suppliers[{i}]");
            let key = s.operator.resolve(&format!("{field}.operator"))?;
            if let Some(owner) = &s.owner_address {
                protocol::address::decode_address(owner)
                    .map_err(|e| Error::genesis(format!("{field}.owner_address"), e.to_string()))?;
            }
            if !suppliers.insert(key.address.clone()) {
                return Err(Error::genesis(
                    field,
                    format!("duplicate supplier {}", key.address),
                ));
            }
            if s.services.is_empty() {
                return Err(Error::genesis(format!("{field}.services"), "empty"));
            }
            for (j, svc) in s.services.iter().enumerate() {
                if !service_ids.contains(&svc.service_id) {
                    return Err(Error::genesis(
                        format!("{field}.services[{j}].service_id"),
                        format!("unknown service {}", svc.service_id),
                    ));
                }
                for (k, e) in svc.endpoints.iter().enumerate() {
                    parse_rpc_type(&e.rpc_type).map_err(|r| {
                        Error::genesis(format!("{field}.services[{j}].endpoints[{k}].rpc_type"), r)
                    })?;
                }
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            a.key.resolve(&format!("accounts[{i}].key"))?;
        }
        Ok(())
    }
}

impl KeyGenesis {
    /// A key from a hex private key (test genesis builders).
    pub fn private(hex_key: impl Into<String>) -> Self {
        KeyGenesis {
            private_key: Some(hex_key.into()),
            ..KeyGenesis::default()
        }
    }

    /// A key known only by its address (no public key on chain).
    pub fn address(address: impl Into<String>) -> Self {
        KeyGenesis {
            address: Some(address.into()),
            ..KeyGenesis::default()
        }
    }

    /// The address (and public key, when known) this entry names.
    pub(crate) fn resolve(&self, field: &str) -> Result<ResolvedKey> {
        match (&self.private_key, &self.public_key, &self.address) {
            (Some(sk), None, None) => {
                let bytes: [u8; 32] = hex::decode(sk.trim_start_matches("0x"))
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| Error::genesis(field, "private_key is not 32 hex bytes"))?;
                let key = rings::PrivateKey::from_bytes(&bytes)
                    .map_err(|e| Error::genesis(field, e.to_string()))?;
                let public_key = key.public_key();
                Ok(ResolvedKey {
                    address: protocol::address::address_from_pubkey(&public_key)?,
                    public_key: Some(public_key),
                })
            }
            (None, Some(pk), None) => {
                let public_key: [u8; 33] = hex::decode(pk.trim_start_matches("0x"))
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| Error::genesis(field, "public_key is not 33 hex bytes"))?;
                let address = protocol::address::address_from_pubkey(&public_key)
                    .map_err(|e| Error::genesis(field, e.to_string()))?;
                Ok(ResolvedKey {
                    address,
                    public_key: Some(public_key),
                })
            }
            (None, None, Some(addr)) => {
                protocol::address::decode_address(addr)
                    .map_err(|e| Error::genesis(field, e.to_string()))?;
                Ok(ResolvedKey {
                    address: addr.clone(),
                    public_key: None,
                })
            }
            _ => Err(Error::genesis(
                field,
                "give exactly one of private_key, public_key, address",
            )),
        }
    }
}

/// Parses a decimal gas price into `numerator / 10^scale`.
pub(crate) fn parse_gas_price(s: &str) -> Result<(u128, u32)> {
    let bad = || Error::genesis("min_gas_price", format!("{s:?} is not a decimal number"));
    let s = s.trim().trim_end_matches("upokt");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || frac.len() > 18 {
        return Err(bad());
    }
    let digits = format!("{int}{frac}");
    let num: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| bad())?
    };
    Ok((num, frac.len() as u32))
}

/// Parses a 64-hex-character difficulty target.
pub(crate) fn parse_target(s: &str) -> std::result::Result<[u8; 32], String> {
    let bytes = hex::decode(s).map_err(|e| e.to_string())?;
    protocol::relay::parse_target_hash(&bytes).map_err(|e| e.to_string())
}

/// Parses an RPC type name (`json_rpc`, `JSON_RPC`, `3`, ...).
pub(crate) fn parse_rpc_type(s: &str) -> std::result::Result<i32, String> {
    use protocol::pb::pocket::shared::RpcType;
    let t = match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "grpc" | "1" => RpcType::Grpc,
        "websocket" | "ws" | "2" => RpcType::Websocket,
        "json_rpc" | "jsonrpc" | "3" => RpcType::JsonRpc,
        "rest" | "4" => RpcType::Rest,
        "comet_bft" | "cometbft" | "5" => RpcType::CometBft,
        other => return Err(format!("unknown rpc type {other:?}")),
    };
    Ok(t as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_genesis_parses_and_validates() {
        let text = include_str!("../genesis.example.yaml");
        let genesis = Genesis::from_yaml(text).expect("example parses");
        genesis.validate().expect("example is consistent");
        assert_eq!(
            genesis.params,
            Params::default(),
            "example shows the defaults"
        );
    }

    #[test]
    fn params_history_entries_change_only_the_keys_given() {
        // The commented example of genesis.example.yaml.
        let yaml = "params_history:\n  - effective_height: 31\n    shared:\n      \
                    num_blocks_per_session: 20\n      \
                    compute_units_to_tokens_multiplier: 21000000\n";
        let genesis = Genesis::from_yaml(yaml).expect("parses");
        genesis.validate().expect("31 starts session 4");
        let history = crate::params::SharedHistory::from_genesis(&genesis).expect("history");
        let entries = history.entries();
        assert_eq!(entries.len(), 2);
        let (effective, p) = entries[1];
        assert_eq!(effective, 31);
        assert_eq!(p.num_blocks_per_session, 20);
        assert_eq!(p.compute_units_to_tokens_multiplier, 21_000_000);
        assert_eq!(
            p.claim_window_close_offset_blocks, 4,
            "unchanged keys keep the genesis value"
        );
        assert_eq!(
            (p.session_grid_anchor_height, p.session_number_at_anchor),
            (31, 4)
        );
    }

    #[test]
    fn params_history_off_a_session_boundary_or_with_derived_keys_is_rejected() {
        let off = "params_history:\n  - effective_height: 30\n    shared:\n      \
                   num_blocks_per_session: 20\n";
        let err = Genesis::from_yaml(off)
            .expect("parses")
            .validate()
            .expect_err("30 is inside session 3");
        assert!(
            matches!(&err, Error::InvalidGenesis { field, .. } if field == "params_history[0]"),
            "{err}"
        );
        let derived = "params_history:\n  - effective_height: 31\n    shared:\n      \
                       session_grid_anchor_height: 31\n";
        assert!(matches!(
            Genesis::from_yaml(derived),
            Err(Error::ParseGenesis(_))
        ));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Genesis::from_yaml("chain_id: pocket\nchainid: x\n").expect_err("unknown key");
        assert!(matches!(err, Error::ParseGenesis(_)), "{err}");
    }

    #[test]
    fn gas_price_parses() {
        assert_eq!(parse_gas_price("0.000001").expect("ok"), (1, 6));
        assert_eq!(parse_gas_price("1upokt").expect("ok"), (1, 0));
        assert_eq!(parse_gas_price("0").expect("ok"), (0, 0));
        assert!(parse_gas_price("abc").is_err());
    }
}
