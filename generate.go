package main

// Code generation, in dependency order: ent (client and graph/ent.graphql) first,
// then gqlgen (executor) which reads the ent package, then the whole schema as
// SDL (schema.graphql, for web clients' code generators). `make generate`
// runs these.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run -mod=mod github.com/99designs/gqlgen generate
//go:generate go run ./internal/printschema
