package sluice

import "fmt"

// Level is the severity of a log line.
type Level uint8

const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

// Field is a key/value pair shown alongside a log line. The value may be of any type: it
// is shown as fmt.Sprint shows it (as the other SDKs show any value as text).
type Field struct {
	Name  string
	Value any
}

// text is the field's value as the host shows it.
func (f Field) text() string {
	if s, ok := f.Value.(string); ok {
		return s
	}
	return fmt.Sprint(f.Value)
}

// Log writes a line to the host's log, tagged with the plugin's name and version.
func Log(level Level, message string, fields ...Field) { hostLog(level, message, fields) }

// Logf writes a formatted line to the host's log.
func Logf(level Level, format string, args ...any) { hostLog(level, fmt.Sprintf(format, args...), nil) }

// CounterAdd adds delta to the plugin's counter name.
func CounterAdd(name string, delta uint64) { hostCounterAdd(name, delta) }

// GaugeSet sets the plugin's gauge name to value.
func GaugeSet(name string, value float64) { hostGaugeSet(name, value) }
