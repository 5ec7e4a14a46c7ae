// Package sluicetest runs a Go plugin natively, under `go test`, through the same code
// that runs it in a component: records are encoded into a batch as the host encodes
// them, the SDK decodes the batch and encodes the plugin's outputs, and the result is
// decoded and checked as the host checks it. What the plugin logs and records is
// captured instead of sent to a host.
package sluicetest

import (
	"sluice.dev/sdk"
	"sluice.dev/sdk/internal/capture"
	"sluice.dev/sdk/internal/wire"
)

// Record is an input record; nil Key or Value is absent, nil Timestamp is none, and an
// Offset of 0 is the record's index in the batch.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []sluice.Header
	Timestamp *int64
	Offset    uint64
	Partition uint32
	Stream    string
}

// Value is a record with value as its value and nothing else.
func Value(value string) Record { return Record{Value: []byte(value)} }

// Output is an output record; Route is "" for the default route.
type Output struct {
	sluice.OutRecord
	Route string
}

// Outcome is what the plugin made of one input record: its outputs, or the reason it
// was rejected for.
type Outcome struct {
	Outputs  []Output
	Rejected bool
	Reason   string
}

// Log is a line the plugin logged.
type Log struct {
	Level   sluice.Level
	Message string
	Fields  []sluice.Field
}

// Result is what a run gave: one outcome per input record, and what the plugin logged
// and recorded during the run (its init included).
type Result struct {
	Outcomes []Outcome
	Logs     []Log
	Counters map[string]uint64
	Gauges   map[string]float64
}

// Run makes a plugin with factory and config, and runs records through it as one
// batch. The error is the factory's, or that of a failed call.
func Run(factory sluice.Factory, config sluice.Config, records ...Record) (*Result, error) {
	capture.Reset()
	runner, err := sluice.NewRunner(factory, config)
	if err != nil {
		return nil, err
	}
	inputs := make([]wire.InputRecord, len(records))
	for i, r := range records {
		var timestamp int64 = wire.NoTimestamp
		if r.Timestamp != nil {
			timestamp = *r.Timestamp
		}
		offset := r.Offset
		if offset == 0 {
			offset = uint64(i)
		}
		inputs[i] = wire.InputRecord{
			Offset: offset, Partition: r.Partition, Timestamp: timestamp,
			Key: r.Key, Value: r.Value, Headers: r.Headers, Stream: r.Stream,
		}
	}
	bytes, err := runner.Process(wire.EncodeBatch("test", inputs))
	if err != nil {
		return nil, err
	}
	outcomes, err := wire.DecodeResult(bytes, len(records))
	if err != nil {
		return nil, err
	}
	result := &Result{Counters: capture.Now.Counters, Gauges: capture.Now.Gauges}
	for _, o := range outcomes {
		if o.Rejected != nil {
			result.Outcomes = append(result.Outcomes, Outcome{Rejected: true, Reason: *o.Rejected})
			continue
		}
		outcome := Outcome{Outputs: []Output{}}
		for _, out := range o.Outputs {
			route := ""
			if out.Route != nil {
				route = *out.Route
			}
			record := sluice.OutRecord{Key: out.Key, Value: out.Value, Headers: out.Headers, Timestamp: out.Timestamp}
			outcome.Outputs = append(outcome.Outputs, Output{OutRecord: record, Route: route})
		}
		result.Outcomes = append(result.Outcomes, outcome)
	}
	for _, l := range capture.Now.Logs {
		log := Log{Level: sluice.Level(l.Level), Message: l.Message}
		for _, f := range l.Fields {
			log.Fields = append(log.Fields, sluice.Field{Name: f[0], Value: f[1]})
		}
		result.Logs = append(result.Logs, log)
	}
	return result, nil
}
