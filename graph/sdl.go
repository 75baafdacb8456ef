package graph

import (
	"bytes"

	"github.com/vektah/gqlparser/v2/formatter"
)

// SDL prints the whole schema (the ent part and the hand-written one) as
// GraphQL SDL, with descriptions: what code generators read. The committed
// schema.graphql is this text (go generate), and development servers serve
// it at /schema.graphql.
func SDL() []byte {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(NewSchema(Services{}).Schema())
	return buf.Bytes()
}
