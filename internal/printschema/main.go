// Command printschema writes the gateway's GraphQL schema as SDL to
// schema.graphql at the module root (run by go generate; web clients'
// code generators read it).
package main

import (
	"log"
	"os"

	"authz-gateway/graph"
)

func main() {
	if err := os.WriteFile("schema.graphql", graph.SDL(), 0o644); err != nil {
		log.Fatalf("printschema: %v", err)
	}
}
