//! The brokers the Kafka tests run on.
//!
//! - Apache Kafka, started by `scripts/kafka-broker run`: one per test run, shared by every
//!   test that does not stop it, each test with topics and groups of its own (named after the
//!   test); or one of a test's own, for a test that stops and restarts it.
//! - librdkafka's mock cluster, for faults a real broker cannot be made to show on demand
//!   (a fenced transaction, a request answered with a given error).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::harness::workspace_root;

/// A broker on 127.0.0.1, as one test sees it: topic and group names are the test's own
/// ([`Broker::topic`], [`Broker::group`]), so tests can share one Kafka.
pub struct Broker {
    kind: Kind,
    /// The PLAINTEXT listener's `host:port`.
    address: String,
    /// What this test's topic and group names start with.
    prefix: String,
}

enum Kind {
    /// The test run's Kafka, shared with other tests.
    Shared,
    /// A Kafka of this test's own, stopped when the test ends.
    Own(Kafka),
    /// librdkafka's in-process mock cluster, listening on a real socket.
    Mock(MockCluster<'static, DefaultProducerContext>),
}

impl Broker {
    /// The test run's Apache Kafka, started on first use.
    pub fn kafka() -> Broker {
        static SHARED: OnceLock<String> = OnceLock::new();
        let address = SHARED.get_or_init(|| {
            // The broker must outlive every test but not the test process: it is started
            // from a thread that never ends, with a signal to die when that thread does.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut kafka = Kafka::spawn(&test_dir("shared"), None);
                tx.send(kafka.address.clone()).unwrap();
                let status = kafka.child.wait();
                panic!("the shared Kafka exited: {status:?}");
            });
            rx.recv().expect("the shared Kafka started")
        });
        Broker::named(Kind::Shared, address.clone())
    }

    /// An Apache Kafka of this test's own, which it may stop and restart.
    pub fn own_kafka() -> Broker {
        let kafka = Kafka::spawn(&test_dir(&unique_name()), None);
        let address = kafka.address.clone();
        Broker::named(Kind::Own(kafka), address)
    }

    /// A mock cluster of one broker.
    pub fn mock() -> Broker {
        let cluster = MockCluster::new(1).expect("start the mock cluster");
        let address = cluster.bootstrap_servers();
        Broker::named(Kind::Mock(cluster), address)
    }

    fn named(kind: Kind, address: String) -> Broker {
        Broker { kind, address, prefix: unique_name() }
    }

    /// This test's name for topic `name`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// This test's name for consumer group `name`.
    pub fn group(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// The PLAINTEXT listener's `host:port`.
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// The SASL_PLAINTEXT listener (mechanism PLAIN; user `sluice`, password `sluice-secret`)
    /// of an Apache Kafka started by `scripts/kafka-broker`: two ports above the PLAINTEXT one.
    pub fn sasl_address(&self) -> String {
        self.listener(2)
    }

    /// The SSL listener of an Apache Kafka started by `scripts/kafka-broker`, three ports
    /// above the PLAINTEXT one, and the certificate of the authority that signed its
    /// certificate (for 127.0.0.1).
    pub fn tls_address_and_ca(&self) -> (String, PathBuf) {
        let dir = match &self.kind {
            Kind::Shared => test_dir("shared"),
            Kind::Own(kafka) => kafka.dir.clone(),
            Kind::Mock(_) => panic!("the mock cluster has no SSL listener"),
        };
        (self.listener(3), dir.join("tls/ca.pem"))
    }

    /// The listener `above` ports above the PLAINTEXT one.
    fn listener(&self, above: u16) -> String {
        assert!(!matches!(self.kind, Kind::Mock(_)), "the mock cluster has only a PLAINTEXT listener");
        let (host, port) = self.address.rsplit_once(':').unwrap();
        format!("{host}:{}", port.parse::<u16>().unwrap() + above)
    }

    pub(super) fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.address());
        config
    }

    pub(super) fn mock_cluster(&self) -> Option<&MockCluster<'static, DefaultProducerContext>> {
        match &self.kind {
            Kind::Mock(cluster) => Some(cluster),
            _ => None,
        }
    }

    /// Stops this test's own Kafka (a clean shutdown, as an operator's restart does), then
    /// starts it again on the same port with the same data once `down` has passed.
    pub fn restart(&mut self, down: Duration) {
        let Kind::Own(kafka) = &mut self.kind else { panic!("only a test's own Kafka can be restarted") };
        kafka.stop();
        std::thread::sleep(down);
        *kafka = Kafka::spawn(&kafka.dir.clone(), Some(kafka.port));
    }

    /// Makes the mock cluster answer the next requests of kind `api` with `errors`.
    pub fn fail_requests(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        self.mock_cluster().expect("fault injection needs the mock cluster").request_errors(api, errors);
    }

    pub fn clear_failures(&self, api: RDKafkaApiKey) {
        self.mock_cluster().expect("fault injection needs the mock cluster").clear_request_errors(api);
    }
}

