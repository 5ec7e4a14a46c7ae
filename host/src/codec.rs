//! Records as lines of text, for the file, stdin and stdout connectors and the
//! `plugin test` command.
//!
//! Two formats ([`LineFormat`]): `lines`, where a line is a record's value and nothing
//! else, and `envelope`, where a line is a JSON object carrying the whole record:
//!
//! ```json
//! {"key":"k1","value":"{\"id\":1}","headers":[["trace","abc"]],"timestamp":1700000000000}
//! ```
//!
//! Keys, values and header values are JSON strings when they are UTF-8 and
//! `{"base64":"..."}` otherwise, so any record round-trips. Headers are a list of pairs
//! because names may repeat. Absent fields are left out.
//!
//! A `lines` line carries only the value's bytes, up to the newline: a value holding a
//! newline would come back as two records, one ending in a carriage return without it
//! (readers take `\r\n` for a line ending), and an absent value as an empty one, so such
//! records are refused ([`encode`] says why) and go to the dead-letter sink rather than
//! being written as something else.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::config::LineFormat;
use crate::record::Record;

/// Appends `record` to `out` as one line, newline included, or says why `format` cannot
/// carry it (and appends nothing).
pub fn encode(format: LineFormat, record: &Record, out: &mut Vec<u8>) -> Result<(), String> {
    match format {
        LineFormat::Lines => match record.value() {
            None => return Err(LINES_NO_VALUE.to_owned()),
            Some(value) if value.contains(&b'\n') => return Err(LINES_NEWLINE.to_owned()),
            Some([.., b'\r']) => return Err(LINES_CARRIAGE_RETURN.to_owned()),
            Some(value) => out.extend_from_slice(value),
        },
        LineFormat::Envelope => {
            serde_json::to_writer(&mut *out, &Envelope::of(record)).expect("serializing to a Vec cannot fail");
        }
    }
    out.push(b'\n');
    Ok(())
}

const LINES_NO_VALUE: &str =
    "the record has no value, which the `lines` format cannot tell from an empty one (use format = \"envelope\")";
const LINES_CARRIAGE_RETURN: &str = "the record's value ends in a carriage return, which a reader of the `lines` format takes for part of a CRLF line ending and drops (use format = \"envelope\")";
const LINES_NEWLINE: &str = "the record's value holds a newline, which the `lines` format would split into two records (use format = \"envelope\")";

/// Parses one line (without its newline) into a record.
pub fn decode(format: LineFormat, line: Bytes) -> Result<Record, String> {
    match format {
        LineFormat::Lines => Ok(Record::from_value(line)),
        LineFormat::Envelope => {
            let e: EnvelopeIn = serde_json::from_slice(&line).map_err(|e| format!("not a record envelope: {e}"))?;
            let mut record = Record::new(e.key.as_ref().map(|b| &b.0[..]), e.value.as_ref().map(|b| &b.0[..]));
            for (name, value) in e.headers {
                record.push_header(name, value.0);
            }
            record.timestamp = e.timestamp;
            record.check_encodable()?;
            Ok(record)
        }
    }
}

/// A record in envelope form, for serializing.
#[derive(Serialize)]
pub struct Envelope<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<BytesField<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<BytesField<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    headers: Vec<(&'a str, BytesField<'a>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
}

impl<'a> Envelope<'a> {
    pub fn of(record: &'a Record) -> Self {
        Envelope {
            key: record.key().map(BytesField),
            value: record.value().map(BytesField),
            headers: record.headers().map(|(name, value)| (name, BytesField(value))).collect(),
            timestamp: record.timestamp,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeIn {
    key: Option<OwnedBytes>,
    value: Option<OwnedBytes>,
    #[serde(default)]
    headers: Vec<(String, OwnedBytes)>,
    timestamp: Option<i64>,
}

struct BytesField<'a>(&'a [u8]);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Base64Field {
    base64: String,
}

impl Serialize for BytesField<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => Base64Field { base64: BASE64.encode(self.0) }.serialize(s),
        }
    }
}

struct OwnedBytes(Bytes);

impl<'de> Deserialize<'de> for OwnedBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Base64(Base64Field),
        }
        match Either::deserialize(d)? {
            Either::Text(text) => Ok(OwnedBytes(Bytes::from(text))),
            Either::Base64(b) => BASE64.decode(b.base64).map(|v| OwnedBytes(Bytes::from(v))).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(format: LineFormat, record: &Record) -> String {
        let mut out = Vec::new();
        encode(format, record, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn envelope_round_trips_text_binary_and_absent_fields() {
        let mut record = Record::new(Some(b"k1"), Some(&[0xff, 0x00, b'a']));
        record.push_header("trace", "abc");
        record.push_header("trace", "def");
        record.timestamp = Some(1_700_000_000_000);
        let text = line(LineFormat::Envelope, &record);
        assert_eq!(
            text,
            "{\"key\":\"k1\",\"value\":{\"base64\":\"/wBh\"},\"headers\":[[\"trace\",\"abc\"],[\"trace\",\"def\"]],\"timestamp\":1700000000000}\n"
        );
        let back = decode(LineFormat::Envelope, Bytes::from(text.trim_end().to_owned())).unwrap();
        assert_eq!(back, record);
        let empty = Record::default();
        assert_eq!(line(LineFormat::Envelope, &empty), "{}\n");
        assert_eq!(decode(LineFormat::Envelope, Bytes::from_static(b"{}")).unwrap(), empty);
    }

    #[test]
    fn lines_format_is_the_bare_value() {
        let record = Record::from_value("{\"a\":1}");
        assert_eq!(line(LineFormat::Lines, &record), "{\"a\":1}\n");
        assert_eq!(decode(LineFormat::Lines, Bytes::from_static(b"{\"a\":1}")).unwrap(), record);
    }

    #[test]
    fn the_lines_format_refuses_what_it_would_write_as_something_else() {
        let mut out = b"before\n".to_vec();
        assert_eq!(encode(LineFormat::Lines, &Record::from_value("a\nb"), &mut out), Err(LINES_NEWLINE.to_owned()));
        assert_eq!(encode(LineFormat::Lines, &Record::new(Some(b"k"), None), &mut out), Err(LINES_NO_VALUE.to_owned()));
        assert_eq!(
            encode(LineFormat::Lines, &Record::from_value("a\r"), &mut out),
            Err(LINES_CARRIAGE_RETURN.to_owned())
        );
        assert_eq!(out, b"before\n", "nothing is appended for a refused record");
        // An empty value is a line of its own; the envelope carries either.
        assert_eq!(line(LineFormat::Lines, &Record::from_value("")), "\n");
        assert_eq!(line(LineFormat::Envelope, &Record::from_value("a\nb")), "{\"value\":\"a\\nb\"}\n");
    }

    #[test]
    fn a_bad_envelope_says_why() {
        let err = decode(LineFormat::Envelope, Bytes::from_static(b"{\"valeu\":1}")).unwrap_err();
        assert!(err.starts_with("not a record envelope: unknown field `valeu`"), "{err}");
    }
}
