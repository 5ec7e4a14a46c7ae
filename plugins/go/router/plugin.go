// Routes each record by the value of a JSON field, fanning out to several routes.
//
// Config: `field` (a field name, dotted path or JSON pointer) and one `map.<value>`
// entry per routed value, naming one route or several separated by commas:
//
//	config = { field = "level", map = { error = "errors,alerts", warn = "alerts" } }
//
// A record is emitted once per route its value maps to; a record whose value is not
// mapped (or that lacks the field) goes down the pipeline's default route.
package main

import (
	"errors"
	"fmt"
	"strings"

	"sluice.dev/sdk"
)

type router struct {
	field  string
	routes map[string][]string
}

func (r *router) Process(record *sluice.Record, out *sluice.Output) error {
	value, found, err := record.JSONField(r.field)
	if err != nil {
		return err
	}
	var routes []string
	if found {
		routes = r.routes[sluice.Text(value)]
	}
	if routes == nil {
		out.Forward()
	}
	for _, route := range routes {
		out.ForwardTo(route)
	}
	return nil
}

func newRouter(config sluice.Config) (sluice.Plugin, error) {
	field, err := config.Require("field")
	if err != nil {
		return nil, err
	}
	r := &router{field: field, routes: map[string][]string{}}
	for key, value := range config.Entries {
		name, isMap := strings.CutPrefix(key, "map.")
		switch {
		case isMap:
			var routes []string
			for _, route := range strings.Split(value, ",") {
				if route = strings.TrimSpace(route); route != "" {
					routes = append(routes, route)
				}
			}
			if routes == nil {
				return nil, fmt.Errorf("config key `%s` names no route", key)
			}
			r.routes[name] = routes
		case key != "field":
			return nil, fmt.Errorf("unknown config key `%s` (expected `field` and `map.<value>` entries)", key)
		}
	}
	if len(r.routes) == 0 {
		return nil, errors.New("no `map.<value>` entries: nothing would be routed")
	}
	return r, nil
}

func init() { sluice.Export(newRouter) }

func main() {}
