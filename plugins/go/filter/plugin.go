// Keeps records whose JSON field has a given value, and drops the others.
//
// Config: `field` (a field name, dotted path or JSON pointer) and `equals` (the value
// to keep, compared as text: "7" matches both 7 and "7"). Records that are not JSON are
// rejected, so that a schema change upstream shows up in the dead-letter sink instead
// of silently emptying the output.
package main

import "sluice.dev/sdk"

func newFilter(config sluice.Config) (sluice.Plugin, error) {
	field, err := config.Require("field")
	if err != nil {
		return nil, err
	}
	equals, err := config.Require("equals")
	if err != nil {
		return nil, err
	}
	return sluice.Filter(func(record *sluice.Record) (bool, error) {
		value, found, err := record.JSONField(field)
		return found && sluice.Text(value) == equals, err
	}), nil
}

func init() { sluice.Export(newFilter) }

func main() {}
