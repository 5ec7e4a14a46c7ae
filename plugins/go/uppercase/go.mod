module uppercase

go 1.26.0

require sluice.dev/sdk v0.0.0

require (
	go.bytecodealliance.org/pkg v0.2.3 // indirect
	golang.org/x/text v0.44.0
)

replace sluice.dev/sdk => ./.sluice/sdk/go
