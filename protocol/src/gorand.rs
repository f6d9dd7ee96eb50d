//! Go's `encoding/binary.Varint` and the first draws of `math/rand` (v1), as
//! poktroll's `pkg/crypto/rand` uses them (`sessions-and-windows.md` §6.3–6.4).

/// Go's `binary.Varint`: returns `(value, n)` where `n` is the number of bytes
/// read, `0` if `buf` ended first, or `-(bytes read)` on overflow (value 0).
pub fn go_varint(buf: &[u8]) -> (i64, i32) {
    let mut x: u64 = 0;
    let mut shift = 0u32;
    for (i, &b) in buf.iter().enumerate() {
        if i == 10 {
            return (0, -11);
        }
        if b < 0x80 {
            if i == 9 && b > 1 {
                return (0, -(i as i32 + 1));
            }
            x |= u64::from(b) << shift;
            let v = (x >> 1) as i64;
            let v = if x & 1 != 0 { !v } else { v };
            return (v, i as i32 + 1);
        }
        x |= u64::from(b & 0x7f) << shift;
        shift += 7;
    }
    (0, 0)
}

const LEN: usize = 607;
const TAP: usize = 273;
const MASK: u64 = (1 << 63) - 1;
const M: i64 = (1 << 31) - 1;

/// Low 63 bits of Go's `rngCooked[332]`, `[333]`, `[605]`, `[606]`: the only
/// entries the first two `Int63` draws consume.
const COOKED_332: u64 = 4287360518296753003;
const COOKED_333: u64 = 4590000184845883843;
const COOKED_605: u64 = 9103922860780351547;
const COOKED_606: u64 = 4152330101494654406;

fn seedrand(x: i32) -> i32 {
    const A: i32 = 48271;
    const Q: i32 = 44488;
    const R: i32 = 3399;
    let hi = x / Q;
    let lo = x % Q;
    let x = A.wrapping_mul(lo).wrapping_sub(R.wrapping_mul(hi));
    if x < 0 { x + M as i32 } else { x }
}

/// The seed Go's `rngSource.Seed` actually uses: `seed mod (2^31−1)` in
/// `[0, 2^31−1)`, with 0 replaced by 89482311.
pub fn go_internal_seed(seed: i64) -> i32 {
    let mut s = seed % M;
    if s < 0 {
        s += M;
    }
    if s == 0 {
        s = 89482311;
    }
    s as i32
}

/// The "seed words" `u_i` that Go XORs with `rngCooked[i]` when seeding: all
/// `LEN` of them, in order. Exposed for the conformance tests.
#[doc(hidden)]
pub fn seed_words(seed: i64) -> [u64; LEN] {
    let mut out = [0u64; LEN];
    let mut x = go_internal_seed(seed);
    for i in -20i32..LEN as i32 {
        x = seedrand(x);
        if i >= 0 {
            let mut u = (x as i64 as u64) << 40;
            x = seedrand(x);
            u ^= (x as i64 as u64) << 20;
            x = seedrand(x);
            u ^= x as i64 as u64;
            out[i as usize] = u;
        }
    }
    out
}

/// The first two `Int63()` values of `rand.NewSource(seed)`.
pub fn go_first_int63s(seed: i64) -> (i64, i64) {
    let u = seed_words(seed);
    let v = |i: usize, cooked: u64| (u[i] ^ cooked) & MASK;
    // First draw: feed = LEN−TAP−1 = 333, tap = LEN−1 = 606.
    let first = (v(LEN - TAP - 1, COOKED_333).wrapping_add(v(LEN - 1, COOKED_606))) & MASK;
    let second = (v(LEN - TAP - 2, COOKED_332).wrapping_add(v(LEN - 2, COOKED_605))) & MASK;
    (first as i64, second as i64)
}

/// `rand.New(rand.NewSource(seed)).Float64()`.
pub fn go_float64(seed: i64) -> f64 {
    let (first, second) = go_first_int63s(seed);
    let scale = (1u64 << 63) as f64;
    let f = first as f64 / scale;
    if f == 1.0 {
        // Go resamples once the rounded value hits 1 (probability ~2^-54).
        return second as f64 / scale;
    }
    f
}

/// poktroll `SeededFloat64`: `Float64` of a generator seeded with
/// `binary.Varint(SHA-256(input))` (0 on overflow).
pub fn seeded_float64(input: &[u8]) -> f64 {
    let hash = crate::relay::sha256(input);
    go_float64(go_varint(&hash).0)
}
