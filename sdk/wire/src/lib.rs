//! The batch encoding that carries records across the plugin boundary.
//!
//! `wit/plugin.wit` is the contract; its `transform.process` takes and returns a
//! `list<u8>` whose layout `sdk/SPEC.md` specifies and this crate implements, as the
//! reference for the SDKs in other languages (`tests/vectors.rs` runs the shared test
//! vectors). The host encodes
//! input batches with [`BatchWriter`] and decodes plugin results with [`ResultReader`];
//! the Rust SDK does the mirror image with [`BatchReader`] and [`ResultWriter`].
//!
//! Why bytes and not a typed `list<record>`: the canonical ABI lowers every field of a
//! typed record with its own guest `realloc` and copy, which measured 16 times slower for
//! records with two headers. One buffer costs one copy each way per batch, and both sides
//! read fields in place. The numbers are in `BENCHMARKS.md`.
//!
//! All integers are little-endian and unaligned. Lengths use sentinel values for
//! "absent" so that an optional field costs no extra tag byte:
//!
//! ```text
//! batch        := u32 record-count, u16 source-len, source, input-record*
//! input-record := u64 offset, u32 partition, i64 timestamp, u32 key-len, u32 value-len,
//!                 u16 stream-len, u16 header-count, key, value, header*, stream
//! header       := u16 name-len, name (UTF-8), u32 value-len, value
//!
//! result       := u32 record-count, outcome*            (one outcome per input record)
//! outcome      := u8 0, u32 output-count, output-record*
//!               | u8 1, u32 reason-len, reason (UTF-8)
//! output-record:= i64 timestamp, u32 key-len, u32 value-len, u16 route-len,
//!                 u16 header-count, key, value, header*, route (UTF-8)
//! ```
//!
//! Key, value and headers lie back to back in both records, so that a record passed on
//! unchanged is copied with one `memcpy` (see [`Body`]).
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
        // Names are nearly always short and ASCII, which is checked far faster than UTF-8.
        if bytes.is_ascii() {
            // SAFETY: ASCII bytes are valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
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

impl<'a> Cursor<'a> {
    /// Reads key, value and headers, which lie back to back.
    fn body(&mut self, key_len: u32, value_len: u32, headers: u16, check_names: bool) -> Result<Body<'a>, WireError> {
        let start = self.pos;
        let key = self.optional_bytes(key_len, "key")?;
        let value = self.optional_bytes(value_len, "value")?;
        let headers = self.headers(headers, check_names)?;
        Ok(Body { key, value, headers, contiguous: Some(&self.buf[start..self.pos]) })
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

/// How many bytes [`put_header`] appends for this header.
pub fn encoded_header_len(name: &str, value: &[u8]) -> usize {
    2 + name.len() + 4 + value.len()
}

/// Appends one header in the encoding that [`Headers::from_encoded`] reads.
pub fn put_header(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    let name_len = u16::try_from(name.len()).expect("header name longer than 64 KiB");
    buf.extend_from_slice(&name_len.to_le_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(&len_of(Some(value)).to_le_bytes());
    buf.extend_from_slice(value);
}

/// What input and output records share after their first fields: key and value lengths,
/// a name (stream or route) length, the header count, then key, value, headers and name.
fn put_record_tail<'h, H>(buf: &mut Vec<u8>, body: Body<'_>, name_len: u16, name: &str, extra: H)
where
    H: IntoIterator<Item = (&'h str, &'h [u8])>,
    H::IntoIter: ExactSizeIterator,
{
    let extra = extra.into_iter();
    buf.extend_from_slice(&len_of(body.key).to_le_bytes());
    buf.extend_from_slice(&len_of(body.value).to_le_bytes());
    buf.extend_from_slice(&name_len.to_le_bytes());
    buf.extend_from_slice(&header_count(body.headers.len() + extra.len()).to_le_bytes());
    match body.contiguous {
        Some(bytes) => buf.extend_from_slice(bytes),
        None => {
            buf.extend_from_slice(body.key.unwrap_or_default());
            buf.extend_from_slice(body.value.unwrap_or_default());
            buf.extend_from_slice(body.headers.bytes);
        }
    }
    for (name, value) in extra {
        put_header(buf, name, value);
    }
    buf.extend_from_slice(name.as_bytes());
}

/// A record's key, value and encoded headers: the part of a record that plugins pass on
/// unchanged most often. When the three lie back to back in one buffer, as they do in
/// every decoded record, writing them out is one copy instead of three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Body<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: Headers<'a>,
    /// Key, value and headers back to back, when they are.
    contiguous: Option<&'a [u8]>,
}

impl<'a> Body<'a> {
    /// A body from separate parts.
    pub fn new(key: Option<&'a [u8]>, value: Option<&'a [u8]>, headers: Headers<'a>) -> Self {
        Body { key, value, headers, contiguous: None }
    }

    /// A body whose key, value and headers are, in this order, exactly `bytes`.
    ///
    /// Checked in debug builds only: this is on the hot path, and a body that breaks the
    /// rule makes a malformed encoding, which the reader rejects, never undefined behaviour.
    pub fn contiguous(key: Option<&'a [u8]>, value: Option<&'a [u8]>, headers: Headers<'a>, bytes: &'a [u8]) -> Self {
        debug_assert_eq!(
            key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + headers.bytes.len(),
            bytes.len(),
            "a contiguous body must be exactly its key, value and headers"
        );
        Body { key, value, headers, contiguous: Some(bytes) }
    }

    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }
    pub fn headers(&self) -> Headers<'a> {
        self.headers
    }
    /// Key, value and headers as one slice, if they lie back to back.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        self.contiguous
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
    pub body: Body<'a>,
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

    /// Appends a record. Its headers are those of `body` followed by `extra`, which must
    /// report its exact length, as slice and `Vec` iterators do.
    pub fn push<'h, H>(
        &mut self,
        body: Body<'_>,
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
        put_record_tail(buf, body, stream_len, stream, extra);
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
        let reader = BatchReader { cursor, source, count, left: count };
        if count == 0 {
            reader.check_end()?;
        }
        Ok(reader)
    }

    /// Refuses bytes after the last record: the host never writes them, so they mean the
    /// batch is not what its count says.
    fn check_end(&self) -> Result<(), WireError> {
        match self.cursor.pos == self.cursor.buf.len() {
            true => Ok(()),
            false => Err(self.cursor.err("trailing bytes after the last record")),
        }
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
            body: c.body(key_len, value_len, headers, false)?,
            stream: c.str(stream_len as usize, "stream name")?,
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
        let record = self.read().and_then(|r| if self.left == 0 { self.check_end().map(|()| r) } else { Ok(r) });
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
    pub body: Body<'a>,
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

    /// Appends an output to the open outcome. Its headers are those of `body` followed
    /// by `extra`, which must report its exact length.
    pub fn output<'h, H>(&mut self, body: Body<'_>, extra: H, timestamp: Option<i64>, route: Option<&str>)
    where
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
        put_record_tail(&mut self.buf, body, route_len, route.unwrap_or_default(), extra);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.close();
        self.buf[..4].copy_from_slice(&self.outcomes.to_le_bytes());
        self.buf
    }
}

