package sluice

import (
	"unicode/utf8"

	"sluice.dev/sdk/internal/wire"
)

// NoTimestamp is the timestamp of a record that has none.
const NoTimestamp int64 = wire.NoTimestamp

// Record is an input record. Its byte slices are views of the batch: they are valid
// during the call to Process that received the record, and must be copied to be kept.
// A nil key or value is absent, which is not the same as empty.
type Record struct {
	rec    wire.Record
	source []byte
}

// Key is the record's key, nil if it has none.
func (r *Record) Key() []byte { return r.rec.Key }

// Value is the record's value, nil if it has none.
func (r *Record) Value() []byte { return r.rec.Value }

// Timestamp is the record's timestamp in milliseconds since the Unix epoch, or
// NoTimestamp.
func (r *Record) Timestamp() int64 { return r.rec.Timestamp }

// Offset and Partition are the record's position in its stream (0 for sources without
// partitions).
func (r *Record) Offset() uint64 { return r.rec.Offset }

// Partition is the record's partition in its stream.
func (r *Record) Partition() uint32 { return r.rec.Partition }

// Stream is the topic, subject, stream or file the record was read from.
func (r *Record) Stream() string { return string(r.rec.Stream) }

// Source is the name of the pipeline's source.
func (r *Record) Source() string { return string(r.source) }

// Headers calls yield with each header's name and value, in order, until it returns
// false. Names may repeat.
func (r *Record) Headers(yield func(name string, value []byte) bool) {
	rest := r.rec.Headers
	for range r.rec.HeaderN {
		name, value, next := wire.NextHeader(rest)
		if !yield(string(name), value) {
			return
		}
		rest = next
	}
}

// Header is the value of the first header called name, nil if there is none.
func (r *Record) Header(name string) []byte {
	var found []byte
	r.Headers(func(n string, v []byte) bool {
		if n == name {
			found = v
			return false
		}
		return true
	})
	return found
}

// ValueString is the record's value as text, or a rejection ("record has no value",
// "value is not UTF-8") to return from Process.
func (r *Record) ValueString() (string, error) {
	if r.rec.Value == nil {
		return "", Reject("record has no value")
	}
	if !utf8.Valid(r.rec.Value) {
		return "", Reject("value is not UTF-8")
	}
	return string(r.rec.Value), nil
}

// Out is a copy of the record as an output, to change before emitting it.
func (r *Record) Out() *OutRecord {
	out := &OutRecord{Key: r.rec.Key, Value: r.rec.Value, Timestamp: r.rec.Timestamp}
	r.Headers(func(name string, value []byte) bool {
		out.Headers = append(out.Headers, Header{Name: name, Value: value})
		return true
	})
	return out
}

// Header is a header of an output record.
type Header = wire.Header

// OutRecord is an output record: nil Key or Value is absent, and Timestamp is
// NoTimestamp for none. It keeps nothing of its input implicitly.
type OutRecord struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp int64
}
