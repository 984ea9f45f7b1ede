// SPDX-License-Identifier: GPL-2.0

//! Coherency xattrs (C's `xattr.c`): `user.CacheFiles.cache` on volume
//! directories and object files; the byte layout is in
//! [`crate::logic::layout`].

use crate::cachefiles::internal::{Bound, Cache, Object};
use crate::cachefiles::namei::dir_ino;
use crate::kernel_ext::fscache::CookieFlag;
use crate::kernel_ext::trace::{self, Coherency, Op};
use crate::kernel_ext::vfs::{Dentry, FileRef};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use crate::logic::layout;
use kernel::prelude::{pr_warn, CStr};

impl Cache {
    /// Writes a volume directory's xattr (C's `cachefiles_set_volume_xattr`);
    /// `vol` is the volume's debug id.
    pub(super) fn set_volume_xattr(
        &self,
        bound: &Bound,
        vol: u32,
        dir: &Dentry,
        coherency: &[u8],
    ) -> Result<(), Errno> {
        let mut buf = [0u8; layout::VOLUME_XATTR_HEADER + 255];
        let len = layout::encode_volume_xattr(&mut buf, coherency).ok_or(EINVAL)?;
        let ino = dir_ino(dir);
        match bound.mnt.set_xattr(dir, xattr_name(), &buf[..len]) {
            Ok(()) => {
                trace::vol_coherency(vol, ino, Coherency::VolSetOk);
                Ok(())
            }
            Err(e) => {
                trace::vfs_error(0, ino, -e.0, Op::Setxattr);
                trace::vol_coherency(vol, ino, Coherency::VolSetFail);
                if e != ENOMEM {
                    self.io_error(format_args!("Failed to set xattr with error {}", -e.0));
                }
                Err(e)
            }
        }
    }

    /// Checks a volume directory's xattr against the volume's coherency
    /// data: `ESTALE` if it differs (C's `cachefiles_check_volume_xattr`).
    pub(super) fn check_volume_xattr(
        &self,
        vol: u32,
        dir: &Dentry,
        coherency: &[u8],
    ) -> Result<(), Errno> {
        let mut buf = [0u8; layout::VOLUME_XATTR_HEADER + 255];
        let want = layout::VOLUME_XATTR_HEADER + coherency.len();
        let ino = dir_ino(dir);
        let (ret, why) = match dir.get_xattr(xattr_name(), &mut buf[..want]) {
            Ok(n) if n == want && layout::volume_xattr_matches(&buf[..n], coherency) => {
                (Ok(()), Coherency::VolCheckOk)
            }
            // Same length: the reserved word, then the data differ.
            Ok(n) if n == want && buf[..layout::VOLUME_XATTR_HEADER] != [0; 4] => {
                (Err(ESTALE), Coherency::VolCheckResv)
            }
            Ok(n) if n == want => (Err(ESTALE), Coherency::VolCheckCmp),
            Ok(_) => (Err(ESTALE), Coherency::VolCheckXattr),
            Err(e) => {
                trace::vfs_error(0, ino, -e.0, Op::Getxattr);
                if e == EIO {
                    self.io_error(format_args!("Failed to read xattr with error {}", -e.0));
                }
                (Err(e), Coherency::VolCheckXattr)
            }
        };
        trace::vol_coherency(vol, ino, why);
        ret
    }

