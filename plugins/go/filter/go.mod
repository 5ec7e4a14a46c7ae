module filter

go 1.26

require sluice.dev/sdk v0.0.0

require go.bytecodealliance.org/pkg v0.2.3 // indirect

replace sluice.dev/sdk => ./.sluice/sdk/go
