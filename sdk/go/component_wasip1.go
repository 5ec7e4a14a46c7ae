//go:build wasip1

package sluice

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	"sluice.dev/sdk/bindings/exports/export_sluice_plugin_transform"
	_ "sluice.dev/sdk/bindings/exports/wit_exports" // the component's exports
	"sluice.dev/sdk/bindings/imports/sluice_plugin_host"
)

// The component: the `transform` export runs the exported plugin, and the host
// functions are the component's imports.

var runner *Runner

func init() {
	export_sluice_plugin_transform.InitHook = func(config [][2]string) error {
		r, err := NewRunner(nil, Config{config})
		if err == nil {
			runner = r
		}
		return err
	}
	export_sluice_plugin_transform.ProcessHook = func(batch []byte) ([]byte, error) {
		defer collect()
		return runner.Process(batch)
	}
	// The collector runs only between calls (see collect): Go's collector reads the
	// clock, and a collection that starts inside `cabi_realloc`, while the host is
	// copying a batch in, would call out of the component where the component model
	// forbids it (wasmtime#14318).
	debug.SetGCPercent(-1)
}

// gcBudget is how much a plugin may allocate between collections.
const gcBudget = 16 << 20

var (
	allocated  = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	lastGCHeap uint64
)

// collect collects garbage once the plugin has allocated gcBudget since the last time.
func collect() {
	metrics.Read(allocated)
	now := allocated[0].Value.Uint64()
	if now-lastGCHeap >= gcBudget {
		runtime.GC()
		lastGCHeap = now
	}
}

func hostLog(level Level, message string, fields []Field) {
	pairs := make([]witTypes.Tuple2[string, string], len(fields))
	for i, f := range fields {
		pairs[i] = witTypes.Tuple2[string, string]{F0: f.Name, F1: f.text()}
	}
	sluice_plugin_host.Log(uint8(level), message, pairs)
}

func hostCounterAdd(name string, delta uint64) { sluice_plugin_host.CounterAdd(name, delta) }

func hostGaugeSet(name string, value float64) { sluice_plugin_host.GaugeSet(name, value) }
