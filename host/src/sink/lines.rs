//! Sinks that write one line per record: files and standard output.

use std::future::Future;

use anyhow::Context;
use tokio::io::AsyncWriteExt;

use super::{Flushing, Refused, Sink};
use crate::codec::{self, LineFormat};
use crate::record::Record;

/// Where lines go, and what "durable" means there.
pub trait LineTarget: Send + 'static {
    /// Writes `lines` and makes them durable (fsync for a file, a flush for a stream).
    /// On error, none of `lines` may count as written: a file cuts off what part of them
    /// it took, so that the driver's retry neither breaks nor repeats a line.
    fn write_durably(&mut self, lines: &mut Vec<u8>) -> impl Future<Output = std::io::Result<()>> + Send;
}

impl LineTarget for tokio::io::Stdout {
    async fn write_durably(&mut self, lines: &mut Vec<u8>) -> std::io::Result<()> {
        self.write_all(lines).await?;
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
    /// How many records were written since the last flush, and those the format cannot carry.
    written: usize,
    refused: Vec<Refused>,
}

impl<W: LineTarget> LineSink<W> {
    pub fn new(target: W, describe: String, format: LineFormat) -> Self {
        LineSink { target, describe, format, pending: Vec::with_capacity(256 * 1024), written: 0, refused: Vec::new() }
    }
}

impl<W: LineTarget> Sink for LineSink<W> {
    async fn write(&mut self, _route: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
        for record in records {
            if let Err(reason) = codec::encode(self.format, record, &mut self.pending) {
                self.refused.push(Refused { index: self.written, reason });
            }
            self.written += 1;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        let result = self.target.write_durably(&mut self.pending).await;
        // Cleared on error too: the driver writes the same records again.
        self.pending.clear();
        self.written = 0;
        let refused = std::mem::take(&mut self.refused);
        result.with_context(|| format!("cannot write to {}", self.describe))?;
        Ok(Flushing::done(refused))
    }
}
