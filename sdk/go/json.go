package sluice

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The JSON helpers read fields the way every Sluice SDK does, so that a plugin's
// config means the same in every language: a path is a JSON pointer (`/user/country`,
// `/items/0`) or dotted field names (`user.country`; a plain name is a top-level field).

// jsonValue is the record's value if it is JSON (strictly: UTF-8 throughout), or the
// rejection to return, which says what is wrong as the other SDKs do.
func (r *Record) jsonValue() ([]byte, error) {
	value := r.rec.Value
	if value == nil {
		return nil, Reject("record has no value")
	}
	if !utf8.Valid(value) {
		return nil, Reject("value is not valid JSON: it is not UTF-8 (the first bad byte is at offset " +
			strconv.Itoa(firstInvalidUTF8(value)) + ")")
	}
	if !json.Valid(value) {
		return nil, notJSON(json.Unmarshal(value, new(json.RawMessage)))
	}
	return value, nil
}

// notJSON is the rejection of a value that encoding/json refused with err.
func notJSON(err error) error {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return Reject("value is not valid JSON: " + syntax.Error() + " (after " + strconv.FormatInt(syntax.Offset, 10) + " bytes)")
	case err != nil:
		return Reject("value is not valid JSON: " + err.Error())
	default:
		return Reject("value is not valid JSON")
	}
}

// firstInvalidUTF8 is the offset of the first byte of data that is not UTF-8.
func firstInvalidUTF8(data []byte) int {
	for at := 0; at < len(data); {
		r, size := utf8.DecodeRune(data[at:])
		if r == utf8.RuneError && size <= 1 {
			return at
		}
		at += size
	}
	return len(data)
}

// JSON is the record's value parsed (numbers as json.Number), or a rejection if it has
// none or it is not JSON.
func (r *Record) JSON() (any, error) {
	value, err := r.jsonValue()
	if err != nil {
		return nil, err
	}
	decoder := json.NewDecoder(bytes.NewReader(value))
	decoder.UseNumber()
	var parsed any
	if err := decoder.Decode(&parsed); err != nil {
		return nil, notJSON(err)
	}
	return parsed, nil
}

// JSONField is the raw JSON at path in the record's value, and whether it is there (a
// JSON null is there), or a rejection if the record has no value or it is not JSON.
func (r *Record) JSONField(path string) (json.RawMessage, bool, error) {
	value, err := r.jsonValue()
	if err != nil {
		return nil, false, err
	}
	raw, found := JSONAt(value, path)
	return raw, found, nil
}

// JSONAt is the raw JSON at path in the JSON document doc, and whether it is there.
func JSONAt(doc []byte, path string) (json.RawMessage, bool) {
	pointer := strings.HasPrefix(path, "/")
	var parts []string
	if pointer {
		parts = strings.Split(path[1:], "/")
		for i, p := range parts {
			parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		}
	} else {
		parts = strings.Split(path, ".")
	}
	raw := json.RawMessage(bytes.TrimSpace(doc))
	for _, name := range parts {
		switch {
		case len(raw) > 0 && raw[0] == '{':
			var object map[string]json.RawMessage
			if json.Unmarshal(raw, &object) != nil {
				return nil, false
			}
			next, ok := object[name]
			if !ok {
				return nil, false
			}
			raw = next
		case pointer && len(raw) > 0 && raw[0] == '[':
			i, ok := arrayIndex(name)
			var array []json.RawMessage
			if !ok || json.Unmarshal(raw, &array) != nil || i >= len(array) {
				return nil, false
			}
			raw = array[i]
		default:
			return nil, false
		}
	}
	return raw, true
}

// arrayIndex is a JSON pointer's array index: digits without a leading zero.
func arrayIndex(name string) (int, bool) {
	if name == "" || (name[0] == '0' && name != "0") || strings.TrimLeft(name, "0123456789") != "" {
		return 0, false
	}
	i, err := strconv.Atoi(name)
	return i, err == nil
}

// Text is a JSON value as text: a string as it is, anything else as compact JSON, so
// that a config's "7" matches both 7 and "7".
func Text(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		return string(raw)
	}
	return compact.String()
}

// WithJSONField is the JSON object doc with its top-level member name set to value
// (encoded as JSON): replaced where it is, or added last. The other members keep their
// order and their text, compacted.
func WithJSONField(doc []byte, name string, value any) ([]byte, error) {
	decoder := json.NewDecoder(bytes.NewReader(doc))
	if open, err := decoder.Token(); err != nil || open != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	encoded, err := marshal(value)
	if err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(make([]byte, 0, len(doc)+len(name)+len(encoded)+4))
	out.WriteByte('{')
	set := false
	for decoder.More() {
		key, err := decoder.Token()
		if err != nil {
			return nil, err
		}
		var member json.RawMessage
		if err := decoder.Decode(&member); err != nil {
			return nil, err
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		quoted, _ := marshal(key)
		out.Write(quoted)
		out.WriteByte(':')
		if key == name && !set {
			out.Write(encoded)
			set = true
		} else if err := json.Compact(out, member); err != nil {
			return nil, err
		}
	}
	if !set {
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		quoted, _ := marshal(name)
		out.Write(quoted)
		out.WriteByte(':')
		out.Write(encoded)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// marshal is value as compact JSON, with <, > and & as they are (json.Marshal escapes
// them for HTML).
func marshal(value any) ([]byte, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
