"""The Python plugins of `host/benches/languages.rs`, run natively by CPython through
the SDK's own batch loop with the same records, for the "native CPython" column of
BENCHMARKS.md. Run by `scripts/bench-languages` with the toolchain's Python:

    python examples/bench/python-native.py target/bench-projects/json-python
"""

import statistics
import sys
import time
from pathlib import Path

root = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "sdk" / "python"))
sys.path.insert(0, sys.argv[1])

import app  # noqa: E402  (the JSON transform project's app.py)

import sluice_sdk as sluice  # noqa: E402
from sluice_sdk import _plugin, _wire  # noqa: E402
from sluice_sdk.testing import TestRecord  # noqa: E402

LEVELS = ["info", "warn", "error", "debug"]


def records(n):
    """The records of `languages.rs`: ~100-byte JSON log lines, a key, one header."""
    return [
        TestRecord(
            f'{{"id":{i + 1:>8},"level":"{LEVELS[i % 4]}","msg":"request served in 12 ms","path":"/api/v1/orders"}}'.encode(),
            key=f"host-{i % 1000:04}".encode(),
            headers=[("trace-id", b"0123456789abcdef")],
            timestamp=1_700_000_000_000 + i,
            stream="logs",
            offset=i,
        )
        for i in range(n)
    ]


plugins = {"identity": sluice.Plugin(sluice.Config()), "json": app.Tag(sluice.Config())}
for name, plugin in plugins.items():
    for n in (1, 100, 1000):
        batch = _wire.encode_batch("bench", records(n))
        calls = max(1, 20_000 // n)
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(calls):
                _plugin.process_batch(plugin, batch)
            samples.append((time.perf_counter() - start) / calls / n)
        print(f"native {name}-python/{n}: {statistics.median(samples) * 1e6:.2f} µs/record (CPython {sys.version.split()[0]})")
