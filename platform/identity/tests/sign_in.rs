//! Sign-in as the procurement documents ask: PBKDF2-HMAC-SM3 passwords,
//! one answer for every failure, lockout after five failures for fifteen
//! minutes, every attempt audited, password policy and history — on
//! SQLite and PostgreSQL.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use civitas_identity::{
    AccountKind, AuthError, IdentityError, NewAccount, PolicyViolation, RejectCause,
    SignInSettings, authenticate, change_password, create_account, find_account,
    forget_old_failures, staff_of,
};
use civitas_storage::{Database, TenantScope};
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;

const PASSWORD: &str = "Civitas#2026";

fn path(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

fn settings() -> SignInSettings {
    let mut settings = SignInSettings::new(path("310000"));
    settings.iterations = civitas_crypto::password::MIN_ITERATIONS; // fast tests
    settings
}

async fn reviewer(db: &Database) {
    create_account(
        db,
        &settings(),
        &NewAccount {
            username: "pudong-reviewer".into(),
            kind: AccountKind::Staff,
            tenant_path: path("310000/310115"),
            line: Some("civil-affairs".into()),
            display_name: "浦东民政审核员".into(),
            password: PASSWORD.into(),
            must_change_password: false,
        },
        "sec-admin",
    )
    .await
    .unwrap();
}

fn rejected(result: Result<civitas_identity::Account, AuthError>) -> RejectCause {
    match result {
        Err(AuthError::Rejected(cause)) => cause,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn audit_actions(db: &Database, tenant: &str) -> Vec<String> {
    let mut out = Vec::new();
    civitas_audit::export(
        db,
        Some(&path(tenant)),
        chrono::DateTime::UNIX_EPOCH,
        Utc::now() + Duration::hours(1),
        &mut out,
    )
    .await
    .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["tenant_path"] == tenant)
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["detail"]["cause"].as_str().unwrap_or("")
            )
            .trim()
            .to_owned()
        })
        .collect()
}

/// An account's name and mutable columns: password hash, must-change,
/// disabled, when the password changed.
type AccountRow = (String, Option<String>, bool, bool, Option<i64>);

/// What a failed sign-in may write: the accounts' mutable columns, the
/// failures counted by name, and the number of audit records.
#[derive(Debug, PartialEq)]
struct Written {
    accounts: Vec<AccountRow>,
    failures: Vec<(String, i64, Option<i64>)>,
    audit_records: i64,
}

