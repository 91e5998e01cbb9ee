//! When a failed delivery is tried again: a pure function of the attempts
//! made, so the schedule is tested without a clock.

/// How many attempts a delivery gets before it is given up (`failed`).
pub const MAX_ATTEMPTS: i32 = 6;

/// How long a node may take to send one delivery before another node
/// takes it over (the sender died), unless the notifier is given another
/// ([`crate::Notifier::with_lease`]): twice the gateways' timeouts, so a
/// slow answer is never taken over while it may still come.
pub const LEASE_MICROS: i64 = 60_000_000;

/// The wait before attempt `attempts + 1`, after `attempts` failed ones:
/// 30 s, 2 min, 10 min, 30 min, 2 h — growing so a gateway that is down
/// for an afternoon is not hammered, and a short blip costs half a minute.
/// None once [`MAX_ATTEMPTS`] were made.
pub fn backoff_micros(attempts: i32) -> Option<i64> {
    const SECONDS: [i64; 5] = [30, 120, 600, 1_800, 7_200];
    if !(1..MAX_ATTEMPTS).contains(&attempts) {
        return None;
    }
    let i = usize::try_from(attempts - 1).ok()?;
    SECONDS.get(i).map(|s| s * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_end_after_the_last_attempt() {
        let waits: Vec<Option<i64>> = (1..=MAX_ATTEMPTS).map(backoff_micros).collect();
        assert_eq!(
            waits,
            [
                Some(30_000_000),
                Some(120_000_000),
                Some(600_000_000),
                Some(1_800_000_000),
                Some(7_200_000_000),
                None
            ]
        );
        assert_eq!(backoff_micros(0), None);
    }
}
