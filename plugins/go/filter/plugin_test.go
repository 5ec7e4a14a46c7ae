package main

import (
	"strings"
	"testing"

	"sluice.dev/sdk"
	"sluice.dev/sdk/sluicetest"
)

func TestKeepsMatchingRecordsAndRejectsWhatIsNotJSON(t *testing.T) {
	config := sluice.NewConfig("field", "/user/id", "equals", "7")
	result, err := sluicetest.Run(newFilter, config,
		sluicetest.Value(`{"user":{"id":7}}`), sluicetest.Value(`{"user":{"id":"7"}}`),
		sluicetest.Value(`{"user":{"id":8}}`), sluicetest.Value(`{}`), sluicetest.Value(`nope`))
	if err != nil {
		t.Fatal(err)
	}
	for i, kept := range []int{1, 1, 0, 0} {
		if got := result.Outcomes[i]; got.Rejected || len(got.Outputs) != kept {
			t.Errorf("record %d: %+v, want %d outputs", i, got, kept)
		}
	}
	if got := result.Outcomes[4]; !got.Rejected || !strings.HasPrefix(got.Reason, "value is not valid JSON: ") {
		t.Errorf("not JSON: %+v", got)
	}
}

func TestFieldAndEqualsAreRequired(t *testing.T) {
	_, err := sluicetest.Run(newFilter, sluice.NewConfig("field", "level"))
	if err == nil || err.Error() != "missing required config key `equals`" {
		t.Fatalf("%v", err)
	}
}
