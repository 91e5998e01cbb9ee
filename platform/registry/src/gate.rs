//! Confinement of a module version that hangs for one tenant.
//!
//! A call that runs out of fuel or time has burned a core for the whole of
//! its limit. When one tenant's requests keep reaching such an input (a
//! module bug on that district's data or settings), letting every one of
//! them run at once would give that tenant the machine and slow every other
//! tenant's calls. So the first such failure *confines* the lane — the
//! calling tenant and the module version — for [`CONFINE_FOR`]: its calls
//! then run one at a time (others of the lane wait at most [`QUEUE_WAIT`]
//! and are answered `module_calls_confined`, 503), while every other lane
//! keeps running unconfined. Each further hang extends the
//! confinement; a lane quiet for [`CONFINE_FOR`] is free again.
//!
//! Keyed by the calling tenant and not the binding: a version bound at the
//! city for every district may hang on one district's data only, and the
//! others must not pay for it. Nothing is kept for a lane that never hung,
//! and a call checks one atomic counter while no lane is confined.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use civitas_tenancy::TenantPath;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bindings::ModuleRef;

/// How long a lane stays confined after its last call that ran out of fuel
/// or time.
pub const CONFINE_FOR: Duration = Duration::from_secs(30);

/// How long a single call of a confined lane waits for the lane's one slot
/// before it is answered `module_calls_confined`. A batch input waits as
/// long as it takes (a batch is not someone at a counter).
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);

/// A lane: the tenant a call serves and the module version it runs,
/// borrowed from the call, so that a call allocates nothing for the gate
/// while no lane is confined.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lane<'a> {
    /// The calling tenant.
    pub(crate) tenant: &'a TenantPath,
    /// The module version.
    pub(crate) module: &'a ModuleRef,
}

/// A lane as the gate keeps it.
type LaneKey = (TenantPath, ModuleRef);

impl Lane<'_> {
    fn key(self) -> LaneKey {
        (self.tenant.clone(), self.module.clone())
    }

    fn is(self, key: &LaneKey) -> bool {
        key.0 == *self.tenant && key.1 == *self.module
    }
}

/// The confined lanes of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// How many lanes are in `confined` (checked before taking the lock).
    count: AtomicUsize,
    confined: Mutex<HashMap<LaneKey, Confinement>>,
}

#[derive(Debug)]
struct Confinement {
    until: Instant,
    /// One permit: the lane's calls run one at a time.
    slot: Arc<Semaphore>,
}

/// What a call of a lane may do now.
#[derive(Debug)]
pub(crate) enum Admission {
    /// The lane is free: run at once.
    Free,
    /// The lane is confined: take its slot first.
    Confined(Arc<Semaphore>),
}

/// The slot a call of a confined lane holds while it runs (nothing for a
/// free lane).
#[derive(Debug)]
pub(crate) struct Entered {
    /// Held until the call ends, then returned by its drop.
    _slot: Option<OwnedSemaphorePermit>,
}

impl Gate {
    /// Whether a call of `lane` may run at once at `now`; forgets a
    /// confinement that has run out.
    pub(crate) fn admit(&self, lane: Lane<'_>, now: Instant) -> Admission {
        if self.count.load(Ordering::Acquire) == 0 {
            return Admission::Free;
        }
        let key = lane.key();
        let mut confined = self.confined.lock().unwrap_or_else(PoisonError::into_inner);
        match confined.get(&key) {
            Some(confinement) if confinement.until > now => {
                Admission::Confined(confinement.slot.clone())
            }
            Some(_) => {
                confined.remove(&key);
                self.count.store(confined.len(), Ordering::Release);
                Admission::Free
            }
            None => Admission::Free,
        }
    }

    /// Records that a call of `lane` ran out of fuel or time at `now`:
    /// confines the lane until [`CONFINE_FOR`] from now. Returns whether the
    /// lane was free before (for a log line once per confinement).
    pub(crate) fn confine(&self, lane: Lane<'_>, now: Instant) -> bool {
        let key = lane.key();
        let mut confined = self.confined.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget lanes whose confinement ran out and that were not called
        // since (a hang is rare, so this sweep is too).
        confined.retain(|other, c| c.until > now || lane.is(other));
        let until = now + CONFINE_FOR;
        let newly = match confined.get_mut(&key) {
            Some(confinement) if confinement.until > now => {
                confinement.until = until;
                false
            }
            Some(confinement) => {
                confinement.until = until;
                true
            }
            None => {
                confined.insert(
                    key,
                    Confinement {
                        until,
                        slot: Arc::new(Semaphore::new(1)),
                    },
                );
                true
            }
        };
        self.count.store(confined.len(), Ordering::Release);
        newly
    }

