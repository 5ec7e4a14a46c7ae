package sluice

import (
	"fmt"
	"strconv"
)

// Config is a plugin's configuration: the key/value table given to it in the pipeline
// config, in order. Values that were numbers or booleans there arrive in their TOML
// spelling.
type Config struct{ entries [][2]string }

// NewConfig makes a config of key/value pairs, for tests.
func NewConfig(pairs ...string) Config {
	if len(pairs)%2 != 0 {
		panic("sluice.NewConfig takes keys and values in pairs")
	}
	var c Config
	for i := 0; i < len(pairs); i += 2 {
		c.entries = append(c.entries, [2]string{pairs[i], pairs[i+1]})
	}
	return c
}

// Get is the value of key, and whether there is one.
func (c Config) Get(key string) (string, bool) {
	for _, e := range c.entries {
		if e[0] == key {
			return e[1], true
		}
	}
	return "", false
}

// Require is the value of key, or an error naming the missing key.
func (c Config) Require(key string) (string, error) {
	if v, ok := c.Get(key); ok {
		return v, nil
	}
	return "", fmt.Errorf("missing required config key `%s`", key)
}

// Int is the value of key as an integer, def if there is none, or an error naming the
// key and the value.
func (c Config) Int(key string, def int64) (int64, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("config key `%s` = %q: not an integer", key, v)
	}
	return n, nil
}

// Float is the value of key as a number, def if there is none, or an error naming the
// key and the value.
func (c Config) Float(key string, def float64) (float64, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("config key `%s` = %q: not a number", key, v)
	}
	return n, nil
}

// Bool is the value of key as `true` or `false` (TOML's spelling, nothing else), def if
// there is none, or an error naming the key and the value.
func (c Config) Bool(key string, def bool) (bool, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("config key `%s` = %q: not true or false", key, v)
}

// Entries calls yield with each key and value, in order, until it returns false.
func (c Config) Entries(yield func(key, value string) bool) {
	for _, e := range c.entries {
		if !yield(e[0], e[1]) {
			return
		}
	}
}
