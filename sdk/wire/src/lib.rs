//! The batch encoding that carries records across the plugin boundary.
//!
//! `wit/plugin.wit` is the contract; its `transform.process` takes and returns a
//! `list<u8>` whose layout is specified there and implemented here. The host encodes
//! input batches with [`BatchWriter`] and decodes plugin results with [`ResultReader`];
//! the Rust SDK does the mirror image with [`BatchReader`] and [`ResultWriter`].
//!
//! Why bytes and not a typed `list<record>`: the canonical ABI lowers every field of a
//! typed record with its own guest `realloc` and copy, which measured 0.6–1.6 µs per
//! record. One buffer costs one `realloc` and one `memcpy` per batch, and both sides read
//! fields in place. The numbers are in `BENCHMARKS.md`.
//!
//! All integers are little-endian and unaligned. Lengths use sentinel values for
//! "absent" so that an optional field costs no extra tag byte:
//!
//! ```text
//! batch        := u32 record-count, u16 source-len, source, input-record*
//! input-record := u64 offset, u32 partition, i64 timestamp, u32 key-len, u32 value-len,
//!                 u16 stream-len, u16 header-count, key, value, stream, header*
//! header       := u16 name-len, name (UTF-8), u32 value-len, value
//!
//! result       := u32 record-count, outcome*            (one outcome per input record)
//! outcome      := u8 0, u32 output-count, output-record*
//!               | u8 1, u32 reason-len, reason (UTF-8)
//! output-record:= i64 timestamp, u32 key-len, u32 value-len, u16 route-len,
//!                 u16 header-count, key, value, route (UTF-8), header*
//! ```
//!
//! `timestamp` is `i64::MIN` when absent, `key-len`/`value-len` are `u32::MAX` when
//! absent, `route-len` is `u16::MAX` for the pipeline's default route.

use std::fmt;

const ABSENT_LEN: u32 = u32::MAX;
const DEFAULT_ROUTE: u16 = u16::MAX;
const NO_TIMESTAMP: i64 = i64::MIN;
const OUTCOME_OUTPUTS: u8 = 0;
const OUTCOME_REJECTED: u8 = 1;
const INPUT_FIXED_LEN: usize = 8 + 4 + 8 + 4 + 4 + 2 + 2;
const OUTPUT_FIXED_LEN: usize = 8 + 4 + 4 + 2 + 2;

/// Why a buffer could not be decoded. The host sees these when a plugin returns a
/// malformed result; a plugin sees them only if the host is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    what: &'static str,
    at: usize,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed batch encoding: {} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for WireError {}

/// A bounds-checked cursor over an encoded buffer.
#[derive(Clone)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn err(&self, what: &'static str) -> WireError {
        WireError { what, at: self.pos }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| self.err(what))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        Ok(self.take(N, what)?.try_into().expect("take returned N bytes"))
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn optional_bytes(&mut self, len: u32, what: &'static str) -> Result<Option<&'a [u8]>, WireError> {
        if len == ABSENT_LEN { Ok(None) } else { self.take(len as usize, what).map(Some) }
    }

    fn str(&mut self, len: usize, what: &'static str) -> Result<&'a str, WireError> {
        let at = self.pos;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| WireError { what: "invalid UTF-8", at })
    }

    /// Skips `count` encoded headers and returns them. Lengths are always checked;
    /// names are checked for UTF-8 only with `check_names` (the host checks what plugins
    /// return; a plugin trusts what the host sends and checks names as it reads them).
    fn headers(&mut self, count: u16, check_names: bool) -> Result<Headers<'a>, WireError> {
        let start = self.pos;
        for _ in 0..count {
            let name_len = self.u16("header name length")? as usize;
            if check_names {
                self.str(name_len, "header name")?;
            } else {
                self.take(name_len, "header name")?;
            }
            let value_len = self.u32("header value length")?;
            self.take(value_len as usize, "header value")?;
        }
        Ok(Headers { count, bytes: &self.buf[start..self.pos] })
    }
}

