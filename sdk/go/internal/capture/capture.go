// Package capture holds what a plugin logs and records when it runs natively, under
// package sluicetest, instead of in a host.
package capture

// Log is a log line.
type Log struct {
	Level   uint8
	Message string
	Fields  [][2]string
}

// Captured is everything captured since the last Reset.
type Captured struct {
	Logs     []Log
	Counters map[string]uint64
	Gauges   map[string]float64
}

// Now is what has been captured.
var Now = Captured{Counters: map[string]uint64{}, Gauges: map[string]float64{}}

// Reset forgets what was captured.
func Reset() { Now = Captured{Counters: map[string]uint64{}, Gauges: map[string]float64{}} }
