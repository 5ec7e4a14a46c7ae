//! Dead-letter sinks must carry the reasons, and must not wait on each other.
//!
//! A dead letter's reason and origin are in its `sluice.*` headers, which the `lines`
//! format does not write: a dead-letter sink in that format would keep the values and lose
//! why they are there, so it is refused at load.
//!
//! A sink that refuses a record for good (a broker's "too large") hands it to its
//! pipeline's dead-letter sink and waits until that sink has room. If sink `a`'s refusals
//! go to `b` and `b`'s (in another pipeline) go to `a`, both can end up waiting on the
//! other's full inbox forever, so such a cycle is refused at load. A sink that is its own
//! pipeline's dead-letter sink (a route sends records to the dead-letter sink too) is no
//! cycle: what it refuses has nowhere else to go, so the batch is not acknowledged and the
//! pipeline stops (see `sink::driver`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, LineFormat, SinkConfig};

impl Config {
    pub(super) fn check_dead_letter_format(&self, pipeline: &str, sink: &str) -> Result<(), (String, String)> {
        match self.sinks.get(sink) {
            Some(
                SinkConfig::File { format: LineFormat::Lines, .. } | SinkConfig::Stdout { format: LineFormat::Lines },
            ) => Err((
                format!("pipelines.{pipeline}.dead_letter"),
                format!(
                    "sink `{sink}` writes format \"lines\", which carries only values: the dead letters' reasons, in their headers, would be lost (give it format = \"envelope\")"
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn check_dead_letter_cycles(&self) -> Result<(), (String, String)> {
        // sink → (pipeline, its dead-letter sink), for every sink a route reaches.
        let mut edges: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for (pipeline, p) in &self.pipelines {
            for sink in p.routes.values().flatten().collect::<BTreeSet<_>>() {
                if *sink != p.dead_letter {
                    edges.entry(sink).or_default().push((pipeline, &p.dead_letter));
                }
            }
        }
        for start in edges.keys() {
            if let Some(cycle) = cycle_from(start, &edges, &mut Vec::new()) {
                let (pipeline, _) = cycle[0];
                let sinks: Vec<&str> = std::iter::once(*start).chain(cycle.iter().map(|(_, s)| *s)).collect();
                let steps: Vec<String> = cycle
                    .iter()
                    .zip(&sinks)
                    .map(|((pipeline, to), from)| {
                        format!("pipeline `{pipeline}` sends what `{from}` refuses to `{to}`")
                    })
                    .collect();
                let sinks: Vec<String> = sinks.iter().map(|s| format!("`{s}`")).collect();
                return Err((
                    format!("pipelines.{pipeline}.dead_letter"),
                    format!(
                        "the dead-letter sinks form a cycle, {} ({}): a sink that refuses records could wait forever on one that waits on it; give one of these pipelines another dead_letter",
                        sinks.join(" → "),
                        steps.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The steps `(pipeline, next sink)` of a path from the last sink of `path` (or `start`)
/// back to `start`, if there is one. Depth-first; the graph has one node per sink.
fn cycle_from<'a>(
    start: &'a str,
    edges: &BTreeMap<&'a str, Vec<(&'a str, &'a str)>>,
    path: &mut Vec<(&'a str, &'a str)>,
) -> Option<Vec<(&'a str, &'a str)>> {
    let at = path.last().map_or(start, |(_, sink)| *sink);
    for &(pipeline, next) in edges.get(at).into_iter().flatten() {
        if next == start {
            path.push((pipeline, next));
            return Some(path.clone());
        }
        if path.iter().any(|(_, seen)| *seen == next) {
            continue;
        }
        path.push((pipeline, next));
        if let Some(cycle) = cycle_from(start, edges, path) {
            return Some(cycle);
        }
        path.pop();
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{VALID, error_of, parse};

    /// Two pipelines, each writing to the other's dead-letter sink.
    fn crossed() -> String {
        format!(
            "{VALID}\n[sources.more]\ntype = \"generator\"\n\n[pipelines.other]\nsource = \"more\"\nroutes = {{ all = [\"dlq\"] }}\ndefault_route = \"all\"\ndead_letter = \"good\"\n"
        )
    }

    #[test]
    fn sinks_that_are_each_others_dead_letter_sink_are_refused() {
        let err = error_of(&crossed());
        assert!(
            err.starts_with("/etc/sluice/sluice.toml: pipelines.other.dead_letter: the dead-letter sinks form a cycle, `dlq` → `good` → `dlq` (pipeline `other` sends what `dlq` refuses to `good`, pipeline `main` sends what `good` refuses to `dlq`)"),
            "{err}"
        );
    }

    #[test]
    fn a_dead_letter_sink_that_writes_only_values_is_refused() {
        let dlq = "[sinks.dlq]\ntype = \"file\"\npath = \"/var/dlq.jsonl\"\n";
        assert!(VALID.contains(dlq), "{VALID}");
        let err = error_of(&VALID.replace(dlq, &format!("{dlq}format = \"lines\"\n")));
        assert_eq!(
            err,
            "/etc/sluice/sluice.toml: pipelines.main.dead_letter: sink `dlq` writes format \"lines\", which carries only values: the dead letters' reasons, in their headers, would be lost (give it format = \"envelope\")"
        );
    }

    #[test]
    fn a_chain_of_dead_letter_sinks_and_a_sink_that_is_its_own_are_fine() {
        let chained = crossed().replace("dead_letter = \"good\"", "dead_letter = \"dlq\"");
        parse(&chained).unwrap();
        // VALID's `errors` route reaches its own dead-letter sink `dlq`.
        parse(VALID).unwrap();
    }
}
