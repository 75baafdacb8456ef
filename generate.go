package main

// Code generation, in dependency order: ent (client and graph/ent.graphql) first,
// then gqlgen (executor) which reads the ent package. `make generate` runs these.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run -mod=mod github.com/99designs/gqlgen generate
