//! The tree a running node serves, replaced whole when it changes.

use std::sync::{Arc, PoisonError, RwLock};

use crate::TenantTree;

/// The tree a running node serves: a snapshot shared by every part of the
/// node (routes, the workflow engine, module settings) and replaced whole
/// when a new tree revision is applied or a setting changes, so a request
/// reads one consistent tree from start to end.
///
/// ```
/// # use civitas_tenancy::{SharedTree, Source, TenantTree};
/// # let tree = TenantTree::from_sources(vec![
/// #     Source::new("lines.toml", "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\n"),
/// #     Source::new("shanghai.toml", "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\n"),
/// # ]).unwrap();
/// let shared = SharedTree::new(tree.clone());
/// let snapshot = shared.current();
/// shared.replace(tree);
/// assert_eq!(snapshot.len(), shared.current().len());
/// ```
#[derive(Debug, Clone)]
pub struct SharedTree {
    current: Arc<RwLock<Arc<TenantTree>>>,
}

impl SharedTree {
    /// A handle serving `tree`.
    pub fn new(tree: TenantTree) -> SharedTree {
        SharedTree {
            current: Arc::new(RwLock::new(Arc::new(tree))),
        }
    }

    /// The tree now: a snapshot that stays whole while the caller holds it.
    pub fn current(&self) -> Arc<TenantTree> {
        // A writer only swaps an Arc, so a poisoned lock still holds a
        // whole tree.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves `tree` from now on, to every holder of this handle.
    pub fn replace(&self, tree: TenantTree) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tree);
    }
}
