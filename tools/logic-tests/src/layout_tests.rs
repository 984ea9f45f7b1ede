// SPDX-License-Identifier: GPL-2.0
//! Unit tests of `rust/layout.rs`; expected names are worked out by hand
//! from C 6.12's `cachefiles_cook_key` and `cachefiles_acquire_volume`.

use crate::layout::*;

fn cooked(key: &[u8]) -> String {
    String::from_utf8(cook_key(key).expect("cookable").as_bytes().to_vec()).unwrap()
}

#[test]
fn printable_keys_are_kept_with_a_d_prefix() {
    assert_eq!(cooked(b"blob1"), "Dblob1");
    assert_eq!(cooked(b"sha256:abc.def~"), "Dsha256:abc.def~");
    assert_eq!(cooked(b""), "D");
}

#[test]
fn space_and_slash_force_an_encoding() {
    // "a/b" padded to a word: be 0x612f6200 needs 1 + 8, le 0x00622f61
    // 1 + 6, base64 only 2 + 4: so base64.  0x622f61 in 6-bit groups from
    // the low end is 33, 61, 34, 24 -> "xZyo".
    assert_eq!(cooked(b"a/b"), "E0xZyo");
    // A longer text key with a slash: words are cheaper than base64.
    // "ab/cdefg" -> be words 0x61622f63 0x64656667 (9 + 9 = 18 characters),
    // base64 2 + 3 * 4 = 14: still base64.
    assert!(cooked(b"ab/cdefg").starts_with("E1"));
}

#[test]
fn word_encodings_choose_the_shorter_endianness() {
    assert_eq!(cooked(&[0, 0, 0, 1]), "S1");
    assert_eq!(cooked(&[1, 0, 0, 0]), "T1");
    // Equal lengths pick big-endian; a zero word prints no digits.
    assert_eq!(cooked(&[0, 0, 0, 0]), "S");
    assert_eq!(cooked(&[0, 0, 0, 0x10, 0, 0, 0, 0]), "S10,");
    // The last word is zero-padded like fscache's key buffer.
    assert_eq!(cooked(&[0x80, 0x01]), "T180");
}

#[test]
fn dense_binary_keys_are_base64_encoded() {
    assert_eq!(cooked(&[0xff, 0xff, 0xff]), "E0----");
    assert_eq!(cooked(&[0xff; 5]), "E1------f0");
    let k: Vec<u8> = (0..=255u8).rev().take(MAX_COOKIE_KEY).collect();
    let name = cook_key(&k).unwrap();
    assert_eq!(name.as_bytes()[0], b'E');
    // 252 bytes = 84 groups: 2 + 336 characters, longer than NAME_MAX as in C.
    assert_eq!(name.as_bytes().len(), 338);
}

#[test]
fn overlong_keys_are_refused() {
    assert!(cook_key(&[b'a'; MAX_COOKIE_KEY]).is_some());
    assert!(cook_key(&[b'a'; MAX_COOKIE_KEY + 1]).is_none());
}

#[test]
fn volume_directories_and_fanout() {
    let mut vkey = vec![9u8];
    vkey.extend_from_slice(b"erofs,foo");
    vkey.extend_from_slice(&[0, 0]); // fscache pads volume keys too
    assert_eq!(volume_dir_name(&vkey).unwrap().as_bytes(), b"Ierofs,foo");
    assert!(volume_dir_name(&[5, b'a']).is_none());
    assert!(volume_dir_name(&[]).is_none());
    let long: Vec<u8> = std::iter::once(255)
        .chain(std::iter::repeat_n(b'x', 255))
        .collect();
    assert_eq!(volume_dir_name(&long).unwrap().as_bytes().len(), 256);
    assert_eq!(&fanout_name(0), b"@00");
    assert_eq!(&fanout_name(0xab), b"@ab");
    assert_eq!(&fanout_name(255), b"@ff");
}

#[test]
fn object_xattr_round_trip_and_checks() {
    let mut buf = [0u8; 64];
    let n = encode_object_xattr(&mut buf, 0x1234, Content::Single, b"ab").unwrap();
    assert_eq!(n, 20);
    assert_eq!(
        &buf[..n],
        &[0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, b'a', b'b']
    );
    let x = &buf[..n];
    assert_eq!(check_object_xattr(x, b"ab", 0x1234), Ok(()));
    assert_eq!(check_object_xattr(x, b"ac", 0x1234), Err(Mismatch::Aux));
    assert_eq!(check_object_xattr(x, b"ab", 0x1235), Err(Mismatch::Size));
    assert_eq!(check_object_xattr(x, b"abc", 0x1234), Err(Mismatch::Length));
    assert_eq!(
        check_object_xattr(&x[..19], b"ab", 0x1234),
        Err(Mismatch::Length)
    );
    let mut wrong_type = x.to_vec();
    wrong_type[16] = 2;
    assert_eq!(
        check_object_xattr(&wrong_type, b"ab", 0x1234),
        Err(Mismatch::Type)
    );
    let mut dirty = x.to_vec();
    dirty[17] = Content::Dirty as u8;
    assert_eq!(
        check_object_xattr(&dirty, b"ab", 0x1234),
        Err(Mismatch::Dirty)
    );
    assert!(encode_object_xattr(&mut buf[..19], 1, Content::All, b"ab").is_none());
}

#[test]
fn volume_xattr_round_trip() {
    let mut buf = [0u8; 16];
    let n = encode_volume_xattr(&mut buf, b"coh").unwrap();
    assert_eq!(&buf[..n], b"\0\0\0\0coh");
    assert!(volume_xattr_matches(&buf[..n], b"coh"));
    assert!(!volume_xattr_matches(&buf[..n], b"cox"));
    assert!(!volume_xattr_matches(b"\0\0\0\x01coh", b"coh"));
    assert!(volume_xattr_matches(b"\0\0\0\0", b""));
    assert_eq!(XATTR_NAME, b"user.CacheFiles.cache\0");
}
