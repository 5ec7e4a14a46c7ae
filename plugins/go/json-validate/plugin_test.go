package main

import (
	"strings"
	"testing"

	"sluice.dev/sdk"
	"sluice.dev/sdk/sluicetest"
)

func TestPassesJSONWithTheRequiredFields(t *testing.T) {
	result, err := sluicetest.Run(newValidate, sluice.NewConfig("require", "id, level"),
		sluicetest.Value(`{"id":1,"level":null}`), sluicetest.Value(`{"id":1}`),
		sluicetest.Value(`[1]`), sluicetest.Value(`{"id":`), sluicetest.Record{Value: []byte("\"\xff\"")})
	if err != nil {
		t.Fatal(err)
	}
	if got := result.Outcomes[0]; got.Rejected || len(got.Outputs) != 1 {
		t.Errorf("valid: %+v", got)
	}
	reasons := []string{"", "missing required field `level`", "missing required field `id`",
		"value is not valid JSON", "value is not valid JSON"}
	for i := 1; i < len(reasons); i++ {
		// JSON errors go on with the parser's detail: only their beginning is pinned.
		matches := got(result, i) == reasons[i] || strings.HasPrefix(reasons[i], "value is not valid JSON") &&
			strings.HasPrefix(got(result, i), reasons[i]+": ")
		if got := result.Outcomes[i]; !got.Rejected || !matches {
			t.Errorf("record %d: %+v, want rejected with %q", i, got, reasons[i])
		}
	}
}

// got is the reason record i was rejected with.
func got(result *sluicetest.Result, i int) string { return result.Outcomes[i].Reason }
