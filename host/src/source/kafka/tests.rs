//! The coordinator's shutdown and a lane's wake-ups against librdkafka's mock cluster,
//! where the moment a rebalance is handed over can be held still and a wake-up can be
//! withheld (a real broker is in `tests/e2e/kafka`).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::group::GroupContext;
use super::lane::{LaneOffsets, PartitionLane};
use super::poller::Poller;
use super::{Consumer_, KafkaSource, Rebalance};
use crate::config::{KafkaSourceConfig, StartPosition};
use crate::source::Source;
use crate::source::driver::{BatchSettings, Lanes};

/// A shutdown that wins the race against a rebalance the poller has just handed over
/// (the poller blocked in the callback, the rebalance still in the channel) stops the
/// source instead of waiting forever for the poller.
#[test]
fn shutdown_with_a_rebalance_waiting_in_the_channel_stops() {
    let cluster = MockCluster::new(1).expect("start the mock cluster");
    cluster.create_topic("events", 2, 1).expect("create the topic");
    let config = KafkaSourceConfig {
        brokers: cluster.bootstrap_servers(),
        group: "shutdown-mid-rebalance".to_owned(),
        topics: vec!["events".to_owned()],
        start: StartPosition::Earliest,
        drain_timeout: Duration::from_secs(5),
        properties: Default::default(),
    };
    let (finished_tx, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let outcome = runtime.block_on(async {
            let mut source = KafkaSource::open("events", &config, None)?;
            let (poller, stray) = Poller::start("events", source.consumer.clone())?;
            // The poller joins the group and blocks in the assignment callback until the
            // coordinator is done with it. Take the assignment and put it back, so that it
            // is waiting in the channel when the coordinator starts with the shutdown due.
            let assigned = source.rebalances.recv().await.expect("an assignment");
            assert!(matches!(&assigned, Rebalance::Assigned(partitions, _) if partitions.len() == 2));
            assert!(source.consumer.context().coordinator.send(assigned).is_ok());
            let (worker, _batches) = mpsc::channel(1);
            let settings = BatchSettings { size: 10, wait: Duration::from_millis(10) };
            let lanes = Lanes::new(Arc::from("events"), settings, vec![worker], Arc::default());
            let shutdown = CancellationToken::new();
            shutdown.cancel();
            source.serve(poller, stray, lanes, shutdown).await
        });
        let _ = finished_tx.send(outcome.map_err(|e| format!("{e:#}")));
    });
    match finished.recv_timeout(Duration::from_secs(60)) {
        Ok(outcome) => outcome.expect("the source stops cleanly"),
        Err(_) => panic!("the source did not stop within 60 s: the poller is still blocked in the rebalance callback"),
    }
}

/// A lane whose wake-up never comes (librdkafka's edge-triggered "queue not empty" can be
/// missed) still reads the records that arrive in its queue while it waits.
#[test]
fn a_lane_whose_wake_up_is_lost_still_reads_its_records() {
    let cluster = MockCluster::new(1).expect("start the mock cluster");
    cluster.create_topic("events", 1, 1).expect("create the topic");
    let (coordinator, _rebalances) = mpsc::unbounded_channel();
    let context =
        GroupContext { source: "events".into(), start: StartPosition::Earliest, coordinator, transactions: None };
    let defaults = [("group.id", "lost-wake-up".to_owned()), ("enable.auto.commit", "false".to_owned())];
    let consumer: Consumer_ = crate::kafka::client_config(&cluster.bootstrap_servers(), &defaults, &Default::default())
        .create_with_context(context)
        .expect("a consumer");
    let consumer = Arc::new(consumer);
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("events", 0, Offset::Beginning).unwrap();
    consumer.assign(&assignment).expect("assigned");
    // No non-empty callback: the lane is never woken.
    let queue = consumer.split_partition_queue("events", 0).expect("a partition queue");
    let (poller, _stray) = Poller::start("events", consumer.clone()).expect("a poller");
    let mut lane = PartitionLane {
        queue,
        wake: Arc::default(),
        consumer: consumer.clone(),
        offsets: LaneOffsets::Committed(Default::default()),
        topic: Arc::from("events"),
        partition: 0,
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let read = runtime.block_on(async {
        let next = lane.next();
        tokio::pin!(next);
        // The topic is empty: the lane finds nothing and waits.
        tokio::select! {
            biased;
            _ = &mut next => panic!("a record before any was produced"),
            () = std::future::ready(()) => {}
        }
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("a producer");
        producer.send(BaseRecord::<(), str>::to("events").payload("one")).expect("queued");
        producer.flush(Duration::from_secs(10)).expect("produced");
        tokio::time::timeout(Duration::from_secs(30), next).await
    });
    poller.stop();
    let incoming = read.expect("read without a wake-up").expect("no error").expect("a record");
    let Ok(record) = incoming.record else { panic!("a well-formed record") };
    assert_eq!(record.value(), Some(&b"one"[..]));
}
