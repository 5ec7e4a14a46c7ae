package main

import (
	"testing"

	"sluice.dev/sdk"
	"sluice.dev/sdk/sluicetest"
)

func TestTagsDropsAndRejects(t *testing.T) {
	result, err := sluicetest.Run(newTag, sluice.NewConfig("tag", "t"),
		sluicetest.Value(`{"level":"info"}`), sluicetest.Value(`{"level":"debug"}`), sluicetest.Value(`[1]`))
	if err != nil {
		t.Fatal(err)
	}
	tagged, dropped, rejected := result.Outcomes[0], result.Outcomes[1], result.Outcomes[2]
	if len(tagged.Outputs) != 1 || string(tagged.Outputs[0].Value) != `{"level":"info","tag":"t"}` {
		t.Errorf("tagged: %+v", tagged)
	}
	if dropped.Rejected || len(dropped.Outputs) != 0 {
		t.Errorf("dropped: %+v", dropped)
	}
	if !rejected.Rejected || rejected.Reason != "value is not a JSON object" {
		t.Errorf("rejected: %+v", rejected)
	}
}
