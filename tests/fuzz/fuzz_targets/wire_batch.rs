//! The batch decoder (what every SDK runs on bytes from the host) never panics, and what
//! it decodes encodes back to bytes that decode to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::{BatchReader, BatchWriter, Body, InputRecord};

/// A record's fields, owned, for comparing two decodings.
fn fields(record: &InputRecord<'_>) -> impl PartialEq + std::fmt::Debug {
    let headers: Vec<(String, Vec<u8>)> =
        record.body.headers().iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
    let (key, value) = (record.body.key().map(<[u8]>::to_vec), record.body.value().map(<[u8]>::to_vec));
    (key, value, headers, record.timestamp, record.stream.to_owned(), record.partition, record.offset)
}

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = BatchReader::new(data) else { return };
    let source = reader.source().to_owned();
    let records: Vec<InputRecord<'_>> = reader.map_while(Result::ok).collect();
    let mut writer = BatchWriter::default();
    writer.begin(&source);
    for r in &records {
        let body = Body::new(r.body.key(), r.body.value(), r.body.headers());
        writer.push(body, std::iter::empty(), r.timestamp, r.stream, r.partition, r.offset);
    }
    let encoded = writer.finish().to_vec();
    let again = BatchReader::new(&encoded).expect("a batch we encoded decodes");
    assert_eq!(again.source(), source);
    let again: Vec<InputRecord<'_>> = again.map(|r| r.expect("a record we encoded decodes")).collect();
    assert_eq!(again.len(), records.len());
    for (a, b) in records.iter().zip(&again) {
        assert_eq!(fields(a), fields(b));
    }
});
