//! bLSAG ring signatures over secp256k1, byte-compatible with ring-go (go-dleq
//! decred backend, including the left-aligned hash-to-scalar quirk), and the
//! supplier's secp256k1 ECDSA response signatures.
