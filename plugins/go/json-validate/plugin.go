// Passes records whose value is valid JSON and rejects the rest, with the reason, so
// that they land in the dead-letter sink.
//
// Config (optional): `require`, a comma-separated list of top-level fields that every
// record must have.
package main

import (
	"strings"

	"sluice.dev/sdk"
)

type validate struct{ required []string }

func (v *validate) Process(record *sluice.Record, out *sluice.Output) error {
	value, err := record.JSON()
	if err != nil {
		return err
	}
	object, isObject := value.(map[string]any)
	for _, name := range v.required {
		if _, found := object[name]; !isObject || !found {
			return sluice.Rejectf("missing required field `%s`", name)
		}
	}
	out.Forward()
	return nil
}

func newValidate(config sluice.Config) (sluice.Plugin, error) {
	list, _ := config.Get("require")
	v := &validate{}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			v.required = append(v.required, name)
		}
	}
	return v, nil
}

func init() { sluice.Export(newValidate) }

func main() {}
