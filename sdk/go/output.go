package sluice

import (
	"fmt"
	"math"

	"sluice.dev/sdk/internal/wire"
)

// Output collects what Process makes of one input record: zero or more outputs, each
// sent down the pipeline's default route or a named one. Emitting nothing drops the
// record.
type Output struct {
	result *wire.Result
	record *Record
	// A route or header that cannot be encoded: the record is rejected with it.
	err error
}

// DefaultRoute is the route of outputs that name none.
const DefaultRoute = ""

func (o *Output) route(route string) bool {
	if len(route) >= math.MaxUint16 {
		o.fail(fmt.Errorf("route of %d bytes is longer than the 65 534 allowed", len(route)))
		return false
	}
	return o.err == nil
}

func (o *Output) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// Forward emits the input record unchanged down the default route.
func (o *Output) Forward() { o.ForwardTo(DefaultRoute) }

// ForwardTo emits the input record unchanged down route ("" is the default route).
func (o *Output) ForwardTo(route string) {
	if !o.route(route) {
		return
	}
	rec := &o.record.rec
	o.result.Output(rec.Timestamp, rec.Key, rec.Value, rec.HeaderN, rec.Headers, route)
}

// EmitValue emits the input record with value instead of its own (nil: none), down
// the default route.
func (o *Output) EmitValue(value []byte) { o.EmitValueTo(value, DefaultRoute) }

// EmitValueTo emits the input record with value instead of its own, down route.
func (o *Output) EmitValueTo(value []byte, route string) {
	if !o.route(route) {
		return
	}
	rec := &o.record.rec
	o.result.Output(rec.Timestamp, rec.Key, value, rec.HeaderN, rec.Headers, route)
}

// Emit emits record down route ("" is the default route).
func (o *Output) Emit(record *OutRecord, route string) {
	if !o.route(route) {
		return
	}
	for _, h := range record.Headers {
		if len(h.Name) > math.MaxUint16 {
			o.fail(fmt.Errorf("header name of %d bytes is longer than the 65 535 allowed", len(h.Name)))
			return
		}
	}
	if len(record.Headers) > math.MaxUint16 {
		o.fail(fmt.Errorf("%d headers are more than the 65 535 allowed", len(record.Headers)))
		return
	}
	o.result.OutputFields(record.Timestamp, record.Key, record.Value, record.Headers, route)
}
