//! Relay errors: who is to blame, whether a retry is safe, and the one
//! function that maps an error to what the gateway sees.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Who caused a failed relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The gateway or its client sent something invalid or unpayable.
    Client,
    /// The operator's backend node failed.
    Backend,
    /// This relayer (or its Redis / chain view) failed.
    Us,
}

/// Why a relay was refused or failed. The variant is the reason label in
/// metrics; the text goes to the gateway only where it is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The request body exceeds the size limit.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read.
    #[error("cannot read request body: {0}")]
    ReadBody(String),
    /// The body is not a `RelayRequest`.
    #[error("not a RelayRequest: {0}")]
    Decode(String),
    /// Stateless validation failed (header, signature present, supplier).
    #[error("invalid relay request: {0}")]
    Invalid(String),
    /// The session heights cannot be right (before any chain query).
    #[error("implausible session heights: {0}")]
    ImplausibleHeights(String),
    /// The service is not configured on this relayer.
    #[error("unknown service {0:?}")]
    UnknownService(String),
    /// The `Rpc-Type` header names a backend kind this service lacks.
    #[error("service {service:?} has no {rpc_type} backend")]
    NoBackend {
        /// Service id.
        service: String,
        /// Backend kind.
        rpc_type: String,
    },
    /// The relay is addressed to a supplier this relayer does not hold a key for.
    #[error("supplier {0} is not served by this relayer")]
    UnknownSupplier(String),
    /// The session ended and its grace period is over.
    #[error("session expired: ended at {end}, grace until {grace_end}, current height {current}")]
    SessionExpired {
        /// Session end height.
        end: i64,
        /// Last height relays are accepted.
        grace_end: i64,
        /// Current height.
        current: i64,
    },
    /// The ring signature does not verify, or a signer is not in the ring.
    #[error("ring signature rejected: {0}")]
    Signature(String),
    /// The session header does not match the chain's, or the supplier is not in it.
    #[error("session mismatch: {0}")]
    Session(String),
    /// The supplier is not staked for the service (yet, or any more).
    #[error("supplier {supplier} cannot serve {service}: {reason}")]
    SupplierInactive {
        /// Supplier operator address.
        supplier: String,
        /// Service id.
        service: String,
        /// Why.
        reason: String,
    },
    /// The application's budget for this session is used up.
    #[error("session relay limit reached: claimable portion fully consumed")]
    OverServiced,
    /// A simulated relay that is not allowed (unknown key id, stale, replayed).
    #[error("simulated relay refused: {0}")]
    Simulation(String),
    /// The backend could not be reached or timed out.
    #[error("backend error: {0}")]
    BackendUnavailable(String),
    /// The backend answered with a 5xx status: passed through, never signed.
    #[error("backend service error")]
    BackendStatus {
        /// The backend's status.
        status: StatusCode,
        /// The backend's body.
        body: bytes::Bytes,
    },
    /// A chain view (cache / chain) query failed.
    #[error("chain state unavailable: {0}")]
    ChainUnavailable(String),
    /// A simulation identity sent more than its `max_rps`.
    #[error("simulated relay rate limit ({0} per second) exceeded")]
    SimulationRateLimited(u32),
    /// The publish queue is full (Redis unreachable or too slow): the relay
    /// is refused before it is served, since it could not be paid.
    #[error("relay publishing backlog full ({0} relays waiting)")]
    PublishBacklog(usize),
    /// Something on our side failed (signing, Redis).
    #[error("internal error: {0}")]
    Internal(String),
}

impl RelayError {
    /// Who is to blame.
    pub fn blame(&self) -> Blame {
        use RelayError::*;
        match self {
            BodyTooLarge { .. }
            | ReadBody(_)
            | Decode(_)
            | Invalid(_)
            | ImplausibleHeights(_)
            | UnknownService(_)
            | NoBackend { .. }
            | UnknownSupplier(_)
            | SessionExpired { .. }
            | Signature(_)
            | Session(_)
            | OverServiced
            | Simulation(_)
            | SimulationRateLimited(_) => Blame::Client,
            BackendUnavailable(_) | BackendStatus { .. } => Blame::Backend,
            SupplierInactive { .. } | ChainUnavailable(_) | PublishBacklog(_) | Internal(_) => {
                Blame::Us
            }
        }
    }

    /// Whether the gateway may safely retry the same relay (here or elsewhere).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RelayError::BackendUnavailable(_)
                | RelayError::ChainUnavailable(_)
                | RelayError::Internal(_)
                | RelayError::PublishBacklog(_)
                | RelayError::SupplierInactive { .. }
        )
    }

    /// Short, stable label for metrics (`reason`).
    pub fn reason(&self) -> &'static str {
        use RelayError::*;
        match self {
            BodyTooLarge { .. } => "body_too_large",
            ReadBody(_) => "read_body",
            Decode(_) => "decode",
            Invalid(_) => "invalid",
            ImplausibleHeights(_) => "implausible_heights",
            UnknownService(_) => "unknown_service",
            NoBackend { .. } => "no_backend",
            UnknownSupplier(_) => "unknown_supplier",
            SessionExpired { .. } => "session_expired",
            Signature(_) => "signature",
            Session(_) => "session",
            SupplierInactive { .. } => "supplier_inactive",
            OverServiced => "over_serviced",
            Simulation(_) => "simulation",
            SimulationRateLimited(_) => "simulation_rate_limited",
            BackendUnavailable(_) => "backend_unavailable",
            BackendStatus { .. } => "backend_5xx",
            ChainUnavailable(_) => "chain_unavailable",
            PublishBacklog(_) => "publish_backlog",
            Internal(_) => "internal",
        }
    }

    /// The HTTP status the gateway gets (transports.md §6.2).
    pub fn status(&self) -> StatusCode {
        use RelayError::*;
        match self {
            BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ReadBody(_) | Decode(_) | Invalid(_) | ImplausibleHeights(_) | NoBackend { .. } => {
                StatusCode::BAD_REQUEST
            }
            UnknownService(_) => StatusCode::NOT_FOUND,
            UnknownSupplier(_)
            | SessionExpired { .. }
            | Signature(_)
            | Session(_)
            | Simulation(_) => StatusCode::FORBIDDEN,
            OverServiced | SimulationRateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            BackendUnavailable(_) => StatusCode::BAD_GATEWAY,
            BackendStatus { status, .. } => *status,
            SupplierInactive { .. } | ChainUnavailable(_) | PublishBacklog(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The one place an error becomes a wire answer: the status of
/// [`RelayError::status`] and a JSON body `{"error": …}`. Our internal failures
/// are logged by the caller and reach the gateway only as a generic message;
/// a backend 5xx is passed through with the backend's body, unsigned.
pub fn rescue(err: &RelayError) -> Response {
    let status = err.status();
    if let RelayError::BackendStatus { body, .. } = err {
        return (status, body.clone()).into_response();
    }
    let message = match err.blame() {
        Blame::Us => match err {
            RelayError::SupplierInactive { .. }
            | RelayError::ChainUnavailable(_)
            | RelayError::PublishBacklog(_) => "service temporarily unavailable".to_owned(),
            _ => "internal error".to_owned(),
        },
        _ => err.to_string(),
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
