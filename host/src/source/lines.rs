//! Cancel-safe line reading, shared by the file and stdin sources.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Splits a byte stream into lines. Unlike `AsyncBufReadExt::lines`, dropping a pending
/// [`LineReader::next_line`] loses nothing: bytes read so far stay in the buffer.
pub struct LineReader<R> {
    reader: R,
    buf: BytesMut,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
}

/// A line, without its line ending, with the stream offsets of its start and its end
/// (past the newline).
pub struct Line {
    pub text: Bytes,
    pub start: u64,
    pub end: u64,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(reader: R, offset: u64) -> Self {
        LineReader { reader, buf: BytesMut::with_capacity(64 * 1024), scanned: 0, offset }
    }

    /// The next complete line, or `None` at the current end of the stream (a partial last
    /// line stays buffered; see [`LineReader::take_partial`]).
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if let Some(i) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let len = self.scanned + i + 1;
                return Ok(Some(self.split(len)));
            }
            self.scanned = self.buf.len();
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(64 * 1024);
            }
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// The bytes after the last newline, as a final line; for a stream that has ended.
    pub fn take_partial(&mut self) -> Option<Line> {
        (!self.buf.is_empty()).then(|| self.split(self.buf.len()))
    }

    fn split(&mut self, len: usize) -> Line {
        let raw = self.buf.split_to(len).freeze();
        self.scanned = 0;
        let start = self.offset;
        self.offset += len as u64;
        let mut text = raw;
        if text.ends_with(b"\n") {
            text.truncate(text.len() - 1);
        }
        if text.ends_with(b"\r") {
            text.truncate(text.len() - 1);
        }
        Line { text, start, end: self.offset }
    }
}

/// Makes a line into a record of `stream`; `None` for an empty line, which is skipped.
pub fn to_incoming(
    line: Line,
    format: crate::codec::LineFormat,
    stream: &std::sync::Arc<str>,
    checkpoint: crate::ack::Checkpoint,
) -> Option<super::Incoming> {
    if line.text.is_empty() {
        return None;
    }
    let record =
        crate::codec::decode(format, line.text.clone()).map_err(|reason| super::Malformed { raw: line.text, reason });
    let meta = crate::record::RecordMeta { stream: stream.clone(), partition: 0, offset: line.start };
    Some(super::Incoming { record, meta, checkpoint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_lines_and_tracks_offsets() {
        let data: &[u8] = b"one\r\ntwo\n\nlast";
        let mut r = LineReader::new(data, 100);
        let mut seen = Vec::new();
        while let Some(line) = r.next_line().await.unwrap() {
            seen.push((line.text, line.start, line.end));
        }
        assert_eq!(
            seen,
            vec![(Bytes::from("one"), 100, 105), (Bytes::from("two"), 105, 109), (Bytes::from(""), 109, 110)]
        );
        let last = r.take_partial().unwrap();
        assert_eq!((last.text, last.start, last.end), (Bytes::from("last"), 110, 114));
        assert!(r.take_partial().is_none());
    }
}
