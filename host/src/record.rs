//! The record as it moves through the host.
//!
//! Fields are `Bytes` so that slicing a plugin's result buffer into records, fanning a
//! record out to several sinks, and copying it into a dead-letter record are reference
//! count bumps rather than copies.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// A message: what sources produce, plugins transform and sinks write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Headers,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
}

impl Record {
    pub fn from_value(value: impl Into<Bytes>) -> Self {
        Record { value: Some(value.into()), ..Record::default() }
    }
}

/// A record's headers. Names are text (as in Kafka, NATS and HTTP); values are bytes.
///
/// Headers that came back from a plugin stay in the batch encoding, as one slice of the
/// plugin's result: decoding them into separate values for every record would cost more
/// than the rest of the record, and most are only ever copied to the next plugin or
/// written out once. Headers added by the host or a source are kept as values after them.
#[derive(Clone, Default)]
pub struct Headers {
    /// Checked when the result was decoded: lengths fit and names are UTF-8.
    encoded: Bytes,
    encoded_count: u16,
    added: Vec<Header>,
}

impl Headers {
    /// Headers still in the batch encoding, already checked by the result decoder.
    pub(crate) fn from_checked_encoding(encoded: Bytes, count: u16) -> Self {
        Headers { encoded, encoded_count: count, added: Vec::new() }
    }

    pub fn push(&mut self, name: impl Into<Arc<str>>, value: impl Into<Bytes>) {
        self.added.push(Header { name: name.into(), value: value.into() });
    }

    pub fn len(&self) -> usize {
        self.encoded_count as usize + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (name, value) pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.encoded().iter().chain(self.added())
    }

    /// The first header called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The headers still in the batch encoding, to copy as they are.
    pub(crate) fn encoded(&self) -> sluice_wire::Headers<'_> {
        sluice_wire::Headers::from_encoded(self.encoded_count, &self.encoded)
    }

    /// The headers added as values, after the encoded ones.
    pub(crate) fn added(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> {
        self.added.iter().map(|h| (&*h.name, &h.value[..]))
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(headers: I) -> Self {
        Headers { added: headers.into_iter().collect(), ..Headers::default() }
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|(n, v)| (n, Bytes::copy_from_slice(v)))).finish()
    }
}

/// One header, as a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: Arc<str>,
    pub value: Bytes,
}

impl Header {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Bytes>) -> Self {
        Header { name: name.into(), value: value.into() }
    }
}

/// Where an input record came from. Plugins see it; sinks do not (outputs are new records).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// The topic, stream, subject or file within the source.
    pub stream: Arc<str>,
    /// 0 for sources without partitions.
    pub partition: u32,
    /// The record's position in the stream (for files, the byte offset of the line).
    pub offset: u64,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
