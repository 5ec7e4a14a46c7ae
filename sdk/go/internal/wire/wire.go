// Package wire reads and writes the Sluice batch encoding (sdk/SPEC.md): the one buffer
// a batch crosses the plugin boundary in, and the one buffer its result comes back in.
//
// The plugin side (decoding a batch) is what every plugin runs on every batch; it reads
// records in place, without copying a byte. The other side (encoding a batch, decoding
// a result) is what the host does, and is here for the SDK's testing package and its
// test vectors.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

const (
	// Absent is the length of an absent key or value.
	Absent = math.MaxUint32
	// DefaultRoute is the route length of an output sent down the default route.
	DefaultRoute = math.MaxUint16
	// NoTimestamp is the timestamp of a record that has none.
	NoTimestamp = math.MinInt64

	recordFixed = 32
	outputFixed = 20
)

// Record is an input record of a batch: its fields are slices of the batch, nil when
// absent; Headers holds HeaderN headers as they are encoded (see NextHeader).
type Record struct {
	Offset    uint64
	Partition uint32
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []byte
	Stream    []byte
	HeaderN   int
}

// ErrMalformed is what every refusal of a batch or result wraps.
var ErrMalformed = errors.New("malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w batch: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func malformedResult(format string, args ...any) error {
	return fmt.Errorf("%w result: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// reader walks a buffer, failing once instead of at every step.
type reader struct {
	buf []byte
	at  int
	err error
	// Whether this is a result, for the messages.
	result bool
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.at {
		fail := malformed
		if r.result {
			fail = malformedResult
		}
		r.err = fail("%s runs past the end (%d bytes at %d of %d)", what, n, r.at, len(r.buf))
		return nil
	}
	b := r.buf[r.at : r.at+n : r.at+n]
	r.at += n
	return b
}

func (r *reader) u16(what string) int {
	b := r.take(2, what)
	if b == nil {
		return 0
	}
	return int(binary.LittleEndian.Uint16(b))
}

func (r *reader) u32(what string) uint32 {
	b := r.take(4, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// bytes reads a field of length n, where Absent means nil.
func (r *reader) bytes(n uint32, what string) []byte {
	if n == Absent {
		return nil
	}
	return r.take(int(n), what)
}

// DecodeBatch reads a batch into records (reusing their slice) and returns its source.
// It refuses a batch that is cut short or has bytes after its last record.
func DecodeBatch(buf []byte, records []Record) (source []byte, _ []Record, _ error) {
	r := &reader{buf: buf}
	count := r.u32("record count")
	source = r.take(r.u16("source length"), "source")
	records = records[:0]
	// Every record takes at least its fixed part: a count larger than that allows is a
	// lie, refused before it can size an allocation.
	if r.err == nil && uint64(count)*recordFixed > uint64(len(buf)-r.at) {
		return nil, records, malformed("%d records cannot fit in %d bytes", count, len(buf)-r.at)
	}
	for i := uint32(0); i < count && r.err == nil; i++ {
		fixed := r.take(recordFixed, "record")
		if fixed == nil {
			break
		}
		rec := Record{
			Offset:    binary.LittleEndian.Uint64(fixed[0:]),
			Partition: binary.LittleEndian.Uint32(fixed[8:]),
			Timestamp: int64(binary.LittleEndian.Uint64(fixed[12:])),
			HeaderN:   int(binary.LittleEndian.Uint16(fixed[30:])),
		}
		rec.Key = r.bytes(binary.LittleEndian.Uint32(fixed[20:]), "key")
		rec.Value = r.bytes(binary.LittleEndian.Uint32(fixed[24:]), "value")
		headers := r.at
		for h := 0; h < rec.HeaderN && r.err == nil; h++ {
			r.take(r.u16("header name length"), "header name")
			r.take(int(r.u32("header value length")), "header value")
		}
		if r.err != nil {
			break
		}
		rec.Headers = buf[headers:r.at:r.at]
		rec.Stream = r.take(int(binary.LittleEndian.Uint16(fixed[28:])), "stream")
		records = append(records, rec)
	}
	if r.err != nil {
		return nil, records[:0], r.err
	}
	if r.at != len(buf) {
		return nil, records[:0], malformed("%d bytes after the last record", len(buf)-r.at)
	}
	return source, records, nil
}

// NextHeader reads the header at the start of headers (a Record's Headers, or what a
// previous call left), returning it and the rest. The batch was checked when decoded.
func NextHeader(headers []byte) (name, value, rest []byte) {
	n := int(binary.LittleEndian.Uint16(headers))
	name = headers[2 : 2+n : 2+n]
	at := 2 + n
	v := int(binary.LittleEndian.Uint32(headers[at:]))
	at += 4
	return name, headers[at : at+v : at+v], headers[at+v:]
}
