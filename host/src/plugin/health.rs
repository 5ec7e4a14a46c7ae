//! How a slot's plugin has been doing, batch after batch, and what the slot should do
//! about it.
//!
//! - **Backoff.** A batch in which *every* record failed says little about the records and
//!   much about the plugin (a bug, a dependency it cannot reach, a version that cannot
//!   start). Each such batch in a row doubles a pause before the next one, from
//!   [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`], so that a broken plugin is not re-instantiated
//!   and isolated in a hot loop while it floods the dead-letter sink. One batch with a
//!   success ends the streak. A new version arriving ends the pause at once.
//! - **Rollback.** A hot-swapped version is on probation until a batch runs without a
//!   failure. If its first `rollback_after` batches each had a record fail, the slot goes
//!   back to the version it replaced. (Failed records of those batches have gone where the
//!   plugin's `on_failure` sends them, like any others.)

use std::time::Duration;

pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Generic over `V`, the version to roll back to (the slot's `Arc<CompiledPlugin>`).
pub struct Health<V> {
    /// Batches in a row in which every record failed.
    failing_streak: u32,
    probation: Option<Probation<V>>,
}

impl<V> Default for Health<V> {
    fn default() -> Self {
        Health { failing_streak: 0, probation: None }
    }
}

/// A version swapped in and not yet proven by a batch without failures.
struct Probation<V> {
    previous: V,
    failed_batches: u32,
    rollback_after: u32,
}

/// What the slot should do after a batch.
#[derive(Debug)]
pub enum Verdict<V> {
    Fine,
    /// Every record failed, `streak` batches in a row: pause this long.
    BackOff {
        streak: u32,
        pause: Duration,
    },
    /// The new version failed its first `batches` batches: go back to `previous`.
    RollBack {
        previous: V,
        batches: u32,
    },
}

impl<V> Health<V> {
    /// A new version replaced `previous`; `rollback_after` zero never rolls back.
    pub fn swapped(&mut self, previous: V, rollback_after: u32) {
        self.failing_streak = 0;
        self.probation = (rollback_after > 0).then_some(Probation { previous, failed_batches: 0, rollback_after });
    }

    /// Takes in a batch of `records` of which `failed` failed.
    pub fn batch_done(&mut self, records: usize, failed: usize) -> Verdict<V> {
        if let Some(probation) = &mut self.probation {
            if failed == 0 {
                self.probation = None;
            } else {
                probation.failed_batches += 1;
                if probation.failed_batches >= probation.rollback_after {
                    let Probation { previous, failed_batches, .. } = self.probation.take().expect("on probation");
                    self.failing_streak = 0;
                    return Verdict::RollBack { previous, batches: failed_batches };
                }
            }
        }
        if records == 0 || failed < records {
            self.failing_streak = 0;
            return Verdict::Fine;
        }
        self.failing_streak += 1;
        let doublings = (self.failing_streak - 1).min(16);
        Verdict::BackOff { streak: self.failing_streak, pause: (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(verdict: Verdict<&str>) -> Option<Duration> {
        match verdict {
            Verdict::BackOff { pause, .. } => Some(pause),
            _ => None,
        }
    }

    #[test]
    fn batches_that_fail_entirely_back_off_exponentially_until_one_succeeds() {
        let mut health = Health::<&str>::default();
        assert!(matches!(health.batch_done(10, 3), Verdict::Fine), "a partial failure is about records");
        let pauses: Vec<_> = (0..10).map(|_| pause(health.batch_done(10, 10)).unwrap()).collect();
        assert_eq!(pauses[..4], [100, 200, 400, 800].map(Duration::from_millis));
        assert_eq!(pauses[9], MAX_BACKOFF);
        assert!(matches!(health.batch_done(10, 9), Verdict::Fine));
        assert_eq!(pause(health.batch_done(10, 10)), Some(FIRST_BACKOFF), "the streak starts over");
    }

    #[test]
    fn a_new_version_that_fails_its_first_batches_is_rolled_back_once() {
        let mut health = Health::default();
        let previous = "v1";
        health.swapped(previous, 3);
        assert!(matches!(health.batch_done(10, 1), Verdict::Fine));
        assert!(matches!(health.batch_done(10, 1), Verdict::Fine));
        let Verdict::RollBack { previous: back, batches } = health.batch_done(10, 1) else { panic!("rolled back") };
        assert_eq!((back, batches), ("v1", 3));
        assert!(matches!(health.batch_done(10, 1), Verdict::Fine), "once");

        health.swapped(previous, 3);
        assert!(matches!(health.batch_done(10, 0), Verdict::Fine), "a clean batch proves the version");
        for _ in 0..5 {
            assert!(matches!(health.batch_done(10, 1), Verdict::Fine));
        }
        health.swapped(previous, 0);
        assert!((0..5).all(|_| matches!(health.batch_done(10, 1), Verdict::Fine)), "0 never rolls back");
    }
}
