// SPDX-License-Identifier: GPL-2.0

//! Data buffer iterators.
//!
//! C header: [`include/linux/uio.h`](srctree/include/linux/uio.h)

use crate::kernel_ext::bindings;

/// A data buffer iterator (`struct iov_iter`) owned by the caller of a
/// file or netfs operation.
///
/// # Invariants
///
/// Only ever seen behind a reference made by [`IovIter::from_raw`]: a
/// valid iterator that nobody else uses for the reference's lifetime.  Not
/// `Sync` (`Opaque`), so a shared reference stays on one thread.
#[repr(transparent)]
pub(crate) struct IovIter(kernel::types::Opaque<bindings::iov_iter>);

impl IovIter {
    /// Borrows an iterator handed to a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid iterator, not used by anyone else for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::iov_iter) -> &'a mut IovIter {
        // SAFETY: `IovIter` is transparent over the C type; the caller
        // guarantees validity and exclusivity.
        unsafe { &mut *ptr.cast::<IovIter>() }
    }

    pub(super) fn as_ptr(&mut self) -> *mut bindings::iov_iter {
        self.0.get()
    }

    /// Bytes left in the iterator.
    pub(crate) fn count(&self) -> usize {
        // SAFETY: A valid iterator (see `from_raw`).
        unsafe { bindings::cfrs_iov_iter_count(self.0.get()) }
    }

    /// Fills the next `n` bytes with zeroes, advancing the iterator.
    pub(crate) fn zero(&mut self, n: usize) {
        // SAFETY: A valid iterator we have exclusive use of.
        unsafe { bindings::iov_iter_zero(n, self.as_ptr()) };
    }

    /// Skips the next `n` bytes (`iov_iter_advance`).
    pub(crate) fn advance(&mut self, n: usize) {
        // SAFETY: A valid iterator we have exclusive use of.
        unsafe { bindings::iov_iter_advance(self.as_ptr(), n) };
    }

    /// Limits the iterator to `n` bytes (`iov_iter_truncate`; no-op if
    /// fewer are left).
    pub(crate) fn truncate(&mut self, n: usize) {
        // SAFETY: A valid iterator we have exclusive use of.
        unsafe { bindings::cfrs_iov_iter_truncate(self.as_ptr(), n) };
    }

    /// Sets the count back to `n` bytes (`iov_iter_reexpand`).
    ///
    /// # Safety
    ///
    /// The buffer behind the iterator must hold `n` more bytes from its
    /// current position.
    pub(crate) unsafe fn reexpand(&mut self, n: usize) {
        // SAFETY: A valid iterator we have exclusive use of; the caller
        // guarantees the buffer is large enough.
        unsafe { bindings::cfrs_iov_iter_reexpand(self.as_ptr(), n) };
    }
}
