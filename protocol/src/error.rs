//! The one error type of this crate.

/// What went wrong with protocol data. Every variant names the message or field
/// it concerns; none of them is retryable (the same bytes give the same error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid protobuf encoding of the named message.
    #[error("cannot decode {message}: {reason}")]
    Decode {
        /// Protobuf message name, e.g. `pocket.service.RelayRequest`.
        message: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A field is missing or has an invalid value (stateless validation).
    #[error("invalid {message}.{field}: {reason}")]
    InvalidField {
        /// Protobuf message name.
        message: &'static str,
        /// Field name.
        field: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// A bech32 address that does not decode to a 20-byte `pokt` account address.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A public key that is not a 33-byte compressed secp256k1 encoding.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A relay difficulty target hash that is not 32 bytes or is zero.
    #[error("invalid relay difficulty target hash: {0}")]
    InvalidTargetHash(String),
    /// A value outside what the protocol allows (heights, params, roots).
    #[error("{0}")]
    OutOfRange(String),
}

impl Error {
    pub(crate) fn decode(message: &'static str, err: prost::DecodeError) -> Self {
        Error::Decode {
            message,
            reason: err.to_string(),
        }
    }

    pub(crate) fn field(
        message: &'static str,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidField {
            message,
            field,
            reason: reason.into(),
        }
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
