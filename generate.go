package main

// Code generation, in dependency order: ent (client and graph/ent.graphql) first,
// then gqlgen (executor) which reads the ent package, then the whole schema as
// SDL (schema.graphql, for web clients' code generators), then the next
// versioned migration in db/migrations if ent/schema changed (it needs a
// development PostgreSQL: `make generate` starts one). `make generate` runs
// these.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run -mod=mod github.com/99designs/gqlgen generate
//go:generate go run ./internal/printschema
//go:generate go run ./internal/migrategen
