//! Residents' personal data: sealed at rest, found by blind index, masked
//! on display, revealed only with an audit record, and kept readable
//! through key rotation under concurrent writes — on SQLite and PostgreSQL.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use civitas_people::{
    ContactChange, IdNumber, NewResident, PROTECTED, find_by_id_number, find_by_phone, get, list,
    register, reveal, update_contact,
};
use civitas_storage::{Database, TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_testkit::{both_backends, demo_tree};
use civitas_vault::{Keyring, LocalMasterKeys, VaultError, provision, rotate};

const MASTER: &str = "0123456789abcdeffedcba9876543210";
const PUDONG: &str = "310000/310115";
const LUJIAZUI: &str = "310000/310115/310115005";
const HUANGPU: &str = "310000/310101";

fn path(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

fn scope(s: &str) -> TenantScope {
    TenantScope::for_platform_task(path(s))
}

/// A valid id number for sequence `n`, with its check character computed.
fn id_number(n: u32) -> IdNumber {
    let body = format!("310115198001{:02}{:03}", 1 + n % 28, n % 1000);
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
    IdNumber::parse(&format!("{body}{check}")).unwrap()
}

fn resident(n: u32) -> NewResident {
    NewResident {
        name: format!("张三{n}"),
        id_number: id_number(n),
        phone: Some(format!("138{:08}", n)),
        bank_account: Some(format!("62220212345678{:05}", n)),
        address: Some(format!("上海市浦东新区陆家嘴街道银城中路{n}号")),
    }
}

/// The demo tenants synced and their keys provisioned.
async fn setup(db: &Database, master: &str) -> Arc<Keyring> {
    db.sync_tenants(&demo_tree()).await.unwrap();
    let keyring = Arc::new(Keyring::new(Arc::new(
        LocalMasterKeys::parse(master).unwrap(),
    )));
    let tenants: Vec<TenantPath> = db
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.path)
        .collect();
    provision(db, &keyring, &tenants).await.unwrap();
    keyring
}

async fn register_one(db: &Database, keyring: &Keyring, tenant: &str, n: u32) -> String {
    let mut tx = db.begin(&scope(tenant)).await.unwrap();
    let id = register(&mut tx, keyring, &path(tenant), &resident(n))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

both_backends! {
    async fn personal_data_is_never_stored_in_the_clear(t) {
        let keyring = setup(&t.db, MASTER).await;
        register_one(&t.db, &keyring, LUJIAZUI, 7).await;
        let mut tx = t.db.begin_platform_read().await.unwrap();
        let row: (String, String, String, String, String) = with_connection!(tx.connection(), c => {
            sqlx::query_as("SELECT id_number, id_number_index, phone, bank_account, address FROM residents")
                .fetch_one(&mut *c).await.unwrap()
        });
        let stored = format!("{row:?}");
        let r = resident(7);
        for secret in [r.id_number.as_str(), r.phone.as_deref().unwrap(), r.bank_account.as_deref().unwrap(), "银城中路"] {
            assert!(!stored.contains(secret), "{secret} stored in the clear");
        }
        // The wrapped keys are not the keys: nothing in tenant_keys opens a record without the master key.
        let wrong = Keyring::new(Arc::new(LocalMasterKeys::parse("00112233445566778899aabbccddeeff").unwrap()));
        let mut tx = t.db.begin_read(&scope(LUJIAZUI)).await.unwrap();
        assert!(matches!(list(&mut tx, &wrong, None, 10).await, Err(civitas_people::PeopleError::Vault(VaultError::UnknownMasterKey(_)))));
    }

    async fn residents_are_found_by_blind_index_within_the_scope_only(t) {
        let keyring = setup(&t.db, MASTER).await;
        register_one(&t.db, &keyring, LUJIAZUI, 1).await;
        register_one(&t.db, &keyring, LUJIAZUI, 2).await;
        register_one(&t.db, &keyring, HUANGPU, 1).await; // same person, registered in Huangpu too

        let mut tx = t.db.begin_read(&scope(PUDONG)).await.unwrap();
        let found = find_by_id_number(&mut tx, &keyring, &id_number(1)).await.unwrap();
        assert_eq!(found.len(), 1, "the district sees its street's record, not Huangpu's");
        assert_eq!(found[0].tenant_path, LUJIAZUI);
        let by_phone = find_by_phone(&mut tx, &keyring, "+86 138-0000-0002").await.unwrap();
        assert_eq!(by_phone.len(), 1);
        assert_eq!(by_phone[0].view().phone.as_deref(), Some("138****0002"));

        let mut city = t.db.begin_read(&scope("310000")).await.unwrap();
        assert_eq!(find_by_id_number(&mut city, &keyring, &id_number(1)).await.unwrap().len(), 2);
        assert!(find_by_id_number(&mut city, &keyring, &id_number(3)).await.unwrap().is_empty());
    }

    async fn views_are_masked_and_a_full_view_is_audited(t) {
        let keyring = setup(&t.db, MASTER).await;
        let id = register_one(&t.db, &keyring, LUJIAZUI, 5).await;
        let mut tx = t.db.begin_read(&scope(PUDONG)).await.unwrap();
        let masked = get(&mut tx, &keyring, &id).await.unwrap().unwrap().view();
        assert!(masked.masked);
        assert_eq!(masked.id_number, format!("310***********{}", &id_number(5).as_str()[14..]));
        assert_eq!(masked.phone.as_deref(), Some("138****0005"));
        assert_eq!(masked.bank_account.as_deref(), Some("6222***********0005"));
        assert_eq!(masked.address.as_deref(), Some("上海市浦东新区****"));
        assert_eq!(masked.name, "张**");
        drop(tx);

        let before = civitas_audit::count(&t.db, Some(&path(LUJIAZUI))).await.unwrap();
        let mut tx = t.db.begin(&scope(PUDONG)).await.unwrap();
        let full = reveal(&mut tx, &keyring, &id, "pudong-reviewer", "case 42 review").await.unwrap().unwrap();
        tx.commit().await.unwrap();
        assert!(!full.masked);
        assert_eq!(full.id_number, id_number(5).as_str());
        assert_eq!(civitas_audit::count(&t.db, Some(&path(LUJIAZUI))).await.unwrap(), before + 1);
        let mut out = Vec::new();
        civitas_audit::export(&t.db, Some(&path(LUJIAZUI)), chrono::DateTime::UNIX_EPOCH, chrono::Utc::now() + chrono::Duration::hours(1), &mut out).await.unwrap();
        let last = String::from_utf8(out).unwrap().lines().last().unwrap().to_owned();
        assert!(last.contains("personal_data.reveal") && last.contains("pudong-reviewer") && last.contains(&id), "{last}");
        assert!(!last.contains(id_number(5).as_str()), "the audit record must not hold the data it reveals");

        // Out of scope: Huangpu cannot reveal a Pudong resident.
        let mut tx = t.db.begin(&scope(HUANGPU)).await.unwrap();
        assert!(reveal(&mut tx, &keyring, &id, "huangpu-reviewer", "curious").await.unwrap().is_none());
    }

    async fn a_sealed_value_moved_to_another_record_does_not_open(t) {
        let keyring = setup(&t.db, MASTER).await;
        let a = register_one(&t.db, &keyring, LUJIAZUI, 1).await;
        register_one(&t.db, &keyring, HUANGPU, 2).await;
        // Copy Huangpu's sealed phone into the Lujiazui record.
        let mut tx = t.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE residents SET phone = (SELECT phone FROM residents WHERE tenant_path = $1) WHERE id = $2")
                .bind(HUANGPU).bind(a.clone()).execute(&mut *c).await.unwrap();
        });
        tx.commit().await.unwrap();
        let mut tx = t.db.begin_read(&scope(LUJIAZUI)).await.unwrap();
        let err = get(&mut tx, &keyring, &a).await.unwrap_err();
        assert!(err.to_string().contains("tampered"), "{err}");
    }

    async fn rotation_under_concurrent_writes_loses_nothing(t) {
        let keyring = setup(&t.db, MASTER).await;
        let mut expected = std::collections::BTreeMap::new();
        for n in 0..60 {
            let id = register_one(&t.db, &keyring, LUJIAZUI, n).await;
            expected.insert(id, (n, format!("138{:08}", n)));
        }

        // Writers register new residents and change phones while the key rotates.
        let writers: Vec<_> = (0..4u32)
            .map(|w| {
                let db = t.db.clone();
                let keyring = keyring.clone();
                let ids: Vec<String> = expected.keys().skip(w as usize * 15).take(15).cloned().collect();
                tokio::spawn(async move {
                    let mut written = Vec::new();
                    for (i, id) in ids.iter().enumerate() {
                        let n = 1000 + w * 100 + i as u32;
                        let new_id = register_one(&db, &keyring, LUJIAZUI, n).await;
                        written.push((new_id, n, format!("138{:08}", n)));
                        let phone = format!("139{:08}", n);
                        let mut tx = db.begin(&scope(LUJIAZUI)).await.unwrap();
                        assert!(update_contact(&mut tx, &keyring, id, &ContactChange { phone: Some(phone.clone()), ..Default::default() }).await.unwrap());
                        tx.commit().await.unwrap();
                        written.push((id.clone(), u32::MAX, phone));
                        tokio::task::yield_now().await;
                    }
                    written
                })
            })
            .collect();
        let rotation = rotate(&t.db, &keyring, &path(LUJIAZUI), &[PROTECTED], |_, _| {}).await.unwrap();
        for writer in writers {
            for (id, n, phone) in writer.await.unwrap() {
                match expected.get_mut(&id) {
                    Some(entry) => entry.1 = phone,
                    None => { expected.insert(id, (n, phone)); }
                }
            }
        }
        assert_eq!(rotation.active_version, 2);
        assert_eq!(rotation.retired_versions, vec![1]);

        // Every record is there, on the new key, and opens with what was last written.
        let mut tx = t.db.begin_read(&scope(LUJIAZUI)).await.unwrap();
        let all = list(&mut tx, &keyring, None, 1000).await.unwrap();
        assert_eq!(all.len(), expected.len());
        for r in &all {
            let (_, phone) = &expected[&r.id];
            let full = format!("{:?}", r.view()); // opens every field
            assert!(!full.is_empty());
            let mut w = t.db.begin(&scope(LUJIAZUI)).await.unwrap();
            let shown = reveal(&mut w, &keyring, &r.id, "test", "verify rotation").await.unwrap().unwrap();
            assert_eq!(shown.phone.as_deref(), Some(phone.as_str()), "resident {}", r.id);
        }
        let versions: Vec<i64> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT DISTINCT key_version FROM residents").fetch_all(&mut *c).await.unwrap()
        });
        assert_eq!(versions, vec![2]);
        // The old key is destroyed: only the active one remains usable.
        let keys = civitas_vault::list(&t.db, &path(LUJIAZUI)).await.unwrap();
        // Lujiazui's own keys: the communities and the unit below it keep theirs.
        let data: Vec<_> = keys.iter().filter(|k| k.purpose == "data" && k.tenant_path == LUJIAZUI).map(|k| (k.version, k.state.as_str())).collect();
        assert_eq!(data, vec![(1, "retired"), (2, "active")]);
    }

    async fn a_new_master_key_rewraps_and_the_old_one_can_then_go(t) {
        let keyring = setup(&t.db, MASTER).await;
        let id = register_one(&t.db, &keyring, LUJIAZUI, 9).await;
        let new_master = "00112233445566778899aabbccddeeff";
        let both = Keyring::new(Arc::new(LocalMasterKeys::parse(&format!("{new_master}\n{MASTER}")).unwrap()));
        let report = rotate(&t.db, &both, &path(LUJIAZUI), &[PROTECTED], |_, _| {}).await.unwrap();
        assert_eq!(report.rewrapped, 1, "the data key of Lujiazui");
        assert_eq!(civitas_vault::rewrap(&t.db, &both, &path("310000")).await.unwrap(), 2, "Shanghai's data and index keys");
        // Only the new master key now.
        let only_new = Keyring::new(Arc::new(LocalMasterKeys::parse(new_master).unwrap()));
        let mut tx = t.db.begin_read(&scope(LUJIAZUI)).await.unwrap();
        assert_eq!(get(&mut tx, &only_new, &id).await.unwrap().unwrap().view().phone.as_deref(), Some("138****0009"));
        assert_eq!(find_by_id_number(&mut tx, &only_new, &id_number(9)).await.unwrap().len(), 1);
    }

    async fn overlapping_rotations_of_one_tenant_lose_nothing(t) {
        let keyring = setup(&t.db, MASTER).await;
        let mut ids = Vec::new();
        for n in 0..40 {
            ids.push(register_one(&t.db, &keyring, LUJIAZUI, n).await);
        }
        let lujiazui = path(LUJIAZUI);
        let (a, b, c) = tokio::join!(
            rotate(&t.db, &keyring, &lujiazui, &[PROTECTED], |_, _| {}),
            rotate(&t.db, &keyring, &lujiazui, &[PROTECTED], |_, _| {}),
            rotate(&t.db, &keyring, &lujiazui, &[PROTECTED], |_, _| {}),
        );
        // Each finished, was superseded, or lost a race to start; none destroyed a key in use.
        for result in [a, b, c] {
            if let Err(e) = result {
                assert!(matches!(e, VaultError::RotationSuperseded(_) | VaultError::Storage(_)), "{e}");
            }
        }
        rotate(&t.db, &keyring, &lujiazui, &[PROTECTED], |_, _| {}).await.unwrap();
        let fresh = Keyring::new(Arc::new(LocalMasterKeys::parse(MASTER).unwrap()));
        let mut tx = t.db.begin_read(&scope(LUJIAZUI)).await.unwrap();
        for (n, id) in ids.iter().enumerate() {
            let resident = get(&mut tx, &fresh, id).await.unwrap().unwrap();
            assert_eq!(resident.view().phone, Some(format!("138****{:04}", n)));
        }
    }

    async fn a_duplicate_registration_is_refused(t) {
        let keyring = setup(&t.db, MASTER).await;
        register_one(&t.db, &keyring, LUJIAZUI, 1).await;
        let mut tx = t.db.begin(&scope(LUJIAZUI)).await.unwrap();
        let err = register(&mut tx, &keyring, &path(LUJIAZUI), &resident(1)).await.unwrap_err();
        assert!(matches!(err, civitas_people::PeopleError::Duplicate), "{err}");
    }
}
