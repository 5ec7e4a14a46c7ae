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
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
}

impl Record {
    pub fn from_value(value: impl Into<Bytes>) -> Self {
        Record {
            value: Some(value.into()),
            ..Record::default()
        }
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|h| h.name() == name)
            .map(|h| &h.value)
    }

    /// The (name, value) pairs in the form the batch encoding takes.
    pub fn header_pairs(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|h| (h.name(), &h.value[..]))
    }
}

/// A record header. Names are text (as in Kafka, NATS and HTTP); values are bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    name: HeaderName,
    pub value: Bytes,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Header {
            name: HeaderName(Bytes::from(name.into())),
            value: value.into(),
        }
    }

    /// A header whose name is a slice of a shared buffer.
    pub fn from_shared(name: Bytes, value: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&name)?;
        Ok(Header {
            name: HeaderName(name),
            value,
        })
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.name(), self.value)
    }
}

/// UTF-8 text in a `Bytes`, so that header names can share the buffer they came in.
#[derive(Clone, PartialEq, Eq)]
struct HeaderName(Bytes);

impl HeaderName {
    fn as_str(&self) -> &str {
        // SAFETY: every constructor (`Header::new` from a `String`, `Header::from_shared`
        // after `from_utf8`) checks that the bytes are UTF-8, and `Bytes` is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
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
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
