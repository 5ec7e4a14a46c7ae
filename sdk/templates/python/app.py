"""{{name}}: a Sluice plugin. It drops debug-level records, tags the others with
`"tag": "<config tag, or the plugin's name>"`, and rejects values that are not JSON
objects, so that they land in the dead-letter sink with the reason."""

import json

import sluice_sdk as sluice


class Tag(sluice.Plugin):
    def __init__(self, config):
        self.tag = config.get("tag", "{{name}}")

    def process(self, record, out):
        value = record.json()
        if not isinstance(value, dict):
            raise sluice.Reject("value is not a JSON object")
        if value.get("level") == "debug":
            return  # dropped: no output
        value["tag"] = self.tag
        out.emit_value(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


Transform = sluice.export(Tag)
