// SPDX-License-Identifier: GPL-2.0

//! Misc character devices whose file operations are a Rust trait.
//!
//! C headers: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h),
//! [`include/linux/fs.h`](srctree/include/linux/fs.h)
//!
//! [`FileOps`] is implemented by the per-open state of a device; [`fops`]
//! builds the C `file_operations` table (with `.owner` set, so an open file
//! pins the module) and [`Registration`] registers the device.

use crate::kernel_ext::bindings;
use crate::kernel_ext::poll::PollTable;
use core::marker::PhantomData;
use kernel::error::from_result;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::{ForeignOwnable, Opaque};
use kernel::uaccess::UserSlice;

/// An open file, as seen by the callbacks of [`FileOps`].
///
/// # Invariants
///
/// `ptr` points to a `struct file` that stays alive for `'a`.
pub(crate) struct File<'a> {
    ptr: *mut bindings::file,
    _p: PhantomData<&'a bindings::file>,
}

impl File<'_> {
    /// The raw pointer, for the other abstraction modules.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.ptr
    }
}

/// The file operations of a device, implemented by its per-open state.
///
/// `Self` is kept in `file->private_data` as an `Arc` from `open` to
/// `release`; the other callbacks borrow it.
pub(crate) trait FileOps: Sized + Send + Sync + 'static {
    /// Called on `open()`; returns the per-open state.
    fn open(file: &File<'_>) -> Result<Arc<Self>>;
    /// Called on the last `close()` of the file; consumes the state.
    fn release(this: Arc<Self>, file: &File<'_>);
    /// `read()` into `buf`, a user buffer of `len` bytes; returns the
    /// bytes produced.
    fn read(this: &Arc<Self>, file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize>;
    /// `write()` from `buf`, a user buffer of `len` bytes; returns the
    /// bytes consumed.
    fn write(this: &Arc<Self>, file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize>;
    /// `poll()`: registers `table` on the wait queues and returns the mask.
    fn poll(this: &Arc<Self>, file: &File<'_>, table: &PollTable<'_>) -> u32;
}

/// Builds the `file_operations` table of `T`, owned by `owner`.
pub(crate) const fn fops<T: FileOps>(owner: *mut bindings::module) -> bindings::file_operations {
    bindings::file_operations {
        owner,
        open: Some(open_callback::<T>),
        release: Some(release_callback::<T>),
        read: Some(read_callback::<T>),
        write: Some(write_callback::<T>),
        poll: Some(poll_callback::<T>),
        llseek: Some(bindings::noop_llseek),
        // SAFETY: All-zero is a valid `file_operations`: every other member
        // is an optional function pointer or an integer.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    }
}

/// A `file_operations` table that can live in a `static`.
#[repr(transparent)]
pub(crate) struct StaticFops(pub(crate) bindings::file_operations);

// SAFETY: The table is immutable; its pointers refer to functions and to the
// module, which are valid from any thread.
unsafe impl Sync for StaticFops {}

/// # Safety
///
/// Called by the VFS with a valid `file` being opened through a misc device
/// whose fops were built by [`fops::<T>`].
unsafe extern "C" fn open_callback<T: FileOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> kernel::ffi::c_int {
    // INVARIANT: `file` is valid for the duration of the callback.
    let f = File {
        ptr: file,
        _p: PhantomData,
    };
    from_result(|| {
        let state = T::open(&f)?;
        // SAFETY: `file` is valid; `private_data` belongs to the driver once
        // `misc_open` has called us (it only stored the miscdevice there).
        unsafe { (*file).private_data = state.into_foreign() as *mut _ };
        Ok(0)
    })
}

/// # Safety
///
/// Called by the VFS with a valid `file` whose `open_callback::<T>` succeeded.
unsafe extern "C" fn release_callback<T: FileOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> kernel::ffi::c_int {
    // SAFETY: `private_data` holds the `Arc<T>` stored by `open_callback`,
    // and release is the last callback, so ownership returns to us.
    let state = unsafe { Arc::<T>::from_foreign((*file).private_data) };
    // SAFETY: `file` is valid during the callback.
    unsafe { (*file).private_data = core::ptr::null_mut() };
    // INVARIANT: `file` is valid for the duration of the callback.
    T::release(
        state,
        &File {
            ptr: file,
            _p: PhantomData,
        },
    );
    0
}

/// Borrows the state of an open file.
///
/// # Safety
///
/// `file` must be valid, opened by `open_callback::<T>` and not released.
unsafe fn borrow_state<T: FileOps>(file: *mut bindings::file) -> Arc<T> {
    // Release cannot run concurrently with the callback that called us.
    // SAFETY: So `private_data` holds a live `Arc<T>` (function requirements).
    let borrowed = unsafe { Arc::<T>::borrow((*file).private_data) };
    borrowed.into()
}

/// Runs a read or write operation of `T` and converts its result to the
/// C return convention.
///
/// # Safety
///
/// `file` must be an open file of a device using [`fops::<T>`].
unsafe fn transfer<T: FileOps>(
    file: *mut bindings::file,
    op: impl FnOnce(&Arc<T>, &File<'_>) -> Result<usize>,
) -> isize {
    // SAFETY: Guaranteed by the function's requirements.
    let state = unsafe { borrow_state::<T>(file) };
    // INVARIANT: `file` is valid for the duration of the callback.
    let f = File {
        ptr: file,
        _p: PhantomData,
    };
    match op(&state, &f) {
        // A transfer never exceeds the caller's `len` (<= isize::MAX).
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS on an open file of a device using [`fops::<T>`];
/// `buf` is a user pointer of `len` bytes.
unsafe extern "C" fn read_callback<T: FileOps>(
    file: *mut bindings::file,
    buf: *mut kernel::ffi::c_char,
    len: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    let slice = UserSlice::new(buf as usize, len);
    // SAFETY: Guaranteed by the callback's requirements.
    unsafe { transfer::<T>(file, |state, f| T::read(state, f, slice, len)) }
}

/// # Safety
///
/// Called by the VFS on an open file of a device using [`fops::<T>`];
/// `buf` is a user pointer of `len` bytes.
unsafe extern "C" fn write_callback<T: FileOps>(
    file: *mut bindings::file,
    buf: *const kernel::ffi::c_char,
    len: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    let slice = UserSlice::new(buf as usize, len);
    // SAFETY: Guaranteed by the callback's requirements.
    unsafe { transfer::<T>(file, |state, f| T::write(state, f, slice, len)) }
}

/// # Safety
///
/// Called by the VFS on an open file of a device using [`fops::<T>`];
/// `table` is null or a valid poll table.
unsafe extern "C" fn poll_callback<T: FileOps>(
    file: *mut bindings::file,
    table: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: Guaranteed by the callback's requirements.
    let state = unsafe { borrow_state::<T>(file) };
    // INVARIANT: `file` is valid for the duration of the callback.
    let f = File {
        ptr: file,
        _p: PhantomData,
    };
    // SAFETY: `table` is null or valid for the duration of the call.
    let pt = unsafe { PollTable::from_raw(table) };
    T::poll(&state, &f, &pt)
}

/// A registered misc device.
///
/// # Invariants
///
/// `dev` is pinned (the misc core links it into a list).  It is registered
/// with `misc_register` exactly when its `fops` is non-null, and then stays
/// registered until `drop` deregisters it.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration {
    #[pin]
    dev: Opaque<bindings::miscdevice>,
}

// SAFETY: The misc core serialises access to the registration with its own
// mutex; we never touch `dev` after registering it except to deregister.
unsafe impl Send for Registration {}
// SAFETY: As for `Send`: shared references give no access to `dev`.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers the misc device `name` with the operations `fops`.
    pub(crate) fn register(
        name: &'static CStr,
        fops: &'static StaticFops,
    ) -> Result<Pin<KBox<Self>>> {
        let reg = KBox::pin_init(
            pin_init!(Self { dev <- Opaque::ffi_init(|_slot: *mut bindings::miscdevice| {}) }),
            GFP_KERNEL,
        )?;
        let dev = reg.dev.get();
        // SAFETY: `dev` points to pinned memory we own; all-zero is a valid
        // `miscdevice` to start from.
        unsafe {
            core::ptr::write_bytes(dev, 0, 1);
            (*dev).minor = bindings::CFRS_MISC_DYNAMIC_MINOR;
            (*dev).name = name.as_char_ptr();
            (*dev).fops = &fops.0;
        }
        // SAFETY: `dev` is initialised and pinned; it is deregistered in
        // `drop` before its memory goes away.
        let ret = unsafe { bindings::misc_register(dev) };
        if ret < 0 {
            // INVARIANT: Not registered, so `fops` goes back to null and
            // `drop` will not deregister.
            // SAFETY: `dev` is valid and was not registered.
            unsafe { (*dev).fops = core::ptr::null() };
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: Registered, and `fops` is non-null.
        Ok(reg)
    }
}

#[pinned_drop]
impl PinnedDrop for Registration {
    fn drop(self: Pin<&mut Self>) {
        let dev = self.dev.get();
        // SAFETY: `dev` is valid; a non-null `fops` means it was registered
        // (see `register`), so deregistering is required exactly once here.
        unsafe {
            if !(*dev).fops.is_null() {
                bindings::misc_deregister(dev);
            }
        }
    }
}
