"""An identity plugin written with the Python SDK: `sluice.Plugin`'s default `process`
forwards every record unchanged. `host/benches/languages.rs` measures it next to the Rust
SDK's identity (`plugins/rust/passthrough`) and next to `examples/bench/python-identity`,
the same written straight against the batch encoding, to show what the SDK costs."""

import sluice_sdk as sluice

Transform = sluice.export(sluice.Plugin)
