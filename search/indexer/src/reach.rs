//! What a caller may find, from the grants index that decides requests.
//!
//! Each kind of document is found with the action that reads it one by one
//! (`GET`): cases with `case.read` in their line, accounts with
//! `account.read` (no line), residents with `resident.read` (in any line,
//! as the residents routes allow). A grant whose role may do that action
//! becomes one [`ReachEntry::Subtree`]; so a hit is always a document whose
//! own `GET` the caller would be allowed (`tests/reach.rs` checks it against
//! `Authorizer::allows` on random grants, on both backends).

use civitas_authz::{ALL_LINES, Authorizer};
use civitas_search::{Kind, Reach, ReachEntry};
use civitas_tenancy::TenantPath;

/// The action that reads one document of `kind`; none for services,
/// which are public.
pub fn read_action(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Case => Some("case.read"),
        Kind::Account => Some("account.read"),
        Kind::Resident => Some("resident.read"),
        Kind::Service => None,
    }
}

/// A staff account's reach: its grants, plus public services under `roots`.
pub fn staff_reach(authorizer: &Authorizer, account: &str, roots: &[TenantPath]) -> Reach {
    let mut entries = Vec::new();
    for kind in Kind::ALL {
        let Some(action) = read_action(kind) else {
            continue;
        };
        for (root, line) in authorizer.reach(account, action) {
            // Residents belong to no line: a grant in any line reads them.
            let line = if kind == Kind::Resident {
                ALL_LINES.to_owned()
            } else {
                line
            };
            entries.push(ReachEntry::Subtree { kind, root, line });
        }
    }
    entries.extend(public_entries(roots));
    Reach::new(entries)
}

/// An applicant's reach (a citizen or an enterprise): the cases it applied
/// for, plus public services under `roots`.
pub fn applicant_reach(account: &str, roots: &[TenantPath]) -> Reach {
    let mut entries = vec![ReachEntry::Own {
        kind: Kind::Case,
        account: account.to_owned(),
    }];
    entries.extend(public_entries(roots));
    Reach::new(entries)
}

/// The public's reach: the services of every root, in every line (an
/// applicant whose real-name check has not passed yet gets no more).
pub fn public_reach(roots: &[TenantPath]) -> Reach {
    Reach::new(public_entries(roots))
}

/// The public's reach on one tenant's portal: the services of `lines`
/// under `root` (the tenant's root).
pub fn public_services_reach(root: &TenantPath, lines: &[String]) -> Reach {
    Reach::new(lines.iter().map(|line| ReachEntry::Public {
        kind: Kind::Service,
        root: root.clone(),
        line: line.clone(),
    }))
}

fn public_entries(roots: &[TenantPath]) -> impl Iterator<Item = ReachEntry> + '_ {
    roots.iter().map(|root| ReachEntry::Public {
        kind: Kind::Service,
        root: root.clone(),
        line: ALL_LINES.to_owned(),
    })
}
