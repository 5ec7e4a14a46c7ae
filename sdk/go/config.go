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
	return parsed(c, key, def, "not an integer", func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) })
}

// Float is the value of key as a number, def if there is none, or an error naming the
// key and the value.
func (c Config) Float(key string, def float64) (float64, error) {
	return parsed(c, key, def, "not a number", func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
}

// Bool is the value of key as `true` or `false` (TOML's spelling, nothing else), def if
// there is none, or an error naming the key and the value.
func (c Config) Bool(key string, def bool) (bool, error) {
	return parsed(c, key, def, "not true or false", func(v string) (bool, error) {
		if v != "true" && v != "false" {
			return false, strconv.ErrSyntax
		}
		return v == "true", nil
	})
}

// parsed is the value of key converted by parse, def if there is none, or an error that
// names the key and the value and says it is `not` what was wanted.
func parsed[T any](c Config, key string, def T, not string, parse func(string) (T, error)) (T, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	n, err := parse(v)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("config key `%s` = %q: %s", key, v, not)
	}
	return n, nil
}

// Entries calls yield with each key and value, in order, until it returns false.
func (c Config) Entries(yield func(key, value string) bool) {
	for _, e := range c.entries {
		if !yield(e[0], e[1]) {
			return
		}
	}
}
