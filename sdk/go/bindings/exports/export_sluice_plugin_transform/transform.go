// Package export_sluice_plugin_transform implements the component's `transform`
// export, which the bindings `wit-bindgen go` generates beside it (under bindings/, at
// build time) call. It hands each call to the SDK through the hooks the SDK sets: the
// SDK imports the bindings, so the bindings cannot import the SDK.
package export_sluice_plugin_transform

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// The SDK's implementations of the export.
var (
	InitHook    func(config [][2]string) error
	ProcessHook func(batch []byte) ([]byte, error)
)

func Init(config []witTypes.Tuple2[string, string]) witTypes.Result[witTypes.Unit, string] {
	pairs := make([][2]string, len(config))
	for i, entry := range config {
		pairs[i] = [2]string{entry.F0, entry.F1}
	}
	if err := InitHook(pairs); err != nil {
		return witTypes.Err[witTypes.Unit](err.Error())
	}
	return witTypes.Ok[witTypes.Unit, string](witTypes.Unit{})
}

func Process(batch []byte) witTypes.Result[[]byte, string] {
	result, err := ProcessHook(batch)
	if err != nil {
		return witTypes.Err[[]byte](err.Error())
	}
	return witTypes.Ok[[]byte, string](result)
}
