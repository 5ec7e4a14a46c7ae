//! Cancel-safe line reading, shared by the file and stdin sources.
//!
//! Lines are bounded: a line longer than the reader's maximum is not buffered whole. Its
//! first `max` bytes are kept, the rest is skipped up to the newline, and the line comes
//! out marked [`Line::overlong`], to be dead-lettered as malformed rather than lost or
//! allowed to grow the host's memory without bound.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How a line source reads: the format of its lines, and the longest line it keeps.
#[derive(Clone, Copy, Debug)]
pub struct LineOptions {
    pub format: crate::codec::LineFormat,
    pub max_bytes: usize,
}

/// Splits a byte stream into lines. Unlike `AsyncBufReadExt::lines`, dropping a pending
/// [`LineReader::next_line`] loses nothing: bytes read so far stay in the buffer.
pub struct LineReader<R> {
    reader: R,
    buf: BytesMut,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// The longest line kept whole, in bytes, without its line ending.
    max: usize,
    /// The line being skipped because it is longer than `max`: its first `max` bytes and
    /// its start offset.
    overlong: Option<(Bytes, u64)>,
}

/// A line, without its line ending, with the stream offsets of its start and its end
/// (past the newline).
pub struct Line {
    pub text: Bytes,
    pub start: u64,
    pub end: u64,
    /// Set when the line was longer than the reader's maximum: `text` holds its first
    /// bytes only, and this its full length.
    pub overlong: Option<u64>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(reader: R, offset: u64, max: usize) -> Self {
        LineReader { reader, buf: BytesMut::with_capacity(64 * 1024), scanned: 0, offset, max, overlong: None }
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
            // One byte of slack for a `\r` before the newline.
            if self.buf.len() > self.max + 1 {
                self.skip_overlong();
            }
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
        (!self.buf.is_empty() || self.overlong.is_some()).then(|| self.split(self.buf.len()))
    }

    /// Keeps the first `max` bytes of the line in `buf` (once) and drops the rest of `buf`,
    /// which holds no newline.
    fn skip_overlong(&mut self) {
        if self.overlong.is_none() {
            let start = self.offset;
            let kept = self.buf.split_to(self.max).freeze();
            self.offset += kept.len() as u64;
            self.overlong = Some((kept, start));
        }
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        self.scanned = 0;
    }

    fn split(&mut self, len: usize) -> Line {
        let raw = self.buf.split_to(len).freeze();
        self.scanned = 0;
        let start = self.offset;
        self.offset += len as u64;
        if let Some((kept, start)) = self.overlong.take() {
            let length = self.offset - start - u64::from(raw.ends_with(b"\n"));
            return Line { text: kept, start, end: self.offset, overlong: Some(length) };
        }
        let mut text = raw;
        if text.ends_with(b"\n") {
            text.truncate(text.len() - 1);
        }
        if text.ends_with(b"\r") {
            text.truncate(text.len() - 1);
        }
        if text.len() > self.max {
            let length = text.len() as u64;
            text.truncate(self.max);
            return Line { text, start, end: self.offset, overlong: Some(length) };
        }
        Line { text, start, end: self.offset, overlong: None }
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
    let record = match line.overlong {
        Some(length) => Err(super::Malformed {
            reason: format!(
                "the line is {length} bytes long, more than the source's max_line_bytes ({}); its first {} bytes are kept here",
                line.text.len(),
                line.text.len()
            ),
            kept: crate::record::Record::from_value(line.text),
        }),
        None => crate::codec::decode(format, line.text.clone())
            .map_err(|reason| super::Malformed { kept: crate::record::Record::from_value(line.text), reason }),
    };
    let meta = crate::record::RecordMeta { stream: stream.clone(), partition: 0, offset: line.start };
    Some(super::Incoming { record, meta, checkpoint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_lines_and_tracks_offsets() {
        let data: &[u8] = b"one\r\ntwo\n\nlast";
        let mut r = LineReader::new(data, 100, 1024);
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

    #[tokio::test]
    async fn a_line_longer_than_the_maximum_keeps_its_first_bytes_and_skips_the_rest() {
        let long = "x".repeat(200_000);
        let data = format!("short\n{long}\nafter\n{long}");
        // A reader that hands out a few bytes at a time, so the long line spans many reads.
        let (mut writer, reader) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            writer.write_all(data.as_bytes()).await.unwrap();
        });
        let mut r = LineReader::new(reader, 0, 1000);
        let mut seen = Vec::new();
        while let Some(line) = r.next_line().await.unwrap() {
            seen.push((line.text.len(), line.start, line.end, line.overlong));
        }
        seen.extend(r.take_partial().map(|line| (line.text.len(), line.start, line.end, line.overlong)));
        assert_eq!(
            seen,
            [
                (5, 0, 6, None),
                (1000, 6, 200_007, Some(200_000)),
                (5, 200_007, 200_013, None),
                (1000, 200_013, 400_013, Some(200_000)),
            ]
        );
        assert!(r.buf.capacity() < 200_000, "the long lines were never buffered whole");
    }
}
