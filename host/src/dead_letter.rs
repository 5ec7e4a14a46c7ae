//! What a dead letter carries, so that a dead-letter sink is never the reason a pipeline
//! stops.
//!
//! A dead letter is the record as it failed, with `sluice.*` headers that say why and
//! where from. Two things could make it one the dead-letter sink cannot take: a reason of
//! any length (a plugin's reject reason is bounded only by `result_bytes`, and it is
//! copied into a header), and a record that was just under its broker's size limit before
//! the headers were added. A dead letter the dead-letter sink refuses has nowhere else to
//! go, so its batch would stay unacknowledged and the pipeline would stop, and after a
//! restart the same record fails the same way. Hence:
//!
//! - reasons are cut to [`MAX_REASON_BYTES`], with a marker saying how much was cut;
//! - a dead letter its sink refuses is written again [`slim`]: the `sluice.*` headers
//!   (which say what failed and where the record is at its source), the sizes of what was
//!   left out, its timestamp as a header, and why, without the key, value, other headers
//!   and timestamp (a timestamp out of the topic's range is one reason a broker refuses a
//!   record: the sink stamps the slim one with the time it is written).

use crate::record::{Record, RecordMeta};

/// The longest reason a dead letter carries, in bytes: enough for any error message and
/// a backtrace's first frames, small next to any broker's record limit.
pub const MAX_REASON_BYTES: usize = 4096;

/// `reason`, cut to at most [`MAX_REASON_BYTES`] at a character boundary, with a marker.
pub fn reason(mut reason: String) -> String {
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let total = reason.len();
    // Room for the marker, whose number has at most 20 digits.
    let mut end = MAX_REASON_BYTES - 48;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.truncate(end);
    reason.push_str(&format!("… [{} more bytes cut]", total - end));
    reason
}

/// Adds the headers that say where a dead letter's record came from: the source by name,
/// and the stream, partition and offset within it.
pub fn push_origin(record: &mut Record, source: &str, meta: &RecordMeta) {
    record.push_header("sluice.source", source.to_owned());
    record.push_header("sluice.stream", meta.stream.to_string());
    record.push_header("sluice.partition", meta.partition.to_string());
    record.push_header("sluice.offset", meta.offset.to_string());
}

/// A dead letter cut down to what says what failed and where the record is: its
/// `sluice.*` headers, the sizes of its key, value and other headers, its timestamp (in
/// `sluice.timestamp`), and `why` the full one could not be written (in
/// `sluice.dead_letter`).
pub fn slim(record: &Record, why: &str) -> Record {
    let mut slim = Record::new(None, None);
    let mut other_headers = 0usize;
    for (name, value) in record.headers() {
        match name.starts_with("sluice.") {
            true => slim.push_header(name.to_owned(), value.to_vec()),
            false => other_headers += name.len() + value.len(),
        }
    }
    let size = |field: Option<&[u8]>| field.map_or_else(|| "absent".to_owned(), |f| f.len().to_string());
    slim.push_header("sluice.key_bytes", size(record.key()));
    slim.push_header("sluice.value_bytes", size(record.value()));
    slim.push_header("sluice.headers_bytes", other_headers.to_string());
    if let Some(timestamp) = record.timestamp {
        slim.push_header("sluice.timestamp", timestamp.to_string());
    }
    slim.push_header(
        "sluice.dead_letter",
        reason(format!("the full dead letter was refused ({why}); its key, value and other headers were left out")),
    );
    slim
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary_with_a_marker() {
        assert_eq!(reason("short".into()), "short");
        let exact = "x".repeat(MAX_REASON_BYTES);
        assert_eq!(reason(exact.clone()), exact);
        let long = "é".repeat(1 << 20);
        let cut = reason(long.clone());
        assert!(cut.len() <= MAX_REASON_BYTES, "{}", cut.len());
        let kept = cut.split('…').next().unwrap();
        assert!(long.starts_with(kept));
        assert!(cut.ends_with(&format!("… [{} more bytes cut]", long.len() - kept.len())), "{cut}");
    }

    #[test]
    fn a_slim_dead_letter_keeps_what_says_what_failed_and_where() {
        let mut record = Record::new(Some(b"key"), Some(&[b'v'; 1000]));
        record.timestamp = Some(7);
        record.push_header("trace", "abc");
        record.push_header("sluice.error", "bad");
        record.push_header("sluice.offset", "42");
        let slim = slim(&record, "too large");
        assert_eq!((slim.key(), slim.value(), slim.timestamp), (None, None, None));
        let headers: Vec<(&str, &[u8])> = slim.headers().collect();
        assert_eq!(
            headers,
            [
                ("sluice.error", b"bad".as_slice()),
                ("sluice.offset", b"42"),
                ("sluice.key_bytes", b"3"),
                ("sluice.value_bytes", b"1000"),
                ("sluice.headers_bytes", b"8"),
                ("sluice.timestamp", b"7"),
                (
                    "sluice.dead_letter",
                    b"the full dead letter was refused (too large); its key, value and other headers were left out"
                ),
            ]
        );
    }
}
