"""An identity plugin in Python, written straight against the batch encoding in
`wit/plugin.wit`: every input record becomes one output on the default route, key, value,
headers and timestamp unchanged. It is what `scripts/bench-startup python-identity` starts,
to time how fast an 18 MB componentize-py component starts with and without the compile
cache. Build: `sluice plugin build examples/bench/python-identity`.
"""

import struct

from wit_world import exports

INPUT = struct.Struct("<QIqIIHH")  # offset, partition, timestamp, key-len, value-len, stream-len, header-count
OUTPUT = struct.Struct("<BIqIIHH")  # outputs tag, 1 output, timestamp, key-len, value-len, route-len, header-count
HEADER_NAME = struct.Struct("<H")
HEADER_VALUE = struct.Struct("<I")
BATCH = struct.Struct("<IH")
ABSENT = 0xFFFFFFFF
DEFAULT_ROUTE = 0xFFFF


class Transform(exports.Transform):
    def init(self, config):
        pass

    def process(self, batch: bytes) -> bytes:
        count, source_len = BATCH.unpack_from(batch, 0)
        pos = BATCH.size + source_len
        out = [struct.pack("<I", count)]
        for _ in range(count):
            _, _, timestamp, key_len, value_len, stream_len, headers = INPUT.unpack_from(batch, pos)
            pos += INPUT.size
            body = pos
            pos += (0 if key_len == ABSENT else key_len) + (0 if value_len == ABSENT else value_len)
            for _ in range(headers):
                pos += HEADER_NAME.size + HEADER_NAME.unpack_from(batch, pos)[0]
                pos += HEADER_VALUE.size + HEADER_VALUE.unpack_from(batch, pos)[0]
            out.append(OUTPUT.pack(0, 1, timestamp, key_len, value_len, DEFAULT_ROUTE, headers))
            out.append(batch[body:pos])
            pos += stream_len
        return b"".join(out)
