//! The sink driver's tests, with sinks that behave as the test says.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::ack::{AckTracker, BatchAck, Completion};
use crate::record::{Record, RecordMeta};
use crate::router::SinkHandle;
use crate::sink::{RefusedTo, TransactionalSink};

/// Counts the commits that got past the driver's wait.
struct CountingSink(Arc<AtomicUsize>);

impl Sink for CountingSink {
    async fn write(&mut self, _: Option<&str>, _: &[Record]) -> anyhow::Result<()> {
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        Ok(Flushing::done(Vec::new()))
    }
}

impl TransactionalSink for CountingSink {
    async fn commit(&mut self) -> anyhow::Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn abort(&mut self, reason: &str) {
        panic!("nothing fails here: {reason}");
    }

    async fn discard(&mut self) -> anyhow::Result<()> {
        panic!("nothing waits for long here");
    }

    async fn source_failed(&self) -> String {
        std::future::pending().await
    }

    fn transaction_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// A flush the test completes by hand, with the values it covers.
type RemoteFlush = (Vec<String>, tokio::sync::oneshot::Sender<anyhow::Result<Vec<Refused>>>);

/// Like a broker: `flush` returns at once, and the test says when (and whether) the
/// records arrived.
struct RemoteSink {
    written: Vec<String>,
    flushes: mpsc::UnboundedSender<RemoteFlush>,
}

impl Sink for RemoteSink {
    async fn write(&mut self, _: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
        let values = records.iter().map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned());
        self.written.extend(values);
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.flushes.send((std::mem::take(&mut self.written), done)).unwrap();
        Ok(Flushing::later(async move { outcome.await? }))
    }
}

fn remote_sink() -> (mpsc::Sender<SinkBatch>, mpsc::UnboundedReceiver<RemoteFlush>) {
    let (flushes_tx, flushes) = mpsc::unbounded_channel();
    let (inbox_tx, inbox) = mpsc::channel(4);
    tokio::spawn(run(RemoteSink { written: Vec::new(), flushes: flushes_tx }, "remote".into(), inbox));
    (inbox_tx, flushes)
}

/// A batch of one record whose acknowledgement reports `seq` on `completed`.
fn batch(seq: u64, value: &str, completed: &mpsc::UnboundedSender<Completion>) -> SinkBatch {
    let ack = BatchAck::new(seq, completed.clone());
    let batch = SinkBatch {
        route: None,
        records: vec![Record::from_value(value.to_owned())],
        delivery: ack.delivery(),
        refused_to: None,
    };
    ack.dispatched();
    batch
}

#[tokio::test]
async fn a_remote_sink_writes_on_while_a_flush_is_under_way_and_acknowledges_in_order() {
    let (inbox, mut flushes) = remote_sink();
    let (completed_tx, mut completed) = mpsc::unbounded_channel();

    inbox.send(batch(0, "a", &completed_tx)).await.unwrap();
    let (values, first) = flushes.recv().await.unwrap();
    assert_eq!(values, ["a"]);
    inbox.send(batch(1, "b", &completed_tx)).await.unwrap();
    let (values, second) = tokio::time::timeout(Duration::from_secs(5), flushes.recv())
        .await
        .expect("the second batch is written while the first flush is still under way")
        .unwrap();
    assert_eq!(values, ["b"]);

    second.send(Ok(Vec::new())).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(completed.try_recv().is_err(), "nothing is acknowledged before the older flush is done");
    first.send(Ok(Vec::new())).unwrap();
    assert_eq!(completed.recv().await, Some(Completion::Delivered(0)));
    assert_eq!(completed.recv().await, Some(Completion::Delivered(1)));
}

#[tokio::test]
async fn a_flush_that_fails_after_it_started_is_written_again_before_its_batch_is_acknowledged() {
    let (inbox, mut flushes) = remote_sink();
    let (completed_tx, mut completed) = mpsc::unbounded_channel();

    inbox.send(batch(0, "a", &completed_tx)).await.unwrap();
    let (_, first) = flushes.recv().await.unwrap();
    first.send(Err(anyhow::anyhow!("the broker stopped answering"))).unwrap();
    let (values, again) = flushes.recv().await.unwrap();
    assert_eq!(values, ["a"], "the failed flush's records are written again");
    assert!(completed.try_recv().is_err(), "a failed flush acknowledges nothing");
    again.send(Ok(Vec::new())).unwrap();
    assert_eq!(completed.recv().await, Some(Completion::Delivered(0)));
}

/// Refuses every record whose value is `refuse`, as a broker refuses one too large,
/// and, if the flag is set, every slim dead letter.
struct RefusingSink(Vec<bool>, bool);

