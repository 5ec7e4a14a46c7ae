package wire

import (
	"encoding/binary"
	"unicode/utf8"
)

// The host's side of the encoding: writing a batch and reading a result, for the
// testing package and the test vectors.

// InputRecord is a record to encode into a batch; nil is absent.
type InputRecord struct {
	Offset    uint64
	Partition uint32
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Stream    string
}

// EncodeBatch writes a batch from source and records.
func EncodeBatch(source string, records []InputRecord) []byte {
	buf := binary.LittleEndian.AppendUint32(nil, uint32(len(records)))
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(source)))
	buf = append(buf, source...)
	for _, rec := range records {
		buf = binary.LittleEndian.AppendUint64(buf, rec.Offset)
		buf = binary.LittleEndian.AppendUint32(buf, rec.Partition)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(rec.Timestamp))
		buf = binary.LittleEndian.AppendUint32(buf, length(rec.Key))
		buf = binary.LittleEndian.AppendUint32(buf, length(rec.Value))
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(rec.Stream)))
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(rec.Headers)))
		buf = append(buf, rec.Key...)
		buf = append(buf, rec.Value...)
		for _, h := range rec.Headers {
			buf = AppendHeader(buf, h.Name, h.Value)
		}
		buf = append(buf, rec.Stream...)
	}
	return buf
}

// OutputRecord is an output decoded from a result; nil is absent, and Route is nil for
// the default route.
type OutputRecord struct {
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Route     *string
}

// Outcome is what a plugin made of one input record: outputs, or a rejection.
type Outcome struct {
	Outputs  []OutputRecord
	Rejected *string
}

func text(r *reader, n int, what string) string {
	b := r.take(n, what)
	if r.err == nil && !utf8.Valid(b) {
		r.err = malformedResult("%s is not UTF-8", what)
	}
	return string(b)
}

// DecodeResult reads a result of a batch of `records` records, refusing what the host
// refuses.
func DecodeResult(buf []byte, records int) ([]Outcome, error) {
	r := &reader{buf: buf, result: true}
	count := r.u32("outcome count")
	if r.err == nil && int64(count) != int64(records) {
		return nil, malformedResult("%d outcomes for %d records", count, records)
	}
	var outcomes []Outcome
	for i := uint32(0); i < count && r.err == nil; i++ {
		tag := r.take(1, "outcome tag")
		if r.err != nil {
			break
		}
		switch tag[0] {
		case 0:
			n := r.u32("output count")
			outputs := []OutputRecord{}
			for o := uint32(0); o < n && r.err == nil; o++ {
				fixed := r.take(outputFixed, "output")
				if fixed == nil {
					break
				}
				out := OutputRecord{Timestamp: int64(binary.LittleEndian.Uint64(fixed))}
				out.Key = r.bytes(binary.LittleEndian.Uint32(fixed[8:]), "key")
				out.Value = r.bytes(binary.LittleEndian.Uint32(fixed[12:]), "value")
				for h := 0; h < int(binary.LittleEndian.Uint16(fixed[18:])) && r.err == nil; h++ {
					name := text(r, r.u16("header name length"), "header name")
					value := r.take(int(r.u32("header value length")), "header value")
					out.Headers = append(out.Headers, Header{name, value})
				}
				if route := binary.LittleEndian.Uint16(fixed[16:]); route != DefaultRoute {
					s := text(r, int(route), "route")
					out.Route = &s
				}
				outputs = append(outputs, out)
			}
			outcomes = append(outcomes, Outcome{Outputs: outputs})
		case 1:
			reason := text(r, int(r.u32("reason length")), "reason")
			outcomes = append(outcomes, Outcome{Rejected: &reason})
		default:
			return nil, malformedResult("outcome tag %d", tag[0])
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.at != len(buf) {
		return nil, malformedResult("%d bytes after the last outcome", len(buf)-r.at)
	}
	return outcomes, nil
}
