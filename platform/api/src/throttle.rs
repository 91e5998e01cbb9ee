//! Per-source-address limits on the work anyone may ask for without a
//! credential: failed sign-ins, registrations and refused API keys.
//!
//! Each limit is a sliding window: at most `max` events from one address
//! within `window`. An attempt takes its place in every window it counts
//! in *before* the work is done, so parallel attempts cannot overshoot; a
//! sign-in or key that turns out good gives its place back, so only
//! failures stay counted. Over a limit the answer is 429
//! `too_many_requests` with `Retry-After`, before any password derivation
//! or database access.
//!
//! Sign-in failures are limited per address and per (address, name): the
//! latter admits one failure fewer than the account lockout within the
//! lockout window, so one address cannot lock an account out at will
//! (several addresses can: against them the lockout is the defence). The
//! windows live in this process: a deployment of several nodes without
//! source affinity admits as many times more.
//!
//! Why not `governor` / `tower_governor`: their GCRA limiters count every
//! request and cannot hand a cell back, which counting only failures
//! needs, and a GCRA bucket admits its burst plus its refill within a
//! window rather than a fixed maximum, which keeping below the lockout
//! needs. A window of instants per key does both in a few lines.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use civitas_identity::{KeyError, RefusalCause, RefusedKeys, SignInSettings};
use civitas_storage::Database;
use civitas_tenancy::TenantPath;

use crate::AppState;
use crate::error::ApiError;

/// How many of each kind of unauthenticated work one source address may
/// ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failed sign-ins from one address, on every name together, within
    /// the lockout window (default 20). On one name an address may fail
    /// one time fewer than the lockout threshold, whatever this says.
    pub sign_in_failures: u32,
    /// Registration attempts from one address per hour, successful or not
    /// (default 20).
    pub registrations: u32,
    /// Refused API keys from one address per minute (default 20).
    pub key_failures: u32,
    /// Documents verified from one address per minute, valid or not
    /// (default 30): verification is public and each costs an SM3 of up to
    /// 20 MB and three SM2 verifications.
    pub verifications: u32,
}

impl Default for ThrottleSettings {
    fn default() -> ThrottleSettings {
        ThrottleSettings {
            sign_in_failures: 20,
            registrations: 20,
            key_failures: 20,
            verifications: 30,
        }
    }
}

/// The window registrations are counted in.
const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);

/// The window verifications are counted in.
const VERIFICATION_WINDOW: Duration = Duration::from_secs(60);

/// The window refused API keys are counted in.
const KEY_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The lockout window when the sign-in settings give none that fits.
const DEFAULT_SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// At most this many windows are kept (a few tens of megabytes). Past it,
/// after forgetting idle ones, new keys go uncounted: an attacker with
/// that many addresses is beyond what per-address limits can stop, and
/// refusing everyone new would finish the attack for them.
const WINDOWS_MAX: usize = 200_000;

/// What a window counts, and for whom (`None`: the source is unknown — a
/// garbled `X-Forwarded-For` from a trusted proxy — and all such share).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Bucket {
    SignIn(Option<IpAddr>),
    SignInName(Option<IpAddr>, String),
    Registration(Option<IpAddr>),
    Key(Option<IpAddr>),
    Verification(Option<IpAddr>),
}

#[derive(Debug)]
struct Window {
    length: Duration,
    hits: VecDeque<Instant>,
}

impl Window {
    fn expire(&mut self, now: Instant) {
        while self
            .hits
            .front()
            .is_some_and(|hit| now.saturating_duration_since(*hit) >= self.length)
        {
            self.hits.pop_front();
        }
    }
}

/// The places an attempt took; given back when it succeeds.
#[must_use = "a ticket is given back on success, or kept to count a failure"]
#[derive(Debug)]
pub(crate) struct Ticket {
    taken: Vec<(Bucket, Instant)>,
}

/// The per-address limits and the tally of refused API keys, shared by
/// every request of this process. `serve` calls [`Throttle::flush`]
/// periodically and at shutdown.
pub struct Throttle {
    settings: ThrottleSettings,
    windows: Mutex<HashMap<Bucket, Window>>,
    refused_keys: RefusedKeys,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("settings", &self.settings)
            .field("refused_keys_pending", &self.refused_keys.pending())
            .finish_non_exhaustive()
    }
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(ThrottleSettings::default())
    }
}

