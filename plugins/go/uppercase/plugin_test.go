package main

import (
	"testing"

	"sluice.dev/sdk"
	"sluice.dev/sdk/sluicetest"
)

func TestUpperCasesTextAndRejectsTheRest(t *testing.T) {
	result, err := sluicetest.Run(newUppercase, sluice.Config{},
		sluicetest.Value("straße ǆ ﬁ"), sluicetest.Record{Value: []byte{0xff}}, sluicetest.Record{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if got := result.Outcomes[0]; len(got.Outputs) != 1 || string(got.Outputs[0].Value) != "STRASSE Ǆ FI" {
		t.Errorf("upper-cased: %+v", got)
	}
	for i, reason := range map[int]string{1: "value is not UTF-8", 2: "record has no value"} {
		if got := result.Outcomes[i]; !got.Rejected || got.Reason != reason {
			t.Errorf("record %d: %+v, want rejected with %q", i, got, reason)
		}
	}
}
