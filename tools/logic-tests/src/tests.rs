// SPDX-License-Identifier: GPL-2.0
//! Unit tests of `rust/cmd.rs` against the behaviour of C 6.12.

use crate::cmd::{errno::*, *};

const PAGE: usize = 4096;

fn parse(s: &[u8]) -> Result<(Command, &[u8]), Errno> {
    parse_request(s, PAGE)
}

#[test]
fn commands_are_recognised_with_their_arguments() {
    assert_eq!(parse(b"bind"), Ok((Command::Bind, &b""[..])));
    assert_eq!(
        parse(b"bind ondemand"),
        Ok((Command::Bind, &b"ondemand"[..]))
    );
    assert_eq!(
        parse(b"dir /var/cache/fscache\n"),
        Ok((Command::Dir, &b"/var/cache/fscache"[..]))
    );
    assert_eq!(parse(b"tag \t  mytag"), Ok((Command::Tag, &b"mytag"[..])));
    assert_eq!(parse(b"restore"), Ok((Command::Restore, &b""[..])));
    assert_eq!(parse(b"copen 5,100"), Ok((Command::Copen, &b"5,100"[..])));
    for (name, cmd) in [
        ("brun", Command::Brun),
        ("bcull", Command::Bcull),
        ("bstop", Command::Bstop),
        ("frun", Command::Frun),
        ("fcull", Command::Fcull),
        ("fstop", Command::Fstop),
        ("cull", Command::Cull),
        ("inuse", Command::Inuse),
        ("debug", Command::Debug),
        ("secctx", Command::Secctx),
    ] {
        let line = format!("{name} x");
        assert_eq!(parse(line.as_bytes()), Ok((cmd, &b"x"[..])), "{name}");
    }
}

#[test]
fn checks_run_in_c_order() {
    // Length first (even with a NUL inside).
    let long = vec![b'a'; PAGE];
    assert_eq!(parse(&long), Err(EOPNOTSUPP));
    let mut long_nul = vec![b'a'; PAGE];
    long_nul[0] = 0;
    assert_eq!(parse(&long_nul), Err(EOPNOTSUPP));
    // PAGE_SIZE - 1 bytes is still accepted by the length check.
    let mut max = b"tag ".to_vec();
    max.resize(PAGE - 1, b'x');
    assert_eq!(
        parse(&max).map(|(c, a)| (c, a.len())),
        Ok((Command::Tag, PAGE - 5))
    );
    // Then NUL anywhere, even after the newline.
    assert_eq!(parse(b"bind\n\0"), Err(EINVAL));
    assert_eq!(parse(b"\0bind"), Err(EINVAL));
    // Then a newline at the very start.
    assert_eq!(parse(b"\nbind"), Err(EINVAL));
    // Then leading white space, unknown words.
    assert_eq!(parse(b" bind"), Err(EOPNOTSUPP));
    assert_eq!(parse(b"\tbind"), Err(EOPNOTSUPP));
    assert_eq!(parse(b"bindx"), Err(EOPNOTSUPP));
    assert_eq!(parse(b"BIND"), Err(EOPNOTSUPP));
    assert_eq!(parse(b""), Err(EOPNOTSUPP));
}

#[test]
fn text_after_the_first_newline_is_ignored() {
    assert_eq!(parse(b"tag a\nbind"), Ok((Command::Tag, &b"a"[..])));
    assert_eq!(parse(b"bind\n"), Ok((Command::Bind, &b""[..])));
}

#[test]
fn kernel_isspace_includes_nbsp_and_vertical_space() {
    assert!(is_space(0xa0));
    for c in [b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r'] {
        assert!(is_space(c));
    }
    assert!(!is_space(0x85));
    assert_eq!(parse(b"tag\xa0x"), Ok((Command::Tag, &b"x"[..])));
    assert_eq!(parse(b"tag\x0b\x0cx"), Ok((Command::Tag, &b"x"[..])));
    // Trailing spaces stay part of the argument (C does not trim them).
    assert_eq!(parse(b"tag x "), Ok((Command::Tag, &b"x "[..])));
}

#[test]
fn simple_strtoul_matches_the_kernel() {
    assert_eq!(simple_strtoul(b"12%", 10), (12, &b"%"[..]));
    assert_eq!(simple_strtoul(b"%", 10), (0, &b"%"[..]));
    assert_eq!(simple_strtoul(b"0x1f", 0), (31, &b""[..]));
    assert_eq!(simple_strtoul(b"017", 0), (15, &b""[..]));
    assert_eq!(simple_strtoul(b"0x", 0), (0, &b"x"[..]));
    assert_eq!(simple_strtoul(b"-1", 10), (0, &b"-1"[..]));
    // Overflow wraps silently.
    assert_eq!(simple_strtoul(b"18446744073709551623", 10).0, 7);
}