impl Sink for RefusingSink {
    async fn write(&mut self, _: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
        let slim = |r: &Record| r.headers().any(|(name, _)| name == "sluice.dead_letter");
        self.0.extend(records.iter().map(|r| r.value() == Some(b"refuse".as_slice()) || (self.1 && slim(r))));
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        let refused = std::mem::take(&mut self.0).into_iter().enumerate().filter(|(_, refuse)| *refuse);
        Ok(Flushing::done(refused.map(|(index, _)| Refused { index, reason: "too large".into() }).collect()))
    }
}

/// Where the records of a one-record message came from: offset 42 of partition 3 of
/// the stream `topic` of the source `src`, in pipeline `p`, dead-lettered to `dead_letter`.
fn refused_to(dead_letter: SinkHandle) -> RefusedTo {
    let meta = RecordMeta { stream: "topic".into(), partition: 3, offset: 42 };
    RefusedTo { pipeline: "p".into(), dead_letter, source: "src".into(), meta: vec![meta].into(), origins: [0].into() }
}

#[tokio::test]
async fn a_record_a_sink_refuses_is_dead_lettered_saying_where_it_came_from() {
    let (completed_tx, mut completed) = mpsc::unbounded_channel();
    let (inbox_tx, inbox) = mpsc::channel(4);
    tokio::spawn(run(RefusingSink(Vec::new(), false), "out".into(), inbox));
    let (dlq_tx, mut dlq) = mpsc::channel(4);
    let mut routed = batch(0, "refuse", &completed_tx);
    routed.refused_to = Some(refused_to(SinkHandle { name: "dlq".into(), inbox: dlq_tx }));
    inbox_tx.send(routed).await.unwrap();
    let letters = dlq.recv().await.unwrap();
    let headers: Vec<(&str, &[u8])> = letters.records[0].headers().collect();
    let expected: [(&str, &[u8]); 7] = [
        ("sluice.error", b"too large"),
        ("sluice.sink", b"out"),
        ("sluice.pipeline", b"p"),
        ("sluice.source", b"src"),
        ("sluice.stream", b"topic"),
        ("sluice.partition", b"3"),
        ("sluice.offset", b"42"),
    ];
    assert_eq!(headers, expected);
    assert!(completed.try_recv().is_err(), "acknowledged only once the dead-letter sink takes it");
    letters.delivery.accept();
    assert_eq!(completed.recv().await, Some(Completion::Delivered(0)));
}

/// Sends the dead-letter sink `dlq`, which refuses slim dead letters if `refuse_slim`,
/// a dead letter it refuses (batch 0), a routed record refused by a sink that is its own
/// pipeline's dead-letter sink (batch 1), and a record it takes (batch 2).
async fn refused_by_the_dead_letter_sink(refuse_slim: bool) -> mpsc::UnboundedReceiver<Completion> {
    let (completed_tx, completed) = mpsc::unbounded_channel();
    let (inbox_tx, inbox) = mpsc::channel(4);
    tokio::spawn(run(RefusingSink(Vec::new(), refuse_slim), "dlq".into(), inbox));
    let dead_letter = SinkHandle { name: "dlq".into(), inbox: inbox_tx.clone() };
    inbox_tx.send(batch(0, "refuse", &completed_tx)).await.unwrap();
    let mut routed = batch(1, "refuse", &completed_tx);
    routed.refused_to = Some(refused_to(dead_letter));
    inbox_tx.send(routed).await.unwrap();
    inbox_tx.send(batch(2, "fine", &completed_tx)).await.unwrap();
    completed
}

#[tokio::test]
async fn a_dead_letter_its_sink_refuses_is_written_again_slim() {
    let mut completed = refused_by_the_dead_letter_sink(false).await;
    let mut first_two = vec![completed.recv().await.unwrap(), completed.recv().await.unwrap()];
    first_two.sort_by_key(|c| format!("{c:?}"));
    // A routed record is no dead letter: a slim copy would say nothing of it.
    let lost = "the dead-letter sink `dlq` refused 1 record(s), which have nowhere else to go (the first: too large)";
    assert_eq!(first_two, [Completion::Delivered(0), Completion::Lost(1, lost.into())]);
    assert_eq!(completed.recv().await, Some(Completion::Delivered(2)));
}

#[tokio::test]
async fn what_a_dead_letter_sink_refuses_even_slim_leaves_its_batch_unacknowledged() {
    let mut completed = refused_by_the_dead_letter_sink(true).await;
    for (seq, why) in [(0, "too large (and even without its key, value and headers: too large)"), (1, "too large")] {
        let Some(Completion::Lost(lost, reason)) = completed.recv().await else { panic!("batch {seq} is lost") };
        assert_eq!(lost, seq);
        assert_eq!(
            reason,
            format!("the dead-letter sink `dlq` refused 1 record(s), which have nowhere else to go (the first: {why})")
        );
    }
    assert_eq!(completed.recv().await, Some(Completion::Delivered(2)));
}

