package sluice

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// sdkPackage prefixes the functions of the SDK and of its internal packages.
const sdkPackage = "sluice.dev/sdk"

// panicSite is where a panic was raised, as `FILE:LINE` (a plugin is built with
// `-trimpath`, so FILE is `MODULE/plugin.go`): the innermost frame of the plugin's own
// code when there is one, so that a panic inside the standard library or the SDK is
// shown at the plugin's line that called it; else the innermost frame outside the
// runtime. "" if there is none. Call it from the deferred function that recovered: its
// stack is still the panicking one, below the runtime's panic frames.
func panicSite() string {
	pcs := make([]uintptr, 64)
	// Skip runtime.Callers, panicSite and the deferred function.
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	module := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		module = info.Main.Path
	}
	var first, firstOutsideSDK *runtime.Frame
	for {
		frame, more := frames.Next()
		if frame.Function != "" && !strings.HasPrefix(frame.Function, "runtime.") {
			inSDK := strings.HasPrefix(frame.Function, sdkPackage+".") || strings.HasPrefix(frame.Function, sdkPackage+"/")
			own := strings.HasPrefix(frame.Function, "main.") ||
				(module != "" && (strings.HasPrefix(frame.Function, module+".") || strings.HasPrefix(frame.Function, module+"/")))
			if own && !inSDK {
				return fmt.Sprintf("%s:%d", frame.File, frame.Line)
			}
			if first == nil {
				first = &frame
			}
			if firstOutsideSDK == nil && !inSDK {
				firstOutsideSDK = &frame
			}
		}
		if !more {
			break
		}
	}
	if firstOutsideSDK != nil {
		first = firstOutsideSDK
	}
	if first == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d", first.File, first.Line)
}
