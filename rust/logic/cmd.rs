// SPDX-License-Identifier: GPL-2.0

//! Parsing of the text commands a daemon writes to `/dev/cachefiles`.
//!
//! This file is pure logic with no dependency on the `kernel` crate, so the
//! host test crate in `tools/logic-tests` compiles it too (`cargo test`).  Every
//! rule here mirrors the behaviour of the C 6.12 module byte for byte: the
//! order of the checks, which bytes count as white space, how numbers are
//! parsed and which errno each failure gives.

pub(crate) use super::errno::{self, Errno};

use errno::*;

/// The commands of the devnode, in the order of the C command table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// `bind [ondemand]`: bring the cache online.
    Bind,
    /// `brun <N>%`: stop culling above this much free space.
    Brun,
    /// `bcull <N>%`: start culling below this much free space.
    Bcull,
    /// `bstop <N>%`: stop allocating below this much free space.
    Bstop,
    /// `cull <name>`: cull a file of the caller's working directory.
    Cull,
    /// `debug <mask>`: set the debugging mask.
    Debug,
    /// `dir <path>`: the cache's root directory.
    Dir,
    /// `frun <N>%`: stop culling above this many free files.
    Frun,
    /// `fcull <N>%`: start culling below this many free files.
    Fcull,
    /// `fstop <N>%`: stop allocating below this many free files.
    Fstop,
    /// `inuse <name>`: is a file of the working directory in use?
    Inuse,
    /// `secctx <context>`: LSM context to act with.
    Secctx,
    /// `tag <name>`: the cache's name in fscache.
    Tag,
    /// `copen <id>,<size|-errno>`: answer an on-demand OPEN request.
    Copen,
    /// `restore`: re-send every in-flight on-demand request.
    Restore,
    /// `buffered [0|1]`: backing I/O through the page cache (cachefiles_rs
    /// only; C answers `EOPNOTSUPP`, so daemons can probe).
    Buffered,
    /// `recovery <seconds>` (cachefiles_rs only): the cache bound next
    /// survives the close of its last devnode fd for that long (see
    /// `super::recovery`).
    Recovery,
    /// `attach` (cachefiles_rs only): adopt the orphaned cache of the tag
    /// given with `tag` (see `super::recovery`).
    Attach,
}

/// The commands; the last three are cachefiles_rs's own (C answers them
/// `EOPNOTSUPP`, as any unknown command, so a daemon can probe for them).
const COMMANDS: [(&[u8], Command); 18] = [
    (b"bind", Command::Bind),
    (b"brun", Command::Brun),
    (b"bcull", Command::Bcull),
    (b"bstop", Command::Bstop),
    (b"cull", Command::Cull),
    (b"debug", Command::Debug),
    (b"dir", Command::Dir),
    (b"frun", Command::Frun),
    (b"fcull", Command::Fcull),
    (b"fstop", Command::Fstop),
    (b"inuse", Command::Inuse),
    (b"secctx", Command::Secctx),
    (b"tag", Command::Tag),
    (b"copen", Command::Copen),
    (b"restore", Command::Restore),
    (b"buffered", Command::Buffered),
    (b"recovery", Command::Recovery),
    (b"attach", Command::Attach),
];

/// The kernel's `isspace()`: `\t \n \v \f \r`, space and 0xa0.
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, 9..=13 | b' ' | 0xa0)
}

/// Splits the bytes of one `write()` into a command and its argument.
///
/// `page_size` bounds the length as C does (`PAGE_SIZE - 1` bytes at most).
/// The argument is the text after the command word and any white space,
/// up to (not including) the first newline.
pub(crate) fn parse_request(data: &[u8], page_size: usize) -> Result<(Command, &[u8]), Errno> {
    if data.len() > page_size.saturating_sub(1) {
        return Err(EOPNOTSUPP);
    }
    if data.contains(&0) {
        return Err(EINVAL);
    }
    let line = match data.iter().position(|&c| c == b'\n') {
        Some(0) => return Err(EINVAL),
        Some(n) => &data[..n],
        None => data,
    };
    let (word, args) = match line.iter().position(|&c| is_space(c)) {
        Some(0) => return Err(EOPNOTSUPP),
        Some(n) => {
            let rest = &line[n + 1..];
            let skip = rest.iter().take_while(|&&c| is_space(c)).count();
            (&line[..n], &rest[skip..])
        }
        None => (line, &line[line.len()..]),
    };
    COMMANDS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|&(_, cmd)| (cmd, args))
        .ok_or(EOPNOTSUPP)
}

