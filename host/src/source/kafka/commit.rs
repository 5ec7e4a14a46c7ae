//! At-least-once pipelines: what the lanes acknowledge is committed right away.

use std::sync::Arc;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Consumer_;

/// What a lane calls once it has stored an offset: asks the [`Committer`] for a commit.
#[derive(Clone, Default)]
pub(super) struct CommitRequests(Arc<Notify>);

impl CommitRequests {
    pub(super) fn request(&self) {
        // One permit at most: requests made while a commit is on its way become one.
        self.0.notify_one();
    }
}

/// Commits the offsets the lanes store as soon as they store them, one commit at a time;
/// what is stored while a commit is on its way goes with the next. A crash then reads again
/// only what was acknowledged during the last commit's round trip, plus what was in flight,
/// instead of up to a second of records with only the consumer's periodic commit (which
/// stays on, as the backstop for a commit that failed).
pub(super) struct Committer {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Committer {
    pub(super) fn start(source: &str, consumer: Arc<Consumer_>, requests: &CommitRequests) -> Committer {
        let (source, wanted, stop) = (source.to_owned(), requests.0.clone(), CancellationToken::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    () = wanted.notified() => commit_stored(&source, &consumer).await,
                }
            }
        });
        Committer { stop, task }
    }

    /// Stops committing; a commit on its way completes first.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Commits the offsets the lanes stored and waits for the broker's answer (on a blocking
/// thread). A failure is logged: the offsets stay stored and the next commit sends them,
/// and at worst a new owner reads the uncommitted records again.
pub(super) async fn commit_stored(source: &str, consumer: &Arc<Consumer_>) {
    let consumer = consumer.clone();
    let result = tokio::task::spawn_blocking(move || consumer.commit_consumer_state(CommitMode::Sync)).await;
    match result.expect("commit task panicked") {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!(source, %error, "committing offsets failed"),
    }
}
