//! Loading a plugin file refuses anything that is not a usable component with an error;
//! it never panics, whatever the bytes.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sluice::plugin::PluginEngine;

fn engine() -> &'static Arc<PluginEngine> {
    static ENGINE: OnceLock<Arc<PluginEngine>> = OnceLock::new();
    ENGINE.get_or_init(|| PluginEngine::new().expect("the engine starts"))
}

fuzz_target!(|data: &[u8]| {
    let _ = engine().compile("fuzz", data);
    let _ = engine().inspect("fuzz", data);
});
