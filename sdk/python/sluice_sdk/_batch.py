"""The per-batch loop: reads each input record of a batch in place, hands it to the
plugin, and writes the result, as `sdk/SPEC.md` specifies. This is the only code that
runs per record besides the plugin's own, so it is written for CPython's speed: one
`unpack_from` per record, slices of the input instead of copies of fields, and the
result built as a list of pieces joined once.
"""

import struct

from ._record import Output, Record, Reject
from ._wire import ABSENT, BATCH, DEFAULT_ROUTE, INPUT, NAME_LEN, OUTCOME, OUTPUT, REJECTED, U32, WireError, length

_INPUT_LEN = INPUT.size
_OUTPUTS_NONE = OUTCOME.pack(0, 0)
_OUTPUTS_ONE = OUTCOME.pack(0, 1)


def _header(batch, size):
    """Reads the batch's fixed start: the record count, the source name and where the
    first record starts."""
    try:
        count, source_len = BATCH.unpack_from(batch, 0)
        pos = BATCH.size + source_len
        if pos > size:
            raise WireError("the source name runs past the end")
        return count, batch[BATCH.size : pos].decode(), pos
    except (struct.error, UnicodeDecodeError) as e:
        raise WireError(f"malformed batch header: {e}") from None


# What the loop calls per record (see `_plugin.loop_of`).
FORWARD = 0  # nothing: every record is forwarded unchanged
MAP = 1  # handle(value) -> new value; key, headers and timestamp kept
FILTER = 2  # handle(record) -> keep?; kept records forwarded unchanged
EACH = 3  # handle(record, out): the general case


def run(batch, mode, handle):
    """Runs one batch through `handle` as `mode` says; returns the encoded result. A
    `Reject` rejects its record; any other exception fails the batch (the host then finds
    which records fail alone). A batch that breaks the encoding raises `WireError` before
    its broken record reaches the plugin."""
    size = len(batch)
    count, source, pos = _header(batch, size)
    pieces = [U32.pack(count)]
    out = Output(pieces)
    unpack = INPUT.unpack_from
    pack = OUTPUT.pack
    new_record = Record.__new__
    for index in range(count):
        # The record's bounds, checked before the plugin sees it.
        try:
            fields = unpack(batch, pos)
            at = pos + _INPUT_LEN
            _, _, timestamp, key_len, value_len, stream_len, header_count = fields
            key_end = at + (0 if key_len == ABSENT else key_len)
            headers_at = key_end + (0 if value_len == ABSENT else value_len)
            end = headers_at
            for _ in range(header_count):
                end += 2 + NAME_LEN.unpack_from(batch, end)[0]
                end += 4 + U32.unpack_from(batch, end)[0]
        except struct.error:
            raise WireError(f"record {index} of {count} runs past the end of the batch") from None
        pos = end + stream_len
        if pos > size:
            raise WireError(f"record {index} of {count} runs past the end of the batch")

        if mode == FORWARD:
            pieces += (_OUTPUTS_ONE, pack(timestamp, key_len, value_len, DEFAULT_ROUTE, header_count), batch[at:end])
            continue
        if mode == MAP:
            try:
                value = handle(None if value_len == ABSENT else batch[key_end:headers_at])
            except Reject as reject:
                pieces += _rejection(reject)
                continue
            if isinstance(value, str):
                value = value.encode()
            fixed = pack(timestamp, key_len, length(value), DEFAULT_ROUTE, header_count)
            pieces += (_OUTPUTS_ONE, fixed, batch[at:key_end], value or b"", batch[headers_at:end])
            continue
        # Slots set in place: a call to __init__ would cost as much as the rest of the loop.
        record = new_record(Record)
        record._batch, record._fields, record._at, record._end, record.source = batch, fields, at, end, source
        if mode == FILTER:
            try:
                keep = handle(record)
            except Reject as reject:
                pieces += _rejection(reject)
                continue
            if keep:
                pieces += (_OUTPUTS_ONE, pack(timestamp, key_len, value_len, DEFAULT_ROUTE, header_count), batch[at:end])
            else:
                pieces.append(_OUTPUTS_NONE)
            continue
        mark = len(pieces)
        pieces.append(_OUTPUTS_ONE)
        out._record = record
        out._count = 0
        try:
            handle(record, out)
        except Reject as reject:
            del pieces[mark:]
            pieces += _rejection(reject)
            continue
        if out._count != 1:
            pieces[mark] = _OUTPUTS_NONE if out._count == 0 else OUTCOME.pack(0, out._count)
    if pos != size:
        raise WireError(f"{size - pos} bytes after the last record")
    return b"".join(pieces)


def _rejection(reject):
    reason = reject.reason.encode()
    return OUTCOME.pack(REJECTED, len(reason)), reason
