//! The on-demand wire protocol of `/dev/cachefiles`
//! (`include/uapi/linux/cachefiles.h`, Linux 6.12).
//!
//! Every `read()` of the devnode returns at most one message:
//!
//! ```text
//! struct cachefiles_msg  { u32 msg_id; u32 opcode; u32 len; u32 object_id; u8 data[]; }
//! struct cachefiles_open { u32 volume_key_size; u32 cookie_key_size; u32 fd; u32 flags; u8 data[]; }
//! struct cachefiles_read { u64 off; u64 len; }
//! ```
//!
//! All integers are in host byte order.  `len` covers the whole message
//! (header included).  The OPEN payload holds the volume key *with* its
//! trailing NUL followed by the cookie key (binary, no NUL).
//!
//! Parsing never trusts a size field: every size and offset is checked
//! against the number of bytes actually read, and a malformed message is
//! reported as a [`ParseError`] rather than a panic.

use std::fmt;

/// Largest message the kernel sends (`CACHEFILES_MSG_MAX_SIZE`); also the
/// size of the buffer passed to `read()`.
pub const MSG_MAX_SIZE: usize = 1024;

/// Size of `struct cachefiles_msg` (the header).
pub const MSG_HEADER_SIZE: usize = 16;

/// Size of `struct cachefiles_open` without its flexible `data`.
pub const OPEN_HEADER_SIZE: usize = 16;

/// Size of `struct cachefiles_read`.
pub const READ_PAYLOAD_SIZE: usize = 16;

/// `CACHEFILES_OP_OPEN`.
pub const OP_OPEN: u32 = 0;
/// `CACHEFILES_OP_CLOSE`.
pub const OP_CLOSE: u32 = 1;
/// `CACHEFILES_OP_READ`.
pub const OP_READ: u32 = 2;

/// `CACHEFILES_IOC_READ_COMPLETE` = `_IOW(0x98, 1, int)`, i.e. direction
/// write (1) << 30 | sizeof(int) << 16 | type 0x98 << 8 | nr 1, with the
/// generic `_IOC` encoding used by x86 and arm64.
pub const IOC_READ_COMPLETE: u32 = (1 << 30) | (4 << 16) | (0x98 << 8) | 1;

/// The fixed header of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Request id, the first argument of `copen` and of READ_COMPLETE.
    pub msg_id: u32,
    /// One of the `OP_*` values.
    pub opcode: u32,
    /// Whole message length as claimed by the kernel.
    pub len: u32,
    /// The object (cache file) the request is about.
    pub object_id: u32,
}

/// An OPEN request: the kernel installed `fd` (an anonymous "[cachefiles]"
/// fd for the cache file) in our file table and waits for `copen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    /// Volume key without its trailing NUL (EROFS: `erofs,<domain or fsid>`).
    pub volume_key: Vec<u8>,
    /// Cookie key (EROFS: the blob name).
    pub cookie_key: Vec<u8>,
    /// The anonymous fd number, already installed in this process.
    pub fd: u32,
    /// Always 0 in 6.12.
    pub flags: u32,
}