/// Reads a record's fixed-size fields, in order, from a slice already bounds-checked to
/// hold them all.
struct Fixed<'a>(&'a [u8]);

impl Fixed<'_> {
    fn next<const N: usize>(&mut self) -> [u8; N] {
        let (field, rest) = self.0.split_first_chunk::<N>().expect("fixed fields were bounds-checked");
        self.0 = rest;
        *field
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.next())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.next())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.next())
    }
}

fn timestamp_from(raw: i64) -> Option<i64> {
    (raw != NO_TIMESTAMP).then_some(raw)
}

fn len_of(bytes: Option<&[u8]>) -> u32 {
    match bytes {
        None => ABSENT_LEN,
        Some(b) => u32::try_from(b.len()).ok().filter(|&l| l != ABSENT_LEN).expect("field longer than 4 GiB"),
    }
}

/// The headers of one record, still encoded. Iterating decodes them in place; copying
/// them to an output is one `memcpy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    count: u16,
    bytes: &'a [u8],
}

impl<'a> Headers<'a> {
    pub const EMPTY: Headers<'static> = Headers { count: 0, bytes: &[] };

    /// Headers from their encoding, as [`Headers::encoded`] returned it. Nothing is
    /// checked here; iteration stops early at anything malformed.
    pub fn from_encoded(count: u16, bytes: &'a [u8]) -> Self {
        Headers { count, bytes }
    }

    /// The header count and the encoded bytes, to keep without decoding.
    pub fn encoded(&self) -> (u16, &'a [u8]) {
        (self.count, self.bytes)
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The first header with this name.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter { cursor: Cursor::new(self.bytes), left: self.count }
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// Decodes headers one at a time. Ends early, rather than failing, at a malformed header
/// (which only a broken peer can produce: both sides check what they receive).
pub struct HeaderIter<'a> {
    cursor: Cursor<'a>,
    left: u16,
}

impl<'a> HeaderIter<'a> {
    fn read(&mut self) -> Result<(&'a str, &'a [u8]), WireError> {
        let c = &mut self.cursor;
        let name_len = c.u16("header name length")? as usize;
        let name = c.str(name_len, "header name")?;
        let value_len = c.u32("header value length")? as usize;
        Ok((name, c.take(value_len, "header value")?))
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        match self.read() {
            Ok(header) => {
                self.left -= 1;
                Some(header)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

fn put_header(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    let name_len = u16::try_from(name.len()).expect("header name longer than 64 KiB");
    buf.extend_from_slice(&name_len.to_le_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(&len_of(Some(value)).to_le_bytes());
    buf.extend_from_slice(value);
}

/// What input and output records share after their first fields: key and value lengths,
/// a name (stream or route) length, the header count, then key, value, name and headers.
fn put_record_tail<'h, H>(
    buf: &mut Vec<u8>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    name_len: u16,
    name: &str,
    encoded: Headers<'_>,
    extra: H,
) where
    H: IntoIterator<Item = (&'h str, &'h [u8])>,
    H::IntoIter: ExactSizeIterator,
{
    let extra = extra.into_iter();
    buf.extend_from_slice(&len_of(key).to_le_bytes());
    buf.extend_from_slice(&len_of(value).to_le_bytes());
    buf.extend_from_slice(&name_len.to_le_bytes());
    buf.extend_from_slice(&header_count(encoded.len() + extra.len()).to_le_bytes());
    buf.extend_from_slice(key.unwrap_or_default());
    buf.extend_from_slice(value.unwrap_or_default());
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(encoded.bytes);
    for (name, value) in extra {
        put_header(buf, name, value);
    }
}

fn header_count(n: usize) -> u16 {
    u16::try_from(n).expect("more than 65535 headers on one record")
}

// ---------------------------------------------------------------------------------------
// Input batches: host → plugin.

/// One input record as a plugin sees it, borrowed from the batch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Headers<'a>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
    /// Topic, stream, subject or file the record came from.
    pub stream: &'a str,
    pub partition: u32,
    pub offset: u64,
}

/// Encodes an input batch. Reuse one writer across batches to keep its allocation.
#[derive(Default)]
pub struct BatchWriter {
    buf: Vec<u8>,
    count: u32,
}

impl BatchWriter {
    /// Starts a new batch from the named source, discarding the previous one.
    pub fn begin(&mut self, source: &str) {
        self.buf.clear();
        self.count = 0;
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        let len = u16::try_from(source.len()).expect("source name longer than 64 KiB");
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(source.as_bytes());
    }

    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Appends a record. Its headers are `encoded` (copied as they are) followed by
    /// `extra`, which must report its exact length, as slice and `Vec` iterators do.
    #[allow(clippy::too_many_arguments)]
    pub fn push<'h, H>(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        encoded: Headers<'_>,
        extra: H,
        timestamp: Option<i64>,
        stream: &str,
        partition: u32,
        offset: u64,
    ) where
        H: IntoIterator<Item = (&'h str, &'h [u8])>,
        H::IntoIter: ExactSizeIterator,
    {
        let buf = &mut self.buf;
        buf.extend_from_slice(&offset.to_le_bytes());
        buf.extend_from_slice(&partition.to_le_bytes());
        buf.extend_from_slice(&timestamp.unwrap_or(NO_TIMESTAMP).to_le_bytes());
        let stream_len = u16::try_from(stream.len()).expect("stream name longer than 64 KiB");
        put_record_tail(buf, key, value, stream_len, stream, encoded, extra);
        self.count += 1;
    }

    /// The finished encoding; valid until the next `begin`.
    pub fn finish(&mut self) -> &[u8] {
        self.buf[..4].copy_from_slice(&self.count.to_le_bytes());
        &self.buf
    }
}

/// Decodes an input batch, one record at a time, without copying.
pub struct BatchReader<'a> {
    cursor: Cursor<'a>,
    source: &'a str,
    count: u32,
    left: u32,
}

impl<'a> BatchReader<'a> {
    pub fn new(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut cursor = Cursor::new(buf);
        let count = cursor.u32("record count")?;
        let source_len = cursor.u16("source name length")?;
        let source = cursor.str(source_len as usize, "source name")?;
        Ok(BatchReader { cursor, source, count, left: count })
    }

