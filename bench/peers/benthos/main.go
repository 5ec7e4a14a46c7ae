// The benthos peer: the MIT-licensed benthos core (the engine of Redpanda Connect) with
// only its pure components (processors, Bloblang, ...) and io components (file input and
// output among them). It registers no Kafka connector: those live in Redpanda Connect.
package main

import (
	"context"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
)

func main() {
	service.RunCLI(context.Background())
}
