// SPDX-License-Identifier: GPL-2.0

//! The file operations of `/dev/cachefiles`: each open is a [`Cache`].

use crate::cachefiles::cache::Cache;
use crate::kernel_ext::miscdev::{File, FileOps};
use crate::kernel_ext::poll::PollTable;
use crate::logic::cmd::errno::{EFAULT, ENOMEM};
use crate::logic::cmd::Errno;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::uaccess::UserSlice;

fn to_error(e: Errno) -> Error {
    Error::from_errno(-e.0)
}

impl FileOps for Cache {
    fn open(_file: &File<'_>) -> Result<Arc<Self>> {
        Cache::open().map_err(to_error)
    }

    fn release(this: Arc<Self>, _file: &File<'_>) {
        this.release();
    }

    fn read(this: &Arc<Self>, _file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize> {
        let mut writer = buf.writer();
        this.read(len, |bytes| writer.write_slice(bytes).map_err(|_| EFAULT))
            .map_err(to_error)
    }

    fn write(this: &Arc<Self>, _file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize> {
        this.check_write(len).map_err(to_error)?;
        let mut data = KVec::with_capacity(len, GFP_KERNEL).map_err(|_| to_error(ENOMEM))?;
        buf.read_all(&mut data, GFP_KERNEL)?;
        this.write(&data).map_err(to_error)?;
        Ok(len)
    }

    fn poll(this: &Arc<Self>, file: &File<'_>, table: &PollTable<'_>) -> u32 {
        table.register(file, this.pollwq());
        this.poll_mask()
    }
}