    /// The name of the pipeline source this batch came from.
    pub fn source(&self) -> &'a str {
        self.source
    }

    /// How many records the batch holds.
    pub fn record_count(&self) -> u32 {
        self.count
    }

    fn read(&mut self) -> Result<InputRecord<'a>, WireError> {
        let c = &mut self.cursor;
        let mut fixed = Fixed(c.take(INPUT_FIXED_LEN, "record header")?);
        let (offset, partition, timestamp) = (fixed.u64(), fixed.u32(), fixed.u64() as i64);
        let (key_len, value_len, stream_len, headers) = (fixed.u32(), fixed.u32(), fixed.u16(), fixed.u16());
        Ok(InputRecord {
            key: c.optional_bytes(key_len, "key")?,
            value: c.optional_bytes(value_len, "value")?,
            stream: c.str(stream_len as usize, "stream name")?,
            headers: c.headers(headers, false)?,
            timestamp: timestamp_from(timestamp),
            partition,
            offset,
        })
    }
}

impl<'a> Iterator for BatchReader<'a> {
    type Item = Result<InputRecord<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let record = self.read();
        if record.is_err() {
            self.left = 0;
        }
        Some(record)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

// ---------------------------------------------------------------------------------------
// Results: plugin → host.

/// One output record as the host reads it back, borrowed from the result buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Headers<'a>,
    pub timestamp: Option<i64>,
    /// `None` sends the record down the pipeline's default route.
    pub route: Option<&'a str>,
}

