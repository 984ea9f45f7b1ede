// SPDX-License-Identifier: GPL-2.0

//! The cache directory's on-disk layout: names and extended attributes.
//!
//! ```text
//! <dir>/cache/I<volume key>/@<fan>/<D|S|T|E><cooked cookie key>
//! <dir>/graveyard/
//! ```
//!
//! Daemons (nydusd, cachefilesd, the test daemons) recompute these names in
//! user space to cull or check blobs, and a cache written by the C module
//! must be usable by this one and vice versa, so every byte here follows C
//! 6.12 (`fs/cachefiles/{key,volume,xattr}.c`).  The fan-out byte is the low
//! byte of the cookie's `key_hash`, which fscache computes, not the backend.
//!
//! Pure logic (`core` only, no allocation): the host crate in
//! `tools/logic-tests` tests it with `cargo test`.  The kernel uses the
//! volume part; the cookie part awaits the object backend.

/// `NAME_MAX`: the longest file name.
pub(crate) const NAME_MAX: usize = 255;

/// The longest cookie key that can be cooked into a name (C asserts it:
/// `keylen <= NAME_MAX - 3`).
pub(crate) const MAX_COOKIE_KEY: usize = NAME_MAX - 3;

/// Room for the longest name C can produce: a volume directory reaches 256
/// bytes (`I` and a 255-byte key) and a cooked binary key up to 338 (`E`,
/// pad digit and 84 groups of 4), beyond `NAME_MAX`: C does not split long
/// names, so their lookup fails with `ENAMETOOLONG`, and so must ours.
const NAME_CAP: usize = 2 + MAX_COOKIE_KEY.div_ceil(3) * 4;

/// A file name built in place, at most `NAME_CAP` bytes.
#[derive(Clone)]
pub(crate) struct Name {
    buf: [u8; NAME_CAP],
    len: usize,
}

impl Name {
    const fn new() -> Self {
        Name {
            buf: [0; NAME_CAP],
            len: 0,
        }
    }

    /// The name's bytes (no NUL).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends `b`; the caller sized the name beforehand, so this cannot
    /// overflow (checked anyway: a full name ignores further bytes).
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push_hex(&mut self, v: u32) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = hex_digits(v);
        for i in (0..digits).rev() {
            self.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
        }
    }
}

/// The name of a volume's directory: `I` followed by the volume key, whose
/// first byte is its length (fscache's volume key format).  `None` if the
/// key is shorter than its length byte says.
pub(crate) fn volume_dir_name(vkey: &[u8]) -> Option<Name> {
    let len = usize::from(*vkey.first()?);
    let key = vkey.get(1..1 + len)?;
    let mut name = Name::new();
    name.push(b'I');
    key.iter().for_each(|&b| name.push(b));
    Some(name)
}

/// The name of fan-out directory `i`: `@` and two lower-case hex digits.
pub(crate) fn fanout_name(i: u8) -> [u8; 3] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [b'@', HEX[usize::from(i >> 4)], HEX[usize::from(i & 0xf)]]
}

/// Bytes a cookie key may keep as they are: printable ASCII but space and `/`.
fn is_file_char(c: u8) -> bool {
    matches!(c, 33..=46 | 48..=127)
}

/// How many hex digits `%x` prints for `x` (none for 0, as C counts).
fn hex_digits(x: u32) -> u32 {
    if x == 0 {
        0
    } else {
        (32 - x.leading_zeros()).div_ceil(4)
    }
}

/// The 64 characters of cachefiles' base64 variant.
const CHARMAP: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-";

/// Turns a cookie key into the name of its backing file (C's
/// `cachefiles_cook_key`):
///
/// * `D<key>` when every byte is a file-name character;
/// * `S<hex>,<hex>...` / `T<hex>,...`: the key as big- / little-endian 32-bit
///   words (zero-padded, as fscache stores keys), when shorter than base64;
///   `S` when both are equally short;
/// * otherwise `E<pad><base64>`, 3 bytes per 4 characters, little-endian
///   6-bit groups, `<pad>` the number of padding bytes.
///
/// `None` if the key is longer than [`MAX_COOKIE_KEY`].
pub(crate) fn cook_key(key: &[u8]) -> Option<Name> {
    if key.len() > MAX_COOKIE_KEY {
        return None;
    }
    let mut name = Name::new();
    if key.iter().all(|&c| is_file_char(c)) {
        name.push(b'D');
        key.iter().for_each(|&b| name.push(b));
        return Some(name);
    }

    let word = |i: usize| -> [u8; 4] {
        let b = |j: usize| key.get(i + j).copied().unwrap_or(0);
        [b(0), b(1), b(2), b(3)]
    };
    let words = key.len().div_ceil(4);
    let (mut nbe, mut nle) = (0u32, 0u32);
    for w in 0..words {
        let bytes = word(4 * w);
        nbe += 1 + hex_digits(u32::from_be_bytes(bytes));
        nle += 1 + hex_digits(u32::from_le_bytes(bytes));
    }
    let groups = key.len().div_ceil(3);
    let pad = groups * 3 - key.len();
    let b64len = (2 + groups * 4) as u32;

    if nbe < b64len || nle < b64len {
        let big = nbe <= nle;
        let mut sep = if big { b'S' } else { b'T' };
        for w in 0..words {
            let bytes = word(4 * w);
            let x = if big {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            };
            name.push(sep);
            name.push_hex(x);
            sep = b',';
        }
        return Some(name);
    }

    name.push(b'E');
    name.push(b'0' + pad as u8);
    for chunk in key.chunks(3) {
        let mut acc = 0u32;
        for (j, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (8 * j);
        }
        for _ in 0..4 {
            name.push(CHARMAP[(acc & 63) as usize]);
            acc >>= 6;
        }
    }
    Some(name)
}

