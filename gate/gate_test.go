package gate

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"authz-gateway/apperr"
	"authz-gateway/auth"
	"authz-gateway/loaders"

	"github.com/stretchr/testify/assert"
)

type refusing struct{ err error }

func (r refusing) Verify(string) (auth.Identity, error) { return auth.Identity{}, r.err }

// A refused token tells the client only that it is invalid (or expired),
// and the debug log why (issue 31, finding 10: nothing was logged, even in
// development).
func TestAdmit_ARefusedTokenSaysWhyInTheLogOnly(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	refused := &auth.RefusedError{Err: auth.ErrTokenInvalid, Reason: "the email claim names no user: email_verified is not true"}
	g := New(Config{Tokens: refusing{refused}, Loaders: loaders.NewFactory(nil, nil, 0)})
	_, _, err := g.Admit(context.Background(), Credentials{Authorization: "Bearer x.y.z", ClientIP: "192.0.2.1"})
	assert.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))
	assert.Equal(t, "invalid token", apperr.MessageOf(err), "the client is told no more")
	assert.Contains(t, logs.String(), "email_verified is not true")
}
