//! Go `encoding/gob` of `SparseCompactMerkleClosestProof` (smst.md §7.5).
//!
//! The encoder writes exactly what a fresh Go encoder writes in a process
//! that encodes only this type (type ids 64, 65, 66). The decoder accepts any
//! gob stream Go would decode into this type, with these deliberate
//! restrictions (each rejects only input that no smt version emits):
//! - input at most [`MAX_PROOF_BYTES`]; lists at most [`MAX_LIST_LEN`] entries;
//! - wire struct fields must be among the known names (Go skips unknown ones);
//! - nothing may follow the value message (Go leaves trailing bytes unread);
//! - only the slice and struct wire kinds are accepted for user types.

use crate::error::Error;
use crate::proof::{CompactClosestProof, CompactProof};

/// Largest proof accepted by [`CompactClosestProof::from_gob`] (4 MiB).
pub const MAX_PROOF_BYTES: usize = 4 << 20;
/// Largest number of entries accepted in a decoded list (`FlippedBits`, `SideNodes`).
pub const MAX_LIST_LEN: usize = 4096;

/// Built-in gob type ids.
const T_INT: i64 = 2;
const T_BYTES: i64 = 5;
/// First id gob assigns to user types.
const FIRST_USER_ID: i64 = 64;
/// Ids emitted for the three user types.
const ID_CLOSEST: i64 = 64;
const ID_BYTES_LIST: i64 = 65;
const ID_COMPACT: i64 = 66;
/// Most type definitions accepted before the value.
const MAX_TYPE_DEFS: usize = 16;

const OUTER_NAME: &str = "SparseCompactMerkleClosestProof";
const INNER_NAME: &str = "SparseCompactMerkleProof";

/// Field kinds of the Go structs.
#[derive(Clone, Copy)]
enum Kind {
    Bytes,
    BytesList,
    Int,
    Struct(&'static [(&'static str, Kind)]),
}

/// `SparseCompactMerkleProof` fields in declaration order.
const INNER_FIELDS: &[(&str, Kind)] = &[
    ("SideNodes", Kind::BytesList),
    ("NonMembershipLeafData", Kind::Bytes),
    ("BitMask", Kind::Bytes),
    ("NumSideNodes", Kind::Int),
    ("SiblingData", Kind::Bytes),
];

/// `SparseCompactMerkleClosestProof` fields in declaration order.
const OUTER_FIELDS: &[(&str, Kind)] = &[
    ("Path", Kind::Bytes),
    ("FlippedBits", Kind::BytesList),
    ("Depth", Kind::Bytes),
    ("ClosestPath", Kind::Bytes),
    ("ClosestValueHash", Kind::Bytes),
    ("ClosestProof", Kind::Struct(INNER_FIELDS)),
];

impl CompactClosestProof {
    /// Go `gob` encoding with a fresh encoder: three type definitions
    /// (ids 64/65/66) and the value. Byte-identical to `Marshal()` in
    /// pokt-network/smt v0.14.1 built with a current Go.
    #[must_use]
    pub fn to_gob(&self) -> Vec<u8> {
        self.encode_with_ids([ID_CLOSEST, ID_BYTES_LIST, ID_COMPACT])
    }

    /// The encoding with the given user type ids (Go's depend on what the
    /// process encoded before; the decoder accepts any).
    fn encode_with_ids(&self, ids: [i64; 3]) -> Vec<u8> {
        let mut out = type_definitions(ids);
        let mut body = Vec::with_capacity(
            64 + self.closest_value_hash.len()
                + self.closest_proof.as_ref().map_or(0, |p| {
                    p.side_nodes.len() * 49 + p.sibling_data.len() + p.bit_mask.len()
                }),
        );
        put_int(&mut body, ids[0]);
        let mut s = StructWriter::new(&mut body);
        s.bytes(0, &self.path);
        s.list(1, &self.flipped_bits);
        s.bytes(2, &self.depth);
        s.bytes(3, &self.closest_path);
        s.bytes(4, &self.closest_value_hash);
        if let Some(inner) = &self.closest_proof {
            s.field(5);
            let mut t = StructWriter::new(s.out);
            t.list(0, &inner.side_nodes);
            t.bytes(1, &inner.non_membership_leaf_data);
            t.bytes(2, &inner.bit_mask);
            t.int(3, inner.num_side_nodes);
            t.bytes(4, &inner.sibling_data);
            t.end();
        }
        s.end();
        put_uint(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        out
    }

    /// Strict gob decoding of untrusted bytes; never panics.
    ///
    /// # Errors
    /// [`Error::Gob`] when the bytes are not an accepted encoding (see the
    /// module documentation for the limits).
    pub fn from_gob(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(Error::Gob {
                offset: MAX_PROOF_BYTES,
                reason: "proof larger than the size limit",
            });
        }
        Decoder {
            r: Reader {
                buf: bytes,
                pos: 0,
                end: bytes.len(),
            },
            types: Vec::new(),
        }
        .decode()
    }
}

