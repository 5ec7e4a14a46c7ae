"""Records as a plugin sees them: `Record`, a view into the batch the host sent;
`OutRecord`, a record the plugin builds; and `Output`, where the plugin puts what it
emits for the record at hand.

Nothing is decoded until it is asked for: a plugin that forwards a record unchanged
copies its key, value and headers as one slice of the batch, and never builds them.
"""

import json as _json

from ._wire import ABSENT, DEFAULT_ROUTE, NAME_LEN, NO_TIMESTAMP, OUTPUT, U32, encode_headers, length


class Reject(Exception):
    """Raise from `process` to reject the record: the host sends it to the pipeline's
    dead-letter sink with this reason, and nothing emitted for it is kept."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = str(reason)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


class Record:
    """One input record, read in place from the batch.

    `key` and `value` are `bytes`, or `None` when absent (which is not the same as
    empty); `headers` is a list of `(name, value)` pairs, names as `str` and values as
    `bytes`, in their order, names possibly repeated."""

    __slots__ = ("_batch", "_fields", "_at", "_end", "source")

    # Set by the batch loop, without __init__ (see `_batch.run`):
    # _batch: the batch; _fields: its fixed part (offset, partition, timestamp, key length,
    # value length, stream length, header count); _at: where its key starts, value and
    # headers following; _end: where its headers end and its stream name starts;
    # source: the name of the pipeline's source.

    @property
    def key(self):
        key_len = self._fields[3]
        return None if key_len == ABSENT else self._batch[self._at : self._at + key_len]

    @property
    def value(self):
        _, _, _, key_len, value_len, _, _ = self._fields
        if value_len == ABSENT:
            return None
        start = self._at + (0 if key_len == ABSENT else key_len)
        return self._batch[start : start + value_len]

    @property
    def timestamp(self):
        """Milliseconds since the Unix epoch, or `None` if the source gave none."""
        timestamp = self._fields[2]
        return None if timestamp == NO_TIMESTAMP else timestamp

    @property
    def offset(self):
        return self._fields[0]

    @property
    def partition(self):
        return self._fields[1]

    @property
    def stream(self):
        """The topic, stream, subject or file the record came from."""
        return self._batch[self._end : self._end + self._fields[5]].decode()

    def _headers_at(self):
        _, _, _, key_len, value_len, _, _ = self._fields
        return self._at + (0 if key_len == ABSENT else key_len) + (0 if value_len == ABSENT else value_len)

    @property
    def headers(self):
        batch, pos, headers = self._batch, self._headers_at(), []
        for _ in range(self._fields[6]):
            (name_len,) = NAME_LEN.unpack_from(batch, pos)
            name = batch[pos + 2 : pos + 2 + name_len].decode()
            pos += 2 + name_len
            (value_len,) = U32.unpack_from(batch, pos)
            headers.append((name, batch[pos + 4 : pos + 4 + value_len]))
            pos += 4 + value_len
        return headers

    def header(self, name):
        """The value of the first header called `name`, or `None`."""
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def value_str(self):
        """The value as text; rejects records without a value or whose value is not UTF-8."""
        value = self.value
        if value is None:
            raise Reject("record has no value")
        try:
            return value.decode()
        except UnicodeDecodeError as e:
            raise Reject(f"value is not UTF-8: {e}") from None

    def json(self):
        """The value parsed as JSON; rejects records whose value is not UTF-8 or does not
        parse. (Given bytes, `json.loads` would guess UTF-16 or UTF-32 from the first
        bytes, and the plugin's embedded interpreter has no such codecs: a binary value
        would raise `LookupError` instead of being rejected.)"""
        value = self.value
        if value is None:
            raise Reject("record has no value")
        try:
            text = value.decode()
        except UnicodeDecodeError as e:
            raise Reject(f"value is not valid JSON: it is not UTF-8 ({e})") from None
        try:
            return _json.loads(text, parse_constant=_refuse_constant)
        except ValueError as e:
            raise Reject(f"value is not valid JSON: {e}") from None

    def json_field(self, path, default=None):
        """The field at `path` of the JSON value (see `sluice_sdk.json.field`), or
        `default` when it is missing; rejects records whose value is not JSON."""
        from .json import field

        return field(self.json(), path, default)

    def to_output(self):
        """A copy of this record, to change and emit."""
        return OutRecord(key=self.key, value=self.value, headers=self.headers, timestamp=self.timestamp)

    def __repr__(self):
        return f"Record(offset={self.offset}, key={self.key!r}, value={self.value!r}, headers={self.headers!r})"


class OutRecord:
    """A record built by the plugin. `value` and `key` may be `bytes` or `str` (written as
    UTF-8) or `None`; `headers` is a list of `(name, value)` pairs."""

    __slots__ = ("key", "value", "headers", "timestamp")

    def __init__(self, value=None, key=None, headers=(), timestamp=None):
        self.value, self.key, self.headers, self.timestamp = value, key, list(headers), timestamp

    def __eq__(self, other):
        return isinstance(other, OutRecord) and _fields(self) == _fields(other)

    def __repr__(self):
        return f"OutRecord(value={self.value!r}, key={self.key!r}, headers={self.headers!r}, timestamp={self.timestamp!r})"


def _fields(r):
    return (r.key, r.value, r.headers, r.timestamp)


def _as_bytes(data):
    return data.encode() if isinstance(data, str) else data


class Output:
    """Where a plugin puts the outputs of the record it is processing.

    Each call emits one output: call several times to fan out, none to drop the record.
    `route` names a route of the pipeline's `routes` table; `None` is the default route.
    """

    __slots__ = ("_pieces", "_record", "_count", "_routes")

    def __init__(self, pieces):
        self._pieces = pieces
        self._record = None
        self._count = 0
        self._routes = {None: (DEFAULT_ROUTE, b"")}

    def _route(self, route):
        encoded = self._routes.get(route)
        if encoded is None:
            name = route.encode()
            if len(name) >= DEFAULT_ROUTE:
                raise ValueError(f"route name of {len(name)} bytes (at most 65534)")
            encoded = self._routes[route] = (len(name), name)
        return encoded

    def forward(self, route=None):
        """Emits the input record unchanged: key, value and headers in one copy."""
        r = self._record
        route_len, name = (DEFAULT_ROUTE, b"") if route is None else self._route(route)
        _, _, timestamp, key_len, value_len, _, headers = r._fields
        self._pieces += (OUTPUT.pack(timestamp, key_len, value_len, route_len, headers), r._batch[r._at : r._end], name)
        self._count += 1

    def emit_value(self, value, route=None):
        """Emits the input record with a new value (`bytes` or `str`); its key, headers
        and timestamp are kept."""
        r = self._record
        route_len, name = (DEFAULT_ROUTE, b"") if route is None else self._route(route)
        value = _as_bytes(value)
        _, _, timestamp, key_len, _, _, headers = r._fields
        key_end = r._at + (0 if key_len == ABSENT else key_len)
        fixed = OUTPUT.pack(timestamp, key_len, length(value), route_len, headers)
        batch = r._batch
        self._pieces += (fixed, batch[r._at : key_end], value or b"", batch[r._headers_at() : r._end], name)
        self._count += 1

    def emit(self, record, route=None):
        """Emits a record built by the plugin (an `OutRecord`)."""
        route_len, name = self._route(route)
        key, value = _as_bytes(record.key), _as_bytes(record.value)
        headers = [(n, _as_bytes(v)) for n, v in record.headers]
        encoded = encode_headers(headers)
        timestamp = NO_TIMESTAMP if record.timestamp is None else record.timestamp
        fixed = OUTPUT.pack(timestamp, length(key), length(value), route_len, len(headers))
        self._pieces += (fixed, key or b"", value or b"", encoded, name)
        self._count += 1
