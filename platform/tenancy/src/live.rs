//! The tree a running node serves, replaced whole when it changes.

use std::sync::{Arc, PoisonError, RwLock};

use crate::{TenantPath, TenantTree};

/// One override of a configured setting: node, key, value.
pub type OverriddenSetting = (TenantPath, String, serde_json::Value);

/// The tree a running node serves: a snapshot shared by every part of the
/// node (routes, the workflow engine, module settings) and replaced whole
/// when a new tree revision is loaded or settings are overridden, so a
/// request reads one consistent tree from start to end.
///
/// It keeps the configured tree (the revision, as its files say) apart
/// from the overrides laid over it ([`TenantTree::with_settings_overrides`]):
/// either can change without losing the other.
///
/// ```
/// # use civitas_tenancy::{SharedTree, Source, TenantPath, TenantTree};
/// # let tree = TenantTree::from_sources(vec![
/// #     Source::new("lines.toml", "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\n"),
/// #     Source::new("shanghai.toml", "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\n[settings]\n\"portal.hotline\" = \"12345\"\n"),
/// # ]).unwrap();
/// let shanghai = TenantPath::parse("310000").unwrap();
/// let shared = SharedTree::new(tree);
/// let before = shared.current();
/// shared.replace_overrides(1, vec![(shanghai.clone(), "portal.hotline".into(), "962000".into())]);
/// assert_eq!(shared.current().effective_settings(&shanghai)["portal.hotline"], "962000");
/// assert_eq!(before.effective_settings(&shanghai)["portal.hotline"], "12345", "a snapshot stays whole");
/// assert_eq!(shared.configured().effective_settings(&shanghai)["portal.hotline"], "12345");
/// ```
#[derive(Debug, Clone)]
pub struct SharedTree {
    state: Arc<RwLock<State>>,
}

#[derive(Debug)]
struct State {
    configured: Arc<TenantTree>,
    overrides_version: i64,
    overrides: Vec<OverriddenSetting>,
    current: Arc<TenantTree>,
}

impl SharedTree {
    /// A handle serving `tree`, without overrides.
    pub fn new(tree: TenantTree) -> SharedTree {
        let tree = Arc::new(tree);
        SharedTree {
            state: Arc::new(RwLock::new(State {
                configured: tree.clone(),
                overrides_version: i64::MIN,
                overrides: Vec::new(),
                current: tree,
            })),
        }
    }

    /// The tree now, overrides included: a snapshot that stays whole while
    /// the caller holds it.
    pub fn current(&self) -> Arc<TenantTree> {
        // Writers only swap whole values, so a poisoned lock still holds a
        // consistent state.
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }

    /// The tree as configured (its revision's files), without overrides.
    pub fn configured(&self) -> Arc<TenantTree> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .configured
            .clone()
    }

    /// Serves `tree` (a new revision) from now on, with the overrides kept.
    pub fn replace(&self, tree: TenantTree) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let current = tree
            .with_settings_overrides(state.overrides.iter().map(|(p, k, v)| (p, k.as_str(), v)));
        state.configured = Arc::new(tree);
        state.current = Arc::new(current);
    }

    /// Lays `overrides`, read at `version`, over the configured tree.
    /// Overrides read at an older version than the ones in force are
    /// ignored (two readers may finish out of order); whether they were
    /// taken.
    pub fn replace_overrides(&self, version: i64, overrides: Vec<OverriddenSetting>) -> bool {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if version < state.overrides_version {
            return false;
        }
        let current = state
            .configured
            .with_settings_overrides(overrides.iter().map(|(p, k, v)| (p, k.as_str(), v)));
        state.overrides_version = version;
        state.overrides = overrides;
        state.current = Arc::new(current);
        true
    }

    /// The version of the overrides in force (`i64::MIN` before any).
    pub fn overrides_version(&self) -> i64 {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .overrides_version
    }
}
