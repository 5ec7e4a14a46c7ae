//! Writes its results byte by byte, so that the host's tests can check what no SDK lets a
//! plugin do: invalid UTF-8 where the contract expects a name or a message.
//!
//! By record value:
//! - `badroute` names its output's route with bytes that are not UTF-8;
//! - `badheader` gives its output a header whose name is not UTF-8;
//! - `badreason` is rejected with a reason that is not UTF-8;
//! - `badlog` calls the host's `log` with a message that is not UTF-8, through the raw
//!   import (the generated binding only takes a `&str`);
//! - anything else is forwarded unchanged on the default route.

wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });

use exports::sluice::plugin::transform::Guest;
use sluice_wire::BatchReader;

const NOT_UTF8: &[u8] = &[0xff, 0xfe, b'x'];
const ABSENT: u32 = u32::MAX;
const DEFAULT_ROUTE: u16 = u16::MAX;
const NO_TIMESTAMP: i64 = i64::MIN;

struct RawWire;

impl Guest for RawWire {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn process(batch: Vec<u8>) -> Result<Vec<u8>, String> {
        let reader = BatchReader::new(&batch).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(batch.len() + 16);
        out.extend_from_slice(&reader.record_count().to_le_bytes());
        for record in reader {
            let record = record.map_err(|e| e.to_string())?;
            let body = record.body;
            let value = body.value().unwrap_or_default();
            if value == b"badreason" {
                out.push(1);
                out.extend_from_slice(&(NOT_UTF8.len() as u32).to_le_bytes());
                out.extend_from_slice(NOT_UTF8);
                continue;
            }
            if value == b"badlog" {
                log_raw(NOT_UTF8);
            }
            let (count, headers) = body.headers().encoded();
            let bad_header = value == b"badheader";
            let route: Option<&[u8]> = (value == b"badroute").then_some(NOT_UTF8);
            out.push(0);
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&record.timestamp.unwrap_or(NO_TIMESTAMP).to_le_bytes());
            out.extend_from_slice(&body.key().map_or(ABSENT, |k| k.len() as u32).to_le_bytes());
            out.extend_from_slice(&body.value().map_or(ABSENT, |v| v.len() as u32).to_le_bytes());
            out.extend_from_slice(&route.map_or(DEFAULT_ROUTE, |r| r.len() as u16).to_le_bytes());
            out.extend_from_slice(&(count + u16::from(bad_header)).to_le_bytes());
            out.extend_from_slice(body.key().unwrap_or_default());
            out.extend_from_slice(value);
            out.extend_from_slice(headers);
            if bad_header {
                out.extend_from_slice(&(NOT_UTF8.len() as u16).to_le_bytes());
                out.extend_from_slice(NOT_UTF8);
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            out.extend_from_slice(route.unwrap_or_default());
        }
        Ok(out)
    }
}

#[link(wasm_import_module = "sluice:plugin/host@0.1.0")]
unsafe extern "C" {
    /// `sluice:plugin/host.log(level, message, fields)` as the canonical ABI lowers it: the
    /// level's discriminant, the message's pointer and length, the fields' pointer and length.
    #[link_name = "log"]
    fn raw_log(level: i32, message: *const u8, message_len: usize, fields: *const u8, fields_len: usize);
}

fn log_raw(message: &[u8]) {
    // SAFETY: the pointers and lengths describe live memory of this instance (the message
    // slice, and an empty list of fields), which is all the import reads; that the bytes
    // are not UTF-8 is the point: the host must refuse them, not trust them.
    unsafe { raw_log(2, message.as_ptr(), message.len(), std::ptr::null(), 0) }
}

export!(RawWire);
