//! The config loader refuses what it cannot use with an error; it never panics, whatever
//! the text and whatever the environment holds.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Variables expand to text that is itself hostile: quotes, newlines, brackets.
    let env = |name: &str| match name.len() % 3 {
        0 => None,
        1 => Some(format!("\"]\n[host]\nx = '{name}")),
        _ => Some("42".to_owned()),
    };
    if let Err(error) = sluice::config::Config::parse(Path::new("/nonexistent/fuzz.toml"), text, env) {
        // Every error names the file.
        assert!(error.to_string().starts_with("/nonexistent/fuzz.toml: "));
    }
});
