//! The thread that serves the consumer's shared queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::message::Message;
use tokio::sync::oneshot;

use super::{Consumer_, POLL_INTERVAL};

/// The thread that serves the consumer's shared queue: rebalances, errors, logs.
pub(super) struct Poller {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Poller {
    /// Starts polling. The receiver fires if a record shows up in the shared queue, which
    /// would mean its partition's order can no longer be guaranteed.
    pub(super) fn start(name: &str, consumer: Arc<Consumer_>) -> anyhow::Result<(Self, oneshot::Receiver<String>)> {
        let stop = Arc::new(AtomicBool::new(false));
        let (stray_tx, stray) = oneshot::channel();
        let stopped = stop.clone();
        let name = name.to_owned();
        let thread = std::thread::Builder::new().name(format!("kafka-{name}")).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match consumer.poll(POLL_INTERVAL) {
                    None => {}
                    Some(Err(error)) => tracing::warn!(source = %name, %error, "kafka consumer error"),
                    Some(Ok(message)) => {
                        let _ = stray_tx.send(format!(
                            "a record of {}/{} (offset {}) arrived before its partition had a lane; stopping so that it is read again in order",
                            message.topic(),
                            message.partition(),
                            message.offset()
                        ));
                        return;
                    }
                }
            }
        })?;
        Ok((Poller { stop, thread }, stray))
    }

    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        // Blocks for at most one poll interval.
        let _ = self.thread.join();
    }
}
