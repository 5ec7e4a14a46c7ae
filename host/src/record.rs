//! The record as it moves through the host.
//!
//! A record owns one buffer holding its key, value and encoded headers back to back, the
//! same layout as a record in the plugin batch encoding. Records that come back from a
//! plugin are slices of the plugin's result, so decoding a batch costs one reference count
//! per record rather than one per field; fanning a record out to several sinks costs
//! another, never a copy; and passing a record to the next plugin is one `memcpy`.

use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sluice_wire::{Body, Headers};

/// A message: what sources produce, plugins transform and sinks write.
#[derive(Clone, Default)]
pub struct Record {
    /// Key, value and encoded headers, back to back.
    data: Bytes,
    key_len: Option<u32>,
    value_len: Option<u32>,
    /// How many headers `data` holds after the value (checked when they were decoded).
    encoded_headers: u16,
    /// Headers added by the host or a source, after the encoded ones.
    added_headers: Vec<Header>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
}

/// The widest fields the plugin batch encoding carries (`wit/plugin.wit`): a key or value
/// length is a u32 whose largest value means "absent", header names and the header count
/// are u16s.
const MAX_FIELD: usize = u32::MAX as usize - 1;
const MAX_HEADER_NAME: usize = u16::MAX as usize;
const MAX_HEADERS: usize = u16::MAX as usize;

/// Why a record with these fields cannot cross the plugin boundary, if it cannot. Sources
/// refuse such records at read, as malformed, rather than let them reach the encoder.
fn check_fields(key: Option<usize>, value: Option<usize>, names: impl Iterator<Item = usize>) -> Result<(), String> {
    for (field, len) in [("key", key), ("value", value)] {
        if let Some(len) = len.filter(|&l| l > MAX_FIELD) {
            return Err(format!("the record's {field} is {len} bytes; at most {MAX_FIELD} are allowed"));
        }
    }
    let mut count = 0;
    for len in names {
        count += 1;
        if len > MAX_HEADER_NAME {
            return Err(format!("a header name is {len} bytes; at most {MAX_HEADER_NAME} are allowed"));
        }
    }
    match count > MAX_HEADERS {
        true => Err(format!("the record has {count} headers; at most {MAX_HEADERS} are allowed")),
        false => Ok(()),
    }
}

fn len_u32(field: &[u8]) -> u32 {
    u32::try_from(field.len()).expect("record field larger than 4 GiB")
}

impl Record {
    /// A record with only a value, sharing the value's buffer.
    pub fn from_value(value: impl Into<Bytes>) -> Self {
        let data = value.into();
        Record { value_len: Some(len_u32(&data)), data, ..Record::default() }
    }