/// The kernel's `_parse_integer_fixup_radix()`: resolves base 0 and skips
/// a `0x` prefix in base 16.
fn fixup_radix(s: &[u8], base: u32) -> (&[u8], u32) {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut base = base;
    if base == 0 {
        base = if at(0) == b'0' {
            if at(1).eq_ignore_ascii_case(&b'x') && at(2).is_ascii_hexdigit() {
                16
            } else {
                8
            }
        } else {
            10
        };
    }
    if base == 16 && at(0) == b'0' && at(1).eq_ignore_ascii_case(&b'x') {
        (&s[2..], base)
    } else {
        (s, base)
    }
}

/// Parses digits of `base` from the start of `s`.  Returns the value
/// (wrapping like C's unsigned arithmetic), the number of digits and
/// whether the value overflowed 64 bits.
fn parse_digits(s: &[u8], base: u32) -> (u64, usize, bool) {
    let mut value: u64 = 0;
    let mut overflow = false;
    let mut n = 0;
    for &c in s {
        let digit = match (c as char).to_digit(16) {
            Some(d) if d < base => u64::from(d),
            _ => break,
        };
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(digit))
        {
            Some(v) => value = v,
            None => {
                overflow = true;
                value = value.wrapping_mul(u64::from(base)).wrapping_add(digit);
            }
        }
        n += 1;
    }
    (value, n, overflow)
}

/// The kernel's `simple_strtoul()`: never fails; returns the value and the
/// unparsed rest.
pub(crate) fn simple_strtoul(s: &[u8], base: u32) -> (u64, &[u8]) {
    let (digits, base) = fixup_radix(s, base);
    let (value, n, _) = parse_digits(digits, base);
    (value, &digits[n..])
}

/// The kernel's `kstrtoull()`: a whole string, one optional trailing newline.
pub(crate) fn kstrtoull(s: &[u8], base: u32) -> Result<u64, Errno> {
    let s = s.strip_prefix(b"+").unwrap_or(s);
    let (digits, base) = fixup_radix(s, base);
    let (value, n, overflow) = parse_digits(digits, base);
    if overflow {
        return Err(ERANGE);
    }
    if n == 0 {
        return Err(EINVAL);
    }
    let rest = &digits[n..];
    let rest = rest.strip_prefix(b"\n").unwrap_or(rest);
    if !rest.is_empty() {
        return Err(EINVAL);
    }
    Ok(value)
}

/// The kernel's `kstrtoul()` (64-bit `long`).
pub(crate) fn kstrtoul(s: &[u8], base: u32) -> Result<u64, Errno> {
    kstrtoull(s, base)
}

/// Parses the argument of a limit command: `<decimal>%` and nothing else.
pub(crate) fn parse_percent(args: &[u8]) -> Result<u64, Errno> {
    if args.is_empty() {
        return Err(EINVAL);
    }
    let (value, rest) = simple_strtoul(args, 10);
    if rest != b"%" {
        return Err(EINVAL);
    }
    Ok(value)
}

/// Parses the argument of `debug`: a number in any base, nothing after it.
pub(crate) fn parse_debug(args: &[u8]) -> Result<u64, Errno> {
    let (value, rest) = simple_strtoul(args, 0);
    if !rest.is_empty() {
        return Err(EINVAL);
    }
    Ok(value)
}

/// Parses the argument of `buffered`: nothing or `1` (buffered backing
/// I/O), `0` (direct, C's mode); anything else is `EINVAL`.
pub(crate) fn parse_buffered(args: &[u8]) -> Result<bool, Errno> {
    match args {
        b"" | b"1" => Ok(true),
        b"0" => Ok(false),
        _ => Err(EINVAL),
    }
}

