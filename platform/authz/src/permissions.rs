//! What each role may do, from `policies/base.csv`.

use std::collections::{BTreeMap, BTreeSet};

/// A problem in the base policy, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionsError {
    /// A line is not `g, ROLE, ACTION-OR-ROLE`.
    #[error("base.csv:{0}: 应为 `g, 角色, 动作或角色` (expected `g, ROLE, ACTION-OR-ROLE`)")]
    Syntax(usize),
    /// Roles include each other in a circle.
    #[error("base.csv: 角色循环包含 (roles include each other in a cycle): {0}")]
    Cycle(String),
}

/// Role → every action it may do, its included roles' actions included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    actions: BTreeMap<String, BTreeSet<String>>,
}

impl Permissions {
    /// Parses the base policy's `g` lines (comments and blank lines
    /// skipped, as Casbin does).
    pub fn parse(text: &str) -> Result<Permissions, PermissionsError> {
        let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            match fields.as_slice() {
                ["g", role, target] if !role.is_empty() && !target.is_empty() => {
                    direct
                        .entry((*role).to_owned())
                        .or_default()
                        .insert((*target).to_owned());
                }
                _ => return Err(PermissionsError::Syntax(n + 1)),
            }
        }
        let mut actions = BTreeMap::new();
        for role in direct.keys() {
            let mut seen = BTreeSet::new();
            let mut path = Vec::new();
            collect(role, &direct, &mut seen, &mut path)?;
            // Roles included are not actions themselves.
            seen.retain(|t| !direct.contains_key(t));
            actions.insert(role.clone(), seen);
        }
        Ok(Permissions { actions })
    }

    /// Whether `role` may do `action`.
    pub fn role_may(&self, role: &str, action: &str) -> bool {
        self.actions.get(role).is_some_and(|a| a.contains(action))
    }

    /// Every role, in name order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.actions.keys().map(String::as_str)
    }

    /// Every action some role may do, in name order.
    pub fn actions(&self) -> BTreeSet<&str> {
        self.actions
            .values()
            .flatten()
            .map(String::as_str)
            .collect()
    }
}

fn collect(
    role: &str,
    direct: &BTreeMap<String, BTreeSet<String>>,
    seen: &mut BTreeSet<String>,
    path: &mut Vec<String>,
) -> Result<(), PermissionsError> {
    if path.iter().any(|r| r == role) {
        path.push(role.to_owned());
        return Err(PermissionsError::Cycle(path.join(" → ")));
    }
    path.push(role.to_owned());
    for target in direct.get(role).into_iter().flatten() {
        if seen.insert(target.clone()) && direct.contains_key(target) {
            collect(target, direct, seen, path)?;
        }
    }
    path.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_actions_of_the_roles_they_include() {
        let p = Permissions::parse(crate::BASE_POLICY).unwrap_or_default();
        assert!(p.role_may("reviewer", "case.review"));
        assert!(p.role_may("reviewer", "case.read"), "via officer");
        assert!(
            p.role_may("tenant-admin", "case.read"),
            "via reviewer via officer"
        );
        assert!(!p.role_may("officer", "case.review"));
        assert!(p.role_may("audit-admin", "audit.read"));
        assert!(
            !p.role_may("audit-admin", "grant.manage"),
            "the audit administrator changes nothing"
        );
        assert!(!p.actions().contains("officer"), "a role is not an action");
    }

    #[test]
    fn a_bad_line_or_a_cycle_is_refused() {
        assert_eq!(
            Permissions::parse("g, a\n"),
            Err(PermissionsError::Syntax(1))
        );
        assert!(matches!(
            Permissions::parse("g, a, b\ng, b, a\n"),
            Err(PermissionsError::Cycle(_))
        ));
    }
}
