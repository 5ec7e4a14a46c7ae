package sluice

// The wire-format test vectors of sdk/vectors (see sdk/SPEC.md), run against the SDK's
// own decoder and encoder.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sluice.dev/sdk/internal/wire"
)

const vectors = "../vectors"

// vectorBytes is a byte string of the vectors' JSON: null (absent, nil), text,
// {"base64": …} or {"repeat": …, "count": n}.
func vectorBytes(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	if string(raw) == "null" {
		return nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []byte(text)
	}
	var object struct {
		Base64 *string
		Repeat *string
		Count  int
	}
	if err := json.Unmarshal(raw, &object); err != nil {
		t.Fatalf("not a byte string: %s", raw)
	}
	if object.Base64 != nil {
		b, err := base64.StdEncoding.DecodeString(*object.Base64)
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte{}, b...)
	}
	return []byte(strings.Repeat(*object.Repeat, object.Count))
}

// vectorHeaders is a header list: pairs, or {"repeat": [name, value], "count": n}.
func vectorHeaders(t *testing.T, raw json.RawMessage) []Header {
	t.Helper()
	var pairs [][2]json.RawMessage
	count := 1
	if json.Unmarshal(raw, &pairs) != nil {
		var repeated struct {
			Repeat [2]json.RawMessage
			Count  int
		}
		if err := json.Unmarshal(raw, &repeated); err != nil {
			t.Fatalf("not headers: %s", raw)
		}
		pairs, count = [][2]json.RawMessage{repeated.Repeat}, repeated.Count
	}
	headers := []Header{}
	for range count {
		for _, p := range pairs {
			headers = append(headers, Header{Name: string(vectorBytes(t, p[0])), Value: vectorBytes(t, p[1])})
		}
	}
	return headers
}

