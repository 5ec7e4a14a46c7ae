"""Run a plugin natively, in unit tests, through the real batch encoding: records are
encoded as the host encodes them, the plugin's exported `process` runs on the bytes, and
the result is decoded as the host decodes it.

    from sluice_sdk.testing import TestRecord, run

    outcomes = run(Uppercase, {}, [TestRecord("héllo")])
    assert outcomes[0][0].record.value == "HÉLLO".encode()
"""

from dataclasses import dataclass, field

from . import _wire
from ._host import captured
from ._plugin import Failed, export
from ._record import OutRecord

__all__ = ["Emitted", "Failed", "Rejected", "TestRecord", "captured", "run"]


@dataclass
class TestRecord:
    """An input record. `value` and `key` may be `str` (encoded as UTF-8) or `bytes`;
    `offset` defaults to the record's index in the batch."""

    __test__ = False  # not a pytest test class

    value: object = None
    key: object = None
    headers: list = field(default_factory=list)
    timestamp: object = None
    stream: str = "test"
    partition: int = 0
    offset: object = None


@dataclass
class Emitted:
    """One output: its route (`None` for the default one) and the record."""

    route: object
    record: OutRecord

    def value_str(self):
        return self.record.value.decode()


@dataclass
class Rejected:
    """A rejected record, with the reason the host dead-letters it with."""

    reason: str


def _bytes(data):
    return data.encode() if isinstance(data, str) else data


def run(plugin_class, config, records, source="test"):
    """Builds `plugin_class` from `config` (a dict or a list of pairs) and runs it over
    `records` as one batch. Returns one outcome per record: a list of `Emitted` or a
    `Rejected`. A failed `init` or `process` raises `Failed` with the message the host
    would show. What the plugin logged and counted is in `captured`, cleared here."""
    captured.clear()
    transform = export(plugin_class)()
    entries = list(config.items()) if isinstance(config, dict) else list(config)
    transform.init([(k, str(v)) for k, v in entries])
    prepared = []
    for index, r in enumerate(records):
        headers = [(name, _bytes(value)) for name, value in r.headers]
        offset = index if r.offset is None else r.offset
        prepared.append(
            TestRecord(_bytes(r.value), _bytes(r.key), headers, r.timestamp, r.stream, r.partition, offset)
        )
    result = transform.process(_wire.encode_batch(source, prepared))
    outcomes = []
    for outcome in _wire.decode_result(result, len(records)):
        if isinstance(outcome, str):
            outcomes.append(Rejected(outcome))
        else:
            outcomes.append([Emitted(route, OutRecord(value, key, headers, ts)) for route, ts, key, value, headers in outcome])
    return outcomes
