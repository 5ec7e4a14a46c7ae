"""Keeps records whose JSON field has a given value, and drops the others.

Config: `field` (a field name, dotted path or JSON pointer) and `equals` (the value to
keep, compared as text: "7" matches both 7 and "7"). Records that are not JSON are
rejected, so that a schema change upstream shows up in the dead-letter sink instead of
silently emptying the output.
"""

import sluice_sdk as sluice
from sluice_sdk.json import MISSING, text


class FieldEquals(sluice.Filter):
    def __init__(self, config):
        self.field = config.require("field")
        self.equals = config.require("equals")

    def keep(self, record):
        value = record.json_field(self.field, MISSING)
        return value is not MISSING and text(value) == self.equals


Transform = sluice.export(FieldEquals)
