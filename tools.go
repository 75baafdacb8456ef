//go:build tools

// Package main pins the code generators (go generate runs them with
// `go run -mod=mod`) so their versions come from go.mod.
package main

import (
	_ "entgo.io/ent/entc"
	_ "github.com/99designs/gqlgen"
)
