//! Alignment rules for writes into an anonymous "[cachefiles]" fd, and a
//! page-aligned buffer to do them with.
//!
//! The kernel (`cachefiles_ondemand_fd_write_iter` →
//! `__cachefiles_prepare_write`, fs/cachefiles/io.c) refuses with `ENOBUFS`
//! a write whose position is not a multiple of `PAGE_SIZE`, and then writes
//! the caller's buffer with O_DIRECT into the backing file, so the buffer
//! address and the length must also suit direct I/O on the cache's
//! filesystem.  The cache file is sized `round_up(object_size, PAGE_SIZE)`
//! at creation, so a write padded with zeros up to the next page boundary
//! never extends it.  This daemon therefore always writes whole pages from
//! a page-aligned buffer.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Granularity of every write into an anon fd.  4096 is `PAGE_SIZE` on
/// x86-64 and the common arm64 configuration; it is also a multiple of any
/// block size direct I/O can ask for on those systems.
pub const PAGE: u64 = 4096;

/// Rounds `v` down to a multiple of `PAGE`.
pub const fn round_down(v: u64) -> u64 {
    v & !(PAGE - 1)
}

/// Rounds `v` up to a multiple of `PAGE`, saturating at the largest
/// multiple of `PAGE` instead of overflowing.
pub const fn round_up(v: u64) -> u64 {
    match v.checked_add(PAGE - 1) {
        Some(x) => round_down(x),
        None => round_down(u64::MAX),
    }
}

/// What to write for one READ request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePlan {
    /// First byte written (page aligned, <= the requested offset).
    pub start: u64,
    /// End of the blob data copied (exclusive); bytes from here to `end`
    /// are zero padding.
    pub data_end: u64,
    /// End of the write (exclusive, page aligned).
    pub end: u64,
}

impl WritePlan {
    /// Number of bytes written (data plus padding).
    pub fn write_len(&self) -> u64 {
        self.end - self.start
    }

    /// Number of blob bytes copied.
    #[cfg(test)]
    pub fn data_len(&self) -> u64 {
        self.data_end - self.start
    }
}

/// Plans the write answering a READ of `[off, off + len)` on an object of
/// `size` bytes: the range is clamped to the object size and widened to
/// whole pages, filled with blob data; only the part of the last page past
/// the end of the blob is zero padding.  Returns `None` when
/// nothing of the range lies inside the object.
pub fn plan_write(off: u64, len: u64, size: u64) -> Option<WritePlan> {
    if len == 0 || off >= size {
        return None;
    }
    let start = round_down(off);
    let end = round_up(off.saturating_add(len).min(size));
    // Whole pages of real blob data: padding with zeros anywhere but past
    // the end of the blob would plant zeros in the cache file that later
    // reads would take for data.
    let data_end = end.min(size);
    Some(WritePlan {
        start,
        data_end,
        end,
    })
}

/// A heap buffer aligned to `PAGE`, zero-initialised, whose length is a
/// multiple of `PAGE`.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    /// Allocates `len` bytes (rounded up to a whole number of pages, at
    /// least one page).
    pub fn new(len: usize) -> AlignedBuf {
        let pages = len.div_ceil(PAGE as usize).max(1);
        let size = pages.saturating_mul(PAGE as usize);
        let layout = match Layout::from_size_align(size, PAGE as usize) {
            Ok(l) => l,
            // Only reachable with absurd sizes chosen by this program.
            Err(_) => alloc::handle_alloc_error(Layout::new::<u8>()),
        };
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = match NonNull::new(raw) {
            Some(p) => p,
            None => alloc::handle_alloc_error(layout),
        };
        AlignedBuf { ptr, layout }
    }

    /// Capacity in bytes (a multiple of `PAGE`).
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// The whole buffer.
    #[cfg(test)]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len()` initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len()) }
    }

    /// The whole buffer, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(round_down(0), 0);
        assert_eq!(round_down(4095), 0);
        assert_eq!(round_down(4096), 4096);
        assert_eq!(round_up(0), 0);
        assert_eq!(round_up(1), 4096);
        assert_eq!(round_up(4096), 4096);
        assert_eq!(round_up(4097), 8192);
        assert_eq!(round_up(u64::MAX), 0xffff_ffff_ffff_f000);
    }

    #[test]
    fn plan_aligned_request_inside_object() {
        let p = plan_write(8192, 65536, 1 << 20).unwrap();
        assert_eq!(
            p,
            WritePlan {
                start: 8192,
                data_end: 8192 + 65536,
                end: 8192 + 65536
            }
        );
        assert_eq!(p.write_len(), 65536);
    }

    #[test]
    fn plan_pads_tail_and_clamps_to_size() {
        // Object of 10000 bytes, request the whole tail and more.
        let p = plan_write(8192, 1 << 20, 10000).unwrap();
        assert_eq!(
            p,
            WritePlan {
                start: 8192,
                data_end: 10000,
                end: 12288
            }
        );
        assert_eq!(p.data_len(), 1808);
        assert_eq!(p.write_len(), 4096);
        // Small object, unaligned length.
        let p = plan_write(0, 100, 100).unwrap();
        assert_eq!(
            p,
            WritePlan {
                start: 0,
                data_end: 100,
                end: 4096
            }
        );
    }

    #[test]
    fn plan_widens_unaligned_offset() {
        // The widened parts are blob data, not zeros.
        let p = plan_write(5000, 100, 1 << 20).unwrap();
        assert_eq!(
            p,
            WritePlan {
                start: 4096,
                data_end: 8192,
                end: 8192
            }
        );
        let p = plan_write(4100, 10, 6000).unwrap();
        assert_eq!(
            p,
            WritePlan {
                start: 4096,
                data_end: 6000,
                end: 8192
            }
        );
    }

    #[test]
    fn plan_empty_or_outside() {
        assert_eq!(plan_write(0, 0, 4096), None);
        assert_eq!(plan_write(4096, 10, 4096), None);
        assert_eq!(plan_write(u64::MAX, u64::MAX, 4096), None);
        // Overflowing end saturates and is clamped.
        let p = plan_write(4096, u64::MAX, 5000).unwrap();
        assert_eq!(
            p,
            WritePlan {
                start: 4096,
                data_end: 5000,
                end: 8192
            }
        );
    }

    #[test]
    fn aligned_buffer() {
        let mut b = AlignedBuf::new(5000);
        assert_eq!(b.len(), 8192);
        assert_eq!(b.as_slice().as_ptr() as usize % PAGE as usize, 0);
        assert!(b.as_slice().iter().all(|&x| x == 0));
        b.as_mut_slice()[8191] = 1;
        assert_eq!(AlignedBuf::new(0).len(), 4096);
    }
}