    /// How many lanes are confined at `now`.
    pub(crate) fn confined_lanes(&self, now: Instant) -> usize {
        if self.count.load(Ordering::Acquire) == 0 {
            return 0;
        }
        self.confined
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|c| c.until > now)
            .count()
    }

    /// Enters `lane` from async code: at once when free, else waits for the
    /// lane's slot at most `wait` (`None` when it did not come).
    pub(crate) async fn enter(&self, lane: Lane<'_>, wait: Duration) -> Option<Entered> {
        match self.admit(lane, Instant::now()) {
            Admission::Free => Some(Entered { _slot: None }),
            Admission::Confined(slot) => tokio::time::timeout(wait, slot.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|permit| Entered {
                    _slot: Some(permit),
                }),
        }
    }

    /// Enters `lane` from a blocking thread of the runtime (a batch worker),
    /// waiting for the slot as long as it takes.
    pub(crate) fn enter_blocking(&self, lane: Lane<'_>) -> Entered {
        match self.admit(lane, Instant::now()) {
            Admission::Free => Entered { _slot: None },
            Admission::Confined(slot) => match tokio::runtime::Handle::try_current() {
                // The semaphore is never closed, so acquiring only waits.
                Ok(handle) => Entered {
                    _slot: handle.block_on(slot.acquire_owned()).ok(),
                },
                // Outside a runtime (a synchronous caller) there is nothing
                // else to wait beside: run unconfined.
                Err(_) => Entered { _slot: None },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(tenant: &str) -> LaneKey {
        (
            TenantPath::parse(tenant).unwrap(),
            ModuleRef {
                module: "meal-subsidy".into(),
                version: "1.0.0".into(),
            },
        )
    }

    fn of(key: &LaneKey) -> Lane<'_> {
        Lane {
            tenant: &key.0,
            module: &key.1,
        }
    }

    #[test]
    fn a_lane_that_never_hung_is_free() {
        let gate = Gate::default();
        assert!(matches!(
            gate.admit(of(&lane("310000/310101")), Instant::now()),
            Admission::Free
        ));
        assert_eq!(gate.confined_lanes(Instant::now()), 0);
    }

    #[test]
    fn a_hang_confines_its_own_lane_only_and_for_a_while() {
        let gate = Gate::default();
        let start = Instant::now();
        let (huangpu, pudong) = (lane("310000/310101"), lane("310000/310115"));
        assert!(gate.confine(of(&huangpu), start), "the first hang confines");
        assert!(matches!(
            gate.admit(of(&huangpu), start + Duration::from_secs(1)),
            Admission::Confined(_)
        ));
        assert!(matches!(
            gate.admit(of(&pudong), start + Duration::from_secs(1)),
            Admission::Free
        ));
        let other_version = (
            huangpu.0.clone(),
            ModuleRef {
                module: "meal-subsidy".into(),
                version: "1.0.1".into(),
            },
        );
        assert!(matches!(
            gate.admit(of(&other_version), start),
            Admission::Free
        ));
        assert_eq!(gate.confined_lanes(start), 1);
        // Free again once CONFINE_FOR has passed since the last hang.
        assert!(matches!(
            gate.admit(of(&huangpu), start + CONFINE_FOR),
            Admission::Free
        ));
        assert_eq!(gate.confined_lanes(start + CONFINE_FOR), 0);
    }

    #[test]
    fn each_further_hang_extends_the_confinement() {
        let gate = Gate::default();
        let start = Instant::now();
        let huangpu = lane("310000/310101");
        assert!(gate.confine(of(&huangpu), start));
        assert!(
            !gate.confine(of(&huangpu), start + Duration::from_secs(20)),
            "already confined"
        );
        assert!(matches!(
            gate.admit(of(&huangpu), start + CONFINE_FOR + Duration::from_secs(10)),
            Admission::Confined(_)
        ));
        // A lane whose confinement ran out and hangs again is newly confined.
        assert!(gate.confine(of(&huangpu), start + Duration::from_secs(200)));
    }

    #[test]
    fn a_hang_forgets_the_lanes_whose_confinement_ran_out() {
        let gate = Gate::default();
        let start = Instant::now();
        gate.confine(of(&lane("310000/310101")), start);
        gate.confine(of(&lane("310000/310115")), start + CONFINE_FOR);
        assert_eq!(gate.confined.lock().unwrap().len(), 1);
        assert_eq!(gate.count.load(Ordering::Acquire), 1);
    }

    #[tokio::test]
    async fn a_confined_lane_runs_one_call_at_a_time_and_the_next_waits_at_most_the_wait() {
        let gate = Gate::default();
        let huangpu = lane("310000/310101");
        gate.confine(of(&huangpu), Instant::now());
        let first = gate.enter(of(&huangpu), QUEUE_WAIT).await;
        assert!(first.is_some());
        let second = gate.enter(of(&huangpu), Duration::from_millis(20)).await;
        assert!(second.is_none(), "the slot is held");
        let pudong = lane("310000/310115");
        assert!(
            gate.enter(of(&pudong), Duration::ZERO).await.is_some(),
            "another lane is free"
        );
        drop(first);
        assert!(
            gate.enter(of(&huangpu), Duration::from_millis(20))
                .await
                .is_some()
        );
    }
}