/// What a plugin decided for one input record.
pub enum Outcome<'r, 'a> {
    Outputs(OutputIter<'r, 'a>),
    Rejected(&'a str),
}

/// Decodes a plugin's result in one pass. The host treats the buffer as untrusted: every
/// length is checked and every name must be UTF-8; any error fails the whole result.
pub struct ResultReader<'a> {
    cursor: Cursor<'a>,
    /// Outcomes not yet read.
    left: u32,
    /// Outputs of the current outcome not yet read.
    pending: u32,
}

impl<'a> ResultReader<'a> {
    /// Fails unless the result holds exactly `expected` outcomes, one per input record.
    pub fn new(buf: &'a [u8], expected: u32) -> Result<Self, WireError> {
        let mut cursor = Cursor::new(buf);
        let count = cursor.u32("outcome count")?;
        if count != expected {
            return Err(cursor.err("outcome count differs from the input record count"));
        }
        Ok(ResultReader { cursor, left: count, pending: 0 })
    }

    /// The next input record's outcome. Outputs the caller left unread are skipped (and
    /// still checked).
    pub fn next_outcome(&mut self) -> Option<Result<Outcome<'_, 'a>, WireError>> {
        match self.read_tag() {
            Ok(None) => None,
            Ok(Some(None)) => Some(Ok(Outcome::Outputs(OutputIter { reader: self }))),
            Ok(Some(Some(reason))) => Some(Ok(Outcome::Rejected(reason))),
            Err(e) => {
                self.fail();
                Some(Err(e))
            }
        }
    }