/// The name of the extended attribute holding a cache object's or volume's
/// coherency data, NUL-terminated.
pub(crate) const XATTR_NAME: &[u8] = b"user.CacheFiles.cache\0";

/// `type` of a data object in its xattr.
pub(crate) const COOKIE_TYPE_DATA: u8 = 1;

/// Size of the fixed part of an object's xattr: `be64 object_size`,
/// `be64 zero_point`, `u8 type`, `u8 content` (packed).
pub(crate) const OBJECT_XATTR_HEADER: usize = 18;

/// Content presence recorded in an object's xattr (values are on disk).
///
/// The whole on-disk table; on-demand objects only ever write `NoData`
/// and `Dirty`, as C does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(dead_code)]
pub(crate) enum Content {
    /// Nothing stored.
    NoData = 0,
    /// Monolithic content, all present.
    Single = 1,
    /// All present, no map.
    All = 2,
    /// Piecemeal, mapped through the backing filesystem's holes.
    BackfsMap = 3,
    /// Dirty: being modified locally.
    Dirty = 4,
}

/// Encodes an object's xattr into `out` (which must hold
/// `OBJECT_XATTR_HEADER + aux.len()` bytes); returns the length used, or
/// `None` if `out` is too small.
pub(crate) fn encode_object_xattr(
    out: &mut [u8],
    object_size: u64,
    content: Content,
    aux: &[u8],
) -> Option<usize> {
    let len = OBJECT_XATTR_HEADER.checked_add(aux.len())?;
    let out = out.get_mut(..len)?;
    out[..8].copy_from_slice(&object_size.to_be_bytes());
    out[8..16].copy_from_slice(&0u64.to_be_bytes());
    out[16] = COOKIE_TYPE_DATA;
    out[OBJECT_CONTENT_OFFSET] = content as u8;
    out[18..].copy_from_slice(aux);
    Some(len)
}

/// Why an object's xattr does not match its cookie (the object is stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// Wrong length (or no xattr).
    Length,
    /// Not a data object.
    Type,
    /// Different netfs coherency data.
    Aux,
    /// Different object size.
    Size,
    /// Left dirty by a crash during a local write.
    Dirty,
}

/// Checks the xattr bytes `x` read from a backing file against the
/// cookie's coherency data and size (C's `cachefiles_check_auxdata`, which
/// reads exactly `OBJECT_XATTR_HEADER + aux.len()` bytes).
pub(crate) fn check_object_xattr(x: &[u8], aux: &[u8], object_size: u64) -> Result<(), Mismatch> {
    if x.len() != OBJECT_XATTR_HEADER + aux.len() {
        return Err(Mismatch::Length);
    }
    if x[16] != COOKIE_TYPE_DATA {
        return Err(Mismatch::Type);
    }
    if &x[OBJECT_XATTR_HEADER..] != aux {
        return Err(Mismatch::Aux);
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&x[..8]);
    if u64::from_be_bytes(size) != object_size {
        return Err(Mismatch::Size);
    }
    if x[OBJECT_CONTENT_OFFSET] == Content::Dirty as u8 {
        return Err(Mismatch::Dirty);
    }
    Ok(())
}

/// Offset of the content byte (`Content`) in an object's xattr.
pub(crate) const OBJECT_CONTENT_OFFSET: usize = 17;

/// Size of the fixed part of a volume's xattr: `be32 reserved` (zero).
pub(crate) const VOLUME_XATTR_HEADER: usize = 4;

/// Encodes a volume directory's xattr; returns the length used, or `None`
/// if `out` is too small.
pub(crate) fn encode_volume_xattr(out: &mut [u8], coherency: &[u8]) -> Option<usize> {
    let len = VOLUME_XATTR_HEADER.checked_add(coherency.len())?;
    let out = out.get_mut(..len)?;
    out[..4].copy_from_slice(&[0; 4]);
    out[4..].copy_from_slice(coherency);
    Some(len)
}

/// Whether a volume directory's xattr matches the volume's coherency data
/// (C's `cachefiles_check_volume_xattr`; a mismatch makes the volume stale).
pub(crate) fn volume_xattr_matches(x: &[u8], coherency: &[u8]) -> bool {
    x.len() == VOLUME_XATTR_HEADER + coherency.len() && x[..4] == [0; 4] && &x[4..] == coherency
}