/// Encodes a result: for each input record, in order, its outputs or its rejection.
pub struct ResultWriter {
    buf: Vec<u8>,
    outcomes: u32,
    /// Where the open outcome's output count lives, and the count so far.
    open: Option<(usize, u32)>,
}

impl ResultWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(4));
        buf.extend_from_slice(&0u32.to_le_bytes());
        ResultWriter { buf, outcomes: 0, open: None }
    }

    fn close(&mut self) {
        if let Some((at, n)) = self.open.take() {
            self.buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
        }
    }

    /// Starts the outcome of the next input record: the outputs pushed after this call
    /// belong to it. An outcome with no outputs drops the record.
    pub fn begin_outputs(&mut self) {
        self.close();
        self.buf.push(OUTCOME_OUTPUTS);
        self.open = Some((self.buf.len(), 0));
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        self.outcomes += 1;
    }

    /// Removes the open outcome and the outputs pushed into it, so that the record can
    /// be rejected instead after all.
    pub fn abandon_outputs(&mut self) {
        if let Some((count_at, _)) = self.open.take() {
            self.buf.truncate(count_at - 1);
            self.outcomes -= 1;
        }
    }

    /// Rejects the next input record; the host dead-letters it with this reason.
    pub fn reject(&mut self, reason: &str) {
        self.close();
        self.buf.push(OUTCOME_REJECTED);
        self.buf.extend_from_slice(&len_of(Some(reason.as_bytes())).to_le_bytes());
        self.buf.extend_from_slice(reason.as_bytes());
        self.outcomes += 1;
    }

    /// Appends an output to the open outcome. Its headers are `encoded` (copied as they
    /// are, typically from the input record) followed by `extra`, which must report its
    /// exact length.
    pub fn output<'h, H>(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        encoded: Headers<'_>,
        extra: H,
        timestamp: Option<i64>,
        route: Option<&str>,
    ) where
        H: IntoIterator<Item = (&'h str, &'h [u8])>,
        H::IntoIter: ExactSizeIterator,
    {
        let (_, n) = self.open.as_mut().expect("output pushed before begin_outputs");
        *n += 1;
        let route_len = match route {
            None => DEFAULT_ROUTE,
            Some(r) => {
                u16::try_from(r.len()).ok().filter(|&l| l != DEFAULT_ROUTE).expect("route name longer than 64 KiB")
            }
        };
        self.buf.extend_from_slice(&timestamp.unwrap_or(NO_TIMESTAMP).to_le_bytes());
        put_record_tail(&mut self.buf, key, value, route_len, route.unwrap_or_default(), encoded, extra);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.close();
        self.buf[..4].copy_from_slice(&self.outcomes.to_le_bytes());
        self.buf
    }
}

/// What a plugin decided for one input record.
pub enum Outcome<'a> {
    Outputs(OutputIter<'a>),
    Rejected(&'a str),
}

/// Decodes a plugin's result. The host treats the buffer as untrusted: every length is
/// checked and every name must be UTF-8.
pub struct ResultReader<'a> {
    cursor: Cursor<'a>,
    left: u32,
}

impl<'a> ResultReader<'a> {
    /// Fails unless the result holds exactly `expected` outcomes, one per input record.
    pub fn new(buf: &'a [u8], expected: u32) -> Result<Self, WireError> {
        let mut cursor = Cursor::new(buf);
        let count = cursor.u32("outcome count")?;
        if count != expected {
            return Err(cursor.err("outcome count differs from the input record count"));
        }
        Ok(ResultReader { cursor, left: count })
    }

