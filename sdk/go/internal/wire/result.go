package wire

import "encoding/binary"

// Result writes a result, one outcome per input record, into a buffer that is kept
// and reused from batch to batch.
type Result struct {
	buf      []byte
	outcomes uint32
	// Where the current outcome starts, and how many outputs it has so far.
	outcome int
	outputs uint32
}

// Reset starts a new result, keeping the buffer.
func (r *Result) Reset() {
	r.buf = append(r.buf[:0], 0, 0, 0, 0)
	r.outcomes = 0
}

// Begin starts the outcome of the next input record: outputs, none so far.
func (r *Result) Begin() {
	r.outcome = len(r.buf)
	r.outputs = 0
	r.buf = append(r.buf, 0, 0, 0, 0, 0)
	r.outcomes++
}

// End finishes the current outcome.
func (r *Result) End() {
	if r.buf[r.outcome] == 0 {
		binary.LittleEndian.PutUint32(r.buf[r.outcome+1:], r.outputs)
	}
}

// Reject replaces the current outcome, and whatever outputs it had, with a rejection.
func (r *Result) Reject(reason string) {
	r.buf = append(r.buf[:r.outcome], 1)
	r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(len(reason)))
	r.buf = append(r.buf, reason...)
}

func length(b []byte) uint32 {
	if b == nil {
		return Absent
	}
	return uint32(len(b))
}

// fixed appends the fixed part of an output record; route "" is the default route.
func (r *Result) fixed(timestamp int64, key, value []byte, headerN int, route string) {
	routeLen := uint16(len(route))
	if route == "" {
		routeLen = DefaultRoute
	}
	r.buf = binary.LittleEndian.AppendUint64(r.buf, uint64(timestamp))
	r.buf = binary.LittleEndian.AppendUint32(r.buf, length(key))
	r.buf = binary.LittleEndian.AppendUint32(r.buf, length(value))
	r.buf = binary.LittleEndian.AppendUint16(r.buf, routeLen)
	r.buf = binary.LittleEndian.AppendUint16(r.buf, uint16(headerN))
	r.buf = append(r.buf, key...)
	r.buf = append(r.buf, value...)
	r.outputs++
}

// Output adds an output with headerN headers already encoded in headers (as an input
// record holds them), sent down route ("" is the default route); nil is absent.
func (r *Result) Output(timestamp int64, key, value []byte, headerN int, headers []byte, route string) {
	r.fixed(timestamp, key, value, headerN, route)
	r.buf = append(r.buf, headers...)
	r.buf = append(r.buf, route...)
}

// Header is a header of an output: a name and a value.
type Header struct {
	Name  string
	Value []byte
}

// OutputFields adds an output with headers, sent down route.
func (r *Result) OutputFields(timestamp int64, key, value []byte, headers []Header, route string) {
	r.fixed(timestamp, key, value, len(headers), route)
	for _, h := range headers {
		r.buf = AppendHeader(r.buf, h.Name, h.Value)
	}
	r.buf = append(r.buf, route...)
}

// AppendHeader appends the encoding of one header.
func AppendHeader(buf []byte, name string, value []byte) []byte {
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(name)))
	buf = append(buf, name...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(value)))
	return append(buf, value...)
}

// Bytes finishes the result: its bytes, valid until the next Reset.
func (r *Result) Bytes() []byte {
	binary.LittleEndian.PutUint32(r.buf, r.outcomes)
	return r.buf
}
