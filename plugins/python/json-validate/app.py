"""Passes records whose value is valid JSON and rejects the rest, with the parser's
reason, so that they land in the dead-letter sink.

Config (optional): `require`, a comma-separated list of top-level fields that every
record must have.
"""

import sluice_sdk as sluice


class JsonValidate(sluice.Plugin):
    def __init__(self, config):
        self.required = [f.strip() for f in config.get("require", "").split(",") if f.strip()]

    def process(self, record, out):
        value = record.json()
        for name in self.required:
            if not isinstance(value, dict) or name not in value:
                raise sluice.Reject(f"missing required field `{name}`")
        out.forward()


Transform = sluice.export(JsonValidate)
