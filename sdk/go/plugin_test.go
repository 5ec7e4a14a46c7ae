package sluice_test

// The SDK's behaviour beyond the encoding (vectors_test.go): what each way of ending a
// record does, the shortcuts, and what a record offers.

import (
	"errors"
	"strings"
	"testing"

	"sluice.dev/sdk"
	"sluice.dev/sdk/sluicetest"
)

type processFunc func(record *sluice.Record, out *sluice.Output) error

func (f processFunc) Process(record *sluice.Record, out *sluice.Output) error { return f(record, out) }

func plugin(f processFunc) sluice.Factory {
	return func(sluice.Config) (sluice.Plugin, error) { return f, nil }
}

func TestARejectionReplacesWhatTheRecordHadEmitted(t *testing.T) {
	result, err := sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		out.Forward()
		if string(r.Value()) == "bad" {
			return sluice.Rejectf("bad value %q", r.Value())
		}
		return nil
	}), sluice.Config{}, sluicetest.Value("bad"), sluicetest.Value("good"))
	if err != nil {
		t.Fatal(err)
	}
	if got := result.Outcomes[0]; !got.Rejected || got.Reason != `bad value "bad"` || got.Outputs != nil {
		t.Errorf("rejected: %+v", got)
	}
	if got := result.Outcomes[1]; got.Rejected || len(got.Outputs) != 1 {
		t.Errorf("forwarded: %+v", got)
	}
}

func TestAnErrorOrAPanicFailsTheCallNamingTheRecord(t *testing.T) {
	_, err := sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		if r.Offset() == 1 {
			return errors.New("lost the database")
		}
		return nil
	}), sluice.Config{}, sluicetest.Value("a"), sluicetest.Value("b"))
	if err == nil || err.Error() != "record at offset 1: lost the database" {
		t.Errorf("%v", err)
	}
	_, err = sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		var m map[string]int
		m[string(r.Value())]++
		return nil
	}), sluice.Config{}, sluicetest.Value("a"))
	if err == nil || !strings.HasPrefix(err.Error(), "panic at offset 0: assignment to entry in nil map (at ") ||
		!strings.Contains(err.Error(), "sdk/go/plugin_test.go:") {
		t.Errorf("%v", err)
	}
}

func TestARouteTooLongToEncodeRejectsTheRecord(t *testing.T) {
	result, err := sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		out.ForwardTo(strings.Repeat("r", 65_535))
		return nil
	}), sluice.Config{}, sluicetest.Value("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := result.Outcomes[0]; !got.Rejected || got.Reason != "route of 65535 bytes is longer than the 65 534 allowed" {
		t.Errorf("%+v", got)
	}
}

func TestAReasonThatIsNotUTF8IsMadeText(t *testing.T) {
	result, err := sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		return sluice.Reject("bad \xff byte")
	}), sluice.Config{}, sluicetest.Value("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := result.Outcomes[0].Reason; got != "bad \uFFFD byte" {
		t.Errorf("%q", got)
	}
}

