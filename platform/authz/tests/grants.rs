//! Grants in the database: audited changes, separation of duties, and an
//! authorizer built from what is stored — on SQLite and PostgreSQL.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civitas_authz::{
    ALL_LINES, Authorizer, BASE_POLICY, Grant, GrantError, NO_LINE, Permissions, add_grant,
    load_grants, remove_grant,
};
use civitas_identity::{Account, AccountKind, NewAccount, SignInSettings, create_account};
use civitas_storage::Database;
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;

fn path(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

async fn account(db: &Database, username: &str, tenant: &str) -> Account {
    account_of_kind(db, username, tenant, AccountKind::Staff).await
}

async fn account_of_kind(
    db: &Database,
    username: &str,
    tenant: &str,
    kind: AccountKind,
) -> Account {
    // Grants name tenants of the tree.
    db.sync_tenants(&civitas_testkit::demo_tree())
        .await
        .unwrap();
    let mut settings = SignInSettings::new(path("310000"));
    settings.iterations = 1_000; // the minimum: fast tests
    create_account(
        db,
        &settings,
        &NewAccount {
            username: username.into(),
            kind,
            tenant_path: path(tenant),
            line: None,
            display_name: username.into(),
            password: "Civitas#2026".into(),
            must_change_password: false,
        },
        "system",
    )
    .await
    .unwrap()
}

fn grant(account: &Account, tenant: &str, line: &str, role: &str) -> Grant {
    Grant {
        account: account.id.clone(),
        tenant: path(tenant),
        line: line.into(),
        role: role.into(),
    }
}

both_backends! {
    async fn stored_grants_decide_and_every_change_is_audited(t) {
        let permissions = Permissions::parse(BASE_POLICY).unwrap();
        let reviewer = account(&t.db, "pudong-reviewer", "310000/310115").await;
        let g = grant(&reviewer, "310000/310115", "civil-affairs", "reviewer");
        assert!(add_grant(&t.db, &permissions, &g, "sec-admin").await.unwrap());
        assert!(!add_grant(&t.db, &permissions, &g, "sec-admin").await.unwrap(), "idempotent");

        let authorizer = Authorizer::new(permissions.clone(), load_grants(&t.db).await.unwrap());
        assert!(authorizer.allows(&reviewer.id, &path("310000/310115/310115005"), "civil-affairs", "step.reviewer"));
        assert!(!authorizer.allows(&reviewer.id, &path("310000/310101"), "civil-affairs", "step.reviewer"));

        assert!(remove_grant(&t.db, &g, "sec-admin").await.unwrap());
        assert!(load_grants(&t.db).await.unwrap().is_empty());
        let mut out = Vec::new();
        civitas_audit::export(&t.db, Some(&path("310000/310115")), chrono::DateTime::UNIX_EPOCH, chrono::Utc::now() + chrono::Duration::hours(1), &mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("grant.create") && text.contains("grant.delete") && text.contains("\"role\":\"reviewer\""), "{text}");
    }

    async fn no_account_holds_two_of_the_three_administrator_roles(t) {
        let permissions = Permissions::parse(BASE_POLICY).unwrap();
        let admin = account(&t.db, "sys-admin", "310000").await;
        add_grant(&t.db, &permissions, &grant(&admin, "310000", ALL_LINES, "sys-admin"), "system").await.unwrap();
        for other in ["sec-admin", "audit-admin"] {
            let refused = add_grant(&t.db, &permissions, &grant(&admin, "310000", ALL_LINES, other), "system").await;
            assert!(matches!(refused, Err(GrantError::SeparationOfDuties { .. })), "{refused:?}");
        }
        // The same role on another subtree, and ordinary roles, are fine.
        add_grant(&t.db, &permissions, &grant(&admin, "510000", ALL_LINES, "sys-admin"), "system").await.unwrap();
        add_grant(&t.db, &permissions, &grant(&admin, "310000", "civil-affairs", "reviewer"), "system").await.unwrap();
        // The audit administrator reads audit and changes nothing.
        let auditor = account(&t.db, "audit-admin", "310000").await;
        add_grant(&t.db, &permissions, &grant(&auditor, "310000", ALL_LINES, "audit-admin"), "system").await.unwrap();
        let authorizer = Authorizer::new(permissions.clone(), load_grants(&t.db).await.unwrap());
        assert!(authorizer.allows(&auditor.id, &path("310000/310115"), NO_LINE, "audit.read"));
        for action in ["grant.manage", "key.manage", "tenant.configure", "module.bind"] {
            assert!(!authorizer.allows(&auditor.id, &path("310000/310115"), NO_LINE, action), "{action}");
        }
    }

    async fn bad_grants_are_refused_with_a_reason(t) {
        let permissions = Permissions::parse(BASE_POLICY).unwrap();
        let someone = account(&t.db, "someone", "310000").await;
        assert!(matches!(add_grant(&t.db, &permissions, &grant(&someone, "310000", ALL_LINES, "emperor"), "x").await, Err(GrantError::UnknownRole(_))));
        assert!(matches!(add_grant(&t.db, &permissions, &grant(&someone, "310000", "Civil Affairs!", "reviewer"), "x").await, Err(GrantError::InvalidLine(_))));
        let ghost = Grant { account: "no-such-id".into(), tenant: path("310000"), line: ALL_LINES.into(), role: "reviewer".into() };
        assert!(matches!(add_grant(&t.db, &permissions, &ghost, "x").await, Err(GrantError::UnknownAccount(_))));
        assert!(matches!(add_grant(&t.db, &permissions, &grant(&someone, "310000/310999", ALL_LINES, "reviewer"), "x").await, Err(GrantError::UnknownTenant(_))));
        assert!(matches!(add_grant(&t.db, &permissions, &grant(&someone, "310000", NO_LINE, "reviewer"), "x").await, Err(GrantError::InvalidLine(_))));
        let citizen = account_of_kind(&t.db, "citizen-demo", "310000/310115/310115005", AccountKind::Citizen).await;
        assert!(matches!(add_grant(&t.db, &permissions, &grant(&citizen, "310000", ALL_LINES, "reviewer"), "x").await, Err(GrantError::NotStaff(_))));
    }

    async fn separation_of_duties_looks_at_what_roles_can_do_not_their_names(t) {
        let permissions = Permissions::parse(BASE_POLICY).unwrap();
        let security = account(&t.db, "sec-admin", "310000").await;
        add_grant(&t.db, &permissions, &grant(&security, "310000", ALL_LINES, "sec-admin"), "system").await.unwrap();
        // tenant-admin configures tenants and binds modules: the system administrator's duty.
        let refused = add_grant(&t.db, &permissions, &grant(&security, "310000/310115", ALL_LINES, "tenant-admin"), "system").await;
        assert!(matches!(refused, Err(GrantError::SeparationOfDuties { .. })), "{refused:?}");
        // A reviewer carries no administrator duty.
        add_grant(&t.db, &permissions, &grant(&security, "310000/310115", "civil-affairs", "reviewer"), "system").await.unwrap();
        let version = civitas_authz::grants_version(&t.db).await.unwrap();
        assert_eq!(version, 2, "every change moves the version");
    }
}
