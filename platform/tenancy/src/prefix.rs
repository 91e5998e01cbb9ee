//! Where a tenant path ends inside a request path.
//!
//! Tenant paths contain slashes (`shanghai/pudong/lujiazui`), so a route
//! such as `/api/v1/tenants/{path}/cases/{id}` cannot be matched by a
//! router on its own. [`split_tenant_prefix`] reads the segments after
//! `/api/v1/tenants/` child by child against the tree (no database), and
//! says which tenant they name and what follows it. A client may also send
//! the whole tenant path as one segment with its slashes encoded as `%2F`,
//! as OpenAPI clients do; both spellings give the same answer.

use percent_encoding::percent_decode_str;

use crate::RESERVED_SLUGS;

/// What the segments after `/api/v1/tenants/` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantPrefix<T> {
    /// A tenant, found child by child, and the resource segments after it
    /// (empty for the tenant itself; the first one is a reserved word).
    Tenant {
        /// What the lookup returned for the deepest node.
        tenant: T,
        /// The tenant path as the client wrote it (decoded).
        reference: String,
        /// The decoded segments after the tenant.
        rest: Vec<String>,
    },
    /// Segments that name no tenant, followed by resource segments: the
    /// route exists, the tenant does not (404 `tenant_not_found`).
    Unknown {
        /// The segments before the first reserved word, joined by `/`.
        reference: String,
        /// The decoded segments from the first reserved word on.
        rest: Vec<String>,
    },
    /// Not a tenant path at all (`/api/v1/tenants/resolve`, an empty
    /// tail, or a segment that does not decode): leave it to the router.
    NotTenant,
}

