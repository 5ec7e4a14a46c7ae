module sluice.dev/sdk

go 1.26

require go.bytecodealliance.org/pkg v0.2.3