/// A name unique in this test process, after the running test: `kafka.crash.some_test.3`.
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test").replace("::", ".");
    format!("{test}.{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Where a broker of this test process keeps its data; brokers of earlier runs are gone
/// (they die with their test process), so their folders are removed first.
fn test_dir(name: &str) -> PathBuf {
    let root = workspace_root().join("target/kafka/tests");
    static CLEANED: OnceLock<()> = OnceLock::new();
    CLEANED.get_or_init(|| {
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let pid = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok());
            // SAFETY: kill(2) with signal 0 only asks whether the process exists.
            if pid.is_some_and(|pid| unsafe { libc::kill(pid, 0) } != 0) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    root.join(std::process::id().to_string()).join(name)
}

/// An Apache Kafka process: broker and controller in one, its data in `dir`.
struct Kafka {
    child: Child,
    dir: PathBuf,
    port: u16,
    address: String,
}

impl Kafka {
    /// Starts Kafka on `port` (four free ports from a free one when `None`) and waits
    /// until it answers a metadata request.
    fn spawn(dir: &Path, port: Option<u16>) -> Kafka {
        std::fs::create_dir_all(dir).unwrap();
        let port = port.unwrap_or_else(free_ports);
        let log = std::fs::File::create(dir.join("broker.log")).unwrap();
        let mut command = Command::new(workspace_root().join("scripts/kafka-broker"));
        command.arg("run").arg(port.to_string()).arg(dir).stdin(Stdio::null());
        command.stdout(log.try_clone().unwrap()).stderr(log);
        // SAFETY: the closure runs between fork and exec and makes one async-signal-safe
        // call, prctl(2), with constant arguments. The signal survives the script's `exec`
        // of the JVM, so the broker dies with the thread that started it.
        unsafe {
            command.pre_exec(|| match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            });
        }
        let mut child = command.spawn().expect("run scripts/kafka-broker");
        let address = format!("127.0.0.1:{port}");
        let start = Instant::now();
        let probe: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", &address).set("log_level", "0").create().unwrap();
        while probe.fetch_metadata(None, Duration::from_millis(500)).map_or(true, |m| m.brokers().is_empty()) {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.join("broker.log")).unwrap_or_default();
                panic!("Kafka exited while starting ({status}):\n{log}");
            }
            assert!(start.elapsed() < Duration::from_secs(120), "Kafka did not answer within 120 s");
        }
        Kafka { child, dir: dir.to_owned(), port, address }
    }

    /// Stops the broker cleanly and waits until it has exited.
    fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid, which cannot have been reused before
        // the wait below reaps it.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port `p` with `p + 1` to `p + 3` free too: a broker's PLAINTEXT, controller, SASL and
/// SSL listeners.
fn free_ports() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < u16::MAX - 3 && (1..=3).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
}