    /// A record with a copy of `key` and `value` in one new buffer.
    pub fn new(key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        let mut data = BytesMut::with_capacity(key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len));
        data.extend_from_slice(key.unwrap_or_default());
        data.extend_from_slice(value.unwrap_or_default());
        Record { data: data.freeze(), key_len: key.map(len_u32), value_len: value.map(len_u32), ..Record::default() }
    }

    /// A record with a copy of `key`, `value` and `headers` in one new buffer: how
    /// records read from a broker are built. `Err` says why the fields cannot cross the
    /// plugin boundary (see [`Record::check_encodable`]).
    ///
    /// `headers` is walked twice (it is `Clone`): once to check and size, so that the
    /// buffer is allocated once per record rather than grown header by header.
    pub fn with_headers<'h, H>(key: Option<&[u8]>, value: Option<&[u8]>, headers: H) -> Result<Self, String>
    where
        H: IntoIterator<Item = (&'h str, &'h [u8])>,
        H::IntoIter: Clone,
    {
        let headers = headers.into_iter();
        check_fields(key.map(<[u8]>::len), value.map(<[u8]>::len), headers.clone().map(|(name, _)| name.len()))?;
        let header_bytes: usize =
            headers.clone().map(|(name, value)| sluice_wire::encoded_header_len(name, value)).sum();
        let mut count: u16 = 0;
        let mut data = Vec::with_capacity(key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + header_bytes);
        data.extend_from_slice(key.unwrap_or_default());
        data.extend_from_slice(value.unwrap_or_default());
        for (name, value) in headers {
            count += 1;
            sluice_wire::put_header(&mut data, name, value);
        }
        Ok(Record {
            data: data.into(),
            key_len: key.map(len_u32),
            value_len: value.map(len_u32),
            encoded_headers: count,
            ..Record::default()
        })
    }

    /// A record that shares `buf`, a decoded plugin result, for its contiguous `body`.
    pub(crate) fn from_shared(buf: &Bytes, body: Body<'_>) -> Self {
        let bytes = body.bytes().expect("decoded bodies are contiguous");
        Record {
            data: buf.slice_ref(bytes),
            key_len: body.key().map(len_u32),
            value_len: body.value().map(len_u32),
            encoded_headers: body.headers().len() as u16,
            added_headers: Vec::new(),
            timestamp: None,
        }
    }

    fn key_end(&self) -> usize {
        self.key_len.unwrap_or(0) as usize
    }

    fn value_end(&self) -> usize {
        self.key_end() + self.value_len.unwrap_or(0) as usize
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.key_len.map(|_| &self.data[..self.key_end()])
    }

    pub fn value(&self) -> Option<&[u8]> {
        self.value_len.map(|_| &self.data[self.key_end()..self.value_end()])
    }

    /// Headers as (name, value) pairs, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.encoded_headers().iter().chain(self.added_headers())
    }

    /// Whether the record fits the plugin batch encoding: a key and value under 4 GiB,
    /// header names under 64 KiB, at most 65 535 headers. `Err` says what is too large.
    pub fn check_encodable(&self) -> Result<(), String> {
        check_fields(
            self.key().map(<[u8]>::len),
            self.value().map(<[u8]>::len),
            self.headers().map(|(name, _)| name.len()),
        )
    }

    pub fn header_count(&self) -> usize {
        self.encoded_headers as usize + self.added_headers.len()
    }

    /// Adds a header after the existing ones.
    pub fn push_header(&mut self, name: impl Into<Arc<str>>, value: impl Into<Bytes>) {
        self.added_headers.push(Header { name: name.into(), value: value.into() });
    }

    fn encoded_headers(&self) -> Headers<'_> {
        Headers::from_encoded(self.encoded_headers, &self.data[self.value_end()..])
    }

    /// Key, value and encoded headers, for the batch encoding: one copy.
    pub(crate) fn body(&self) -> Body<'_> {
        Body::contiguous(self.key(), self.value(), self.encoded_headers(), &self.data)
    }

    /// The headers added as values, which follow the body's.
    pub(crate) fn added_headers(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> {
        self.added_headers.iter().map(|h| (&*h.name, &h.value[..]))
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
            && self.value() == other.value()
            && self.timestamp == other.timestamp
            && self.header_count() == other.header_count()
            && self.headers().eq(other.headers())
    }
}

impl Eq for Record {}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn text(b: Option<&[u8]>) -> Option<std::borrow::Cow<'_, str>> {
            b.map(String::from_utf8_lossy)
        }
        let headers: Vec<_> = self.headers().map(|(n, v)| (n, String::from_utf8_lossy(v))).collect();
        f.debug_struct("Record")
            .field("key", &text(self.key()))
            .field("value", &text(self.value()))
            .field("headers", &headers)
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// One header added as a value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    name: Arc<str>,
    value: Bytes,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_too_wide_for_the_batch_encoding_are_refused_not_built() {
        let long_name = "h".repeat(70_000);
        let err = Record::with_headers(None, Some(b"v"), [(long_name.as_str(), &b"x"[..])]).unwrap_err();
        assert_eq!(err, "a header name is 70000 bytes; at most 65535 are allowed");
        let many = vec![("h", &b""[..]); 70_000];
        let err = Record::with_headers(None, Some(b"v"), many).unwrap_err();
        assert_eq!(err, "the record has 70000 headers; at most 65535 are allowed");
        let most = vec![("h", &b""[..]); 65_535];
        assert_eq!(Record::with_headers(None, None, most).unwrap().header_count(), 65_535);
    }
}