    /// The next input record's outcome. Its outputs must be consumed before the next call.
    pub fn next_outcome(&mut self) -> Option<Result<Outcome<'a>, WireError>> {
        if self.left == 0 {
            return if self.cursor.pos == self.cursor.buf.len() {
                None
            } else {
                Some(Err(self.cursor.err("trailing bytes after the last outcome")))
            };
        }
        self.left -= 1;
        let outcome = self.read_outcome();
        if outcome.is_err() {
            self.left = 0;
            self.cursor.pos = self.cursor.buf.len();
        }
        Some(outcome)
    }

    fn read_outcome(&mut self) -> Result<Outcome<'a>, WireError> {
        let c = &mut self.cursor;
        match c.u8("outcome tag")? {
            OUTCOME_OUTPUTS => {
                let count = c.u32("output count")?;
                let start = c.clone();
                // Validate now, so that iterating the outputs cannot fail halfway.
                for _ in 0..count {
                    read_output(c, true)?;
                }
                Ok(Outcome::Outputs(OutputIter { cursor: start, left: count }))
            }
            OUTCOME_REJECTED => {
                let len = c.u32("reason length")?;
                Ok(Outcome::Rejected(c.str(len as usize, "rejection reason")?))
            }
            _ => Err(c.err("unknown outcome tag")),
        }
    }
}

/// Reads one output record. With `checked`, names must be UTF-8; without, they are taken
/// as they are, which only [`OutputIter`] does, over bytes read with `checked` before.
fn read_output<'a>(c: &mut Cursor<'a>, checked: bool) -> Result<OutputRecord<'a>, WireError> {
    let mut fixed = Fixed(c.take(OUTPUT_FIXED_LEN, "output record header")?);
    let timestamp = fixed.u64() as i64;
    let (key_len, value_len, route_len, headers) = (fixed.u32(), fixed.u32(), fixed.u16(), fixed.u16());
    Ok(OutputRecord {
        key: c.optional_bytes(key_len, "key")?,
        value: c.optional_bytes(value_len, "value")?,
        route: match route_len {
            DEFAULT_ROUTE => None,
            len if checked => Some(c.str(len as usize, "route name")?),
            len => {
                let bytes = c.take(len as usize, "route name")?;
                // SAFETY: `checked` is false only in `OutputIter`, which walks bytes that
                // `ResultReader::read_outcome` already read with `checked`, so this exact
                // slice was validated as UTF-8, and the buffer is borrowed immutably.
                Some(unsafe { std::str::from_utf8_unchecked(bytes) })
            }
        },
        headers: c.headers(headers, checked)?,
        timestamp: timestamp_from(timestamp),
    })
}

/// The outputs of one input record, already validated by [`ResultReader`].
pub struct OutputIter<'a> {
    cursor: Cursor<'a>,
    left: u32,
}

impl<'a> Iterator for OutputIter<'a> {
    type Item = OutputRecord<'a>;
    fn next(&mut self) -> Option<OutputRecord<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(read_output(&mut self.cursor, false).expect("outputs were validated by ResultReader"))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for OutputIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_batch() -> Vec<u8> {
        let mut w = BatchWriter::default();
        w.begin("orders");
        w.push(
            Some(b"k1"),
            Some(b"{\"a\":1}"),
            Headers::EMPTY,
            [("trace", &b"t1"[..]), ("x", &b""[..])],
            Some(1700),
            "topic-a",
            3,
            42,
        );
        w.push(None, None, Headers::EMPTY, std::iter::empty(), None, "", 0, u64::MAX);
        w.finish().to_vec()
    }

    #[test]
    fn input_batch_round_trips() {
        let buf = sample_batch();
        let reader = BatchReader::new(&buf).unwrap();
        assert_eq!(reader.source(), "orders");
        assert_eq!(reader.record_count(), 2);
        let records: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
        let first = &records[0];
        assert_eq!(first.key, Some(&b"k1"[..]));
        assert_eq!(first.value, Some(&b"{\"a\":1}"[..]));
        assert_eq!(first.headers.iter().collect::<Vec<_>>(), vec![("trace", &b"t1"[..]), ("x", &b""[..])]);
        assert_eq!(first.headers.get("trace"), Some(&b"t1"[..]));
        assert_eq!((first.timestamp, first.stream, first.partition, first.offset), (Some(1700), "topic-a", 3, 42));
        let second = &records[1];
        assert_eq!((second.key, second.value, second.timestamp, second.offset), (None, None, None, u64::MAX));
        assert!(second.headers.is_empty());
    }

