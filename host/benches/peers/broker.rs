//! Apache Kafka for the benchmark: started by `scripts/kafka-broker run` with its data under
//! `target/kafka/bench` (emptied first), stopped when dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::PARTITIONS;

pub struct Broker {
    pub address: String,
    child: Option<Child>,
}

impl Broker {
    pub fn start(root: &Path) -> Broker {
        let dir = root.join("target/kafka/bench");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Three consecutive free ports: PLAINTEXT, controller, SASL.
        let port = loop {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if port < u16::MAX - 2 && (1..=2).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok()) {
                break port;
            }
        };
        let log = std::fs::File::create(dir.join("broker.log")).unwrap();
        let child = Command::new(root.join("scripts/kafka-broker"))
            .arg("run")
            .arg(port.to_string())
            .arg(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run scripts/kafka-broker");
        let broker = Broker { address: format!("127.0.0.1:{port}"), child: Some(child) };
        let probe: BaseConsumer = broker.client().set("log_level", "0").create().unwrap();
        let start = Instant::now();
        while probe.fetch_metadata(None, Duration::from_millis(500)).map_or(true, |m| m.brokers().is_empty()) {
            assert!(start.elapsed() < Duration::from_secs(120), "Kafka did not answer; see {}", dir.display());
        }
        broker
    }

    /// A handle on a broker someone else runs.
    pub fn at(address: String) -> Broker {
        Broker { address, child: None }
    }

    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.address);
        config
    }

    pub fn records_in(&self) -> RecordsIn {
        RecordsIn(self.client().set("group.id", "bench-watermarks").create().unwrap())
    }

    pub fn create_topics(&self, names: &[&str]) {
        let admin: AdminClient<DefaultClientContext> = self.client().create().unwrap();
        let topics: Vec<NewTopic> =
            names.iter().map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1))).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for result in runtime.block_on(admin.create_topics(&topics, &AdminOptions::new())).unwrap() {
            result.unwrap_or_else(|(topic, e)| panic!("cannot create topic {topic}: {e}"));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Counts the records in a topic, from its partitions' end offsets.
pub struct RecordsIn(BaseConsumer);

impl RecordsIn {
    pub fn count(&self, topic: &str) -> u64 {
        (0..PARTITIONS).map(|p| self.0.fetch_watermarks(topic, p, Duration::from_secs(5)).unwrap().1 as u64).sum()
    }
}
