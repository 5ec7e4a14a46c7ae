module go-identity

go 1.26

require sluice.dev/sdk v0.0.0

require go.bytecodealliance.org/pkg v0.2.3 // indirect

// The Go SDK, written here by `sluice plugin new` and `sluice plugin build`.
replace sluice.dev/sdk => ./.sluice/sdk/go
