// SPDX-License-Identifier: GPL-2.0

//! The kernel's red-black tree as an [`OrderedMap`], for the on-demand
//! request table ([`crate::logic::reqtable`]).  Safe code: a thin adapter
//! over `kernel::rbtree`.
//!
//! C header: [`include/linux/rbtree.h`](srctree/include/linux/rbtree.h)

use crate::logic::reqtable::{AllocError, MapFamily, OrderedMap};
use core::ops::ControlFlow;
use kernel::prelude::GFP_KERNEL;
use kernel::rbtree::RBTree;

/// [`RBTree`]s for every key and value type.
pub(crate) struct RbMaps;

impl MapFamily for RbMaps {
    type Map<K: Ord + Copy, V> = RBTree<K, V>;
}

/// Insertions allocate their node with `GFP_KERNEL`: callers may sleep.
impl<K: Ord + Copy, V> OrderedMap<K, V> for RBTree<K, V> {
    fn empty() -> Self {
        RBTree::new()
    }

    fn get(&self, key: &K) -> Option<&V> {
        RBTree::get(self, key)
    }

    fn try_insert(&mut self, key: K, value: V) -> Result<(), AllocError> {
        // The node is allocated before the tree is touched: on failure the
        // tree is unchanged.  A replaced node (never, see the trait) drops.
        RBTree::try_create_and_insert(self, key, value, GFP_KERNEL)
            .map(drop)
            .map_err(|_| AllocError)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        RBTree::remove(self, key)
    }

    fn move_to(&mut self, key: &K, to: &mut Self) -> bool {
        // The node itself goes over: no allocation.  A replaced node
        // (never, see the trait) drops.
        match self.remove_node(key) {
            Some(node) => {
                drop(to.insert(node));
                true
            }
            None => false,
        }
    }

    fn lower_bound(&mut self, key: &K) -> Option<K> {
        self.cursor_lower_bound(key).map(|c| *c.current().0)
    }

    fn pop_first(&mut self) -> Option<(K, V)> {
        let (_, node) = self.cursor_front()?.remove_current();
        Some(node.to_key_value())
    }

    fn scan_from<B>(
        &mut self,
        from: Option<&K>,
        mut f: impl FnMut(&K, &V) -> ControlFlow<B>,
    ) -> Option<B> {
        let mut cursor = match from {
            Some(key) => self.cursor_lower_bound(key),
            None => self.cursor_front(),
        };
        while let Some(c) = cursor {
            let (k, v) = c.current();
            if let ControlFlow::Break(b) = f(k, v) {
                return Some(b);
            }
            cursor = c.move_next();
        }
        None
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        RBTree::iter(self)
    }
}
