// The identity of the languages bench in Go: the SDK's ForwardAll, which forwards every
// record unchanged (one copy of its bytes).
package main

import "sluice.dev/sdk"

func init() {
	sluice.Export(func(sluice.Config) (sluice.Plugin, error) { return sluice.ForwardAll{}, nil })
}

func main() {}