/// Splits `tail` (the raw path after `/api/v1/tenants/`, without the query)
/// into the tenant it names and the rest. `child(parent, segment)` finds a
/// root (`parent` = `None`) or a child of `parent` by code or slug.
///
/// A tenant ends at the first segment that is not a child of the node so
/// far; what follows must start with one of [`RESERVED_SLUGS`], which no
/// slug may be, so the split is never ambiguous. Segments are
/// percent-decoded first, and a decoded segment containing `/` counts as
/// several.
///
/// ```
/// use civitas_tenancy::{TenantPrefix, split_tenant_prefix};
///
/// // A two-level tree: shanghai (310000) → pudong (310115).
/// let child = |parent: Option<&String>, segment: &str| -> Option<String> {
///     match (parent.map(String::as_str), segment) {
///         (None, "shanghai" | "310000") => Some("310000".into()),
///         (Some("310000"), "pudong" | "310115") => Some("310000/310115".into()),
///         _ => None,
///     }
/// };
/// assert_eq!(
///     split_tenant_prefix("shanghai%2Fpudong/cases/42", child),
///     TenantPrefix::Tenant {
///         tenant: "310000/310115".to_owned(),
///         reference: "shanghai/pudong".into(),
///         rest: vec!["cases".into(), "42".into()],
///     }
/// );
/// assert!(matches!(
///     split_tenant_prefix("shanghai/nowhere/cases", child),
///     TenantPrefix::Unknown { reference, .. } if reference == "shanghai/nowhere"
/// ));
/// assert_eq!(split_tenant_prefix("resolve", child), TenantPrefix::NotTenant);
/// ```
pub fn split_tenant_prefix<T>(
    tail: &str,
    mut child: impl FnMut(Option<&T>, &str) -> Option<T>,
) -> TenantPrefix<T> {
    let mut segments = Vec::new();
    for raw in tail.split('/') {
        let Ok(decoded) = percent_decode_str(raw).decode_utf8() else {
            return TenantPrefix::NotTenant;
        };
        // A segment that was `a%2Fb` is two; an empty raw segment stays
        // (a trailing slash names no route).
        if raw.is_empty() {
            segments.push(String::new());
        } else {
            segments.extend(
                decoded
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    if segments.first().is_none_or(|s| s.is_empty()) {
        return TenantPrefix::NotTenant;
    }

    let mut found: Option<T> = None;
    let mut depth = 0;
    while let Some(segment) = segments.get(depth) {
        match child(found.as_ref(), segment) {
            Some(next) => {
                found = Some(next);
                depth += 1;
            }
            None => break,
        }
    }
    let reserved = |s: &String| RESERVED_SLUGS.contains(&s.as_str());
    match found {
        Some(tenant) if segments.get(depth).is_none_or(reserved) => TenantPrefix::Tenant {
            tenant,
            reference: segments[..depth].join("/"),
            rest: segments[depth..].to_vec(),
        },
        _ => {
            let end = segments.iter().position(reserved).unwrap_or(segments.len());
            if end == 0 {
                return TenantPrefix::NotTenant;
            }
            TenantPrefix::Unknown {
                reference: segments[..end].join("/"),
                rest: segments[end..].to_vec(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(parent: Option<&String>, segment: &str) -> Option<String> {
        let known = [
            (None, "shanghai", "310000"),
            (None, "310000", "310000"),
            (Some("310000"), "pudong", "310000/310115"),
            (Some("310000"), "310115", "310000/310115"),
            (Some("310000/310115"), "lujiazui", "310000/310115/310115005"),
            (
                Some("310000/310115"),
                "310115005",
                "310000/310115/310115005",
            ),
        ];
        known
            .iter()
            .find(|(p, s, _)| *p == parent.map(String::as_str) && *s == segment)
            .map(|(_, _, path)| (*path).to_owned())
    }

    fn tenant(tail: &str) -> Option<(String, String, Vec<String>)> {
        match split_tenant_prefix(tail, child) {
            TenantPrefix::Tenant {
                tenant,
                reference,
                rest,
            } => Some((tenant, reference, rest)),
            _ => None,
        }
    }

    #[test]
    fn a_tenant_ends_where_its_children_end() {
        let (path, reference, rest) = tenant("shanghai/pudong/lujiazui/cases/a1/actions").unwrap();
        assert_eq!(path, "310000/310115/310115005");
        assert_eq!(reference, "shanghai/pudong/lujiazui");
        assert_eq!(rest, ["cases", "a1", "actions"]);
        assert_eq!(tenant("310000/310115").unwrap().2, Vec::<String>::new());
        // Codes and slugs may mix, one segment at a time.
        assert_eq!(tenant("310000/pudong/staff").unwrap().0, "310000/310115");
    }

    #[test]
    fn encoded_slashes_are_the_same_path() {
        assert_eq!(
            tenant("310000%2F310115%2F310115005/cases"),
            tenant("310000/310115/310115005/cases")
        );
        assert_eq!(
            tenant("shanghai%2fpudong/bindings/civil-affairs/meal-subsidy")
                .unwrap()
                .2,
            ["bindings", "civil-affairs", "meal-subsidy"]
        );
    }

    #[test]
    fn an_unknown_tenant_is_told_apart_from_an_unknown_route() {
        assert_eq!(
            split_tenant_prefix("shanghai/nowhere/cases/1", child),
            TenantPrefix::Unknown {
                reference: "shanghai/nowhere".into(),
                rest: vec!["cases".into(), "1".into()],
            }
        );
        assert_eq!(
            split_tenant_prefix("beijing", child),
            TenantPrefix::Unknown {
                reference: "beijing".into(),
                rest: vec![],
            }
        );
        // A known tenant followed by something that is not a resource word
        // names no tenant either: `pudong/nowhere` is not a child.
        assert!(matches!(
            split_tenant_prefix("shanghai/pudong/nowhere", child),
            TenantPrefix::Unknown { reference, .. } if reference == "shanghai/pudong/nowhere"
        ));
    }

    #[test]
    fn what_is_not_a_tenant_path_is_left_to_the_router() {
        assert_eq!(
            split_tenant_prefix("resolve", child),
            TenantPrefix::NotTenant
        );
        assert_eq!(split_tenant_prefix("", child), TenantPrefix::NotTenant);
        assert_eq!(split_tenant_prefix("%FF", child), TenantPrefix::NotTenant);
        assert_eq!(
            split_tenant_prefix("/shanghai", child),
            TenantPrefix::NotTenant
        );
    }
}
