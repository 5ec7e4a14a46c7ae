"""Upper-cases each record's value (a map). Values that are not UTF-8 are rejected."""

import sluice_sdk as sluice


class Uppercase(sluice.Plugin):
    def process(self, record, out):
        out.emit_value(record.value_str().upper())


Transform = sluice.export(Uppercase)
