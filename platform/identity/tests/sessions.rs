//! Sessions and tokens: SM2-signed access tokens, rotating refresh tokens,
//! idle and absolute timeouts, sign-out that holds at the next request —
//! on SQLite and PostgreSQL.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use civitas_crypto::sm2::PrivateKey;
use civitas_identity::{
    Account, AccountKind, NewAccount, SessionSettings, SignInSettings, TokenError, check_session,
    create_account, decode_access, forget_spent_refresh_tokens, open_session, refresh, revoke,
};
use civitas_storage::Database;
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;

async fn account(db: &Database) -> Account {
    let mut settings = SignInSettings::new(TenantPath::parse("310000").unwrap());
    settings.iterations = civitas_crypto::password::MIN_ITERATIONS;
    create_account(
        db,
        &settings,
        &NewAccount {
            username: "lujiazui-officer".into(),
            kind: AccountKind::Staff,
            tenant_path: TenantPath::parse("310000/310115/310115005").unwrap(),
            line: Some("civil-affairs".into()),
            display_name: "陆家嘴民政专员".into(),
            password: "Civitas#2026".into(),
            must_change_password: false,
        },
        "sec-admin",
    )
    .await
    .unwrap()
}

both_backends! {
    async fn an_access_token_names_its_bearer_and_checks_with_the_public_key(t) {
        let key = PrivateKey::generate().unwrap();
        let account = account(&t.db).await;
        let now = Utc::now();
        let tokens = open_session(&t.db, &key, &account, &SessionSettings::default(), now).await.unwrap();
        let claims = decode_access(&key.public_key(), &tokens.access_token, now).unwrap();
        assert_eq!((claims.usr.as_str(), claims.ten.as_str(), claims.line.as_deref()), ("lujiazui-officer", "310000/310115/310115005", Some("civil-affairs")));
        check_session(&t.db, &claims, &SessionSettings::default(), now).await.unwrap();

        // Signed by another key, tampered with, or not a token at all.
        let other = PrivateKey::generate().unwrap();
        assert!(matches!(decode_access(&other.public_key(), &tokens.access_token, now), Err(TokenError::BadSignature)));
        let mut parts: Vec<&str> = tokens.access_token.split('.').collect();
        let forged_payload = base64_of(&format!(r#"{{"sub":"{}","usr":"city-admin","kind":"staff","ten":"310000","line":null,"sid":"{}","iat":0,"exp":9999999999}}"#, claims.sub, claims.sid));
        parts[1] = &forged_payload;
        assert!(matches!(decode_access(&key.public_key(), &parts.join("."), now), Err(TokenError::BadSignature)));
        for garbage in ["", "v1..", "v2.a.b", "Bearer x", "v1.e30.AAAA"] {
            assert!(decode_access(&key.public_key(), garbage, now).is_err(), "{garbage}");
        }
        // Expired after five minutes.
        assert!(matches!(decode_access(&key.public_key(), &tokens.access_token, now + Duration::minutes(6)), Err(TokenError::Expired)));
    }

    async fn a_refresh_token_works_once(t) {
        let key = PrivateKey::generate().unwrap();
        let account = account(&t.db).await;
        let now = Utc::now();
        let settings = SessionSettings::default();
        let first = open_session(&t.db, &key, &account, &settings, now).await.unwrap();
        // A token never issued — even one naming the real session, whose id
        // every access token shows — is refused and ends nothing.
        let forged = format!("{}.{}", first.session_id, "A".repeat(43));
        for wrong in [forged.as_str(), "nonsense", "no-such-session.AAAA"] {
            assert!(matches!(refresh(&t.db, &key, wrong, &settings, now).await, Err(TokenError::UnknownRefresh)), "{wrong}");
        }
        let claims = decode_access(&key.public_key(), &first.access_token, now).unwrap();
        check_session(&t.db, &claims, &settings, now).await.unwrap();
        let second = refresh(&t.db, &key, &first.refresh_token, &settings, now + Duration::minutes(4)).await.unwrap();
        assert_eq!(second.session_id, first.session_id);
        assert!(decode_access(&key.public_key(), &second.access_token, now + Duration::minutes(8)).is_ok());
        // A spent refresh token coming back means it was copied: the session ends for both.
        assert!(matches!(refresh(&t.db, &key, &first.refresh_token, &settings, now).await, Err(TokenError::Revoked)), "the old refresh token is spent");
        assert!(matches!(refresh(&t.db, &key, &second.refresh_token, &settings, now).await, Err(TokenError::Revoked)), "reuse revoked the session");
        assert!(matches!(check_session(&t.db, &claims, &settings, now).await, Err(TokenError::Revoked)));
        // Spent tokens of ended sessions are forgotten.
        assert_eq!(forget_spent_refresh_tokens(&t.db, now).await.unwrap(), 1);
    }

    async fn a_token_spent_several_refreshes_ago_still_ends_the_session(t) {
        let key = PrivateKey::generate().unwrap();
        let account = account(&t.db).await;
        let now = Utc::now();
        let settings = SessionSettings::default();
        let stolen = open_session(&t.db, &key, &account, &settings, now).await.unwrap();
        // The thief refreshes first, twice; the owner's copy then comes back.
        let mut latest = refresh(&t.db, &key, &stolen.refresh_token, &settings, now).await.unwrap();
        latest = refresh(&t.db, &key, &latest.refresh_token, &settings, now).await.unwrap();
        assert!(matches!(refresh(&t.db, &key, &stolen.refresh_token, &settings, now).await, Err(TokenError::Revoked)));
        assert!(matches!(refresh(&t.db, &key, &latest.refresh_token, &settings, now).await, Err(TokenError::Revoked)), "the thief's session ended too");
        assert_eq!(forget_spent_refresh_tokens(&t.db, now).await.unwrap(), 2);
    }

    async fn sign_out_holds_at_the_next_request(t) {
        let key = PrivateKey::generate().unwrap();
        let account = account(&t.db).await;
        let now = Utc::now();
        let settings = SessionSettings::default();
        let tokens = open_session(&t.db, &key, &account, &settings, now).await.unwrap();
        let claims = decode_access(&key.public_key(), &tokens.access_token, now).unwrap();
        revoke(&t.db, &claims, now).await.unwrap();
        // The token itself still verifies; the session check refuses it.
        assert!(decode_access(&key.public_key(), &tokens.access_token, now).is_ok());
        assert!(matches!(check_session(&t.db, &claims, &settings, now).await, Err(TokenError::Revoked)));
        assert!(matches!(refresh(&t.db, &key, &tokens.refresh_token, &settings, now).await, Err(TokenError::Revoked)));
        let mut out = Vec::new();
        civitas_audit::export(&t.db, None, chrono::DateTime::UNIX_EPOCH, now + Duration::hours(1), &mut out).await.unwrap();
        assert!(String::from_utf8(out).unwrap().contains("auth.logout"));
    }

    async fn sessions_end_when_idle_and_at_their_lifetime(t) {
        let key = PrivateKey::generate().unwrap();
        let account = account(&t.db).await;
        let t0 = Utc::now();
        let settings = SessionSettings::default();
        let idle = open_session(&t.db, &key, &account, &settings, t0).await.unwrap();
        let claims = decode_access(&key.public_key(), &idle.access_token, t0).unwrap();
        check_session(&t.db, &claims, &settings, t0 + Duration::minutes(29)).await.unwrap();
        assert!(matches!(check_session(&t.db, &claims, &settings, t0 + Duration::minutes(29 + 31)).await, Err(TokenError::SessionExpired)));

        // Active every 20 minutes: still ends at 8 hours.
        let busy = open_session(&t.db, &key, &account, &settings, t0).await.unwrap();
        let claims = decode_access(&key.public_key(), &busy.access_token, t0).unwrap();
        let mut at = t0;
        while at < t0 + Duration::hours(8) - Duration::minutes(20) {
            at += Duration::minutes(20);
            check_session(&t.db, &claims, &settings, at).await.unwrap();
        }
        assert!(matches!(check_session(&t.db, &claims, &settings, t0 + Duration::hours(8)).await, Err(TokenError::SessionExpired)));
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

mod one_time_passwords {
    use super::*;

    both_backends! {
        async fn tokens_carry_the_must_change_flag_until_a_refresh_after_the_change(t) {
            let key = PrivateKey::generate().unwrap();
            let mut sign_in = SignInSettings::new(TenantPath::parse("310000").unwrap());
            sign_in.iterations = civitas_crypto::password::MIN_ITERATIONS;
            let account = create_account(&t.db, &sign_in, &NewAccount {
                username: "audit-admin".into(), kind: AccountKind::Staff, tenant_path: TenantPath::parse("310000").unwrap(),
                line: None, display_name: "审计管理员".into(), password: "Once#Only2026".into(), must_change_password: true,
            }, "system").await.unwrap();
            let now = Utc::now();
            let settings = SessionSettings::default();
            let tokens = open_session(&t.db, &key, &account, &settings, now).await.unwrap();
            assert!(tokens.must_change_password);
            assert!(decode_access(&key.public_key(), &tokens.access_token, now).unwrap().pwd);
            civitas_identity::change_password(&t.db, &sign_in, "audit-admin", "Once#Only2026", "Mine#Now2026", Some(&tokens.session_id)).await.unwrap();
            let refreshed = refresh(&t.db, &key, &tokens.refresh_token, &settings, now).await.unwrap();
            assert!(!refreshed.must_change_password);
            assert!(!decode_access(&key.public_key(), &refreshed.access_token, now).unwrap().pwd);
        }
    }
}
