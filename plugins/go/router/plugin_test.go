package main

import (
	"slices"
	"testing"

	"sluice.dev/sdk"
	"sluice.dev/sdk/sluicetest"
)

func routes(outcome sluicetest.Outcome) []string {
	var found []string
	for _, out := range outcome.Outputs {
		found = append(found, out.Route)
	}
	return found
}

func TestFansOutByTheFieldsValue(t *testing.T) {
	config := sluice.NewConfig("field", "level", "map.error", "errors, alerts", "map.7", "numbers")
	result, err := sluicetest.Run(newRouter, config,
		sluicetest.Value(`{"level":"error"}`), sluicetest.Value(`{"level":7}`),
		sluicetest.Value(`{"level":"info"}`), sluicetest.Value(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"errors", "alerts"}, {"numbers"}, {""}, {""}}
	for i, w := range want {
		if got := routes(result.Outcomes[i]); !slices.Equal(got, w) {
			t.Errorf("record %d went to %q, want %q", i, got, w)
		}
	}
}

func TestConfigMistakesAreNamed(t *testing.T) {
	for config, message := range map[*sluice.Config]string{
		ptr(sluice.NewConfig("field", "level")):                 "no `map.<value>` entries: nothing would be routed",
		ptr(sluice.NewConfig("field", "level", "map.x", " , ")): "config key `map.x` names no route",
		ptr(sluice.NewConfig("field", "level", "mapx", "a")):    "unknown config key `mapx` (expected `field` and `map.<value>` entries)",
	} {
		if _, err := sluicetest.Run(newRouter, *config); err == nil || err.Error() != message {
			t.Errorf("%v, want %q", err, message)
		}
	}
}

func ptr[T any](v T) *T { return &v }