func TestTheShortcuts(t *testing.T) {
	upper := func(sluice.Config) (sluice.Plugin, error) {
		return sluice.MapValues(func(v []byte) ([]byte, error) { return []byte(strings.ToUpper(string(v))), nil }), nil
	}
	ts := int64(-5)
	in := sluicetest.Record{Key: []byte("k"), Value: []byte("v"), Timestamp: &ts,
		Headers: []sluice.Header{{Name: "h", Value: []byte("1")}, {Name: "h", Value: []byte("2")}}}
	result, err := sluicetest.Run(upper, sluice.Config{}, in)
	if err != nil {
		t.Fatal(err)
	}
	out := result.Outcomes[0].Outputs[0]
	if string(out.Key) != "k" || string(out.Value) != "V" || out.Timestamp != -5 || len(out.Headers) != 2 ||
		string(out.Headers[1].Value) != "2" {
		t.Errorf("mapped: %+v", out)
	}
	keepK := func(sluice.Config) (sluice.Plugin, error) {
		return sluice.Filter(func(r *sluice.Record) (bool, error) { return r.Key() != nil, nil }), nil
	}
	result, err = sluicetest.Run(keepK, sluice.Config{}, in, sluicetest.Value("no key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(result.Outcomes[0].Outputs) != 1 || len(result.Outcomes[1].Outputs) != 0 {
		t.Errorf("filtered: %+v", result.Outcomes)
	}
}

func TestWhatARecordOffers(t *testing.T) {
	var seen []string
	_, err := sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		names := []string{}
		for name, value := range r.Headers {
			names = append(names, name+"="+string(value))
		}
		seen = append(seen, strings.Join(names, ","), string(r.Header("b")), r.Stream(), r.Source())
		if r.Header("missing") != nil || r.Key() != nil || r.Timestamp() != sluice.NoTimestamp {
			t.Error("absent is nil / NoTimestamp")
		}
		raw, found, err := r.JSONField("/a/1")
		seen = append(seen, sluice.Text(raw))
		if !found || err != nil {
			t.Errorf("field: %v", err)
		}
		with, err := sluice.WithJSONField(r.Value(), "a", "<&>")
		seen = append(seen, string(with))
		return err
	}), sluice.Config{}, sluicetest.Record{Value: []byte(`{"a": [1, {"x": 2}], "b": 3}`), Stream: "topic",
		Headers: []sluice.Header{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a=1,b=2", "2", "topic", "test", `{"x":2}`, `{"a":"<&>","b":3}`}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("got  %q\nwant %q", seen, want)
	}
}

func TestConfig(t *testing.T) {
	c := sluice.NewConfig("n", "7", "bad", "x")
	if n, err := c.Int("n", 0); n != 7 || err != nil {
		t.Error(n, err)
	}
	if n, err := c.Int("none", 3); n != 3 || err != nil {
		t.Error(n, err)
	}
	if _, err := c.Int("bad", 0); err == nil || err.Error() != "config key `bad` = \"x\": not an integer" {
		t.Error(err)
	}
	if _, err := c.Require("none"); err == nil || err.Error() != "missing required config key `none`" {
		t.Error(err)
	}
	c = sluice.NewConfig("ratio", "0.25", "on", "true", "off", "false", "yes", "yes")
	if f, err := c.Float("ratio", 0); f != 0.25 || err != nil {
		t.Error(f, err)
	}
	if f, err := c.Float("none", 1.5); f != 1.5 || err != nil {
		t.Error(f, err)
	}
	if _, err := c.Float("yes", 0); err == nil || err.Error() != "config key `yes` = \"yes\": not a number" {
		t.Error(err)
	}
	if on, err := c.Bool("on", false); !on || err != nil {
		t.Error(on, err)
	}
	if off, err := c.Bool("off", true); off || err != nil {
		t.Error(off, err)
	}
	if def, err := c.Bool("none", true); !def || err != nil {
		t.Error(def, err)
	}
	if _, err := c.Bool("yes", false); err == nil || err.Error() != "config key `yes` = \"yes\": not true or false" {
		t.Error(err)
	}
}

func TestLogFieldsTakeAnyValueAsText(t *testing.T) {
	result, err := sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		sluice.Log(sluice.LevelInfo, "seen", sluice.Field{Name: "n", Value: 3}, sluice.Field{Name: "s", Value: "x"})
		return nil
	}), sluice.Config{}, sluicetest.Value("a"))
	if err != nil {
		t.Fatal(err)
	}
	fields := result.Logs[0].Fields
	if len(fields) != 2 || fields[0].Value != "3" || fields[1].Value != "x" {
		t.Errorf("%+v", fields)
	}
}

func TestAValueThatIsNotJSONIsRejectedSayingWhy(t *testing.T) {
	result, err := sluicetest.Run(plugin(func(r *sluice.Record, out *sluice.Output) error {
		_, err := r.JSON()
		return err
	}), sluice.Config{}, sluicetest.Value(`{"a": x}`), sluicetest.Value("\"a\xffb\""), sluicetest.Value(`{"a": 1`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"value is not valid JSON: invalid character 'x' looking for beginning of value (after 7 bytes)",
		"value is not valid JSON: it is not UTF-8 (the first bad byte is at offset 2)",
		"value is not valid JSON: unexpected end of JSON input (after 7 bytes)",
	}
	for i, outcome := range result.Outcomes {
		if !outcome.Rejected || outcome.Reason != want[i] {
			t.Errorf("record %d: %+v, want %q", i, outcome, want[i])
		}
	}
}