#[test]
fn percent_arguments() {
    assert_eq!(parse_percent(b"7%"), Ok(7));
    assert_eq!(parse_percent(b""), Err(EINVAL));
    assert_eq!(parse_percent(b"7"), Err(EINVAL));
    assert_eq!(parse_percent(b"7%x"), Err(EINVAL));
    assert_eq!(parse_percent(b"7 %"), Err(EINVAL));
    assert_eq!(parse_percent(b"%"), Ok(0));
    assert_eq!(parse_percent(b"0x10%"), Err(EINVAL));
}

#[test]
fn limits_keep_their_order() {
    let mut l = Limits::default();
    assert!(l.consistent());
    assert!(!l.set(Limit::Frun, 5)); // must exceed fcull (5)
    assert!(!l.set(Limit::Frun, 100));
    assert!(l.set(Limit::Frun, 99));
    assert!(!l.set(Limit::Fcull, 1)); // must exceed fstop (1)
    assert!(l.set(Limit::Fcull, 98));
    assert!(!l.set(Limit::Fstop, 98));
    assert!(l.set(Limit::Fstop, 0));
    assert!(l.set(Limit::Bstop, 4));
    assert!(!l.set(Limit::Bcull, 7)); // must stay below brun (7)
    assert_eq!(
        l,
        Limits {
            frun: 99,
            fcull: 98,
            fstop: 0,
            brun: 7,
            bcull: 5,
            bstop: 4
        }
    );
    assert!(l.consistent());
}

#[test]
fn debug_mask_takes_any_base() {
    assert_eq!(parse_debug(b"0x10"), Ok(16));
    assert_eq!(parse_debug(b"010"), Ok(8));
    assert_eq!(parse_debug(b"7"), Ok(7));
    assert_eq!(parse_debug(b""), Ok(0));
    assert_eq!(parse_debug(b"12abc"), Err(EINVAL));
    assert_eq!(parse_debug(b"1 "), Err(EINVAL));
}

#[test]
fn kstrtoull_matches_the_kernel() {
    assert_eq!(kstrtoull(b"42", 0), Ok(42));
    assert_eq!(kstrtoull(b"+42", 0), Ok(42));
    assert_eq!(kstrtoull(b"42\n", 0), Ok(42));
    assert_eq!(kstrtoull(b"42\n\n", 0), Err(EINVAL));
    assert_eq!(kstrtoull(b"0x2a", 0), Ok(42));
    assert_eq!(kstrtoull(b"052", 0), Ok(42));
    assert_eq!(kstrtoull(b"08", 0), Err(EINVAL));
    assert_eq!(kstrtoull(b"", 0), Err(EINVAL));
    assert_eq!(kstrtoull(b"-1", 0), Err(EINVAL));
    assert_eq!(kstrtoull(b"18446744073709551615", 0), Ok(u64::MAX));
    assert_eq!(kstrtoull(b"18446744073709551616", 0), Err(ERANGE));
}

#[test]
fn copen_id_parsing() {
    assert_eq!(parse_copen_id(b""), Err(EINVAL));
    assert_eq!(parse_copen_id(b"5"), Err(EINVAL));
    assert_eq!(parse_copen_id(b"5,100"), Ok((5, &b"100"[..])));
    assert_eq!(parse_copen_id(b"0x10,-2"), Ok((16, &b"-2"[..])));
    assert_eq!(parse_copen_id(b"abc,1"), Err(EINVAL));
    assert_eq!(parse_copen_id(b" 5,1"), Err(EINVAL));
    assert_eq!(parse_copen_id(b"99999999999999999999,1"), Err(ERANGE));
}

#[test]
fn thresholds_use_c_division_order() {
    let t = Thresholds::new(&Limits::default(), 65_536, 131_072);
    // 65536 / 100 = 655, then * percent.
    assert_eq!((t.frun, t.fcull, t.fstop), (655 * 7, 655 * 5, 655));
    assert_eq!((t.brun, t.bcull, t.bstop), (1310 * 7, 1310 * 5, 1310));
}

