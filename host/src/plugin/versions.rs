//! Which version of its plugin every chain slot runs, and which it holds ready.
//!
//! The plugins directory publishes each version it compiles, but a published version is
//! not a running one: it may fail its `init`, or wait for the gap between two batches, and
//! each worker of each pipeline takes it over on its own. Messages about a plugin as a
//! whole ("the running version stays"), and the status line's count of versions waiting
//! to take over, read what the slots report here instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// Every live slot's state, by slot.
#[derive(Default)]
pub struct SlotStates {
    slots: Mutex<BTreeMap<u64, SlotState>>,
}

struct SlotState {
    plugin: String,
    pipeline: String,
    /// The version the slot runs.
    running: String,
    /// A newer version started and waiting for the next batch.
    ready: Option<String>,
}

impl SlotStates {
    /// A slot of `pipeline` that will run `plugin`; it counts once it reports a version.
    pub fn register(self: &Arc<Self>, plugin: &str, pipeline: &str) -> SlotReport {
        let mut slots = self.lock();
        let id = slots.last_key_value().map_or(0, |(id, _)| id + 1);
        let state =
            SlotState { plugin: plugin.to_owned(), pipeline: pipeline.to_owned(), running: String::new(), ready: None };
        slots.insert(id, state);
        SlotReport { states: self.clone(), id }
    }

    /// The versions of `plugin` that some slot runs, oldest slot's first, each once,
    /// joined with ","; "none" before any slot has started.
    pub fn running(&self, plugin: &str) -> String {
        let slots = self.lock();
        let mut seen = BTreeSet::new();
        let versions: Vec<&str> = slots
            .values()
            .filter(|s| s.plugin == plugin && !s.running.is_empty())
            .map(|s| s.running.as_str())
            .filter(|v| seen.insert(*v))
            .collect();
        if versions.is_empty() { "none".to_owned() } else { versions.join(",") }
    }

    /// How many slots of `pipeline` hold a new version that has not taken over yet.
    pub fn pending(&self, pipeline: &str) -> usize {
        self.lock().values().filter(|s| s.pipeline == pipeline && s.ready.is_some()).count()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, SlotState>> {
        self.slots.lock().expect("slot states poisoned")
    }
}

/// How one slot reports its versions; dropping it removes the slot.
pub struct SlotReport {
    states: Arc<SlotStates>,
    id: u64,
}

impl SlotReport {
    /// A report that nobody reads: for a chain outside the service (`sluice plugin test`).
    pub fn unread() -> SlotReport {
        Arc::new(SlotStates::default()).register("", "")
    }

    /// The slot runs `version` (and holds no other ready).
    pub fn running(&self, version: &str) {
        self.update(|s| {
            s.running = version.to_owned();
            s.ready = None;
        });
    }

    /// The slot went back to running `version`, holding what it held ready.
    pub fn rolled_back(&self, version: &str) {
        self.update(|s| s.running = version.to_owned());
    }

    /// The slot holds `version` ready to take over at the next batch.
    pub fn ready(&self, version: &str) {
        self.update(|s| s.ready = Some(version.to_owned()));
    }

    fn update(&self, change: impl FnOnce(&mut SlotState)) {
        if let Some(state) = self.states.lock().get_mut(&self.id) {
            change(state);
        }
    }
}

impl Drop for SlotReport {
    fn drop(&mut self) {
        self.states.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_versions_are_what_slots_run_not_what_they_hold_ready() {
        let states = Arc::new(SlotStates::default());
        let (a, b) = (states.register("mask", "main"), states.register("mask", "main"));
        let other = states.register("route", "main");
        assert_eq!(states.running("mask"), "none");
        a.running("v1");
        b.running("v1");
        other.running("r1");
        a.ready("v2");
        assert_eq!((states.running("mask"), states.pending("main")), ("v1".to_owned(), 1));
        a.running("v2");
        assert_eq!((states.running("mask"), states.pending("main")), ("v2,v1".to_owned(), 0));
        drop(b);
        assert_eq!(states.running("mask"), "v2");
        a.ready("v3");
        a.rolled_back("v1");
        assert_eq!((states.running("mask"), states.pending("main")), ("v1".to_owned(), 1), "v3 still waits");
        assert_eq!(states.pending("elsewhere"), 0);
    }
}
