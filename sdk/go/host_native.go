//go:build !wasip1

package sluice

import "sluice.dev/sdk/internal/capture"

// Natively (under `go test`), what a plugin logs and records is captured for package
// sluicetest to show.

func hostLog(level Level, message string, fields []Field) {
	pairs := make([][2]string, len(fields))
	for i, f := range fields {
		pairs[i] = [2]string{f.Name, f.text()}
	}
	capture.Now.Logs = append(capture.Now.Logs, capture.Log{Level: uint8(level), Message: message, Fields: pairs})
}

func hostCounterAdd(name string, delta uint64) { capture.Now.Counters[name] += delta }

func hostGaugeSet(name string, value float64) { capture.Now.Gauges[name] = value }
