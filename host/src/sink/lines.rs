//! Sinks that write one line per record: files and standard output.

use std::future::Future;

use anyhow::Context;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Flushing, Sink};
use crate::codec::{self, LineFormat};
use crate::record::Record;

/// Where lines go, and what "durable" means there.
pub trait LineTarget: AsyncWrite + Unpin + Send + 'static {
    /// Called after the lines are written: fsync for a file, a flush for a stream.
    fn make_durable(&mut self) -> impl Future<Output = std::io::Result<()>> + Send;
}

impl LineTarget for tokio::fs::File {
    async fn make_durable(&mut self) -> std::io::Result<()> {
        self.sync_data().await
    }
}

impl LineTarget for tokio::io::Stdout {
    async fn make_durable(&mut self) -> std::io::Result<()> {
        self.flush().await
    }
}

pub struct LineSink<W> {
    target: W,
    /// For error messages: the file's path, or "stdout".
    describe: String,
    format: LineFormat,
    /// Encoded lines not yet written.
    pending: Vec<u8>,
}

impl<W: LineTarget> LineSink<W> {
    pub fn new(target: W, describe: String, format: LineFormat) -> Self {
        LineSink { target, describe, format, pending: Vec::with_capacity(256 * 1024) }
    }
}

impl<W: LineTarget> Sink for LineSink<W> {
    async fn write(&mut self, _route: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
        for record in records {
            codec::encode(self.format, record, &mut self.pending);
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        let result = async {
            self.target.write_all(&self.pending).await?;
            self.target.make_durable().await
        }
        .await;
        // Cleared on error too: the driver writes the same records again.
        self.pending.clear();
        result.with_context(|| format!("cannot write to {}", self.describe))?;
        Ok(Flushing::done(Vec::new()))
    }
}