/// Which culling limit a command sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// `frun`
    Frun,
    /// `fcull`
    Fcull,
    /// `fstop`
    Fstop,
    /// `brun`
    Brun,
    /// `bcull`
    Bcull,
    /// `bstop`
    Bstop,
}

/// The six culling limits, in percent of the backing filesystem's files
/// (`f*`) and blocks (`b*`).
///
/// # Invariants
///
/// Each setter keeps `stop < cull < run < 100` for the class it changes; the
/// defaults (1/5/7) satisfy it too.  `bind` re-checks it anyway, as C does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) frun: u64,
    pub(crate) fcull: u64,
    pub(crate) fstop: u64,
    pub(crate) brun: u64,
    pub(crate) bcull: u64,
    pub(crate) bstop: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            frun: 7,
            fcull: 5,
            fstop: 1,
            brun: 7,
            bcull: 5,
            bstop: 1,
        }
    }
}

impl Limits {
    /// Sets one limit to `v` percent if that keeps its class in order
    /// against the current values of the other two (C's range check);
    /// returns whether it did.
    pub(crate) fn set(&mut self, which: Limit, v: u64) -> bool {
        let ok = match which {
            Limit::Frun => v > self.fcull && v < 100,
            Limit::Fcull => v > self.fstop && v < self.frun,
            Limit::Fstop => v < self.fcull,
            Limit::Brun => v > self.bcull && v < 100,
            Limit::Bcull => v > self.bstop && v < self.brun,
            Limit::Bstop => v < self.bcull,
        };
        if ok {
            let slot = match which {
                Limit::Frun => &mut self.frun,
                Limit::Fcull => &mut self.fcull,
                Limit::Fstop => &mut self.fstop,
                Limit::Brun => &mut self.brun,
                Limit::Bcull => &mut self.bcull,
                Limit::Bstop => &mut self.bstop,
            };
            *slot = v;
        }
        ok
    }

    /// Whether both classes satisfy `stop < cull < run < 100` (`bind`).
    pub(crate) fn consistent(&self) -> bool {
        self.fstop < self.fcull
            && self.fcull < self.frun
            && self.frun < 100
            && self.bstop < self.bcull
            && self.bcull < self.brun
            && self.brun < 100
    }
}

/// Absolute culling thresholds, computed at `bind` from the backing
/// filesystem's totals: `total / 100 * percent` (C's `do_div` order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Thresholds {
    pub(crate) frun: u64,
    pub(crate) fcull: u64,
    pub(crate) fstop: u64,
    pub(crate) brun: u64,
    pub(crate) bcull: u64,
    pub(crate) bstop: u64,
}

impl Thresholds {
    /// Computes the thresholds for a filesystem with `files` inodes and
    /// `blocks` blocks in total.
    pub(crate) fn new(limits: &Limits, files: u64, blocks: u64) -> Self {
        let f = files / 100;
        let b = blocks / 100;
        Thresholds {
            frun: f.wrapping_mul(limits.frun),
            fcull: f.wrapping_mul(limits.fcull),
            fstop: f.wrapping_mul(limits.fstop),
            brun: b.wrapping_mul(limits.brun),
            bcull: b.wrapping_mul(limits.bcull),
            bstop: b.wrapping_mul(limits.bstop),
        }
    }
}

/// What `has_space` concluded about the backing filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// Below the stop limits: refuse to allocate (`-ENOBUFS`) and cull.
    Stop,
    /// Below the cull limits: culling must run.
    Cull,
    /// Above the run limits: culling may stop.
    Run,
    /// Between cull and run: keep the current culling state.
    Keep,
}