// ---------------------------------------------------------------------------
// Encoding

/// The three type-definition messages a fresh Go encoder sends first, for
/// the ids of the outer struct, `[][]uint8` and the inner struct.
fn type_definitions([id_closest, id_list, id_compact]: [i64; 3]) -> Vec<u8> {
    let mut out = Vec::with_capacity(300);
    let outer: Vec<(&str, i64)> = vec![
        ("Path", T_BYTES),
        ("FlippedBits", id_list),
        ("Depth", T_BYTES),
        ("ClosestPath", T_BYTES),
        ("ClosestValueHash", T_BYTES),
        ("ClosestProof", id_compact),
    ];
    let inner: Vec<(&str, i64)> = vec![
        ("SideNodes", id_list),
        ("NonMembershipLeafData", T_BYTES),
        ("BitMask", T_BYTES),
        ("NumSideNodes", T_INT),
        ("SiblingData", T_BYTES),
    ];
    message(&mut out, &struct_definition(id_closest, OUTER_NAME, &outer));
    message(&mut out, &slice_definition(id_list, "[][]uint8", T_BYTES));
    message(&mut out, &struct_definition(id_compact, INNER_NAME, &inner));
    out
}

fn message(out: &mut Vec<u8>, body: &[u8]) {
    put_uint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// `int(-id) ‖ wireType{StructT: structType{CommonType{name, id}, fields}}`.
fn struct_definition(id: i64, name: &str, fields: &[(&str, i64)]) -> Vec<u8> {
    let mut b = Vec::new();
    put_int(&mut b, -id);
    put_uint(&mut b, 3); // wireType field 2: StructT
    put_uint(&mut b, 1); // structType field 0: CommonType
    common_type(&mut b, name, id);
    put_uint(&mut b, 1); // structType field 1: Field
    put_uint(&mut b, fields.len() as u64);
    for (fname, fid) in fields {
        put_uint(&mut b, 1);
        put_bytes(&mut b, fname.as_bytes());
        put_uint(&mut b, 1);
        put_int(&mut b, *fid);
        b.push(0);
    }
    b.push(0); // end structType
    b.push(0); // end wireType
    b
}

/// `int(-id) ‖ wireType{SliceT: sliceType{CommonType{name, id}, elem}}`.
fn slice_definition(id: i64, name: &str, elem: i64) -> Vec<u8> {
    let mut b = Vec::new();
    put_int(&mut b, -id);
    put_uint(&mut b, 2); // wireType field 1: SliceT
    put_uint(&mut b, 1); // sliceType field 0: CommonType
    common_type(&mut b, name, id);
    put_uint(&mut b, 1); // sliceType field 1: Elem
    put_int(&mut b, elem);
    b.push(0); // end sliceType
    b.push(0); // end wireType
    b
}

fn common_type(b: &mut Vec<u8>, name: &str, id: i64) {
    put_uint(b, 1);
    put_bytes(b, name.as_bytes());
    put_uint(b, 1);
    put_int(b, id);
    b.push(0);
}

/// gob `uint`: one byte below 128, else `256 − k` then `k` big-endian bytes.
fn put_uint(out: &mut Vec<u8>, x: u64) {
    if x < 128 {
        out.push(x as u8);
    } else {
        let bytes = x.to_be_bytes();
        let skip = (x.leading_zeros() / 8) as usize;
        let k = 8 - skip;
        out.push((256 - k) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// gob `int`: zig-zag into a `uint`.
fn put_int(out: &mut Vec<u8>, v: i64) {
    let u = if v < 0 {
        ((!v as u64) << 1) | 1
    } else {
        (v as u64) << 1
    };
    put_uint(out, u);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Writes struct fields with gob's delta numbering, omitting zero values.
struct StructWriter<'a> {
    out: &'a mut Vec<u8>,
    last: i64,
}

impl<'a> StructWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        StructWriter { out, last: -1 }
    }

    fn field(&mut self, index: i64) {
        put_uint(self.out, (index - self.last) as u64);
        self.last = index;
    }

    fn bytes(&mut self, index: i64, b: &[u8]) {
        if !b.is_empty() {
            self.field(index);
            put_bytes(self.out, b);
        }
    }

    fn list(&mut self, index: i64, items: &[Vec<u8>]) {
        if !items.is_empty() {
            self.field(index);
            put_uint(self.out, items.len() as u64);
            for item in items {
                put_bytes(self.out, item);
            }
        }
    }

    fn int(&mut self, index: i64, v: i64) {
        if v != 0 {
            self.field(index);
            put_int(self.out, v);
        }
    }

    fn end(self) {
        self.out.push(0);
    }
}

// ---------------------------------------------------------------------------
// Decoding

/// A user type definition received on the wire.
enum WireType {
    Struct(Vec<(Vec<u8>, i64)>),
    Slice(i64),
}

/// A decoded field value.
enum Value {
    Bytes(Vec<u8>),
    List(Vec<Vec<u8>>),
    Int(i64),
    Struct(Vec<Option<Value>>),
}

/// How to decode one wire struct: for each wire field, the schema index and kind.
struct Plan {
    fields: Vec<(usize, PlanKind)>,
    schema_len: usize,
}

enum PlanKind {
    Bytes,
    BytesList,
    Int,
    Struct(Plan),
}

/// A cursor that never reads past `end` (the end of the current message).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

struct Decoder<'a> {
    r: Reader<'a>,
    types: Vec<(i64, WireType)>,
}

fn gob_err(offset: usize, reason: &'static str) -> Error {
    Error::Gob { offset, reason }
}

impl Reader<'_> {
    fn err(&self, reason: &'static str) -> Error {
        gob_err(self.pos, reason)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        if self.pos >= self.end {
            return Err(self.err("unexpected EOF"));
        }
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err("unexpected EOF"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.end && e <= self.buf.len())
            .ok_or_else(|| self.err("unexpected EOF"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self) -> Result<u64, Error> {
        let b = self.byte()?;
        if b < 0x80 {
            return Ok(u64::from(b));
        }
        let n = 256 - usize::from(b);
        if n > 8 {
            return Err(self.err("invalid uint data length"));
        }
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn int(&mut self) -> Result<i64, Error> {
        let u = self.uint()?;
        Ok(if u & 1 == 1 {
            !((u >> 1) as i64)
        } else {
            (u >> 1) as i64
        })
    }

    fn len(&mut self, limit: usize) -> Result<usize, Error> {
        let n = self.uint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= limit)
            .ok_or_else(|| self.err("length exceeds the remaining data or the limit"))
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        let n = self.len(self.remaining())?;
        Ok(self.take(n)?.to_vec())
    }

    fn bytes_list(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        let n = self.len(MAX_LIST_LEN.min(self.remaining()))?;
        (0..n).map(|_| self.bytes()).collect()
    }

    /// Next field number of a struct, or `None` at its end; `count` is the
    /// number of fields the struct has.
    fn field(&mut self, last: &mut i64, count: usize) -> Result<Option<usize>, Error> {
        let delta = self.uint()?;
        if delta == 0 {
            return Ok(None);
        }
        let idx = i64::try_from(delta)
            .ok()
            .and_then(|d| last.checked_add(d))
            .filter(|&i| i >= 0 && (i as u64) < count as u64)
            .ok_or_else(|| self.err("field number out of range"))?;
        *last = idx;
        Ok(Some(idx as usize))
    }
}

impl Decoder<'_> {
    fn decode(mut self) -> Result<CompactClosestProof, Error> {
        loop {
            self.r.end = self.r.buf.len();
            let len = self.r.len(self.r.remaining())?;
            if len == 0 {
                return Err(self.r.err("empty message"));
            }
            let end = self.r.pos + len;
            self.r.end = end;
            let id = self.r.int()?;
            if id < 0 {
                self.type_definition(id)?;
                continue;
            }
            let at = self.r.pos;
            let plan = self.plan(id, OUTER_FIELDS, 0)?;
            let value = self.struct_value(&plan)?;
            if self.r.pos != end {
                return Err(self.r.err("extra data in value message"));
            }
            if self.r.pos != self.r.buf.len() {
                return Err(self.r.err("trailing bytes after the value"));
            }
            return to_proof(value).ok_or_else(|| gob_err(at, "internal field mismatch"));
        }
    }

    fn type_definition(&mut self, neg_id: i64) -> Result<(), Error> {
        let id = neg_id.checked_neg().unwrap_or(0);
        if id < FIRST_USER_ID {
            return Err(self.r.err("type id below the first user id"));
        }
        if self.types.iter().any(|(t, _)| *t == id) {
            return Err(self.r.err("duplicate type received"));
        }
        if self.types.len() >= MAX_TYPE_DEFS {
            return Err(self.r.err("too many type definitions"));
        }
        // wireType { ArrayT 0, SliceT 1, StructT 2, MapT 3, ... }
        let mut last = -1;
        let mut wire = None;
        while let Some(f) = self.r.field(&mut last, 8)? {
            if wire.is_some() {
                return Err(self.r.err("wire type with more than one kind"));
            }
            wire = Some(match f {
                1 => self.slice_type()?,
                2 => self.struct_type()?,
                _ => return Err(self.r.err("unsupported wire type kind")),
            });
        }
        let wire = wire.ok_or_else(|| self.r.err("empty wire type"))?;
        if self.r.pos != self.r.end {
            return Err(self.r.err("extra data in type message"));
        }
        self.types.push((id, wire));
        Ok(())
    }

    /// `CommonType { Name string; Id typeId }`: contents are not needed.
    fn common_type(&mut self) -> Result<(), Error> {
        let mut last = -1;
        while let Some(f) = self.r.field(&mut last, 2)? {
            if f == 0 {
                self.r.bytes()?;
            } else {
                self.r.int()?;
            }
        }
        Ok(())
    }

    fn slice_type(&mut self) -> Result<WireType, Error> {
        let mut last = -1;
        let mut elem = 0;
        while let Some(f) = self.r.field(&mut last, 2)? {
            if f == 0 {
                self.common_type()?;
            } else {
                elem = self.r.int()?;
            }
        }
        Ok(WireType::Slice(elem))
    }

    fn struct_type(&mut self) -> Result<WireType, Error> {
        let mut last = -1;
        let mut fields = Vec::new();
        while let Some(f) = self.r.field(&mut last, 2)? {
            if f == 0 {
                self.common_type()?;
            } else {
                let n = self.r.len(16)?;
                fields.clear();
                for _ in 0..n {
                    // fieldType { Name string; Id typeId }
                    let (mut name, mut fid) = (Vec::new(), 0);
                    let mut fl = -1;
                    while let Some(g) = self.r.field(&mut fl, 2)? {
                        if g == 0 {
                            name = self.r.bytes()?;
                        } else {
                            fid = self.r.int()?;
                        }
                    }
                    fields.push((name, fid));
                }
            }
        }
        Ok(WireType::Struct(fields))
    }

    fn wire(&self, id: i64) -> Option<&WireType> {
        self.types.iter().find(|(t, _)| *t == id).map(|(_, w)| w)
    }

    /// Matches a wire struct against a Go struct by field name (as gob does)
    /// and checks every field's wire type.
    fn plan(
        &self,
        id: i64,
        schema: &'static [(&'static str, Kind)],
        nesting: usize,
    ) -> Result<Plan, Error> {
        let err = |reason| gob_err(self.r.pos, reason);
        let Some(WireType::Struct(wire_fields)) = self.wire(id) else {
            return Err(err("value type is not a defined struct"));
        };
        if wire_fields.is_empty() || nesting > 1 {
            return Err(err("type mismatch: no fields matched"));
        }
        let mut fields = Vec::with_capacity(wire_fields.len());
        for (name, fid) in wire_fields {
            let idx = schema
                .iter()
                .position(|(n, _)| n.as_bytes() == name.as_slice())
                .ok_or_else(|| err("unknown struct field"))?;
            if fields.iter().any(|(i, _)| *i == idx) {
                return Err(err("duplicate struct field"));
            }
            let kind = match schema[idx].1 {
                Kind::Bytes if *fid == T_BYTES => PlanKind::Bytes,
                Kind::Int if *fid == T_INT => PlanKind::Int,
                Kind::BytesList
                    if *fid >= FIRST_USER_ID
                        && matches!(self.wire(*fid), Some(WireType::Slice(T_BYTES))) =>
                {
                    PlanKind::BytesList
                }
                Kind::Struct(inner) if *fid >= FIRST_USER_ID => {
                    PlanKind::Struct(self.plan(*fid, inner, nesting + 1)?)
                }
                _ => return Err(err("field type mismatch")),
            };
            fields.push((idx, kind));
        }
        Ok(Plan {
            fields,
            schema_len: schema.len(),
        })
    }

    fn struct_value(&mut self, plan: &Plan) -> Result<Vec<Option<Value>>, Error> {
        let mut out: Vec<Option<Value>> = (0..plan.schema_len).map(|_| None).collect();
        let mut last = -1;
        while let Some(f) = self.r.field(&mut last, plan.fields.len())? {
            let (idx, kind) = &plan.fields[f];
            let v = match kind {
                PlanKind::Bytes => Value::Bytes(self.r.bytes()?),
                PlanKind::BytesList => Value::List(self.r.bytes_list()?),
                PlanKind::Int => Value::Int(self.r.int()?),
                PlanKind::Struct(p) => Value::Struct(self.struct_value(p)?),
            };
            out[*idx] = Some(v);
        }
        Ok(out)
    }
}

