//! bLSAG ring signatures as ring-go (go-dleq decred backend) makes and checks
//! them: wire format (signatures.md §3.7), signing (§3.5), verification (§3.6)
//! and the membership rule (§2.2).

use core::fmt;
use std::sync::Arc;

use k256::{
    AffinePoint, ProjectivePoint, Scalar,
    elliptic_curve::{
        Generate,
        ops::{LinearCombination, MulByGeneratorVartime},
        point::BatchNormalize,
    },
};

use crate::{
    Error, KeyCache, PrivateKey,
    keys::HexBytes,
    primitives::{self, POINT_LEN, SCALAR_LEN},
    table::{self, Table},
};

/// Smallest ring accepted by the signer and the decoder.
pub const MIN_RING_SIZE: usize = 2;
/// Largest ring accepted by the signer and the decoder (a real ring is the
/// application plus at most a handful of gateways).
pub const MAX_RING_SIZE: usize = 64;

/// Bytes before the first ring member: size (4), `c0` (32), key image (33).
const HEADER_LEN: usize = 4 + SCALAR_LEN + POINT_LEN;
/// Bytes per ring member: `s_i` (32) and `P_i` (33).
const MEMBER_LEN: usize = SCALAR_LEN + POINT_LEN;

/// A decoded bLSAG ring signature: `c0`, the key image `I`, and one
/// `(s_i, P_i)` pair per ring member, in signature order.
///
/// Wire format (`RelayRequestMetadata.signature`), `69 + 65·n` bytes:
/// `n` (u32 big-endian) ‖ `c0` (32) ‖ `I` (33, compressed) ‖ n × (`s_i` (32) ‖ `P_i` (33)).
#[derive(Clone, PartialEq, Eq)]
pub struct RingSignature {
    c0: Scalar,
    key_image: AffinePoint,
    members: Vec<Member>,
}

/// One ring position as decoded from the wire.
#[derive(Clone, PartialEq, Eq)]
struct Member {
    s: Scalar,
    public_key: [u8; 33],
    point: AffinePoint,
}

/// What the verifier needs per ring member: `P` and `Hp(P)` (and, for keys
/// kept in a [`KeyCache`], their fixed-base tables). This is also what
/// [`KeyCache`] keeps per public key.
#[derive(Debug)]
pub(crate) struct KeyPoints {
    pub(crate) point: ProjectivePoint,
    pub(crate) hp: ProjectivePoint,
    pub(crate) tables: Option<KeyTables>,
}

/// Fixed-base tables of a cached key's `P` and `Hp(P)`.
#[derive(Debug)]
pub(crate) struct KeyTables {
    point: Table,
    hp: Table,
}

/// The key image as the verifier multiplies it: a cached table (a signer
/// seen before) or the decoded point.
pub(crate) enum KeyImage<'a> {
    Table(&'a Table),
    Point(ProjectivePoint),
}

impl KeyPoints {
    /// Decodes a compressed key and hashes it to the curve.
    pub(crate) fn prepare(public_key: &[u8; 33]) -> Result<Self, Error> {
        let point = primitives::decode_point(public_key).ok_or(Error::InvalidPublicKey)?;
        Self::from_decoded(public_key, &point)
    }

    /// [`KeyPoints::prepare`] plus the fixed-base tables (for the cache: about
    /// 1 ms and 150 KiB per key, repaid after a handful of verifications).
    pub(crate) fn prepare_with_tables(public_key: &[u8; 33]) -> Result<Self, Error> {
        let mut prepared = Self::prepare(public_key)?;
        prepared.tables = Some(KeyTables {
            point: Table::new(&prepared.point),
            hp: Table::new(&prepared.hp),
        });
        Ok(prepared)
    }

    fn from_decoded(public_key: &[u8; 33], point: &AffinePoint) -> Result<Self, Error> {
        Ok(Self {
            point: ProjectivePoint::from(point),
            hp: ProjectivePoint::from(primitives::hp(public_key)?),
            tables: None,
        })
    }
}

/// The serialized layout, with nothing decoded but the ring size.
struct Frame<'a> {
    c0: &'a [u8; 32],
    key_image: &'a [u8; 33],
    members: Vec<(&'a [u8; 32], &'a [u8; 33])>,
}