impl Thresholds {
    /// Classifies free files and blocks after reserving `fnr` files and
    /// `bnr` blocks (C's `cachefiles_has_space`).
    pub(crate) fn classify(&self, ffree: u64, bavail: u64, fnr: u64, bnr: u64) -> Space {
        let ffree = ffree.saturating_sub(fnr);
        let bavail = bavail.saturating_sub(bnr);
        if ffree < self.fstop || bavail < self.bstop {
            Space::Stop
        } else if ffree < self.fcull || bavail < self.bcull {
            Space::Cull
        } else if ffree >= self.frun && bavail >= self.brun {
            Space::Run
        } else {
            Space::Keep
        }
    }
}

/// Splits the argument of `copen` into the message id and the size text.
pub(crate) fn parse_copen_id(args: &[u8]) -> Result<(u64, &[u8]), Errno> {
    if args.is_empty() {
        return Err(EINVAL);
    }
    let comma = args.iter().position(|&c| c == b',').ok_or(EINVAL)?;
    let id = kstrtoul(&args[..comma], 0)?;
    Ok((id, &args[comma + 1..]))
}

/// The kernel's `kstrtol()` (64-bit `long`): an optional `-` (or `+`)
/// sign, then as `kstrtoull`; `ERANGE` outside `i64`.
pub(crate) fn kstrtol(s: &[u8], base: u32) -> Result<i64, Errno> {
    if let Some(rest) = s.strip_prefix(b"-") {
        let v = kstrtoull(rest, base)?;
        if v > i64::MAX as u64 + 1 {
            return Err(ERANGE);
        }
        return Ok((v as i64).wrapping_neg());
    }
    let v = kstrtoull(s, base)?;
    i64::try_from(v).map_err(|_| ERANGE)
}

/// What the size part of `copen <id>,<size>` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CopenSize {
    /// The object's size: the OPEN succeeds.
    Size(u64),
    /// The OPEN fails with `req`; the `copen` write returns `ret`.
    Fail {
        /// The error the OPEN request fails with.
        req: Errno,
        /// The result of the `write()` of the command.
        ret: Result<(), Errno>,
    },
}

/// Interprets the size text of `copen` as C does: a parse error fails
/// both; a negative errno (-1..-4095) is the daemon's verdict (the write
/// succeeds); a more negative number is `EINVAL` for both.
pub(crate) fn parse_copen_size(s: &[u8]) -> CopenSize {
    match kstrtol(s, 0) {
        Err(e) => CopenSize::Fail {
            req: e,
            ret: Err(e),
        },
        Ok(v) if v >= 0 => CopenSize::Size(v as u64),
        Ok(v) if v >= -4095 => CopenSize::Fail {
            req: Errno(-v as i32),
            ret: Ok(()),
        },
        Ok(_) => CopenSize::Fail {
            req: EINVAL,
            ret: Err(EINVAL),
        },
    }
}

/// Upper bound of the status line `read()` returns in normal mode.
pub(crate) const STATUS_MAX: usize = 256;

/// The status line of normal mode, formatted exactly like C (no newline,
/// no NUL).  Returns the number of bytes written to `buf`.
pub(crate) fn format_status(
    buf: &mut [u8; STATUS_MAX],
    culling: bool,
    t: &Thresholds,
    freleased: u32,
    breleased: u64,
) -> usize {
    let mut w = ByteWriter { buf, len: 0 };
    // Writing into a fixed buffer cannot fail except by truncation, which
    // `ByteWriter` does silently like C's snprintf; the line is < 256 bytes.
    let _ = core::fmt::write(
        &mut w,
        format_args!(
            "cull={} frun={:x} fcull={:x} fstop={:x} brun={:x} bcull={:x} bstop={:x} freleased={:x} breleased={:x}",
            if culling { '1' } else { '0' },
            t.frun,
            t.fcull,
            t.fstop,
            t.brun,
            t.bcull,
            t.bstop,
            freleased,
            breleased
        ),
    );
    w.len
}

struct ByteWriter<'a> {
    buf: &'a mut [u8; STATUS_MAX],
    len: usize,
}

impl core::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            // Keep room like snprintf's terminator would.
            if self.len + 1 >= self.buf.len() {
                return Err(core::fmt::Error);
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}
