"""The benchmark's transform as a Sluice plugin in Python: parse the JSON value, drop
records whose `level` is "debug", add "pipeline": "bench", write compact JSON."""

import json

import sluice_sdk as sluice


class BenchTransform(sluice.Plugin):
    def process(self, record, out):
        event = json.loads(record.value_str())
        if event.get("level") == "debug":
            return
        event["pipeline"] = "bench"
        out.emit_value(json.dumps(event, separators=(",", ":")))


Transform = sluice.export(BenchTransform)
