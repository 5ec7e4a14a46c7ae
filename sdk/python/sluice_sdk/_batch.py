"""The per-batch loop: reads each input record of a batch in place, hands it to the
plugin, and writes the result, as `sdk/SPEC.md` specifies. This is the only code that
runs per record besides the plugin's own, so it is written for CPython's speed: one
`unpack_from` per record, slices of the input instead of copies of fields, and the
result built as a list of pieces joined once.
"""

import struct

from ._record import Output, Record, Reject
from ._wire import ABSENT, BATCH, INPUT, NAME_LEN, OUTCOME, REJECTED, U32, WireError

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


def process(plugin, batch):
    """Runs `plugin.process(record, out)` over every record of `batch`; returns the
    encoded result. A `Reject` rejects its record; any other exception fails the batch
    (the host then finds which records fail alone). A batch that breaks the encoding
    raises `WireError` before its broken record reaches the plugin."""
    size = len(batch)
    count, source, pos = _header(batch, size)
    pieces = [U32.pack(count)]
    out = Output(pieces)
    handle = plugin.process
    unpack = INPUT.unpack_from
    new_record = Record.__new__
    for index in range(count):
        # The record's bounds, checked before the plugin sees it.
        try:
            fields = unpack(batch, pos)
            at = pos + _INPUT_LEN
            key_len, value_len, header_count = fields[3], fields[4], fields[6]
            end = at + (0 if key_len == ABSENT else key_len) + (0 if value_len == ABSENT else value_len)
            for _ in range(header_count):
                end += 2 + NAME_LEN.unpack_from(batch, end)[0]
                end += 4 + U32.unpack_from(batch, end)[0]
        except struct.error:
            raise WireError(f"record {index} of {count} runs past the end of the batch") from None
        pos = end + fields[5]
        if pos > size:
            raise WireError(f"record {index} of {count} runs past the end of the batch")
        # Slots set in place: a call to __init__ would cost as much as the rest of the loop.
        record = new_record(Record)
        record._batch, record._fields, record._at, record._end, record.source = batch, fields, at, end, source
        mark = len(pieces)
        pieces.append(_OUTPUTS_ONE)
        out._record = record
        out._count = 0
        try:
            handle(record, out)
        except Reject as reject:
            del pieces[mark:]
            reason = reject.reason.encode()
            pieces += (OUTCOME.pack(REJECTED, len(reason)), reason)
            continue
        if out._count != 1:
            pieces[mark] = _OUTPUTS_NONE if out._count == 0 else OUTCOME.pack(0, out._count)
    if pos != size:
        raise WireError(f"{size - pos} bytes after the last record")
    return b"".join(pieces)
