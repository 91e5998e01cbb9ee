//! Retention: records older than 180 days are exported, then removed
//! behind a signed prune point that verify starts from; nothing younger can
//! be removed, not even by hand — on SQLite and PostgreSQL.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use civitas_audit::{AuditError, NewEvent, Problem, prune, record, record_at, verify};
use civitas_crypto::sm2::PrivateKey;
use civitas_storage::{TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_testkit::{TestDb, both_backends};
use serde_json::json;

const PUDONG: &str = "310000/310115";

fn path(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

fn event(n: i64) -> NewEvent {
    NewEvent {
        actor: "sec-admin".into(),
        action: "grant.create".into(),
        target: format!("account-{n}"),
        detail: json!({"n": n}),
    }
}

/// Pudong's chain: five records 200+ days old, then three of today.
async fn chain(t: &TestDb) {
    let pudong = path(PUDONG);
    for n in 0..5 {
        let mut tx =
            t.db.begin(&TenantScope::for_platform_task(pudong.clone()))
                .await
                .unwrap();
        record_at(
            &mut tx,
            &pudong,
            &event(n),
            Utc::now() - Duration::days(210 - n),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    for n in 5..8 {
        let mut tx =
            t.db.begin(&TenantScope::for_platform_task(pudong.clone()))
                .await
                .unwrap();
        record(&mut tx, &pudong, &event(n)).await.unwrap();
        tx.commit().await.unwrap();
    }
}

async fn remaining(t: &TestDb) -> Vec<i64> {
    let mut tx = t.db.begin_platform_read().await.unwrap();
    with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT seq FROM audit_events WHERE tenant_path = $1 ORDER BY seq")
            .bind(PUDONG).fetch_all(&mut *c).await.unwrap()
    })
}

both_backends! {
    async fn old_records_are_exported_then_pruned_and_the_chain_still_verifies(t) {
        chain(&t).await;
        let key = PrivateKey::generate().unwrap();
        let mut archive = Vec::new();
        let pruned = prune(&t.db, &key, Utc::now() - Duration::days(190), &mut archive, |_| {}).await.unwrap();
        assert_eq!(pruned.len(), 1);
        assert_eq!((pruned[0].through_seq, pruned[0].records), (5, 5));
        let lines: Vec<serde_json::Value> = String::from_utf8(archive.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert_eq!(pruned[0].archive_sm3, hex::encode(civitas_crypto::sm3::digest(&archive)));
        assert_eq!(remaining(&t).await, vec![6, 7, 8]);

        let report = verify(&t.db, None, Some(&key.public_key()), |_| {}).await.unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.records, 3);

        // The chain goes on, and a second prune has nothing old enough.
        let mut tx = t.db.begin(&TenantScope::for_platform_task(path(PUDONG))).await.unwrap();
        record(&mut tx, &path(PUDONG), &event(9)).await.unwrap();
        tx.commit().await.unwrap();
        assert!(prune(&t.db, &key, Utc::now() - Duration::days(190), &mut Vec::new(), |_| {}).await.unwrap().is_empty());
        assert!(verify(&t.db, None, Some(&key.public_key()), |_| {}).await.unwrap().is_intact());
    }

    async fn pruning_inside_the_retention_period_is_refused(t) {
        chain(&t).await;
        let key = PrivateKey::generate().unwrap();
        let err = prune(&t.db, &key, Utc::now() - Duration::days(179), &mut Vec::new(), |_| {}).await.unwrap_err();
        assert!(matches!(err, AuditError::RetentionTooShort { min_days: 180, .. }), "{err}");
        assert_eq!(remaining(&t).await.len(), 8);
    }

    async fn the_database_refuses_deleting_young_or_uncovered_records(t) {
        chain(&t).await;
        // Even a forged prune point covering everything does not let today's records go…
        let mut tx = t.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("INSERT INTO audit_prune_points VALUES ($1, 100, 'x', 100, 'x', 0, 'x', 'x')").bind(PUDONG).execute(&mut *c).await.unwrap();
            let young = sqlx::query("DELETE FROM audit_events WHERE seq = 8").execute(&mut *c).await;
            assert!(young.is_err(), "a record younger than 180 days cannot be deleted");
        });
        drop(tx);
        // …and without a prune point not even old ones.
        let mut tx = t.db.begin_platform().await.unwrap();
        let old = with_connection!(tx.connection(), c => {
            sqlx::query("DELETE FROM audit_events WHERE seq = 1").execute(&mut *c).await.is_err()
        });
        assert!(old, "an uncovered record cannot be deleted");
        drop(tx);
        assert_eq!(remaining(&t).await.len(), 8);
    }

    async fn a_forged_prune_point_is_named_by_verify(t) {
        chain(&t).await;
        let key = PrivateKey::generate().unwrap();
        prune(&t.db, &key, Utc::now() - Duration::days(190), &mut Vec::new(), |_| {}).await.unwrap();
        let other = PrivateKey::generate().unwrap();
        let problems = verify(&t.db, None, Some(&other.public_key()), |_| {}).await.unwrap().problems;
        assert!(matches!(&problems[..], [Problem::PrunePointInvalid { seq: 5, .. }]), "{problems:?}");
        // Claiming more was pruned than was: the signature no longer matches.
        let mut tx = t.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE audit_prune_points SET records = 4").execute(&mut *c).await.unwrap();
        });
        tx.commit().await.unwrap();
        let problems = verify(&t.db, None, None, |_| {}).await.unwrap().problems;
        assert!(matches!(&problems[..], [Problem::PrunePointInvalid { .. }]), "{problems:?}");
    }

    async fn a_tampered_chain_is_not_pruned(t) {
        chain(&t).await;
        let mut tx = t.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            if t.db.backend() == civitas_storage::Backend::Postgres {
                sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *c).await.unwrap();
            } else {
                sqlx::query("DROP TRIGGER audit_events_no_update").execute(&mut *c).await.unwrap();
            }
            sqlx::query("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2").execute(&mut *c).await.unwrap();
        });
        tx.commit().await.unwrap();
        let key = PrivateKey::generate().unwrap();
        let err = prune(&t.db, &key, Utc::now() - Duration::days(190), &mut Vec::new(), |_| {}).await.unwrap_err();
        assert!(matches!(&err, AuditError::ChainBroken { problem, .. } if problem.contains("#2")), "{err}");
        assert_eq!(remaining(&t).await.len(), 8, "evidence kept");
    }

    async fn imported_records_must_keep_time_order(t) {
        let pudong = path(PUDONG);
        let mut tx = t.db.begin(&TenantScope::for_platform_task(pudong.clone())).await.unwrap();
        record_at(&mut tx, &pudong, &event(1), Utc::now() - Duration::days(1)).await.unwrap();
        let err = record_at(&mut tx, &pudong, &event(2), Utc::now() - Duration::days(2)).await.unwrap_err();
        assert!(matches!(err, AuditError::OutOfOrder(_)), "{err}");
    }
}
