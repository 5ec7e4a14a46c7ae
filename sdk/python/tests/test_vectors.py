"""The shared wire-format vectors (`sdk/vectors/`, specified in `sdk/SPEC.md`) through
this SDK's own batch loop: every valid batch decodes to its records, every malformed one
fails the call, and every valid result is written byte for byte."""

import base64
import json
from pathlib import Path

import pytest

import sluice_sdk as sluice
from sluice_sdk import _plugin, _wire

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def load(kind):
    doc = json.loads((VECTORS / f"{kind}.json").read_text())
    assert doc["encoding"] == 1
    return doc


def data(v):
    """A byte string of the vector JSON: text, {"base64"} or {"repeat", "count"}."""
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode()
    if "base64" in v:
        return base64.b64decode(v["base64"])
    return v["repeat"].encode() * v["count"]


def text(v):
    return None if v is None else data(v).decode()


def headers(v):
    if isinstance(v, dict):
        name, value = v["repeat"]
        return [(text(name), data(value))] * v["count"]
    return [(text(name), data(value)) for name, value in v]


def int64(v):
    return None if v is None else int(v)


class Capture(sluice.Plugin):
    """Records what it sees and forwards every record."""

    def __init__(self, config):
        self.seen = []

    def process(self, record, out):
        self.seen.append(
            {
                "source": record.source,
                "offset": record.offset,
                "partition": record.partition,
                "timestamp": record.timestamp,
                "key": record.key,
                "value": record.value,
                "headers": record.headers,
                "stream": record.stream,
            }
        )
        out.forward()


BATCHES = load("batches")
RESULTS = load("results")


@pytest.mark.parametrize("case", BATCHES["valid"], ids=lambda c: c["name"])
def test_valid_batch_decodes_to_its_records(case):
    batch = (VECTORS / case["file"]).read_bytes()
    plugin = Capture(None)
    result = _plugin.process_batch(plugin, batch)
    expected = [
        {
            "source": text(case["source"]),
            "offset": int(r["offset"]),
            "partition": r["partition"],
            "timestamp": int64(r["timestamp"]),
            "key": data(r["key"]),
            "value": data(r["value"]),
            "headers": headers(r["headers"]),
            "stream": text(r["stream"]),
        }
        for r in case["records"]
    ]
    assert plugin.seen == expected
    # Forwarding every record gives them back unchanged, on the default route.
    forwarded = _wire.decode_result(result, len(expected))
    assert [[(route, key, value, hs) for route, _, key, value, hs in o] for o in forwarded] == [
        [(None, r["key"], r["value"], r["headers"])] for r in expected
    ]


class Same(sluice.MapValues):
    def map_value(self, value):
        return value


class All(sluice.Filter):
    def keep(self, record):
        return True


# Each loop of the SDK: forward (a plain Plugin), map, filter, and process per record.
LOOPS = [sluice.Plugin, Same, All, Capture]


@pytest.mark.parametrize("case", BATCHES["valid"], ids=lambda c: c["name"])
def test_every_loop_forwards_a_valid_batch_alike(case):
    batch = (VECTORS / case["file"]).read_bytes()
    results = {loop.__name__: _plugin.process_batch(loop(None), batch) for loop in LOOPS}
    assert len(set(results.values())) == 1, results.keys()


@pytest.mark.parametrize("loop", LOOPS, ids=lambda loop: loop.__name__)
@pytest.mark.parametrize("case", BATCHES["malformed"], ids=lambda c: c["name"])
def test_malformed_batch_is_refused(case, loop):
    with pytest.raises(sluice.WireError):
        _plugin.process_batch(loop(None), data(case["bytes"]))


class Replay(sluice.Plugin):
    """Emits, for the record at offset i, the i-th outcome of a result vector."""

    def __init__(self, outcomes):
        self.outcomes = outcomes

    def process(self, record, out):
        outcome = self.outcomes[record.offset]
        if "rejected" in outcome:
            raise sluice.Reject(text(outcome["rejected"]))
        for o in outcome["outputs"]:
            emitted = sluice.OutRecord(data(o["value"]), data(o["key"]), headers(o["headers"]), int64(o["timestamp"]))
            out.emit(emitted, route=text(o["route"]))


@pytest.mark.parametrize("case", RESULTS["valid"], ids=lambda c: c["name"])
def test_valid_result_is_written_byte_for_byte(case):
    outcomes = case["outcomes"]
    inputs = [sluice.testing.TestRecord(b"x", offset=i) for i in range(len(outcomes))]
    batch = _wire.encode_batch("s", inputs)
    assert _plugin.process_batch(Replay(outcomes), batch) == (VECTORS / case["file"]).read_bytes()


@pytest.mark.parametrize("case", RESULTS["malformed"], ids=lambda c: c["name"])
def test_malformed_result_is_refused_by_the_test_decoder(case):
    with pytest.raises(sluice.WireError):
        _wire.decode_result(data(case["bytes"]), case["records"])