async fn written(db: &Database) -> Written {
    let mut tx = db.begin_platform_read().await.unwrap();
    civitas_storage::with_connection!(tx.connection(), c => {
        Written {
            accounts: sqlx::query_as(
                "SELECT username, password_hash, must_change_password, disabled, password_changed_at FROM accounts ORDER BY username",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap(),
            failures: sqlx::query_as("SELECT username, failures, locked_until FROM sign_in_failures ORDER BY username")
                .fetch_all(&mut *c)
                .await
                .unwrap(),
            audit_records: sqlx::query_scalar("SELECT COUNT(*) FROM audit_events").fetch_one(&mut *c).await.unwrap(),
        }
    })
}

both_backends! {
    async fn the_right_password_signs_in_and_every_failure_looks_the_same(t) {
        reviewer(&t.db).await;
        let now = Utc::now();
        let account = authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, now).await.unwrap();
        assert_eq!((account.kind, account.line.as_deref(), account.tenant_path.as_str()), (AccountKind::Staff, Some("civil-affairs"), "310000/310115"));

        let wrong = authenticate(&t.db, &settings(), "pudong-reviewer", "Wrong#2026", now).await;
        let unknown = authenticate(&t.db, &settings(), "nobody", PASSWORD, now).await;
        assert_eq!(wrong.as_ref().unwrap_err().to_string(), unknown.as_ref().unwrap_err().to_string(), "one answer for both");
        assert_eq!(rejected(wrong), RejectCause::WrongPassword);
        assert_eq!(rejected(unknown), RejectCause::UnknownUser);

        assert_eq!(
            audit_actions(&t.db, "310000/310115").await,
            ["account.create", "auth.login.success", "auth.login.failure wrong_password"]
        );
        assert_eq!(audit_actions(&t.db, "310000").await, ["auth.login.failure unknown_user"], "unknown names go to the realm's chain");
    }

    async fn five_failures_lock_the_account_for_fifteen_minutes(t) {
        reviewer(&t.db).await;
        let t0 = Utc::now();
        for i in 0..5 {
            assert_eq!(rejected(authenticate(&t.db, &settings(), "pudong-reviewer", "Wrong#2026", t0 + Duration::seconds(i)).await), RejectCause::WrongPassword);
        }
        // Locked: even the right password is refused, with the same answer.
        let locked = authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, t0 + Duration::minutes(14)).await;
        assert!(locked.as_ref().unwrap_err().to_string().contains("wrong username or password"));
        assert_eq!(rejected(locked), RejectCause::Locked);
        // The lock expires.
        assert!(authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, t0 + Duration::minutes(16)).await.is_ok());
        let actions = audit_actions(&t.db, "310000/310115").await;
        assert_eq!(actions.iter().filter(|a| a.ends_with("wrong_password")).count(), 5);
        assert!(actions.contains(&"auth.login.failure locked".to_owned()));
    }

    async fn a_failure_does_the_same_database_work_whether_or_not_the_account_exists(t) {
        reviewer(&t.db).await;
        let now = Utc::now();
        let before = written(&t.db).await;
        let known = rejected(authenticate(&t.db, &settings(), "pudong-reviewer", "Wrong#2026", now).await);
        let after_known = written(&t.db).await;
        let unknown = rejected(authenticate(&t.db, &settings(), "pudong-reviewr", "Wrong#2026", now).await);
        let after_unknown = written(&t.db).await;
        assert_eq!((known, unknown), (RejectCause::WrongPassword, RejectCause::UnknownUser));
        // Each wrote one counted failure under the name tried and one audit
        // record; neither touched the accounts.
        for (from, to, name) in [(&before, &after_known, "pudong-reviewer"), (&after_known, &after_unknown, "pudong-reviewr")] {
            assert_eq!(to.accounts, before.accounts);
            assert_eq!(to.audit_records, from.audit_records + 1);
            let added: Vec<_> = to.failures.iter().filter(|f| !from.failures.contains(f)).collect();
            assert_eq!(added, [&(name.to_owned(), 1, None)]);
        }
        // Both lock at the fifth failure, in the same way, at the same time.
        for i in 1..4 {
            for name in ["pudong-reviewer", "pudong-reviewr"] {
                authenticate(&t.db, &settings(), name, "Wrong#2026", now + Duration::seconds(i)).await.unwrap_err();
            }
        }
        let fifth = now + Duration::seconds(4);
        for name in ["pudong-reviewer", "pudong-reviewr"] {
            authenticate(&t.db, &settings(), name, "Wrong#2026", fifth).await.unwrap_err();
        }
        let locked = written(&t.db).await;
        let until = Some((fifth + Duration::minutes(15)).timestamp_micros());
        assert_eq!(locked.failures, [("pudong-reviewer".to_owned(), 0, until), ("pudong-reviewr".to_owned(), 0, until)]);
        // While locked, an attempt on either counts nothing and is audited once.
        assert_eq!(rejected(authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, fifth).await), RejectCause::Locked);
        let after_locked_known = written(&t.db).await;
        assert_eq!(rejected(authenticate(&t.db, &settings(), "pudong-reviewr", PASSWORD, fifth).await), RejectCause::UnknownUser);
        let after_locked_unknown = written(&t.db).await;
        assert_eq!((after_locked_known.failures == locked.failures, after_locked_unknown.failures == locked.failures), (true, true));
        assert_eq!(after_locked_unknown.audit_records - after_locked_known.audit_records, after_locked_known.audit_records - locked.audit_records);
        // Nothing is forgotten while a lock holds; both are once it is over.
        assert_eq!(forget_old_failures(&t.db, &settings(), fifth + Duration::minutes(14)).await.unwrap(), 0);
        assert_eq!(forget_old_failures(&t.db, &settings(), fifth + Duration::minutes(15)).await.unwrap(), 2);
    }

    async fn failures_are_counted_within_the_lockout_window(t) {
        reviewer(&t.db).await;
        let t0 = Utc::now();
        // Four failures, then four more after the window: never five in one window.
        for at in [t0, t0 + Duration::minutes(16)] {
            for i in 0..4 {
                assert_eq!(rejected(authenticate(&t.db, &settings(), "pudong-reviewer", "Wrong#2026", at + Duration::seconds(i)).await), RejectCause::WrongPassword);
            }
        }
        assert!(authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, t0 + Duration::minutes(17)).await.is_ok());
    }

    async fn a_success_resets_the_failure_count(t) {
        reviewer(&t.db).await;
        let t0 = Utc::now();
        for _ in 0..4 {
            authenticate(&t.db, &settings(), "pudong-reviewer", "Wrong#2026", t0).await.unwrap_err();
        }
        authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, t0).await.unwrap();
        for _ in 0..4 {
            authenticate(&t.db, &settings(), "pudong-reviewer", "Wrong#2026", t0).await.unwrap_err();
        }
        assert!(authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, t0).await.is_ok(), "4 + 4 failures with a success between do not lock");
    }

    async fn passwords_follow_the_policy_and_are_not_reused(t) {
        reviewer(&t.db).await;
        let s = settings();
        let weak = change_password(&t.db, &s, "pudong-reviewer", PASSWORD, "password1", None).await;
        assert!(matches!(weak, Err(IdentityError::Policy(PolicyViolation::TooFewClasses(3)))), "{weak:?}");
        assert!(matches!(change_password(&t.db, &s, "pudong-reviewer", "Nope#2026", "Better#2027", None).await, Err(IdentityError::WrongPassword)));
        let mut current = PASSWORD.to_owned();
        for n in 1..=5 {
            let next = format!("Civitas#{}", 2026 + n);
            change_password(&t.db, &s, "pudong-reviewer", &current, &next, None).await.unwrap();
            current = next;
        }
        // The original is now six passwords back: allowed again; the last five are not.
        let reused = change_password(&t.db, &s, "pudong-reviewer", &current, "Civitas#2028", None).await;
        assert!(matches!(reused, Err(IdentityError::Policy(PolicyViolation::Reused(5)))), "{reused:?}");
        change_password(&t.db, &s, "pudong-reviewer", &current, PASSWORD, None).await.unwrap();
        assert!(authenticate(&t.db, &s, "pudong-reviewer", PASSWORD, Utc::now()).await.is_ok());
    }

    async fn guessing_the_current_password_in_a_change_counts_towards_the_lockout(t) {
        reviewer(&t.db).await;
        for _ in 0..5 {
            let guess = change_password(&t.db, &settings(), "pudong-reviewer", "Guess#2026", "Better#2027", None).await;
            assert!(matches!(guess, Err(IdentityError::WrongPassword)), "{guess:?}");
        }
        assert_eq!(rejected(authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, Utc::now()).await), RejectCause::Locked);
        let actions = audit_actions(&t.db, "310000/310115").await;
        assert_eq!(actions.iter().filter(|a| a.ends_with("wrong_password")).count(), 5, "{actions:?}");
    }

    async fn parallel_guesses_cannot_exceed_the_limit(t) {
        reviewer(&t.db).await;
        let now = Utc::now();
        let guesses: Vec<_> = (0..12).map(|i| {
            let db = t.db.clone();
            tokio::spawn(async move { authenticate(&db, &settings(), "pudong-reviewer", &format!("Wrong#{i}xyz"), now).await })
        }).collect();
        let mut checked = 0;
        for guess in guesses {
            if rejected(guess.await.unwrap()) == RejectCause::WrongPassword {
                checked += 1;
            }
        }
        assert!(checked <= 5, "only 5 passwords were actually checked, not {checked}");
        assert_eq!(rejected(authenticate(&t.db, &settings(), "pudong-reviewer", PASSWORD, now).await), RejectCause::Locked);
    }

    async fn a_one_time_password_must_be_changed_and_the_change_clears_it(t) {
        create_account(&t.db, &settings(), &NewAccount {
            username: "audit-admin".into(),
            kind: AccountKind::Staff,
            tenant_path: path("310000"),
            line: None,
            display_name: "审计管理员".into(),
            password: "Once#Only2026".into(),
            must_change_password: true,
        }, "system").await.unwrap();
        let account = authenticate(&t.db, &settings(), "audit-admin", "Once#Only2026", Utc::now()).await.unwrap();
        assert!(account.must_change_password);
        change_password(&t.db, &settings(), "audit-admin", "Once#Only2026", "Mine#Now2026", None).await.unwrap();
        assert!(!find_account(&t.db, "audit-admin").await.unwrap().unwrap().must_change_password);
        let taken = create_account(&t.db, &settings(), &NewAccount {
            username: "audit-admin".into(), kind: AccountKind::Staff, tenant_path: path("310000"), line: None,
            display_name: "x".into(), password: "Other#2026x".into(), must_change_password: false,
        }, "system").await;
        assert!(matches!(taken, Err(IdentityError::UsernameTaken(_))));
    }

    async fn staff_lists_follow_the_scope(t) {
        reviewer(&t.db).await;
        create_account(&t.db, &settings(), &NewAccount {
            username: "huangpu-reviewer".into(), kind: AccountKind::Staff, tenant_path: path("310000/310101"),
            line: Some("civil-affairs".into()), display_name: "黄浦民政审核员".into(), password: PASSWORD.into(), must_change_password: false,
        }, "sec-admin").await.unwrap();
        let mut pudong = t.db.begin_read(&TenantScope::for_platform_task(path("310000/310115"))).await.unwrap();
        let names: Vec<String> = staff_of(&mut pudong).await.unwrap().into_iter().map(|a| a.username).collect();
        assert_eq!(names, ["pudong-reviewer"]);
        let mut city = t.db.begin_read(&TenantScope::for_platform_task(path("310000"))).await.unwrap();
        assert_eq!(staff_of(&mut city).await.unwrap().len(), 2);
    }

    async fn passwords_are_stored_as_pbkdf2_sm3(t) {
        reviewer(&t.db).await;
        let mut tx = t.db.begin_platform_read().await.unwrap();
        let stored: String = civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT password_hash FROM accounts").fetch_one(&mut *c).await.unwrap()
        });
        assert!(stored.starts_with("$pbkdf2-sm3$i=1000$"), "{stored}");
        assert!(!stored.contains(PASSWORD));
    }
}