    /// Stops reading after an error: the whole result is unusable.
    fn fail(&mut self) {
        self.left = 0;
        self.pending = 0;
        self.cursor.pos = self.cursor.buf.len();
    }

    /// Reads up to the next outcome's body: `None` at the end, `Some(None)` for outputs
    /// (their count now `pending`), `Some(Some(reason))` for a rejection.
    #[allow(clippy::type_complexity)]
    fn read_tag(&mut self) -> Result<Option<Option<&'a str>>, WireError> {
        while self.pending > 0 {
            self.pending -= 1;
            read_output(&mut self.cursor)?;
        }
        if self.left == 0 {
            return match self.cursor.pos == self.cursor.buf.len() {
                true => Ok(None),
                false => Err(self.cursor.err("trailing bytes after the last outcome")),
            };
        }
        self.left -= 1;
        let c = &mut self.cursor;
        match c.u8("outcome tag")? {
            OUTCOME_OUTPUTS => {
                self.pending = c.u32("output count")?;
                Ok(Some(None))
            }
            OUTCOME_REJECTED => {
                let len = c.u32("reason length")?;
                Ok(Some(Some(c.str(len as usize, "rejection reason")?)))
            }
            _ => Err(c.err("unknown outcome tag")),
        }
    }
}

fn read_output<'a>(c: &mut Cursor<'a>) -> Result<OutputRecord<'a>, WireError> {
    let mut fixed = Fixed(c.take(OUTPUT_FIXED_LEN, "output record header")?);
    let timestamp = fixed.u64() as i64;
    let (key_len, value_len, route_len, headers) = (fixed.u32(), fixed.u32(), fixed.u16(), fixed.u16());
    let body = c.body(key_len, value_len, headers, true)?;
    let route = match route_len {
        DEFAULT_ROUTE => None,
        len => Some(c.str(len as usize, "route name")?),
    };
    Ok(OutputRecord { body, route, timestamp: timestamp_from(timestamp) })
}

/// The outputs of one input record, read as they are iterated.
pub struct OutputIter<'r, 'a> {
    reader: &'r mut ResultReader<'a>,
}

