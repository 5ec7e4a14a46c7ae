//! The result decoder, which the host runs on bytes a plugin returned (untrusted), never
//! panics and never reads past the buffer, whatever the plugin sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::{Outcome, ResultReader};

fuzz_target!(|data: &[u8]| {
    // The expected outcome count is the buffer's own first word half the time, so that
    // the decoder gets past its first check.
    let expected = match data.get(..4) {
        Some(word) if data.len() % 2 == 0 => u32::from_le_bytes(word.try_into().unwrap()),
        _ => 3,
    };
    let Ok(mut reader) = ResultReader::new(data, expected) else { return };
    while let Some(outcome) = reader.next_outcome() {
        match outcome {
            Ok(Outcome::Rejected(reason)) => assert!(reason.len() <= data.len()),
            Ok(Outcome::Outputs(outputs)) => {
                for output in outputs {
                    let Ok(output) = output else { return };
                    let size = output.body.key().map_or(0, <[u8]>::len) + output.body.value().map_or(0, <[u8]>::len);
                    assert!(size <= data.len());
                    for (name, value) in output.body.headers().iter() {
                        assert!(name.len() + value.len() <= data.len());
                    }
                }
            }
            Err(_) => return,
        }
    }
});