#[tokio::test]
async fn a_transaction_commits_only_once_the_source_committed_past_its_batches() {
    let (completed_tx, mut completed) = mpsc::unbounded_channel();
    let mut source = AckTracker::default();
    let ack = BatchAck::new(0, completed_tx);
    source.sent(0, 10, ack.commit_watch());

    let commits = Arc::new(AtomicUsize::new(0));
    let (inbox_tx, inbox) = mpsc::channel(4);
    let (requests_tx, requests) = mpsc::unbounded_channel();
    let interval = Duration::from_millis(10);
    let sink = tokio::spawn(run_transactional(CountingSink(commits.clone()), "t".into(), inbox, requests, interval));
    let batch = SinkBatch {
        route: Some("r".into()),
        records: vec![Record::from_value("x")],
        delivery: ack.delivery(),
        refused_to: None,
    };
    inbox_tx.send(batch).await.unwrap();
    ack.dispatched();

    assert_eq!(completed.recv().await, Some(Completion::Delivered(0)), "the sink accepts the batch once it is flushed");
    tokio::time::sleep(interval * 5).await;
    assert_eq!(commits.load(Ordering::SeqCst), 0, "the source has not committed past the batch yet");

    assert_eq!(source.completed(0), Some(10));
    source.committed();
    let (reply, committed) = tokio::sync::oneshot::channel();
    requests_tx.send(reply).unwrap();
    assert_eq!(committed.await.unwrap(), Ok(()));
    assert!(commits.load(Ordering::SeqCst) >= 1);

    drop(inbox_tx);
    tokio::time::timeout(Duration::from_secs(5), sink).await.unwrap().unwrap();
}

/// A transactional sink that reports what it is asked to do, in order (commits only when
/// something was written since the last commit, as a Kafka sink has nothing to do else).
struct RecordingSink(mpsc::UnboundedSender<String>, bool);

impl Sink for RecordingSink {
    async fn write(&mut self, _: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
        let values: Vec<_> = records.iter().map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned()).collect();
        self.0.send(format!("write {}", values.join(","))).unwrap();
        self.1 = true;
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        Ok(Flushing::done(Vec::new()))
    }
}

impl TransactionalSink for RecordingSink {
    async fn commit(&mut self) -> anyhow::Result<()> {
        if std::mem::take(&mut self.1) {
            self.0.send("commit".into()).unwrap();
        }
        Ok(())
    }

    async fn abort(&mut self, reason: &str) {
        panic!("a slow sibling must not fail the pipeline: {reason}");
    }

    async fn source_failed(&self) -> String {
        std::future::pending().await
    }

    async fn discard(&mut self) -> anyhow::Result<()> {
        self.0.send("discard".into()).unwrap();
        self.1 = false;
        Ok(())
    }

    fn transaction_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
}

#[tokio::test(start_paused = true)]
async fn a_transaction_whose_sibling_sinks_lag_is_aborted_in_time_and_written_again_once_they_caught_up() {
    let (completed_tx, mut completed) = mpsc::unbounded_channel();
    let mut source = AckTracker::default();
    let ack = BatchAck::new(0, completed_tx);
    source.sent(0, 10, ack.commit_watch());
    // The share of another sink of the pipeline (its dead-letter sink, stuck on a full
    // disk, say), accepted only when the test says.
    let sibling = ack.delivery();

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (inbox_tx, inbox) = mpsc::channel(4);
    let (_requests_tx, requests) = mpsc::unbounded_channel();
    let interval = Duration::from_millis(100);
    tokio::spawn(run_transactional(RecordingSink(events_tx, false), "t".into(), inbox, requests, interval));
    let batch = SinkBatch {
        route: Some("r".into()),
        records: vec![Record::from_value("x")],
        delivery: ack.delivery(),
        refused_to: None,
    };
    inbox_tx.send(batch).await.unwrap();
    ack.dispatched();
    assert_eq!(events.recv().await.unwrap(), "write x");

    // The broker would abort the transaction after 60 s: the sink gives it up at 45.
    let waited = tokio::time::Instant::now();
    assert_eq!(events.recv().await.unwrap(), "discard");
    assert!(
        waited.elapsed() >= Duration::from_secs(44) && waited.elapsed() <= Duration::from_secs(46),
        "{:?}",
        waited.elapsed()
    );
    // Minutes later the sibling catches up: the source commits past the batch, and its
    // records go into a new transaction with the source's positions.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(events.try_recv().is_err(), "nothing is written while the sibling lags");
    sibling.accept();
    assert_eq!(completed.recv().await, Some(Completion::Delivered(0)));
    assert_eq!(source.completed(0), Some(10));
    source.committed();
    assert_eq!(events.recv().await.unwrap(), "write x");
    assert_eq!(events.recv().await.unwrap(), "commit");
}
