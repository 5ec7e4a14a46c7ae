// {{name}}: a Sluice plugin. It drops debug-level records, tags the others with
// `"tag": "<config tag, or the plugin's name>"`, and rejects values that are not JSON
// objects, so that they land in the dead-letter sink with the reason.
package main

import "sluice.dev/sdk"

type tag struct{ tag string }

func (t *tag) Process(record *sluice.Record, out *sluice.Output) error {
	level, found, err := record.JSONField("level")
	if err != nil {
		return err // rejected: no value, or not JSON
	}
	tagged, err := sluice.WithJSONField(record.Value(), "tag", t.tag)
	if err != nil {
		return sluice.Reject("value is not a JSON object")
	}
	if found && sluice.Text(level) == "debug" {
		return nil // dropped: no output
	}
	out.EmitValue(tagged)
	return nil
}

func newTag(config sluice.Config) (sluice.Plugin, error) {
	t := &tag{tag: "{{name}}"}
	if value, ok := config.Get("tag"); ok {
		t.tag = value
	}
	return t, nil
}

func init() { sluice.Export(newTag) }

// main is needed by Go, and never runs: a plugin is a library the host calls into.
func main() {}