#[test]
fn space_classification() {
    let t = Thresholds {
        frun: 70,
        fcull: 50,
        fstop: 10,
        brun: 700,
        bcull: 500,
        bstop: 100,
    };
    assert_eq!(t.classify(1000, 10_000, 0, 0), Space::Run);
    assert_eq!(t.classify(60, 10_000, 0, 0), Space::Keep);
    assert_eq!(t.classify(49, 10_000, 0, 0), Space::Cull);
    assert_eq!(t.classify(1000, 99, 0, 0), Space::Stop);
    // Reservations are subtracted, saturating at zero.
    assert_eq!(t.classify(11, 10_000, 2, 0), Space::Stop);
    assert_eq!(t.classify(1000, 10, 0, 1000), Space::Stop);
}

#[test]
fn status_line_is_byte_exact() {
    let mut buf = [0u8; STATUS_MAX];
    let t = Thresholds {
        frun: 0x1a,
        fcull: 0x13,
        fstop: 3,
        brun: 0xabc,
        bcull: 0x7ff,
        bstop: 0x199,
    };
    let n = format_status(&mut buf, true, &t, 2, 0x10);
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        "cull=1 frun=1a fcull=13 fstop=3 brun=abc bcull=7ff bstop=199 freleased=2 breleased=10"
    );
    let n = format_status(&mut buf, false, &Thresholds::default(), 0, 0);
    assert_eq!(
        &buf[..n],
        b"cull=0 frun=0 fcull=0 fstop=0 brun=0 bcull=0 bstop=0 freleased=0 breleased=0"
    );
    let n = format_status(
        &mut buf,
        false,
        &Thresholds {
            frun: u64::MAX,
            ..Default::default()
        },
        u32::MAX,
        u64::MAX,
    );
    assert!(n < STATUS_MAX);
}

#[test]
fn kstrtol_signs_and_range() {
    assert_eq!(kstrtol(b"100", 0), Ok(100));
    assert_eq!(kstrtol(b"-2", 0), Ok(-2));
    assert_eq!(kstrtol(b"+7\n", 0), Ok(7));
    assert_eq!(kstrtol(b"-0x10", 0), Ok(-16));
    assert_eq!(kstrtol(b"9223372036854775807", 0), Ok(i64::MAX));
    assert_eq!(kstrtol(b"9223372036854775808", 0), Err(ERANGE));
    assert_eq!(kstrtol(b"-9223372036854775808", 0), Ok(i64::MIN));
    assert_eq!(kstrtol(b"-9223372036854775809", 0), Err(ERANGE));
    assert_eq!(kstrtol(b"--1", 0), Err(EINVAL));
    assert_eq!(kstrtol(b"", 0), Err(EINVAL));
    assert_eq!(kstrtol(b" 1", 0), Err(EINVAL));
}

#[test]
fn copen_size_outcomes_match_c() {
    assert_eq!(parse_copen_size(b"4096"), CopenSize::Size(4096));
    assert_eq!(parse_copen_size(b"0"), CopenSize::Size(0));
    // A daemon's errno: the OPEN fails with it, the write succeeds.
    assert_eq!(
        parse_copen_size(b"-2"),
        CopenSize::Fail {
            req: ENOENT,
            ret: Ok(())
        }
    );
    assert_eq!(
        parse_copen_size(b"-4095"),
        CopenSize::Fail {
            req: Errno(4095),
            ret: Ok(())
        }
    );
    // Beyond the errno range: EINVAL for both.
    assert_eq!(
        parse_copen_size(b"-4096"),
        CopenSize::Fail {
            req: EINVAL,
            ret: Err(EINVAL)
        }
    );
    // Bad syntax: the parse error for both.
    assert_eq!(
        parse_copen_size(b" 100"),
        CopenSize::Fail {
            req: EINVAL,
            ret: Err(EINVAL)
        }
    );
    assert_eq!(
        parse_copen_size(b"99999999999999999999"),
        CopenSize::Fail {
            req: ERANGE,
            ret: Err(ERANGE)
        }
    );
}

#[test]
fn buffered_command_and_its_argument() {
    // Only cachefiles_rs knows the word; C answers EOPNOTSUPP (unknown).
    assert_eq!(parse(b"buffered"), Ok((Command::Buffered, &b""[..])));
    assert_eq!(parse(b"buffered 0\n"), Ok((Command::Buffered, &b"0"[..])));
    assert_eq!(parse(b"bufferedx"), Err(EOPNOTSUPP));
    assert_eq!(parse_buffered(b""), Ok(true));
    assert_eq!(parse_buffered(b"1"), Ok(true));
    assert_eq!(parse_buffered(b"0"), Ok(false));
    for bad in [&b"2"[..], b"01", b"yes", b"1 ", b"0x1", b"-1", b"on"] {
        assert_eq!(parse_buffered(bad), Err(EINVAL), "{bad:?}");
    }
}