    #[test]
    fn an_empty_value_is_not_an_absent_value() {
        let mut w = BatchWriter::default();
        w.begin("s");
        w.push(Some(b""), Some(b""), Headers::EMPTY, std::iter::empty(), None, "", 0, 0);
        let buf = w.finish().to_vec();
        let record = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        assert_eq!((record.key, record.value), (Some(&b""[..]), Some(&b""[..])));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let buf = sample_batch();
        for cut in 0..buf.len() {
            let Ok(reader) = BatchReader::new(&buf[..cut]) else {
                continue;
            };
            let results: Vec<_> = reader.collect();
            assert!(results.iter().any(Result::is_err), "cut at {cut} decoded without error");
        }
    }

    fn sample_result() -> Vec<u8> {
        let buf = sample_batch();
        let input: Vec<_> = BatchReader::new(&buf).unwrap().map(Result::unwrap).collect();
        let mut w = ResultWriter::with_capacity(64);
        w.begin_outputs();
        w.output(input[0].key, Some(b"A"), input[0].headers, [("added", &b"1"[..])], input[0].timestamp, None);
        w.output(None, Some(b"B"), Headers::EMPTY, [("h", &b"v"[..])], None, Some("audit"));
        w.begin_outputs();
        w.output(None, Some(b"discarded"), Headers::EMPTY, std::iter::empty(), None, None);
        w.abandon_outputs();
        w.reject("not JSON");
        w.finish()
    }

    #[test]
    fn result_round_trips() {
        let buf = sample_result();
        let mut reader = ResultReader::new(&buf, 2).unwrap();
        let Some(Ok(Outcome::Outputs(outputs))) = reader.next_outcome() else { panic!("expected outputs") };
        let outputs: Vec<_> = outputs.collect();
        assert_eq!(outputs.len(), 2);
        assert_eq!((outputs[0].key, outputs[0].value, outputs[0].route), (Some(&b"k1"[..]), Some(&b"A"[..]), None));
        assert_eq!(
            outputs[0].headers.iter().collect::<Vec<_>>(),
            vec![("trace", &b"t1"[..]), ("x", &b""[..]), ("added", &b"1"[..])]
        );
        assert_eq!(outputs[0].timestamp, Some(1700));
        assert_eq!((outputs[1].value, outputs[1].route), (Some(&b"B"[..]), Some("audit")));
        assert_eq!(outputs[1].headers.iter().collect::<Vec<_>>(), vec![("h", &b"v"[..])]);
        let Some(Ok(Outcome::Rejected(reason))) = reader.next_outcome() else { panic!("expected a rejection") };
        assert_eq!(reason, "not JSON");
        assert!(reader.next_outcome().is_none());
    }

    #[test]
    fn result_with_wrong_count_is_rejected() {
        let buf = sample_result();
        assert!(ResultReader::new(&buf, 3).is_err());
    }

    #[test]
    fn every_corruption_of_a_result_is_an_error_or_a_valid_decode() {
        let buf = sample_result();
        let drain = |buf: &[u8]| -> Result<usize, WireError> {
            let mut reader = ResultReader::new(buf, 2)?;
            let mut outputs = 0;
            while let Some(outcome) = reader.next_outcome() {
                if let Outcome::Outputs(it) = outcome? {
                    outputs += it.count();
                }
            }
            Ok(outputs)
        };
        for cut in 0..buf.len() {
            assert!(drain(&buf[..cut]).is_err(), "cut at {cut} decoded");
        }
        for at in 0..buf.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = buf.clone();
                bad[at] ^= flip;
                let _ = drain(&bad); // must not panic
            }
        }
        let mut trailing = buf.clone();
        trailing.push(0);
        assert!(drain(&trailing).is_err());
    }
}
