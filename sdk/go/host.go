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

// Field is a key/value pair shown alongside a log line.
type Field struct{ Name, Value string }

// Log writes a line to the host's log, tagged with the plugin's name and version.
func Log(level Level, message string, fields ...Field) { hostLog(level, message, fields) }

// Logf writes a formatted line to the host's log.
func Logf(level Level, format string, args ...any) { hostLog(level, fmt.Sprintf(format, args...), nil) }

// CounterAdd adds delta to the plugin's counter name.
func CounterAdd(name string, delta uint64) { hostCounterAdd(name, delta) }

// GaugeSet sets the plugin's gauge name to value.
func GaugeSet(name string, value float64) { hostGaugeSet(name, value) }