/// A READ request: fill `[off, off + len)` of the object's cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    /// Start of the range, in bytes.
    pub off: u64,
    /// Length of the range, in bytes.
    pub len: u64,
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CACHEFILES_OP_OPEN`.
    Open(OpenRequest),
    /// `CACHEFILES_OP_CLOSE` (needs no reply).
    Close,
    /// `CACHEFILES_OP_READ`.
    Read(ReadRequest),
}

/// A complete message: header plus parsed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The payload.
    pub request: Request,
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than a header.
    ShortHeader { got: usize },
    /// `len` in the header differs from the number of bytes read.
    LengthMismatch { claimed: u32, got: usize },
    /// More bytes than `CACHEFILES_MSG_MAX_SIZE`.
    TooLong { got: usize },
    /// The payload is too short for the opcode's fixed part.
    ShortPayload {
        opcode: u32,
        need: usize,
        got: usize,
    },
    /// A CLOSE or READ carries trailing bytes.
    TrailingBytes { opcode: u32, extra: usize },
    /// OPEN key sizes do not add up to the payload size.
    KeySizes {
        volume: u32,
        cookie: u32,
        available: usize,
    },
    /// OPEN volume key is empty or lacks its trailing NUL.
    VolumeKeyNotTerminated,
    /// OPEN cookie key is empty.
    EmptyCookieKey,
    /// Opcode not known to this daemon.
    UnknownOpcode(u32),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::ShortHeader { got } => {
                write!(
                    f,
                    "message of {got} bytes is shorter than the {MSG_HEADER_SIZE}-byte header"
                )
            }
            ParseError::LengthMismatch { claimed, got } => {
                write!(f, "header claims {claimed} bytes but {got} were read")
            }
            ParseError::TooLong { got } => {
                write!(f, "message of {got} bytes exceeds {MSG_MAX_SIZE}")
            }
            ParseError::ShortPayload { opcode, need, got } => write!(
                f,
                "opcode {opcode} needs a payload of at least {need} bytes, got {got}"
            ),
            ParseError::TrailingBytes { opcode, extra } => {
                write!(
                    f,
                    "opcode {opcode} message has {extra} unexpected trailing bytes"
                )
            }
            ParseError::KeySizes {
                volume,
                cookie,
                available,
            } => write!(
                f,
                "OPEN key sizes {volume}+{cookie} do not match the {available} key bytes present"
            ),
            ParseError::VolumeKeyNotTerminated => {
                write!(f, "OPEN volume key is empty or not NUL-terminated")
            }
            ParseError::EmptyCookieKey => write!(f, "OPEN cookie key is empty"),
            ParseError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
        }
    }
}

impl std::error::Error for ParseError {}

fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    let bytes = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn u64_at(buf: &[u8], off: usize) -> Option<u64> {
    let b = buf.get(off..off.checked_add(8)?)?;
    Some(u64::from_ne_bytes([
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
    ]))
}

/// Parses only the header.  Useful to learn `msg_id`/`opcode` of a message
/// whose payload is malformed.
pub fn parse_header(buf: &[u8]) -> Result<Header, ParseError> {
    let short = ParseError::ShortHeader { got: buf.len() };
    Ok(Header {
        msg_id: u32_at(buf, 0).ok_or_else(|| short.clone())?,
        opcode: u32_at(buf, 4).ok_or_else(|| short.clone())?,
        len: u32_at(buf, 8).ok_or_else(|| short.clone())?,
        object_id: u32_at(buf, 12).ok_or(short)?,
    })
}

/// Reads the `fd` field of an OPEN payload if the bytes are there, whatever
/// else is wrong with the message.  Lets the caller release an anon fd the
/// kernel installed for an OPEN it cannot otherwise parse.
pub fn open_fd_hint(buf: &[u8]) -> Option<u32> {
    let header = parse_header(buf).ok()?;
    if header.opcode != OP_OPEN {
        return None;
    }
    u32_at(buf, MSG_HEADER_SIZE + 8)
}

/// Parses one message as returned by one `read()` of the devnode.
pub fn parse_message(buf: &[u8]) -> Result<Message, ParseError> {
    if buf.len() > MSG_MAX_SIZE {
        return Err(ParseError::TooLong { got: buf.len() });
    }
    let header = parse_header(buf)?;
    if usize::try_from(header.len).ok() != Some(buf.len()) {
        return Err(ParseError::LengthMismatch {
            claimed: header.len,
            got: buf.len(),
        });
    }
    let payload = &buf[MSG_HEADER_SIZE..];
    let request = match header.opcode {
        OP_OPEN => Request::Open(parse_open(payload)?),
        OP_CLOSE => {
            if !payload.is_empty() {
                return Err(ParseError::TrailingBytes {
                    opcode: OP_CLOSE,
                    extra: payload.len(),
                });
            }
            Request::Close
        }
        OP_READ => Request::Read(parse_read(payload)?),
        op => return Err(ParseError::UnknownOpcode(op)),
    };
    Ok(Message { header, request })
}

fn parse_open(payload: &[u8]) -> Result<OpenRequest, ParseError> {
    let short = || ParseError::ShortPayload {
        opcode: OP_OPEN,
        need: OPEN_HEADER_SIZE,
        got: payload.len(),
    };
    let volume_size = u32_at(payload, 0).ok_or_else(short)?;
    let cookie_size = u32_at(payload, 4).ok_or_else(short)?;
    let fd = u32_at(payload, 8).ok_or_else(short)?;
    let flags = u32_at(payload, 12).ok_or_else(short)?;
    let keys = &payload[OPEN_HEADER_SIZE..];
    let bad_sizes = ParseError::KeySizes {
        volume: volume_size,
        cookie: cookie_size,
        available: keys.len(),
    };
    let vsz = usize::try_from(volume_size).map_err(|_| bad_sizes.clone())?;
    let csz = usize::try_from(cookie_size).map_err(|_| bad_sizes.clone())?;
    if vsz.checked_add(csz) != Some(keys.len()) {
        return Err(bad_sizes);
    }
    let (volume, cookie) = keys.split_at(vsz);
    let volume_key = match volume.split_last() {
        Some((0, rest)) => rest.to_vec(),
        _ => return Err(ParseError::VolumeKeyNotTerminated),
    };
    if cookie.is_empty() {
        return Err(ParseError::EmptyCookieKey);
    }
    Ok(OpenRequest {
        volume_key,
        cookie_key: cookie.to_vec(),
        fd,
        flags,
    })
}

fn parse_read(payload: &[u8]) -> Result<ReadRequest, ParseError> {
    if payload.len() < READ_PAYLOAD_SIZE {
        return Err(ParseError::ShortPayload {
            opcode: OP_READ,
            need: READ_PAYLOAD_SIZE,
            got: payload.len(),
        });
    }
    if payload.len() > READ_PAYLOAD_SIZE {
        return Err(ParseError::TrailingBytes {
            opcode: OP_READ,
            extra: payload.len() - READ_PAYLOAD_SIZE,
        });
    }
    let off = u64_at(payload, 0).ok_or(ParseError::ShortPayload {
        opcode: OP_READ,
        need: READ_PAYLOAD_SIZE,
        got: payload.len(),
    })?;
    let len = u64_at(payload, 8).ok_or(ParseError::ShortPayload {
        opcode: OP_READ,
        need: READ_PAYLOAD_SIZE,
        got: payload.len(),
    })?;
    Ok(ReadRequest { off, len })
}

/// Formats the reply to an OPEN: `copen <msg_id>,<size>` where `size` is the
/// object size (>= 0) or a negative errno.  Decimal, no spaces, no newline
/// (the kernel parses with `kstrtoul`/`kstrtol`, which accept one trailing
/// newline but nothing else).
pub fn copen_command(msg_id: u32, size_or_errno: i64) -> String {
    format!("copen {msg_id},{size_or_errno}")
}

/// Strips the `erofs,` prefix EROFS puts on its volume keys, for display.
pub fn erofs_domain(volume_key: &[u8]) -> Option<&[u8]> {
    volume_key.strip_prefix(b"erofs,")
}

/// Renders a binary key for logs: printable ASCII as is, anything else as
/// `\xNN`.
pub fn display_key(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a message the way the kernel lays it out.
    pub(crate) fn build(msg_id: u32, opcode: u32, object_id: u32, payload: &[u8]) -> Vec<u8> {
        let len = (MSG_HEADER_SIZE + payload.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&msg_id.to_ne_bytes());
        v.extend_from_slice(&opcode.to_ne_bytes());
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&object_id.to_ne_bytes());
        v.extend_from_slice(payload);
        v
    }

    pub(crate) fn open_payload(volume: &[u8], cookie: &[u8], fd: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((volume.len() + 1) as u32).to_ne_bytes());
        v.extend_from_slice(&(cookie.len() as u32).to_ne_bytes());
        v.extend_from_slice(&fd.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(volume);
        v.push(0);
        v.extend_from_slice(cookie);
        v
    }

    fn read_payload(off: u64, len: u64) -> Vec<u8> {
        let mut v = off.to_ne_bytes().to_vec();
        v.extend_from_slice(&len.to_ne_bytes());
        v
    }

    #[test]
    fn ioctl_number_matches_uapi() {
        assert_eq!(IOC_READ_COMPLETE, 0x4004_9801);
    }

    #[test]
    fn parses_open() {
        let buf = build(7, OP_OPEN, 3, &open_payload(b"erofs,img", b"img", 9));
        let m = parse_message(&buf).unwrap();
        assert_eq!(
            m.header,
            Header {
                msg_id: 7,
                opcode: OP_OPEN,
                len: buf.len() as u32,
                object_id: 3
            }
        );
        assert_eq!(
            m.request,
            Request::Open(OpenRequest {
                volume_key: b"erofs,img".to_vec(),
                cookie_key: b"img".to_vec(),
                fd: 9,
                flags: 0
            })
        );
        assert_eq!(open_fd_hint(&buf), Some(9));
    }

    #[test]
    fn parses_close_and_read() {
        let m = parse_message(&build(1, OP_CLOSE, 4, &[])).unwrap();
        assert_eq!(m.request, Request::Close);
        assert_eq!(m.header.object_id, 4);
        let m = parse_message(&build(2, OP_READ, 4, &read_payload(8192, 65536))).unwrap();
        assert_eq!(
            m.request,
            Request::Read(ReadRequest {
                off: 8192,
                len: 65536
            })
        );
        assert_eq!(
            open_fd_hint(&build(2, OP_READ, 4, &read_payload(0, 1))),
            None
        );
    }

    #[test]
    fn rejects_truncated_messages() {
        assert_eq!(parse_message(&[]), Err(ParseError::ShortHeader { got: 0 }));
        assert_eq!(
            parse_message(&[0; 15]),
            Err(ParseError::ShortHeader { got: 15 })
        );
        // READ cut in the middle of its payload: header length adjusted to match.
        let mut buf = build(2, OP_READ, 4, &read_payload(0, 4096)[..10]);
        assert!(matches!(
            parse_message(&buf),
            Err(ParseError::ShortPayload { .. })
        ));
        // Same but header still claims the full length.
        buf = build(2, OP_READ, 4, &read_payload(0, 4096));
        buf.truncate(20);
        assert!(matches!(
            parse_message(&buf),
            Err(ParseError::LengthMismatch {
                claimed: 32,
                got: 20
            })
        ));
        // OPEN shorter than its fixed part.
        let buf = build(1, OP_OPEN, 1, &[0; 12]);
        assert!(matches!(
            parse_message(&buf),
            Err(ParseError::ShortPayload {
                opcode: OP_OPEN,
                ..
            })
        ));
        assert_eq!(open_fd_hint(&buf), Some(0));
        assert_eq!(open_fd_hint(&build(1, OP_OPEN, 1, &[0; 8])), None);
    }

    #[test]
    fn rejects_oversized_and_inconsistent_lengths() {
        let big = build(1, OP_CLOSE, 1, &vec![0; MSG_MAX_SIZE]);
        assert!(matches!(
            parse_message(&big),
            Err(ParseError::TooLong { .. })
        ));
        let mut buf = build(1, OP_CLOSE, 1, &[]);
        buf[8..12].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            parse_message(&buf),
            Err(ParseError::LengthMismatch { .. })
        ));
        let buf = build(1, OP_CLOSE, 1, &[1, 2]);
        assert_eq!(
            parse_message(&buf),
            Err(ParseError::TrailingBytes {
                opcode: OP_CLOSE,
                extra: 2
            })
        );
        let buf = build(1, OP_READ, 1, &[0; 17]);
        assert_eq!(
            parse_message(&buf),
            Err(ParseError::TrailingBytes {
                opcode: OP_READ,
                extra: 1
            })
        );
        // Key sizes larger than the message, overflowing, or leaving slack.
        let mut p = open_payload(b"erofs,x", b"x", 5);
        p[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(matches!(
            parse_message(&build(1, OP_OPEN, 1, &p)),
            Err(ParseError::KeySizes { .. })
        ));
        let mut p = open_payload(b"erofs,x", b"x", 5);
        p[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        p[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            parse_message(&build(1, OP_OPEN, 1, &p)),
            Err(ParseError::KeySizes { .. })
        ));
        let mut p = open_payload(b"erofs,x", b"x", 5);
        p.push(b'y');
        assert!(matches!(
            parse_message(&build(1, OP_OPEN, 1, &p)),
            Err(ParseError::KeySizes { .. })
        ));
    }

    #[test]
    fn rejects_zero_length_keys() {
        // Volume key of size 0 (not even the NUL).
        let mut p = open_payload(b"", b"blob", 5);
        p[0..4].copy_from_slice(&0u32.to_ne_bytes());
        p.remove(OPEN_HEADER_SIZE); // drop the NUL
        assert_eq!(
            parse_message(&build(1, OP_OPEN, 1, &p)),
            Err(ParseError::VolumeKeyNotTerminated)
        );
        // Volume key present but not NUL-terminated.
        let mut p = open_payload(b"erofs,x", b"blob", 5);
        p[OPEN_HEADER_SIZE + 7] = b'!';
        assert_eq!(
            parse_message(&build(1, OP_OPEN, 1, &p)),
            Err(ParseError::VolumeKeyNotTerminated)
        );
        // Empty cookie key.
        let p = open_payload(b"erofs,x", b"", 5);
        assert_eq!(
            parse_message(&build(1, OP_OPEN, 1, &p)),
            Err(ParseError::EmptyCookieKey)
        );
        // Volume key that is only the NUL is accepted (empty string).
        let p = open_payload(b"", b"blob", 5);
        let m = parse_message(&build(1, OP_OPEN, 1, &p)).unwrap();
        assert!(matches!(m.request, Request::Open(ref o) if o.volume_key.is_empty()));
    }

    #[test]
    fn rejects_unknown_opcode() {
        let buf = build(9, 3, 1, &[]);
        assert_eq!(parse_message(&buf), Err(ParseError::UnknownOpcode(3)));
        assert_eq!(parse_header(&buf).unwrap().msg_id, 9);
    }

    /// Deterministic fuzzing: random bytes, with the length field and the
    /// opcode sometimes made consistent so that the payload parsers are
    /// reached.  Nothing may panic, and whatever parses must be
    /// self-consistent.
    #[test]
    fn random_messages_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut parsed = [0u32; 3];
        for _ in 0..50_000 {
            let len = (next() % 80) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= MSG_HEADER_SIZE && next() % 2 == 0 {
                buf[4..8].copy_from_slice(&((next() % 4) as u32).to_ne_bytes());
                buf[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
                if len >= 24 && next() % 2 == 0 {
                    // Small random key sizes: mostly inconsistent.
                    let v = (next() % 8) as u32;
                    let c = (next() % 8) as u32;
                    buf[16..20].copy_from_slice(&v.to_ne_bytes());
                    buf[20..24].copy_from_slice(&c.to_ne_bytes());
                } else if len >= 34 && next() % 2 == 0 {
                    // Consistent sizes with a NUL-terminated volume key.
                    let keys = len - 32;
                    let v = 1 + (next() as usize) % (keys - 1);
                    buf[16..20].copy_from_slice(&(v as u32).to_ne_bytes());
                    buf[20..24].copy_from_slice(&((keys - v) as u32).to_ne_bytes());
                    buf[32 + v - 1] = 0;
                }
            }
            let _ = open_fd_hint(&buf);
            if let Ok(m) = parse_message(&buf) {
                assert_eq!(m.header.len as usize, buf.len());
                parsed[m.header.opcode as usize] += 1;
                if let Request::Open(o) = m.request {
                    assert_eq!(
                        MSG_HEADER_SIZE
                            + OPEN_HEADER_SIZE
                            + o.volume_key.len()
                            + 1
                            + o.cookie_key.len(),
                        buf.len()
                    );
                    assert!(!o.cookie_key.is_empty());
                }
            }
        }
        assert!(
            parsed.iter().all(|&n| n > 0),
            "fuzzer reached every parser: {parsed:?}"
        );
    }

    #[test]
    fn formats_copen() {
        assert_eq!(copen_command(5, 1_048_576), "copen 5,1048576");
        assert_eq!(copen_command(0, -2), "copen 0,-2");
        assert_eq!(copen_command(u32::MAX, 0), "copen 4294967295,0");
    }

    #[test]
    fn displays_keys() {
        assert_eq!(display_key(b"erofs,a\x00\\"), "erofs,a\\x00\\x5c");
        assert_eq!(erofs_domain(b"erofs,dom"), Some(&b"dom"[..]));
        assert_eq!(erofs_domain(b"nfs,x"), None);
    }
}
