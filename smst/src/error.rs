//! The crate's single error type.

use crate::digest::{Digest, Hex, Path};

/// Everything that can go wrong in this crate.
///
/// Proof failures carry the pipeline stage at which the chain would reject
/// the proof (see [`Error::proof_stage`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A delete named a key that is not in the trie; the trie is unchanged.
    #[error("key not found (path {})", Hex(path))]
    KeyNotFound {
        /// Path (`sha256(key)`) of the missing leaf.
        path: Path,
    },
    /// Two leaves with the same path were given to a bulk build.
    #[error("duplicate leaf path {}", Hex(path))]
    DuplicateLeaf {
        /// The repeated path.
        path: Path,
    },
    /// A leaf store did not return the value of a leaf it listed, or returned
    /// one that does not hash to the listed leaf hash.
    #[error("leaf store has no value matching leaf {}", Hex(path))]
    MissingValue {
        /// Path of the leaf whose value is missing.
        path: Path,
    },
    /// The leaf store backend failed.
    #[error("leaf store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The bytes are not a gob encoding of `SparseCompactMerkleClosestProof`
    /// this decoder accepts (chain stage: unmarshal).
    #[error("gob decode failed at byte {offset}: {reason}")]
    Gob {
        /// Byte offset in the input where decoding stopped.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The compact proof is inconsistent (chain stage: decompact).
    #[error("cannot decompact proof: {reason}")]
    Decompact {
        /// What was wrong.
        reason: String,
    },
    /// The proof is malformed or its sibling data does not match (chain
    /// stage: `VerifyClosestProof` returned an error).
    #[error("invalid proof: {reason}")]
    InvalidProof {
        /// What was wrong.
        reason: String,
    },
    /// The proof is well formed but recomputes to a different root (chain
    /// stage: `VerifyClosestProof` returned false).
    #[error("proof recomputes to root {computed}, not the claimed root")]
    RootMismatch {
        /// The root the proof recomputes to.
        computed: Digest,
    },
}

/// Where in the chain's proof pipeline (smst.md §8) a proof was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProofStage {
    /// gob decoding failed.
    Unmarshal,
    /// `DecompactClosestProof` failed.
    Decompact,
    /// `VerifyClosestProof` returned an error.
    VerifyError,
    /// `VerifyClosestProof` returned false (root mismatch).
    Verify,
}

impl Error {
    /// The proof pipeline stage this error belongs to, or `None` for errors
    /// that are not about a proof.
    #[must_use]
    pub fn proof_stage(&self) -> Option<ProofStage> {
        match self {
            Error::Gob { .. } => Some(ProofStage::Unmarshal),
            Error::Decompact { .. } => Some(ProofStage::Decompact),
            Error::InvalidProof { .. } => Some(ProofStage::VerifyError),
            Error::RootMismatch { .. } => Some(ProofStage::Verify),
            Error::KeyNotFound { .. }
            | Error::DuplicateLeaf { .. }
            | Error::MissingValue { .. }
            | Error::Store(_) => None,
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidProof {
            reason: reason.into(),
        }
    }

    pub(crate) fn decompact(reason: impl Into<String>) -> Self {
        Error::Decompact {
            reason: reason.into(),
        }
    }
}
