//! Lines of standard input, until it closes. Nothing to commit: a pipe cannot be re-read.

use std::sync::Arc;

use tokio::io::Stdin;

use super::lines::{LineOptions, LineReader, to_incoming};
use super::{Incoming, Source};
use crate::ack::Checkpoint;
use crate::codec::LineFormat;

pub struct StdinSource {
    reader: LineReader<Stdin>,
    format: LineFormat,
    stream: Arc<str>,
}

impl StdinSource {
    pub fn new(lines: LineOptions) -> Self {
        let reader = LineReader::new(tokio::io::stdin(), 0, lines.max_bytes);
        StdinSource { reader, format: lines.format, stream: Arc::from("stdin") }
    }
}

impl Source for StdinSource {
    async fn next(&mut self) -> anyhow::Result<Option<Incoming>> {
        loop {
            let line = match self.reader.next_line().await? {
                Some(line) => line,
                None => match self.reader.take_partial() {
                    Some(line) => line,
                    None => return Ok(None),
                },
            };
            let end = line.end;
            if let Some(incoming) = to_incoming(line, self.format, &self.stream, end) {
                return Ok(Some(incoming));
            }
        }
    }

    async fn commit(&mut self, _checkpoint: Checkpoint) -> anyhow::Result<()> {
        Ok(())
    }
}
