// Package sluice is the Go SDK for Sluice plugins.
//
// A plugin is a value with a Process method, called once per input record with an
// Output to emit to. A Factory makes it from the pipeline's config; the plugin's
// package registers its factory with Export from an init function:
//
//	func init() {
//		sluice.Export(func(config sluice.Config) (sluice.Plugin, error) {
//			return sluice.MapValues(bytes.ToUpper), nil
//		})
//	}
//
//	func main() {} // Go needs it; a plugin is a library the host calls into.
//
// Process returns nil when done, a rejection made with Reject to send the record to
// the pipeline's dead-letter sink with a reason, or any other error to fail the whole
// call (the host then finds which records fail alone; see wit/plugin.wit). A panic
// fails the call too.
//
// The SDK decodes each batch in place and encodes outputs into one buffer kept from
// batch to batch: a record's byte slices are views of the batch, valid only during the
// Process call that received it.
package sluice

import (
	"errors"
	"fmt"
	"strings"

	"sluice.dev/sdk/internal/wire"
)

// Plugin transforms records, one at a time.
type Plugin interface {
	Process(record *Record, out *Output) error
}

// Factory makes a plugin from its config; an error means the config is unusable, and
// is shown to the user.
type Factory func(config Config) (Plugin, error)

var exported Factory

// Export registers the plugin's factory. Call it from an init function of the plugin's
// main package.
func Export(factory Factory) { exported = factory }

// Rejection is the error that rejects a record: the host sends it to the dead-letter
// sink with the reason.
type Rejection struct{ Reason string }

func (r *Rejection) Error() string { return r.Reason }

// Reject returns the rejection of a record, with reason.
func Reject(reason string) error { return &Rejection{reason} }

// Rejectf returns the rejection of a record, with a formatted reason.
func Rejectf(format string, args ...any) error { return &Rejection{fmt.Sprintf(format, args...)} }

// MapValues is a plugin that emits each record with its value replaced by what the
// function makes of it (nil when the record has no value; nil out means none).
type MapValues func(value []byte) ([]byte, error)

func (f MapValues) Process(record *Record, out *Output) error {
	value, err := f(record.Value())
	if err == nil {
		out.EmitValue(value)
	}
	return err
}

// Filter is a plugin that forwards the records the function keeps and drops the rest.
type Filter func(record *Record) (bool, error)

func (f Filter) Process(record *Record, out *Output) error {
	keep, err := f(record)
	if keep && err == nil {
		out.Forward()
	}
	return err
}

// ForwardAll is a plugin that forwards every record unchanged.
type ForwardAll struct{}

func (ForwardAll) Process(_ *Record, out *Output) error {
	out.Forward()
	return nil
}

// Runner runs a plugin over batches in the encoding of sdk/SPEC.md. It is what a
// component calls, and what package sluicetest runs plugins with natively; plugins do
// not use it themselves.
type Runner struct {
	plugin  Plugin
	records []wire.Record
	result  wire.Result
	// Reused for every record, so that a batch allocates nothing per record.
	record Record
	out    Output
}

// NewRunner makes the plugin that factory (or the exported factory, if nil) makes of
// config.
func NewRunner(factory Factory, config Config) (*Runner, error) {
	if factory == nil {
		factory = exported
	}
	if factory == nil {
		return nil, errors.New("the plugin exports nothing: call sluice.Export in an init function of its main package")
	}
	plugin, err := factory(config)
	if err != nil {
		return nil, err
	}
	if plugin == nil {
		return nil, errors.New("the plugin's factory returned no plugin")
	}
	return &Runner{plugin: plugin}, nil
}

// Process runs the plugin over one batch and returns the result's bytes, valid until
// the next call. An error fails the whole call.
func (p *Runner) Process(batch []byte) (result []byte, err error) {
	source, records, err := wire.DecodeBatch(batch, p.records)
	p.records = records
	if err != nil {
		return nil, err
	}
	defer func() {
		if panicked := recover(); panicked != nil {
			at := ""
			if site := panicSite(); site != "" {
				at = " (at " + site + ")"
			}
			result, err = nil, fmt.Errorf("panic at offset %d: %v%s", p.record.rec.Offset, panicked, at)
		}
	}()
	p.result.Reset()
	p.out = Output{result: &p.result, record: &p.record}
	for i := range records {
		p.record = Record{rec: records[i], source: source}
		p.out.err = nil
		p.result.Begin()
		err := p.plugin.Process(&p.record, &p.out)
		if err == nil {
			err = p.out.err
		}
		if err != nil {
			var rejection *Rejection
			if !errors.As(err, &rejection) && err != p.out.err {
				return nil, fmt.Errorf("record at offset %d: %w", records[i].Offset, err)
			}
			// The reason is text to the host, which refuses a result with one that is not.
			p.result.Reject(strings.ToValidUTF8(err.Error(), "\uFFFD"))
		}
		p.result.End()
	}
	return p.result.Bytes(), nil
}