    /// Checks the backing file's xattr against the cookie (C's
    /// `cachefiles_check_auxdata`): `ESTALE` if it does not match.
    pub(super) fn check_auxdata(&self, object: &Object, file: &FileRef) -> Result<(), Errno> {
        let aux = object.cookie().aux();
        let mut buf = [0u8; layout::OBJECT_XATTR_HEADER + 255];
        let want = layout::OBJECT_XATTR_HEADER + aux.len();
        let buf = buf.get_mut(..want).ok_or(ESTALE)?;
        let ino = file.inode().ino();
        let got = file.get_xattr(xattr_name(), buf);
        let (ret, why) = match got {
            Ok(n) if n == want => {
                match layout::check_object_xattr(buf, &aux, object.cookie().object_size()) {
                    Ok(()) => (Ok(()), Coherency::CheckOk),
                    Err(layout::Mismatch::Dirty) => {
                        pr_warn!("Dirty object in cache\n");
                        (Err(ESTALE), Coherency::CheckDirty)
                    }
                    Err(layout::Mismatch::Type) => (Err(ESTALE), Coherency::CheckType),
                    Err(layout::Mismatch::Aux) => (Err(ESTALE), Coherency::CheckAux),
                    Err(layout::Mismatch::Size) => (Err(ESTALE), Coherency::CheckObjsize),
                    Err(layout::Mismatch::Length) => (Err(ESTALE), Coherency::CheckXattr),
                }
            }
            Ok(_) => (Err(ESTALE), Coherency::CheckXattr),
            Err(e) => {
                trace::vfs_error(object.debug_id, ino, -e.0, Op::Getxattr);
                if e == EIO {
                    self.io_error_obj(
                        object,
                        format_args!("Failed to read aux with error {}", -e.0),
                    );
                }
                (Err(e), Coherency::CheckXattr)
            }
        };
        // The content byte of what was read (C prints its buffer's).
        let content = match got {
            Ok(n) if n > layout::OBJECT_CONTENT_OFFSET => buf[layout::OBJECT_CONTENT_OFFSET],
            _ => 0,
        };
        trace::coherency(object.debug_id, ino, content, why);
        ret
    }

    /// Writes the object's xattr (C's `cachefiles_set_object_xattr`).
    pub(super) fn set_object_xattr(&self, object: &Object) -> Result<(), Errno> {
        let file = object.file().ok_or(ESTALE)?;
        let content = if object.cookie().test(CookieFlag::LocalWrite) {
            layout::Content::Dirty
        } else {
            layout::Content::NoData
        };
        let mut buf = [0u8; layout::OBJECT_XATTR_HEADER + 255];
        let len = layout::encode_object_xattr(
            &mut buf,
            object.cookie().object_size(),
            content,
            &object.cookie().aux(),
        )
        .ok_or(EINVAL)?;
        let ino = file.inode().ino();
        match file.set_xattr(xattr_name(), &buf[..len]) {
            Ok(()) => {
                trace::coherency(object.debug_id, ino, content as u8, Coherency::SetOk);
                Ok(())
            }
            Err(e) => {
                trace::vfs_error(object.debug_id, ino, -e.0, Op::Setxattr);
                trace::coherency(object.debug_id, ino, content as u8, Coherency::SetFail);
                if e != ENOMEM {
                    self.io_error_obj(
                        object,
                        format_args!("Failed to set xattr with error {}", -e.0),
                    );
                }
                Err(e)
            }
        }
    }

    /// Removes the object's coherency xattr from its file, so that it is
    /// not served again (C's `cachefiles_remove_object_xattr`).
    pub(super) fn remove_object_xattr(&self, object: &Object, file: &FileRef) {
        if let Err(e) = file.remove_xattr(xattr_name()) {
            trace::vfs_error(object.debug_id, file.inode().ino(), -e.0, Op::Remxattr);
            if e != ENOENT && e != ENODATA && e != ENOMEM {
                self.io_error(format_args!(
                    "Can't remove xattr from {} (error {})",
                    file.inode().ino(),
                    -e.0
                ));
            }
        }
    }
}

/// The xattr holding coherency data (`user.CacheFiles.cache`).
pub(crate) fn xattr_name() -> &'static CStr {
    // `layout::XATTR_NAME` is a NUL-terminated constant without inner NULs.
    CStr::from_bytes_with_nul(layout::XATTR_NAME).unwrap_or(kernel::c_str!("user.CacheFiles.cache"))
}