fn take_bytes(v: &mut [Option<Value>], i: usize) -> Option<Vec<u8>> {
    match v.get_mut(i)?.take() {
        None => Some(Vec::new()),
        Some(Value::Bytes(b)) => Some(b),
        Some(_) => None,
    }
}

fn take_list(v: &mut [Option<Value>], i: usize) -> Option<Vec<Vec<u8>>> {
    match v.get_mut(i)?.take() {
        None => Some(Vec::new()),
        Some(Value::List(l)) => Some(l),
        Some(_) => None,
    }
}

fn to_proof(mut v: Vec<Option<Value>>) -> Option<CompactClosestProof> {
    let closest_proof = match v.get_mut(5)?.take() {
        None => None,
        Some(Value::Struct(mut w)) => Some(CompactProof {
            side_nodes: take_list(&mut w, 0)?,
            non_membership_leaf_data: take_bytes(&mut w, 1)?,
            bit_mask: take_bytes(&mut w, 2)?,
            num_side_nodes: match w.get_mut(3)?.take() {
                None => 0,
                Some(Value::Int(n)) => n,
                Some(_) => return None,
            },
            sibling_data: take_bytes(&mut w, 4)?,
        }),
        Some(_) => return None,
    };
    Some(CompactClosestProof {
        path: take_bytes(&mut v, 0)?,
        flipped_bits: take_list(&mut v, 1)?,
        depth: take_bytes(&mut v, 2)?,
        closest_path: take_bytes(&mut v, 3)?,
        closest_value_hash: take_bytes(&mut v, 4)?,
        closest_proof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uint(x: u64) -> Vec<u8> {
        let mut v = Vec::new();
        put_uint(&mut v, x);
        v
    }

    fn int(x: i64) -> Vec<u8> {
        let mut v = Vec::new();
        put_int(&mut v, x);
        v
    }

    #[test]
    fn primitives_match_spec() {
        assert_eq!(uint(127), vec![0x7f]);
        assert_eq!(uint(128), vec![0xff, 0x80]);
        assert_eq!(uint(256), vec![0xfe, 0x01, 0x00]);
        assert_eq!(int(65), vec![0xff, 0x82]);
        assert_eq!(int(-65), vec![0xff, 0x81]);
        assert_eq!(int(2), vec![0x04]);
        assert_eq!(int(-64), vec![0x7f]);
        for x in [0i64, 1, -1, 63, -64, 64, -65, i64::MAX, i64::MIN] {
            let b = int(x);
            let mut r = Reader {
                buf: &b,
                pos: 0,
                end: b.len(),
            };
            assert_eq!(r.int().unwrap(), x);
        }
    }

    fn sample() -> CompactClosestProof {
        CompactClosestProof {
            path: vec![0xab; 32],
            flipped_bits: vec![vec![0], vec![1, 0]],
            depth: vec![7],
            closest_path: vec![0xcd; 32],
            closest_value_hash: vec![1; 40],
            closest_proof: Some(CompactProof {
                side_nodes: vec![vec![2; 48], vec![3; 48]],
                non_membership_leaf_data: Vec::new(),
                bit_mask: vec![0x20],
                num_side_nodes: 3,
                sibling_data: vec![4; 60],
            }),
        }
    }

    fn gob_reason(bytes: &[u8]) -> &'static str {
        match CompactClosestProof::from_gob(bytes) {
            Err(Error::Gob { reason, .. }) => reason,
            other => panic!("expected a gob error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_any_user_type_ids() {
        let p = sample();
        assert_eq!(CompactClosestProof::from_gob(&p.to_gob()).unwrap(), p);
        // Older Go / other processes: 65, 66, 67; any assignment of ids works.
        for ids in [[65, 66, 67], [100, 64, 70], [1000, 999, 5000]] {
            let bytes = p.encode_with_ids(ids);
            assert_eq!(CompactClosestProof::from_gob(&bytes).unwrap(), p, "{ids:?}");
        }
        // Zero values are omitted; a missing inner proof decodes as None.
        let empty = CompactClosestProof::default();
        assert_eq!(
            CompactClosestProof::from_gob(&empty.to_gob()).unwrap(),
            empty
        );
    }

    #[test]
    fn rejects_what_go_would_not_decode_or_we_do_not_accept() {
        let good = sample().to_gob();
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(gob_reason(&trailing), "trailing bytes after the value");
        let mut empty_message = type_definitions([64, 65, 66]);
        empty_message.push(0);
        assert_eq!(gob_reason(&empty_message), "empty message");
        let mut extra = good.clone();
        message(&mut extra, &[0xff, 0x80, 0x00]);
        assert_eq!(gob_reason(&extra), "trailing bytes after the value");
        // Builtin ids cannot be redefined; types cannot be defined twice.
        let mut builtin = good.clone();
        builtin[2] = 0x09; // int(-5)
        assert_eq!(gob_reason(&builtin), "type id below the first user id");
        let defs = type_definitions([64, 65, 66]);
        let mut dup = defs.clone();
        dup.extend_from_slice(&defs);
        assert_eq!(gob_reason(&dup), "duplicate type received");
        // Unknown field name ("Path" → "Pbth").
        let mut unknown = good.clone();
        let at = good.windows(4).position(|w| w == b"Path").unwrap();
        unknown[at + 1] = b'b';
        assert_eq!(gob_reason(&unknown), "unknown struct field");
        // Value of an undefined type.
        let mut undefined = Vec::new();
        message(&mut undefined, &[0xff, 0x80, 0x00]);
        assert_eq!(gob_reason(&undefined), "value type is not a defined struct");
        // uint with more than 8 bytes; size limit; nothing at all.
        assert_eq!(gob_reason(&[0xf7]), "invalid uint data length");
        assert_eq!(
            gob_reason(&vec![0u8; MAX_PROOF_BYTES + 1]),
            "proof larger than the size limit"
        );
        assert_eq!(gob_reason(&[]), "unexpected EOF");
    }

    #[test]
    fn list_length_is_limited() {
        let mut p = sample();
        p.flipped_bits = vec![vec![1]; MAX_LIST_LEN + 1];
        assert_eq!(
            gob_reason(&p.to_gob()),
            "length exceeds the remaining data or the limit"
        );
        p.flipped_bits.pop();
        assert_eq!(CompactClosestProof::from_gob(&p.to_gob()).unwrap(), p);
    }

    #[test]
    fn type_definitions_match_spec_lengths() {
        let defs = type_definitions([64, 65, 66]);
        // message 1: ff87 (135) ‖ 135 bytes; message 2: 0x17 (23); message 3: 0x7c (124).
        assert_eq!(&defs[..3], &[0xff, 0x87, 0x7f]);
        assert_eq!(defs.len(), 2 + 135 + 1 + 23 + 1 + 124);
    }
}