impl Throttle {
    /// Limits as `settings` say, nothing counted yet.
    pub fn new(settings: ThrottleSettings) -> Throttle {
        Throttle {
            settings,
            windows: Mutex::new(HashMap::new()),
            refused_keys: RefusedKeys::default(),
        }
    }

    /// Writes the refused API keys counted since the last flush as one
    /// audit record in `realm`'s chain (see [`RefusedKeys::flush`]) and
    /// forgets windows with nothing left in them. Returns how many refusals
    /// the record covers.
    pub async fn flush(&self, db: &Database, realm: &TenantPath) -> Result<u64, KeyError> {
        self.forget_idle(Instant::now());
        self.refused_keys.flush(db, realm).await
    }

    /// The tally of refused API keys.
    pub(crate) fn refused_keys(&self) -> &RefusedKeys {
        &self.refused_keys
    }

    /// A sign-in attempt on `name` from `source`, under the lockout of
    /// `sign_in`.
    pub(crate) fn sign_in(
        &self,
        source: Option<IpAddr>,
        name: &str,
        sign_in: &SignInSettings,
    ) -> Result<Ticket, ApiError> {
        let window = sign_in
            .lock_for
            .to_std()
            .ok()
            .filter(|w| !w.is_zero())
            .unwrap_or(DEFAULT_SIGN_IN_WINDOW);
        // One fewer than locks the name; a threshold of 1 cannot be kept
        // below (any failure locks).
        let per_name = u32::try_from(sign_in.max_failures.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .max(1);
        let name: String = name.chars().take(64).collect();
        self.take(
            &[
                (
                    Bucket::SignIn(source),
                    self.settings.sign_in_failures,
                    window,
                ),
                (Bucket::SignInName(source, name), per_name, window),
            ],
            Instant::now(),
        )
        .map_err(too_many_requests)
    }

    /// A registration attempt from `source`.
    pub(crate) fn registration(&self, source: Option<IpAddr>) -> Result<Ticket, ApiError> {
        self.take(
            &[(
                Bucket::Registration(source),
                self.settings.registrations,
                REGISTRATION_WINDOW,
            )],
            Instant::now(),
        )
        .map_err(too_many_requests)
    }

    /// A document verified for `source` (every one counts).
    pub(crate) fn verification(&self, source: Option<IpAddr>) -> Result<Ticket, ApiError> {
        self.take(
            &[(
                Bucket::Verification(source),
                self.settings.verifications,
                VERIFICATION_WINDOW,
            )],
            Instant::now(),
        )
        .map_err(too_many_requests)
    }

    /// An API key presented from `source`; a refusal here is counted in
    /// the refused-key tally too.
    pub(crate) fn api_key(&self, source: Option<IpAddr>) -> Result<Ticket, ApiError> {
        self.take(
            &[(
                Bucket::Key(source),
                self.settings.key_failures,
                KEY_FAILURE_WINDOW,
            )],
            Instant::now(),
        )
        .map_err(|wait| {
            self.refused_keys
                .note(RefusalCause::Throttled, None, source, chrono::Utc::now());
            too_many_requests(wait)
        })
    }

    /// Gives back the places of an attempt that succeeded (or failed for a
    /// reason that is not the caller's, such as the database).
    pub(crate) fn give_back(&self, ticket: Ticket) {
        let mut windows = self.windows();
        for (bucket, at) in ticket.taken {
            if let Some(window) = windows.get_mut(&bucket) {
                if let Some(position) = window.hits.iter().rposition(|hit| *hit == at) {
                    window.hits.remove(position);
                }
                if window.hits.is_empty() {
                    windows.remove(&bucket);
                }
            }
        }
    }

    /// Takes a place in each of `limits` (bucket, max, window) at `now`,
    /// or none if any is full: then how long until its oldest place frees.
    fn take(&self, limits: &[(Bucket, u32, Duration)], now: Instant) -> Result<Ticket, Duration> {
        let mut windows = self.windows();
        let mut wait: Option<Duration> = None;
        for (bucket, max, length) in limits {
            let max = usize::try_from(*max).unwrap_or(usize::MAX);
            let full_until = match windows.get_mut(bucket) {
                Some(window) => {
                    window.expire(now);
                    (window.hits.len() >= max).then(|| {
                        window.hits.front().map_or(*length, |oldest| {
                            length.saturating_sub(now.saturating_duration_since(*oldest))
                        })
                    })
                }
                None => (max == 0).then_some(*length),
            };
            wait = wait.max(full_until);
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if windows.len() + limits.len() > WINDOWS_MAX {
            windows.retain(|_, window| {
                window.expire(now);
                !window.hits.is_empty()
            });
            if windows.len() + limits.len() > WINDOWS_MAX {
                tracing::warn!(
                    windows = windows.len(),
                    "too many sources to throttle: this attempt goes uncounted"
                );
                return Ok(Ticket { taken: Vec::new() });
            }
        }
        let mut taken = Vec::with_capacity(limits.len());
        for (bucket, _, length) in limits {
            windows
                .entry(bucket.clone())
                .or_insert_with(|| Window {
                    length: *length,
                    hits: VecDeque::new(),
                })
                .hits
                .push_back(now);
            taken.push((bucket.clone(), now));
        }
        Ok(Ticket { taken })
    }

    fn forget_idle(&self, now: Instant) {
        self.windows().retain(|_, window| {
            window.expire(now);
            !window.hits.is_empty()
        });
    }

    fn windows(&self) -> MutexGuard<'_, HashMap<Bucket, Window>> {
        // A panic while counting leaves counts at worst one off.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// 429 `too_many_requests`, to retry after `wait` (whole seconds, at least
/// one).
fn too_many_requests(wait: Duration) -> ApiError {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!("来自此地址的尝试过多，请 {seconds} 秒后再试"),
        format!("Too many attempts from this address; try again in {seconds} seconds"),
    )
    .with_retry_after(seconds)
}

/// The client's address (the peer, or what a trusted proxy forwarded; see
/// [`crate::access::client_address`]); `None` when it cannot be told.
pub(crate) struct Source(pub(crate) Option<IpAddr>);

impl Source {
    /// The source of the request `parts` belong to.
    pub(crate) fn of(parts: &Parts, state: &AppState) -> Source {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Source(crate::access::client_address(
            peer,
            &parts.headers,
            state.trusted_proxies(),
        ))
    }
}

impl FromRequestParts<AppState> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Source, Self::Rejection> {
        Ok(Source::of(parts, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_window_admits_its_maximum_then_says_when_a_place_frees() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        let limit = |who: &str| [(Bucket::Key(ip(who)), 3, Duration::from_secs(60))];
        for i in 0..3 {
            let _kept = throttle
                .take(&limit("192.0.2.1"), t0 + Duration::from_secs(i))
                .unwrap();
        }
        let wait = throttle
            .take(&limit("192.0.2.1"), t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(50),
            "the oldest place frees at 60 s"
        );
        // Another address is not affected; the first one is again later.
        let _kept = throttle.take(&limit("192.0.2.2"), t0).unwrap();
        let _kept = throttle
            .take(&limit("192.0.2.1"), t0 + Duration::from_secs(60))
            .unwrap();
    }

    #[test]
    fn a_place_given_back_is_free_again_and_a_full_window_takes_nothing() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        let both = [
            (Bucket::SignIn(ip("192.0.2.1")), 2, window),
            (Bucket::SignInName(ip("192.0.2.1"), "a".into()), 1, window),
        ];
        let first = throttle.take(&both, t0).unwrap();
        // The name's window is full: nothing is taken from the address's.
        throttle.take(&both, t0).unwrap_err();
        throttle.give_back(first);
        let _kept = throttle.take(&both, t0).unwrap();
        let other = [
            (Bucket::SignIn(ip("192.0.2.1")), 2, window),
            (Bucket::SignInName(ip("192.0.2.1"), "b".into()), 1, window),
        ];
        let _kept = throttle.take(&other, t0).unwrap();
        // Two failures from the address in all: a third name is refused.
        let third = [
            (Bucket::SignIn(ip("192.0.2.1")), 2, window),
            (Bucket::SignInName(ip("192.0.2.1"), "c".into()), 1, window),
        ];
        throttle.take(&third, t0).unwrap_err();
        throttle.forget_idle(t0 + window);
        assert!(throttle.windows().is_empty());
    }

    #[test]
    fn the_answer_is_429_with_whole_seconds_to_wait() {
        let error = too_many_requests(Duration::from_millis(1500));
        assert_eq!(
            (error.status, error.code),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
        );
        assert!(
            error.message.en.contains("2 seconds"),
            "{}",
            error.message.en
        );
        let response = axum::response::IntoResponse::into_response(error);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "2");
    }
}
