"""Routes each record by the value of a JSON field, fanning out to several routes.

Config: `field` (a field name, dotted path or JSON pointer) and one `map.<value>` entry
per routed value, naming one route or several separated by commas:

    config = { field = "level", map = { error = "errors,alerts", warn = "alerts" } }

A record is emitted once per route its value maps to; a record whose value is not mapped
(or that lacks the field) goes down the pipeline's default route.
"""

import sluice_sdk as sluice
from sluice_sdk.json import MISSING, text


class Router(sluice.Plugin):
    def __init__(self, config):
        self.field = config.require("field")
        self.routes = {}
        for key, value in config.items():
            if key.startswith("map."):
                names = [r.strip() for r in value.split(",") if r.strip()]
                if not names:
                    raise sluice.ConfigError(f"config key `{key}` names no route")
                self.routes[key[len("map.") :]] = names
            elif key != "field":
                raise sluice.ConfigError(f"unknown config key `{key}` (expected `field` and `map.<value>` entries)")
        if not self.routes:
            raise sluice.ConfigError("no `map.<value>` entries: nothing would be routed")

    def process(self, record, out):
        value = record.json_field(self.field, MISSING)
        routes = None if value is MISSING else self.routes.get(text(value))
        if routes is None:
            out.forward()
        else:
            for route in routes:
                out.forward(route=route)


Transform = sluice.export(Router)
