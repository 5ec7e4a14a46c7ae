//! Poison isolation: when a plugin call fails for a whole batch (a trap, the deadline, a
//! cap, a malformed result), find the records that fail it, so that only they are
//! dead-lettered, each with its own reason, and the rest of the batch is delivered in
//! order.
//!
//! The batch is bisected on fresh instances: a part that succeeds is done; a part that
//! fails is split again, down to single records, and a single record that fails alone is
//! the culprit. One poison record in `n` costs about `2·log2(n)` extra calls.
//!
//! **Deadlines while isolating.** A part of `m` records gets `2·m/n` of the batch
//! deadline, so that a record that loops forever does not cost the full deadline at every
//! level of the bisection. A record is only ever blamed alone and with the full deadline,
//! so a slow record that needed more than its share is split off and retried, never
//! dead-lettered: a plugin within its deadline is never killed.
//!
//! **Bounds.** At most `2·n` calls, and calls start only within [`TIME_BUDGET`] batch
//! deadlines of the isolation's start. Records still undecided then go to the dead-letter
//! sink with the batch's reason, saying that isolation stopped.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::engine::EPOCH_TICK;
use super::instance::PluginResult;

/// How many batch deadlines an isolation may start calls within. Each record that times
/// out costs about three (the bisection down to it, then itself alone), so a batch with
/// two such records is still isolated to them.
pub const TIME_BUDGET: u32 = 8;

/// What isolation made of a failed batch. Origins index the whole batch.
#[derive(Default)]
pub struct Isolated {
    /// Outputs and rejections of the records that succeeded, in input order.
    pub result: PluginResult,
    /// Records that failed alone (or were left undecided), in input order, with why.
    pub failed: Vec<(usize, String)>,
    /// Plugin calls made.
    pub calls: usize,
}

/// Isolates the records of a batch of `n` whose call failed with `reason`. `call(range,
/// deadline)` runs `range` of the batch on a working instance (replacing a failed one
/// first), its result's origins relative to `range.start`.
pub fn isolate(
    n: usize,
    batch_timeout: Duration,
    reason: &str,
    mut call: impl FnMut(Range<usize>, Duration) -> Result<PluginResult, String>,
) -> Isolated {
    let started = Instant::now();
    let time_budget = batch_timeout * TIME_BUDGET;
    let max_calls = 2 * n;
    let mut isolated = Isolated::default();
    // Parts still to run, the next one last: popping runs them in input order.
    let mut parts = halves(0..n);
    while let Some(part) = parts.pop() {
        if isolated.calls >= max_calls || started.elapsed() >= time_budget {
            let why = format!(
                "{reason} (not isolated to single records: isolation stopped after {} calls and {:?})",
                isolated.calls,
                started.elapsed()
            );
            for part in std::iter::once(part).chain(parts.drain(..).rev()) {
                isolated.failed.extend(part.map(|i| (i, why.clone())));
            }
            break;
        }
        let deadline = match part.len() {
            1 => batch_timeout,
            // Never under two epoch ticks (the deadline's resolution), never over the whole.
            m => batch_timeout.mul_f64(2.0 * m as f64 / n as f64).max(EPOCH_TICK * 2).min(batch_timeout),
        };
        isolated.calls += 1;
        match call(part.clone(), deadline) {
            Ok(result) => merge(&mut isolated.result, result, part.start),
            Err(why) if part.len() == 1 => isolated.failed.push((part.start, why)),
            Err(_) => parts.extend(halves(part)),
        }
    }
    isolated
}

/// The two halves of `range`, the first last (see `parts` above).
fn halves(range: Range<usize>) -> Vec<Range<usize>> {
    let mid = range.start + range.len() / 2;
    if range.len() < 2 {
        return vec![range];
    }
    vec![mid..range.end, range.start..mid]
}

fn merge(into: &mut PluginResult, part: PluginResult, offset: usize) {
    into.outputs.extend(part.outputs.into_iter().map(|mut o| {
        o.origin += offset;
        o
    }));
    into.rejected.extend(part.rejected.into_iter().map(|(i, why)| (i + offset, why)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::instance::PluginOutput;
    use crate::record::Record;

    /// A plugin that fails any part holding a poison record, and needs `cost` of its
    /// deadline per record otherwise.
    fn plugin(poison: &[usize], cost: Duration) -> impl FnMut(Range<usize>, Duration) -> Result<PluginResult, String> {
        move |range: Range<usize>, deadline: Duration| {
            if let Some(bad) = range.clone().find(|i| poison.contains(i)) {
                return Err(format!("trapped on {bad}"));
            }
            if cost * range.len() as u32 > deadline {
                return Err("timed out".into());
            }
            let outputs = (0..range.len())
                .map(|origin| PluginOutput { origin, record: Record::from_value("x"), route: None })
                .collect();
            Ok(PluginResult { outputs, rejected: Vec::new() })
        }
    }

    #[test]
    fn only_the_poison_records_fail_each_with_its_own_reason_and_the_rest_stay_in_order() {
        let isolated = isolate(500, Duration::from_secs(5), "batch failed", plugin(&[17, 333], Duration::ZERO));
        assert_eq!(isolated.failed, [(17, "trapped on 17".into()), (333, "trapped on 333".into())]);
        let origins: Vec<usize> = isolated.result.outputs.iter().map(|o| o.origin).collect();
        let expected: Vec<usize> = (0..500).filter(|i| ![17, 333].contains(i)).collect();
        assert_eq!(origins, expected);
        assert!(isolated.calls <= 4 * 9 + 2, "about 2·log2(n) calls per poison record: {}", isolated.calls);
    }

    #[test]
    fn a_slow_record_is_never_blamed_for_a_share_of_the_deadline_it_did_not_get() {
        // Every record needs 1/400 of the deadline: a whole batch of 500 would not fit, and
        // small parts get too little, yet each record alone is well within the deadline.
        let isolated = isolate(500, Duration::from_secs(4), "batch timed out", plugin(&[], Duration::from_millis(10)));
        assert!(isolated.failed.is_empty(), "{:?}", &isolated.failed[..isolated.failed.len().min(3)]);
        assert_eq!(isolated.result.outputs.len(), 500);
    }

    #[test]
    fn a_deadline_shorter_than_the_floor_of_a_part_still_isolates() {
        let isolated = isolate(500, Duration::from_millis(5), "batch failed", plugin(&[3], Duration::ZERO));
        assert_eq!(isolated.failed, [(3, "trapped on 3".into())]);
        assert_eq!(isolated.result.outputs.len(), 499);
    }

    #[test]
    fn a_batch_where_everything_fails_is_bounded_and_says_so() {
        let all: Vec<usize> = (0..64).collect();
        let isolated = isolate(64, Duration::from_secs(5), "batch failed", plugin(&all, Duration::ZERO));
        assert_eq!(isolated.failed.len(), 64);
        assert!(isolated.calls <= 128);
        assert!(isolated.failed.iter().map(|(i, _)| *i).eq(0..64), "in input order");
    }
}