impl RingSignature {
    /// Signs the 32-byte message `msg` (the SHA-256 of a relay request's
    /// signable bytes) with `signer`, whose public key must be in `ring`.
    ///
    /// The ring is embedded in the signature in the order given. Nonces come from
    /// the operating system's CSPRNG; point multiplications involving the private
    /// key or the nonce are constant time. Duplicate ring members are allowed
    /// (PATH signs with `[app, app]` when an application has no gateways); the
    /// signer takes the first position holding its key.
    ///
    /// # Errors
    /// [`Error::RingSize`], [`Error::InvalidPublicKey`] (a ring member does not
    /// decode), [`Error::SignerNotInRing`], [`Error::Randomness`],
    /// [`Error::HashToCurve`].
    pub fn sign(msg: &[u8; 32], ring: &[[u8; 33]], signer: &PrivateKey) -> Result<Self, Error> {
        sign_with_nonces(msg, ring, signer, None, || {
            Scalar::try_generate().map_err(|_| Error::Randomness)
        })
    }

    /// Decodes a serialized ring signature, rejecting everything ring-go's
    /// `Deserialize` rejects plus rings outside `2..=64`:
    ///
    /// - fewer than `69 + 65·n` bytes (bytes after the last member are ignored,
    ///   as in Go);
    /// - a key image or ring member that is not a 33-byte compressed point
    ///   (prefix `02`/`03`, `x < p`, on the curve), e.g. an uncompressed key;
    /// - ring size `n < 2` (ring-go 782cc69 accepts `n = 1`; see the crate docs)
    ///   or `n > 64`.
    ///
    /// Scalars (`c0`, `s_i`) are reduced mod N silently, as go-dleq does.
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::RingSize`], [`Error::InvalidKeyImage`],
    /// [`Error::InvalidRingMember`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let frame = parse_frame(bytes)?;
        let key_image = primitives::decode_point(frame.key_image).ok_or(Error::InvalidKeyImage)?;
        let members = frame
            .members
            .iter()
            .enumerate()
            .map(|(index, (s, public_key))| {
                let point = primitives::decode_point(public_key)
                    .ok_or(Error::InvalidRingMember { index })?;
                Ok(Member {
                    s: primitives::decode_scalar(s),
                    public_key: **public_key,
                    point,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Self {
            c0: primitives::decode_scalar(frame.c0),
            key_image,
            members,
        })
    }

    /// Serializes to the wire format (`69 + 65·n` bytes, canonical scalars).
    /// Round-trips every signature produced by [`RingSignature::sign`]; for a
    /// decoded signature it drops trailing bytes and writes scalars reduced.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + MEMBER_LEN * self.members.len());
        let size = u32::try_from(self.members.len())
            .expect("ring size is at most MAX_RING_SIZE, checked on construction");
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&self.c0.to_bytes());
        out.extend_from_slice(&primitives::encode_point(&self.key_image));
        for member in &self.members {
            out.extend_from_slice(&member.s.to_bytes());
            out.extend_from_slice(&member.public_key);
        }
        out
    }

    /// Number of ring members.
    #[must_use]
    pub fn ring_size(&self) -> usize {
        self.members.len()
    }

    /// The ring members' compressed public keys, in signature order.
    pub fn public_keys(&self) -> impl ExactSizeIterator<Item = &[u8; 33]> {
        self.members.iter().map(|m| &m.public_key)
    }

    /// The key image `I`, compressed.
    #[must_use]
    pub fn key_image(&self) -> [u8; 33] {
        primitives::encode_point(&self.key_image)
    }

    /// The membership rule of signatures.md §2.2: every public key in the
    /// signature must be in `expected_ring`. Order, size and duplicates are not
    /// compared (as in poktroll and the Go relay miner), so a signature over a
    /// subset of the ring, or over `[app, app]`, passes.
    ///
    /// # Errors
    /// [`Error::NotInRing`] naming the first member that is not expected.
    pub fn check_membership(&self, expected_ring: &[[u8; 33]]) -> Result<(), Error> {
        check_membership(self.public_keys(), expected_ring)
    }

    /// Verifies the signature over the 32-byte message `msg` (signatures.md
    /// §3.6), using the ring embedded in the signature. Call
    /// [`RingSignature::check_membership`] too: verification alone says nothing
    /// about who the members are.
    ///
    /// # Errors
    /// [`Error::RingVerify`] if the challenge chain does not close;
    /// [`Error::HashToCurve`] (probability about 2^-128).
    pub fn verify(&self, msg: &[u8; 32]) -> Result<(), Error> {
        if self.verify_traced(msg, |_, _, _| {})? {
            Ok(())
        } else {
            Err(Error::RingVerify)
        }
    }

    /// [`RingSignature::verify`] reporting each step to `trace`.
    pub(crate) fn verify_traced(
        &self,
        msg: &[u8; 32],
        trace: impl FnMut(&[u8; 33], &[u8; 33], &Scalar),
    ) -> Result<bool, Error> {
        self.verify_traced_with(msg, primitives::challenge, trace)
    }

    /// [`RingSignature::verify_traced`] with another challenge function (the
    /// test helpers' negative control: a port without the left-align quirk).
    pub(crate) fn verify_traced_with(
        &self,
        msg: &[u8; 32],
        challenge: Challenge,
        trace: impl FnMut(&[u8; 33], &[u8; 33], &Scalar),
    ) -> Result<bool, Error> {
        let keys = self
            .members
            .iter()
            .map(|m| KeyPoints::from_decoded(&m.public_key, &m.point))
            .collect::<Result<Vec<_>, Error>>()?;
        let members = self.members.iter().zip(&keys).map(|(m, k)| (m.s, k));
        let image = KeyImage::Point(ProjectivePoint::from(self.key_image));
        Ok(verify_chain(
            msg, &self.c0, &image, members, challenge, trace,
        ))
    }
}

impl fmt::Debug for RingSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingSignature")
            .field("c0", &HexBytes(&self.c0.to_bytes()))
            .field("key_image", &HexBytes(&self.key_image()))
            .field("members", &self.members)
            .finish()
    }
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("s", &HexBytes(&self.s.to_bytes()))
            .field("public_key", &HexBytes(&self.public_key))
            .finish()
    }
}

/// Verifies a relay request's ring signature straight from its wire bytes: the
/// relayer's and chain's whole check (decode, membership, verify).
///
/// - `signature`: `RelayRequestMetadata.signature` as received;
/// - `msg`: SHA-256 of the request's signable bytes (signatures.md §1);
/// - `expected_ring`: the compressed public keys of the application and its
///   gateways at the session end height (§2.1);
/// - `cache`: optional per-key cache of decoded points, `Hp(P)` and their
///   fixed-base tables, plus tables of key images whose signatures verified
///   (about half the arithmetic of an uncached verification). Only keys that
///   are in `expected_ring` are inserted, and key images only after their
///   signature verified, so a sender cannot fill the cache with points of its
///   choosing.
///
/// Accepts exactly what [`RingSignature::from_bytes`] followed by
/// [`RingSignature::check_membership`] and [`RingSignature::verify`] accepts
/// (membership is checked on the raw key bytes before any key is decoded; a
/// compressed encoding is unique, so this is the same set test).
///
/// # Errors
/// Any decoding error of [`RingSignature::from_bytes`], [`Error::NotInRing`],
/// [`Error::RingVerify`], [`Error::HashToCurve`].
pub fn verify_ring_signature(
    signature: &[u8],
    msg: &[u8; 32],
    expected_ring: &[[u8; 33]],
    cache: Option<&KeyCache>,
) -> Result<(), Error> {
    let frame = parse_frame(signature)?;
    // A key image with a cached table was decoded (and verified) before.
    let image_table = cache.and_then(|c| c.image_table(frame.key_image));
    let key_image = match &image_table {
        Some(table) => KeyImage::Table(table),
        None => KeyImage::Point(ProjectivePoint::from(
            primitives::decode_point(frame.key_image).ok_or(Error::InvalidKeyImage)?,
        )),
    };
    check_membership(frame.members.iter().map(|(_, p)| *p), expected_ring)?;
    let keys = frame
        .members
        .iter()
        .enumerate()
        .map(|(index, (_, public_key))| {
            let prepared = match cache {
                Some(cache) => cache.get_or_prepare(public_key),
                None => KeyPoints::prepare(public_key).map(Arc::new),
            };
            prepared.map_err(|e| match e {
                Error::InvalidPublicKey => Error::InvalidRingMember { index },
                other => other,
            })
        })
        .collect::<Result<Vec<Arc<KeyPoints>>, Error>>()?;
    let members = frame
        .members
        .iter()
        .zip(&keys)
        .map(|((s, _), k)| (primitives::decode_scalar(s), &**k));
    let c0 = primitives::decode_scalar(frame.c0);
    if verify_chain(
        msg,
        &c0,
        &key_image,
        members,
        primitives::challenge,
        |_, _, _| {},
    ) {
        if let (Some(cache), KeyImage::Point(point)) = (cache, &key_image) {
            // A genuine signer: its next relays use a table for `I` too.
            cache.insert_image_table(frame.key_image, point);
        }
        Ok(())
    } else {
        Err(Error::RingVerify)
    }
}

/// Splits the wire bytes into fields after checking the ring size and length.
fn parse_frame(bytes: &[u8]) -> Result<Frame<'_>, Error> {
    let header: [u8; 4] =
        bytes
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(Error::Truncated {
                len: bytes.len(),
                size: 0,
                needed: 4,
            })?;
    let size = u32::from_be_bytes(header);
    let n = usize::try_from(size)
        .ok()
        .filter(|n| (MIN_RING_SIZE..=MAX_RING_SIZE).contains(n))
        .ok_or(Error::RingSize {
            size: u64::from(size),
        })?;
    let needed = HEADER_LEN + MEMBER_LEN * n;
    let body = bytes.get(..needed).ok_or(Error::Truncated {
        len: bytes.len(),
        size: u64::from(size),
        needed,
    })?;
    let (c0, rest) = split::<SCALAR_LEN>(&body[4..]);
    let (key_image, rest) = split::<POINT_LEN>(rest);
    let members = rest
        .chunks_exact(MEMBER_LEN)
        .map(|chunk| {
            let (s, rest) = split::<SCALAR_LEN>(chunk);
            let (p, _) = split::<POINT_LEN>(rest);
            (s, p)
        })
        .collect();
    Ok(Frame {
        c0,
        key_image,
        members,
    })
}

/// Splits a fixed-size array reference off the front of a slice whose length
/// the caller has checked.
fn split<const N: usize>(bytes: &[u8]) -> (&[u8; N], &[u8]) {
    let (head, tail) = bytes.split_at(N);
    let head = head
        .try_into()
        .expect("split_at(N) returns exactly N bytes");
    (head, tail)
}

fn check_membership<'a>(
    keys: impl Iterator<Item = &'a [u8; 33]>,
    expected_ring: &[[u8; 33]],
) -> Result<(), Error> {
    for (index, key) in keys.enumerate() {
        if !expected_ring.contains(key) {
            return Err(Error::NotInRing { index });
        }
    }
    Ok(())
}

/// `C(m, L, R)`: [`primitives::challenge`] everywhere but in test helpers.
pub(crate) type Challenge = fn(&[u8; 32], &[u8; 33], &[u8; 33]) -> Scalar;

/// The verifier's loop: `L = s·G + c·P`, `R = s·Hp(P) + c·I`, `c = C(m, L, R)`
/// for every member in order; valid iff the final `c` equals `c0`. Everything
/// here is public data, so variable-time arithmetic is used. `trace` sees each
/// step's compressed `L`, `R` and the next challenge (test helpers use it).
pub(crate) fn verify_chain<'a>(
    msg: &[u8; 32],
    c0: &Scalar,
    key_image: &KeyImage<'_>,
    members: impl Iterator<Item = (Scalar, &'a KeyPoints)>,
    challenge: Challenge,
    mut trace: impl FnMut(&[u8; 33], &[u8; 33], &Scalar),
) -> bool {
    let mut c = *c0;
    for (s, key) in members {
        let (l, r) = match (&key.tables, key_image) {
            (Some(t), KeyImage::Table(image)) => (
                table::GENERATOR.mul2(&s, &t.point, &c),
                t.hp.mul2(&s, image, &c),
            ),
            (Some(t), KeyImage::Point(image)) => (
                table::GENERATOR.mul2(&s, &t.point, &c),
                t.hp.mul(&s) + ProjectivePoint::lincomb_vartime(&[(*image, c)]),
            ),
            (None, image) => {
                let image = match image {
                    KeyImage::Table(t) => *t.base(),
                    KeyImage::Point(p) => *p,
                };
                (
                    ProjectivePoint::mul_by_generator_and_mul_add_vartime(&s, &c, &key.point),
                    ProjectivePoint::lincomb_vartime(&[(key.hp, s), (image, c)]),
                )
            }
        };
        let [l, r] = ProjectivePoint::batch_normalize_vartime(&[l, r]);
        let (l, r) = (primitives::encode_point(&l), primitives::encode_point(&r));
        c = challenge(msg, &l, &r);
        trace(&l, &r, &c);
    }
    c == *c0
}

/// The signer (signatures.md §3.5), with the nonce source as a parameter:
/// `nonce` is called for `u` first, then for `s[(j+1) mod n]`, `s[(j+2) mod n]`,
/// … — the order in which ring-go draws them. `signer_index` forces the
/// signer's position (test helpers); `None` takes the first matching position.
pub(crate) fn sign_with_nonces(
    msg: &[u8; 32],
    ring: &[[u8; 33]],
    signer: &PrivateKey,
    signer_index: Option<usize>,
    mut nonce: impl FnMut() -> Result<Scalar, Error>,
) -> Result<RingSignature, Error> {
    let n = ring.len();
    if !(MIN_RING_SIZE..=MAX_RING_SIZE).contains(&n) {
        return Err(Error::RingSize {
            size: u64::try_from(n).unwrap_or(u64::MAX),
        });
    }
    let points = ring
        .iter()
        .map(|p| primitives::decode_point(p).ok_or(Error::InvalidPublicKey))
        .collect::<Result<Vec<_>, Error>>()?;
    let own = signer.public_key();
    let j = match signer_index {
        Some(j) if ring.get(j) == Some(&own) => j,
        Some(_) => return Err(Error::SignerNotInRing),
        None => ring
            .iter()
            .position(|p| *p == own)
            .ok_or(Error::SignerNotInRing)?,
    };
    let x = signer.scalar();
    let h = ProjectivePoint::from(primitives::hp(&own)?);
    let key_image = h * x;

    let mut c = vec![Scalar::ZERO; n];
    let mut s = vec![Scalar::ZERO; n];
    let u = nonce()?;
    let first = [ProjectivePoint::mul_by_generator(&u), h * u];
    c[(j + 1) % n] = challenge_of(msg, &first);
    for t in 1..n {
        let i = (j + t) % n;
        s[i] = nonce()?;
        let p = ProjectivePoint::from(points[i]);
        let hp = ProjectivePoint::from(primitives::hp(&ring[i])?);
        let lr = [
            ProjectivePoint::lincomb(&[(ProjectivePoint::GENERATOR, s[i]), (p, c[i])]),
            ProjectivePoint::lincomb(&[(hp, s[i]), (key_image, c[i])]),
        ];
        c[(i + 1) % n] = challenge_of(msg, &lr);
    }
    s[j] = u - c[j] * x;

    let members = ring
        .iter()
        .zip(points)
        .zip(s)
        .map(|((public_key, point), s)| Member {
            s,
            public_key: *public_key,
            point,
        })
        .collect();
    Ok(RingSignature {
        c0: c[0],
        key_image: key_image.to_affine(),
        members,
    })
}

/// `C(m, L, R)` for projective `L`, `R` (one shared inversion, constant time).
fn challenge_of(msg: &[u8; 32], lr: &[ProjectivePoint; 2]) -> Scalar {
    let [l, r] = ProjectivePoint::batch_normalize(lr);
    primitives::challenge(
        msg,
        &primitives::encode_point(&l),
        &primitives::encode_point(&r),
    )
}
