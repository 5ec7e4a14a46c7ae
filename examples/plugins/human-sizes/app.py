"""human-sizes: adds a human-readable `size` to JSON records with a `bytes` field, with
the `humanize` package from PyPI (listed in requirements.txt, bundled by
`sluice plugin build`). Records without a whole number of bytes are rejected."""

import json

import humanize

import sluice_sdk as sluice


class HumanSizes(sluice.Plugin):
    def process(self, record, out):
        value = record.json()
        size = value.get("bytes") if isinstance(value, dict) else None
        if not isinstance(size, int) or isinstance(size, bool):
            raise sluice.Reject("no whole number of `bytes`")
        value["size"] = humanize.naturalsize(size, binary=True)
        out.emit_value(json.dumps(value, separators=(",", ":")))


Transform = sluice.export(HumanSizes)