impl<'a> Iterator for OutputIter<'_, 'a> {
    type Item = Result<OutputRecord<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.pending == 0 {
            return None;
        }
        self.reader.pending -= 1;
        let output = read_output(&mut self.reader.cursor);
        if output.is_err() {
            self.reader.fail();
        }
        Some(output)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.reader.pending as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_batch() -> Vec<u8> {
        let mut w = BatchWriter::default();
        w.begin("orders");
        let body = Body::new(Some(b"k1"), Some(b"{\"a\":1}"), Headers::EMPTY);
        w.push(body, [("trace", &b"t1"[..]), ("x", &b""[..])], Some(1700), "topic-a", 3, 42);
        w.push(Body::new(None, None, Headers::EMPTY), [], None, "", 0, u64::MAX);
        w.finish().to_vec()
    }

    #[test]
    fn encoded_header_len_is_what_put_header_appends() {
        for (name, value) in [("", &b""[..]), ("trace", b"t-1"), ("x", &[0; 300][..])] {
            let mut buf = Vec::new();
            put_header(&mut buf, name, value);
            assert_eq!(encoded_header_len(name, value), buf.len(), "header `{name}`");
        }
    }

    #[test]
    fn input_batch_round_trips() {
        let buf = sample_batch();
        let reader = BatchReader::new(&buf).unwrap();
        assert_eq!(reader.source(), "orders");
        assert_eq!(reader.record_count(), 2);
        let records: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
        let first = records[0].body;
        assert_eq!(first.key(), Some(&b"k1"[..]));
        assert_eq!(first.value(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(first.headers().iter().collect::<Vec<_>>(), vec![("trace", &b"t1"[..]), ("x", &b""[..])]);
        assert_eq!(first.headers().get("trace"), Some(&b"t1"[..]));
        let r = &records[0];
        assert_eq!((r.timestamp, r.stream, r.partition, r.offset), (Some(1700), "topic-a", 3, 42));
        let second = &records[1];
        assert_eq!(
            (second.body.key(), second.body.value(), second.timestamp, second.offset),
            (None, None, None, u64::MAX)
        );
        assert!(second.body.headers().is_empty());
    }

    #[test]
    fn an_empty_value_is_not_an_absent_value() {
        let mut w = BatchWriter::default();
        w.begin("s");
        w.push(Body::new(Some(b""), Some(b""), Headers::EMPTY), [], None, "", 0, 0);
        let buf = w.finish().to_vec();
        let record = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        assert_eq!((record.body.key(), record.body.value()), (Some(&b""[..]), Some(&b""[..])));
    }

    #[test]
    fn a_decoded_body_is_contiguous_and_forwards_as_one_copy() {
        let buf = sample_batch();
        let record = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let bytes = record.body.bytes().expect("decoded bodies are contiguous");
        assert!(bytes.starts_with(b"k1{\"a\":1}"));
        let mut w = ResultWriter::with_capacity(64);
        w.begin_outputs();
        w.output(record.body, [], record.timestamp, Some("r"));
        let result = w.finish();
        let mut reader = ResultReader::new(&result, 1).unwrap();
        let Some(Ok(Outcome::Outputs(mut outputs))) = reader.next_outcome() else { panic!("expected outputs") };
        let out = outputs.next().unwrap().unwrap();
        assert_eq!(out.body.bytes(), Some(bytes));
        assert_eq!((out.body.key(), out.route, out.timestamp), (Some(&b"k1"[..]), Some("r"), Some(1700)));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a contiguous body must be exactly its key, value and headers")]
    fn a_contiguous_body_must_add_up() {
        Body::contiguous(Some(b"k"), Some(b"v"), Headers::EMPTY, b"kv!");
    }

    #[test]
    fn header_names_that_are_not_utf8_end_iteration_instead_of_panicking() {
        // name-len 1, name 0xff, value-len 0; then a valid header that is never reached.
        let encoded = [1, 0, 0xff, 0, 0, 0, 0, 1, 0, b'a', 0, 0, 0, 0];
        assert_eq!(Headers::from_encoded(2, &encoded).iter().count(), 0);
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
        let first = input[0].body;
        let mut w = ResultWriter::with_capacity(64);
        w.begin_outputs();
        w.output(Body::new(first.key(), Some(b"A"), first.headers()), [("added", &b"1"[..])], input[0].timestamp, None);
        w.output(Body::new(None, Some(b"B"), Headers::EMPTY), [("h", &b"v"[..])], None, Some("audit"));
        w.begin_outputs();
        w.output(Body::new(None, Some(b"discarded"), Headers::EMPTY), [], None, None);
        w.abandon_outputs();
        w.reject("not JSON");
        w.finish()
    }

    #[test]
    fn result_round_trips() {
        let buf = sample_result();
        let mut reader = ResultReader::new(&buf, 2).unwrap();
        let Some(Ok(Outcome::Outputs(outputs))) = reader.next_outcome() else { panic!("expected outputs") };
        let outputs: Vec<_> = outputs.collect::<Result<_, _>>().unwrap();
        assert_eq!(outputs.len(), 2);
        let (a, b) = (outputs[0].body, outputs[1].body);
        assert_eq!((a.key(), a.value(), outputs[0].route), (Some(&b"k1"[..]), Some(&b"A"[..]), None));
        assert_eq!(
            a.headers().iter().collect::<Vec<_>>(),
            vec![("trace", &b"t1"[..]), ("x", &b""[..]), ("added", &b"1"[..])]
        );
        assert_eq!(outputs[0].timestamp, Some(1700));
        assert_eq!((b.value(), outputs[1].route), (Some(&b"B"[..]), Some("audit")));
        assert_eq!(b.headers().iter().collect::<Vec<_>>(), vec![("h", &b"v"[..])]);
        let Some(Ok(Outcome::Rejected(reason))) = reader.next_outcome() else { panic!("expected a rejection") };
        assert_eq!(reason, "not JSON");
        assert!(reader.next_outcome().is_none());
    }

    #[test]
    fn outputs_left_unread_are_skipped() {
        let buf = sample_result();
        let mut reader = ResultReader::new(&buf, 2).unwrap();
        assert!(matches!(reader.next_outcome(), Some(Ok(Outcome::Outputs(_)))));
        assert!(matches!(reader.next_outcome(), Some(Ok(Outcome::Rejected("not JSON")))));
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
                    for output in it {
                        output?;
                        outputs += 1;
                    }
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