// vectorInt is a 64-bit integer written as a decimal string; null is NoTimestamp.
func vectorInt(t *testing.T, raw json.RawMessage) int64 {
	t.Helper()
	var text *string
	if err := json.Unmarshal(raw, &text); err != nil {
		t.Fatal(err)
	}
	if text == nil {
		return NoTimestamp
	}
	if n, err := strconv.ParseInt(*text, 10, 64); err == nil {
		return n
	}
	n, err := strconv.ParseUint(*text, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

type vectorFile struct {
	Encoding  int
	Valid     []map[string]json.RawMessage
	Malformed []struct {
		Name, About string
		Records     int
		Bytes       json.RawMessage
	}
}

func readVectors(t *testing.T, name string) vectorFile {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(vectors, name))
	if err != nil {
		t.Fatal(err)
	}
	var file vectorFile
	if err := json.Unmarshal(text, &file); err != nil {
		t.Fatal(err)
	}
	if file.Encoding != 1 {
		t.Fatalf("%s is of encoding %d; this SDK speaks 1", name, file.Encoding)
	}
	return file
}

func str(t *testing.T, raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidBatchesDecodeToTheirRecords(t *testing.T) {
	for _, c := range readVectors(t, "batches.json").Valid {
		t.Run(str(t, c["name"]), func(t *testing.T) {
			batch, err := os.ReadFile(filepath.Join(vectors, str(t, c["file"])))
			if err != nil {
				t.Fatal(err)
			}
			source, records, err := wire.DecodeBatch(batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := vectorBytes(t, c["source"]); !bytes.Equal(source, want) {
				t.Errorf("source %q, want %q", source, want)
			}
			var want []map[string]json.RawMessage
			if err := json.Unmarshal(c["records"], &want); err != nil {
				t.Fatal(err)
			}
			if len(records) != len(want) {
				t.Fatalf("%d records, want %d", len(records), len(want))
			}
			for i, w := range want {
				r := Record{rec: records[i], source: source}
				if uint64(vectorInt(t, w["offset"])) != r.Offset() {
					t.Errorf("record %d: offset %d", i, r.Offset())
				}
				var partition uint32
				json.Unmarshal(w["partition"], &partition)
				if partition != r.Partition() || vectorInt(t, w["timestamp"]) != r.Timestamp() {
					t.Errorf("record %d: partition %d, timestamp %d", i, r.Partition(), r.Timestamp())
				}
				for _, field := range []struct {
					name string
					got  []byte
				}{{"key", r.Key()}, {"value", r.Value()}, {"stream", []byte(r.Stream())}} {
					want := vectorBytes(t, w[field.name])
					if !bytes.Equal(field.got, want) || (field.got == nil) != (want == nil) {
						t.Errorf("record %d: %s %q (absent: %t), want %q (absent: %t)", i, field.name, field.got, field.got == nil, want, want == nil)
					}
				}
				got := []Header{}
				r.Headers(func(name string, value []byte) bool {
					got = append(got, Header{Name: name, Value: value})
					return true
				})
				wantHeaders := vectorHeaders(t, w["headers"])
				if len(got) != len(wantHeaders) {
					t.Fatalf("record %d: %d headers, want %d", i, len(got), len(wantHeaders))
				}
				for h := range got {
					if got[h].Name != wantHeaders[h].Name || !bytes.Equal(got[h].Value, wantHeaders[h].Value) {
						t.Fatalf("record %d: header %d is %q, want %q", i, h, got[h], wantHeaders[h])
					}
				}
			}
		})
	}
}

func TestMalformedBatchesAreRefused(t *testing.T) {
	for _, c := range readVectors(t, "batches.json").Malformed {
		t.Run(c.Name, func(t *testing.T) {
			if _, _, err := wire.DecodeBatch(vectorBytes(t, c.Bytes), nil); err == nil {
				t.Fatalf("decoded, but must be refused: %s", c.About)
			}
			// The runner refuses it by failing the call.
			runner, _ := NewRunner(func(Config) (Plugin, error) { return ForwardAll{}, nil }, Config{})
			if _, err := runner.Process(vectorBytes(t, c.Bytes)); err == nil {
				t.Fatalf("processed, but must be refused: %s", c.About)
			}
		})
	}
}

func TestValidResultsEncodeToTheirBytes(t *testing.T) {
	for _, c := range readVectors(t, "results.json").Valid {
		t.Run(str(t, c["name"]), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(vectors, str(t, c["file"])))
			if err != nil {
				t.Fatal(err)
			}
			var outcomes []struct {
				Outputs  []map[string]json.RawMessage
				Rejected *string
			}
			if err := json.Unmarshal(c["outcomes"], &outcomes); err != nil {
				t.Fatal(err)
			}
			var result wire.Result
			result.Reset()
			out := Output{result: &result, record: &Record{}}
			for _, o := range outcomes {
				result.Begin()
				if o.Rejected != nil {
					result.Reject(*o.Rejected)
				}
				for _, w := range o.Outputs {
					record := &OutRecord{
						Key: vectorBytes(t, w["key"]), Value: vectorBytes(t, w["value"]),
						Headers: vectorHeaders(t, w["headers"]), Timestamp: vectorInt(t, w["timestamp"]),
					}
					out.Emit(record, string(vectorBytes(t, w["route"])))
				}
				if out.err != nil {
					t.Fatal(out.err)
				}
				result.End()
			}
			if got := result.Bytes(); !bytes.Equal(got, want) {
				t.Fatalf("encoded %d bytes unlike the %d of the file", len(got), len(want))
			}
		})
	}
}

func TestMalformedResultsAreRefusedByTheTestingDecoder(t *testing.T) {
	for _, c := range readVectors(t, "results.json").Malformed {
		t.Run(c.Name, func(t *testing.T) {
			if _, err := wire.DecodeResult(vectorBytes(t, c.Bytes), c.Records); err == nil {
				t.Fatalf("decoded, but must be refused: %s", c.About)
			}
		})
	}
}
