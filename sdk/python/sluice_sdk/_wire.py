"""The batch encoding of `sdk/SPEC.md`: the layouts, and the two directions the SDK does
not need at run time (writing batches and reading results), which `sluice_sdk.testing`
uses to drive a plugin natively through the same bytes the host sends and reads.

The hot direction (reading a batch, writing a result) lives in `_batch.py`, inlined into
the per-record loop.
"""

import struct

BATCH = struct.Struct("<IH")  # record count, source length
INPUT = struct.Struct("<QIqIIHH")  # offset, partition, timestamp, key, value, stream, headers
OUTPUT = struct.Struct("<qIIHH")  # timestamp, key, value, route, headers
NAME_LEN = struct.Struct("<H")
U32 = struct.Struct("<I")
OUTCOME = struct.Struct("<BI")  # tag, output count or reason length
ABSENT = 0xFFFFFFFF
DEFAULT_ROUTE = 0xFFFF
NO_TIMESTAMP = -(1 << 63)
OUTPUTS = 0
REJECTED = 1


class WireError(Exception):
    """A buffer that does not follow the encoding. The host never sends one; a plugin
    that receives one fails the call, which the host reports."""


def length(data):
    """The encoded length of an optional byte string."""
    return ABSENT if data is None else len(data)


def encode_headers(headers):
    """Headers as `(name, value)` pairs, in the encoding: name as text, value as bytes."""
    parts = []
    for name, value in headers:
        name = name.encode()
        if len(name) > 0xFFFF:
            raise ValueError(f"header name of {len(name)} bytes (at most 65535)")
        parts += (NAME_LEN.pack(len(name)), name, U32.pack(len(value)), value)
    if len(headers) > 0xFFFF:
        raise ValueError(f"{len(headers)} headers on one record (at most 65535)")
    return b"".join(parts)


def encode_batch(source, records):
    """A batch, as the host writes it. `records` have `offset`, `partition`, `timestamp`,
    `key`, `value`, `headers` and `stream` attributes."""
    source = source.encode()
    parts = [BATCH.pack(len(records), len(source)), source]
    for r in records:
        stream = r.stream.encode()
        timestamp = NO_TIMESTAMP if r.timestamp is None else r.timestamp
        lens = (length(r.key), length(r.value), len(stream), len(r.headers))
        parts += (INPUT.pack(r.offset, r.partition, timestamp, *lens), r.key or b"", r.value or b"")
        parts += (encode_headers(r.headers), stream)
    return b"".join(parts)


class _Reader:
    """A bounds-checked cursor, for results, which only tests read."""

    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, n, what):
        end = self.pos + n
        if end > len(self.buf):
            raise WireError(f"{what} runs past the end at byte {self.pos}")
        data, self.pos = self.buf[self.pos : end], end
        return data

    def unpack(self, layout, what):
        return layout.unpack(self.take(layout.size, what))

    def optional(self, n, what):
        return None if n == ABSENT else self.take(n, what)

    def text(self, n, what):
        try:
            return self.take(n, what).decode()
        except UnicodeDecodeError as e:
            raise WireError(f"{what} is not UTF-8: {e}") from None


def decode_result(buf, records):
    """A plugin's result, as the host reads it: for each input record, a list of outputs
    `(route, timestamp, key, value, headers)` or the rejection reason as a `str`."""
    r = _Reader(buf)
    (count,) = r.unpack(U32, "outcome count")
    if count != records:
        raise WireError(f"{count} outcomes for a batch of {records} records")
    outcomes = []
    for _ in range(count):
        tag, n = r.unpack(OUTCOME, "outcome")
        if tag == REJECTED:
            outcomes.append(r.text(n, "rejection reason"))
            continue
        if tag != OUTPUTS:
            raise WireError(f"unknown outcome tag {tag}")
        outputs = []
        for _ in range(n):
            timestamp, key_len, value_len, route_len, header_count = r.unpack(OUTPUT, "output record")
            key, value = r.optional(key_len, "key"), r.optional(value_len, "value")
            headers = []
            for _ in range(header_count):
                (name_len,) = r.unpack(NAME_LEN, "header name length")
                name = r.text(name_len, "header name")
                (value_len,) = r.unpack(U32, "header value length")
                headers.append((name, r.take(value_len, "header value")))
            route = None if route_len == DEFAULT_ROUTE else r.text(route_len, "route")
            timestamp = None if timestamp == NO_TIMESTAMP else timestamp
            outputs.append((route, timestamp, key, value, headers))
        outcomes.append(outputs)
    if r.pos != len(buf):
        raise WireError(f"{len(buf) - r.pos} bytes after the last outcome")
    return outcomes
