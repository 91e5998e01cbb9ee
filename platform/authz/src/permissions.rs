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
    /// Roles include roles deeper than Casbin follows (10 levels).
    #[error("base.csv: 角色包含层级超过 10 层 (roles nest deeper than 10 levels): {0}")]
    TooDeep(String),
}

/// How deep Casbin's role manager follows `g` links (its default).
const MAX_DEPTH: usize = 10;

/// Role → everything it reaches through `g` links: its actions, the roles
/// it includes and their actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    reach: BTreeMap<String, BTreeSet<String>>,
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
        let mut reach = BTreeMap::new();
        for role in direct.keys() {
            let mut seen = BTreeSet::new();
            let mut path = Vec::new();
            collect(role, &direct, &mut seen, &mut path)?;
            reach.insert(role.clone(), seen);
        }
        Ok(Permissions { reach })
    }

    /// Whether `role` may do `action` — exactly Casbin's `g(role, action)`:
    /// the same name, or reachable through `g` links (so asking for a role
    /// name as an action asks whether the role includes that role).
    pub fn role_may(&self, role: &str, action: &str) -> bool {
        role == action || self.reach.get(role).is_some_and(|a| a.contains(action))
    }

    /// Every role, in name order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.reach.keys().map(String::as_str)
    }

    /// Every action (not role) some role may do, in name order.
    pub fn actions(&self) -> BTreeSet<&str> {
        self.reach
            .values()
            .flatten()
            .filter(|a| !self.reach.contains_key(*a))
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
    if path.len() > MAX_DEPTH {
        return Err(PermissionsError::TooDeep(path.join(" → ")));
    }
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
        assert!(p.role_may("reviewer", "step.reviewer"));
        assert!(p.role_may("reviewer", "case.read"), "via officer");
        assert!(
            p.role_may("tenant-admin", "case.read"),
            "via reviewer via officer"
        );
        assert!(!p.role_may("officer", "step.reviewer"));
        assert!(p.role_may("audit-admin", "audit.read"));
        assert!(
            !p.role_may("audit-admin", "grant.manage"),
            "the audit administrator changes nothing"
        );
        assert!(!p.actions().contains("officer"), "a role is not an action");
        assert!(
            p.role_may("tenant-admin", "officer"),
            "as Casbin's g: a role reaches the roles it includes"
        );
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
