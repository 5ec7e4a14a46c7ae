// Routes each record by the value of a JSON field, fanning out to several routes.
//
// Config: `field` (a field name, dotted path or JSON pointer) and one `map.<value>` entry
// per routed value, naming one route or several separated by commas:
//
//     config = { field = "level", map = { error = "errors,alerts", warn = "alerts" } }
//
// A record is emitted once per route its value maps to; a record whose value is not
// mapped (or that lacks the field) goes down the pipeline's default route.

import * as sluice from "sluice-sdk";

const { MISSING, text } = sluice.json;

export class Router extends sluice.Plugin {
  constructor(config) {
    super(config);
    this.field = config.require("field");
    this.routes = new Map();
    for (const [key, value] of config.entries()) {
      if (key.startsWith("map.")) {
        const names = value
          .split(",")
          .map((r) => r.trim())
          .filter((r) => r !== "");
        if (names.length === 0) throw new sluice.ConfigError(`config key \`${key}\` names no route`);
        this.routes.set(key.slice("map.".length), names);
      } else if (key !== "field") {
        throw new sluice.ConfigError(`unknown config key \`${key}\` (expected \`field\` and \`map.<value>\` entries)`);
      }
    }
    if (this.routes.size === 0) throw new sluice.ConfigError("no `map.<value>` entries: nothing would be routed");
  }

  process(record, out) {
    const value = record.jsonField(this.field, MISSING);
    const routes = value === MISSING ? undefined : this.routes.get(text(value));
    if (routes === undefined) {
      out.forward();
      return;
    }
    for (const route of routes) out.forward(route);
  }
}

export const transform = sluice.transform(Router);
