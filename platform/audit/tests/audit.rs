//! The audit log: appends chain, tampering is found and named, anchors
//! pin history, on SQLite and PostgreSQL alike.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civitas_audit::{GENESIS, NewEvent, Problem, anchor, count, export, record, verify};
use civitas_crypto::sm2::PrivateKey;
use civitas_storage::{Backend, TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_testkit::{TestDb, both_backends};
use serde_json::json;

fn path(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

fn event(n: usize) -> NewEvent {
    NewEvent {
        actor: "pudong-reviewer".into(),
        action: "case.approve".into(),
        target: format!("case-{n}"),
        detail: json!({"amount": 300, "step": "district"}),
    }
}

/// Records `n` events for `tenant`, one transaction each.
async fn record_many(t: &TestDb, tenant: &str, n: usize) {
    let tenant = path(tenant);
    for i in 1..=n {
        let mut tx =
            t.db.begin(&TenantScope::for_platform_task(tenant.clone()))
                .await
                .unwrap();
        record(&mut tx, &tenant, &event(i)).await.unwrap();
        tx.commit().await.unwrap();
    }
}

/// Runs raw SQL as an attacker with direct database access: on PostgreSQL
/// the append-only trigger is bypassed the way only a superuser can.
async fn tamper(t: &TestDb, statements: &[&'static str]) {
    let mut tx = t.db.begin_platform().await.unwrap();
    with_connection!(tx.connection(), c => {
        if t.db.backend() == Backend::Postgres {
            sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *c).await.unwrap();
        } else {
            sqlx::query("DROP TRIGGER IF EXISTS audit_events_no_update").execute(&mut *c).await.unwrap();
            sqlx::query("DROP TRIGGER IF EXISTS audit_events_no_delete").execute(&mut *c).await.unwrap();
        }
        for statement in statements {
            sqlx::query(*statement).execute(&mut *c).await.unwrap();
        }
    });
    tx.commit().await.unwrap();
}

async fn problems(t: &TestDb) -> Vec<Problem> {
    verify(&t.db, None, None, |_| {}).await.unwrap().problems
}

const PUDONG: &str = "310000/310115";

both_backends! {
    async fn appends_form_an_intact_chain_per_tenant(t) {
        record_many(&t, PUDONG, 5).await;
        record_many(&t, "310000/310101", 2).await;
        let report = verify(&t.db, None, None, |_| {}).await.unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!((report.tenants, report.records), (2, 7));
        assert_eq!(count(&t.db, Some(&path(PUDONG))).await.unwrap(), 5);
        let only_huangpu = verify(&t.db, Some(&path("310000/310101")), None, |_| {}).await.unwrap();
        assert_eq!(only_huangpu.records, 2);
    }

    async fn a_rolled_back_transaction_leaves_no_record(t) {
        let tenant = path(PUDONG);
        let mut tx = t.db.begin(&TenantScope::for_platform_task(tenant.clone())).await.unwrap();
        let first = record(&mut tx, &tenant, &event(1)).await.unwrap();
        assert_eq!(first.seq, 1);
        tx.rollback().await.unwrap();
        record_many(&t, PUDONG, 1).await;
        let report = verify(&t.db, None, None, |_| {}).await.unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.records, 1, "the chain resumes at 1");
    }

    async fn the_tables_refuse_update_and_delete(t) {
        record_many(&t, PUDONG, 1).await;
        let mut tx = t.db.begin_platform().await.unwrap();
        let updated = with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE audit_events SET actor = 'someone-else'").execute(&mut *c).await.map(|_| ())
        });
        let refused = updated.expect_err("UPDATE is refused");
        assert!(refused.to_string().contains("append-only"), "{refused}");
        drop(tx);
        let mut tx = t.db.begin_platform().await.unwrap();
        let deleted = with_connection!(tx.connection(), c => {
            sqlx::query("DELETE FROM audit_events").execute(&mut *c).await.map(|_| ())
        });
        assert!(deleted.expect_err("DELETE is refused").to_string().contains("append-only"));
    }

    async fn an_edited_record_is_named(t) {
        record_many(&t, PUDONG, 5).await;
        tamper(&t, &["UPDATE audit_events SET detail = '{\"amount\":3000,\"step\":\"district\"}' WHERE seq = 3"]).await;
        let found = problems(&t).await;
        assert!(matches!(found.as_slice(), [Problem::Altered { seq: 3, .. }]), "{found:?}");
        assert!(found[0].to_string().contains("310000/310115 #3"), "{}", found[0]);
    }

    async fn a_deleted_record_is_named(t) {
        record_many(&t, PUDONG, 5).await;
        tamper(&t, &["DELETE FROM audit_events WHERE seq = 2"]).await;
        let found = problems(&t).await;
        assert_eq!(found, [Problem::Missing { tenant: PUDONG.into(), from_seq: 2, to_seq: 2 }]);
    }

    async fn a_deleted_tail_is_found_through_the_head(t) {
        record_many(&t, PUDONG, 5).await;
        tamper(&t, &["DELETE FROM audit_events WHERE seq >= 4"]).await;
        let found = problems(&t).await;
        assert_eq!(found, [Problem::Truncated { tenant: PUDONG.into(), head_seq: 5, last_seq: 3 }]);
    }

    async fn two_swapped_records_are_named(t) {
        record_many(&t, PUDONG, 5).await;
        // Swap the places of records 2 and 3 by their sequence numbers.
        tamper(&t, &[
            "UPDATE audit_events SET seq = -2 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = -2",
        ]).await;
        let found = problems(&t).await;
        let named: Vec<i64> = found.iter().filter_map(|p| match p {
            Problem::Altered { seq, .. } | Problem::Reordered { seq, .. } => Some(*seq),
            _ => None,
        }).collect();
        assert!(named.contains(&2) && named.contains(&3), "{found:?}");
    }

    async fn anchors_are_signed_and_checked(t) {
        let platform = PrivateKey::generate().unwrap();
        record_many(&t, PUDONG, 3).await;
        let anchored = anchor(&t.db, &platform).await.unwrap();
        assert_eq!(anchored.len(), 1);
        assert_eq!(anchored[0].seq, 3);
        assert!(anchor(&t.db, &platform).await.unwrap().is_empty(), "nothing new to anchor");

        let report = verify(&t.db, None, Some(&platform.public_key()), |_| {}).await.unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.anchors, 1);

        let stranger = PrivateKey::generate().unwrap();
        let pinned = verify(&t.db, None, Some(&stranger.public_key()), |_| {}).await.unwrap();
        assert!(matches!(pinned.problems.as_slice(), [Problem::AnchorMismatch { seq: 3, .. }]), "{:?}", pinned.problems);
    }

    async fn a_rewritten_chain_contradicts_its_anchor(t) {
        let platform = PrivateKey::generate().unwrap();
        record_many(&t, PUDONG, 3).await;
        anchor(&t.db, &platform).await.unwrap();
        // Rewrite the last record and recompute nothing: the anchor still
        // names the old hash.
        tamper(&t, &["UPDATE audit_events SET hash = prev_hash WHERE seq = 3"]).await;
        let found = verify(&t.db, None, Some(&platform.public_key()), |_| {}).await.unwrap().problems;
        assert!(found.iter().any(|p| matches!(p, Problem::AnchorMismatch { seq: 3, .. })), "{found:?}");
    }

    async fn export_writes_json_lines_in_chain_order(t) {
        record_many(&t, PUDONG, 3).await;
        let mut out = Vec::new();
        let from = chrono::Utc::now() - chrono::Duration::hours(1);
        let to = chrono::Utc::now() + chrono::Duration::hours(1);
        assert_eq!(export(&t.db, None, from, to, &mut out).await.unwrap(), 3);
        let lines: Vec<serde_json::Value> = String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["seq"], 1);
        assert_eq!(lines[0]["prev_hash"], GENESIS);
        assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
        assert_eq!(lines[2]["detail"]["amount"], 300);
        let mut none = Vec::new();
        assert_eq!(export(&t.db, None, to, to + chrono::Duration::hours(1), &mut none).await.unwrap(), 0);
    }

    async fn concurrent_appends_get_consecutive_numbers(t) {
        let tenant = path(PUDONG);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let db = t.db.clone();
            let tenant = tenant.clone();
            tasks.push(tokio::spawn(async move {
                // SQLite serialises writers: retry when the database is busy.
                for _ in 0..50 {
                    let mut tx = db.begin(&TenantScope::for_platform_task(tenant.clone())).await.unwrap();
                    match record(&mut tx, &tenant, &event(i)).await {
                        Ok(_) => {
                            if tx.commit().await.is_ok() {
                                return;
                            }
                        }
                        Err(_) => drop(tx),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                panic!("append {i} never succeeded");
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let report = verify(&t.db, None, None, |_| {}).await.unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.records, 8);
    }
}

#[tokio::test]
async fn a_record_outside_the_scope_is_refused() {
    let t = TestDb::sqlite().await;
    let mut tx =
        t.db.begin(&TenantScope::for_platform_task(path(PUDONG)))
            .await
            .unwrap();
    let refused = record(&mut tx, &path("310000/310101"), &event(1)).await;
    assert!(matches!(
        refused,
        Err(civitas_audit::AuditError::OutOfScope(_))
    ));
}
