package gate

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"authz-gateway/apperr"
	"authz-gateway/auth"
	"authz-gateway/ent"
	"authz-gateway/loaders"
	"authz-gateway/ratelimit"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// fakeViewers resolves one known active user; err, when set, is an outage.
type fakeViewers struct {
	known int
	err   error
}

func (f fakeViewers) ResolveViewer(ctx context.Context, userID int) (context.Context, *ent.User, error) {
	switch {
	case f.err != nil:
		return ctx, nil, f.err
	case userID != f.known:
		return ctx, nil, nil
	}
	return reqctx.NewContextWithViewer(ctx, reqctx.Viewer{UserID: userID}), &ent.User{ID: userID}, nil
}

// Admit's outcomes for the gateway's own tokens: a known user is the
// viewer, an unknown or inactive one is UNAUTHENTICATED, a lookup that
// fails is UNAVAILABLE (never a refusal of a valid user's token), no token
// is anonymous; every outcome carries fresh loaders.
func TestAdmit_Outcomes(t *testing.T) {
	tokens := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
	token := func(id int) string {
		tok, err := tokens.Issue(id, time.Hour)
		require.NoError(t, err)
		return "Bearer " + tok
	}
	gate := func(v Viewers) *Gate {
		return New(Config{Tokens: tokens, Viewers: v, Loaders: loaders.NewFactory(nil, nil, 0)})
	}
	ctx := context.Background()

	resolved, adm, err := gate(fakeViewers{known: 7}).Admit(ctx, Credentials{Authorization: token(7)})
	require.NoError(t, err)
	assert.Equal(t, 7, adm.UserID)
	assert.False(t, adm.Until.IsZero())
	v, ok := reqctx.ViewerFromContext(resolved)
	assert.True(t, ok && v.UserID == 7)
	assert.NotNil(t, loaders.For(resolved))

	_, _, err = gate(fakeViewers{known: 7}).Admit(ctx, Credentials{Authorization: token(8)})
	assert.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))

	_, _, err = gate(fakeViewers{err: errors.New("database down")}).Admit(ctx, Credentials{Authorization: token(7)})
	assert.Equal(t, apperr.Unavailable, apperr.CodeOf(err))

	anonymous, adm, err := gate(fakeViewers{known: 7}).Admit(ctx, Credentials{ClientIP: "192.0.2.1"})
	require.NoError(t, err)
	assert.Zero(t, adm.UserID)
	assert.NotNil(t, loaders.For(anonymous))
}

// The budget an operation spends: the user's for the gateway's token, the
// provider's identity for a provider's token, the address's otherwise; an
// upgrade to a socket spends its address's, and is refused once it is
// spent.
func TestRateLimit_KeysAndUpgrades(t *testing.T) {
	assert.Equal(t, "user:7", limitKey(auth.Identity{UserID: 7}, "192.0.2.1"))
	assert.Equal(t, "ext:email:ada@example.com", limitKey(auth.Identity{External: &auth.External{By: auth.ClaimEmail, Key: "ada@example.com"}}, "192.0.2.1"))
	assert.Equal(t, "ip:192.0.2.1", limitKey(auth.Identity{}, "192.0.2.1"))

	g := New(Config{Limiter: ratelimit.New(nil, "", ratelimit.Limit{PerSecond: 1, Burst: 1}, time.Second)})
	upgrades := LimitUpgrades(g, func(w http.ResponseWriter, retryAfter time.Duration) { w.WriteHeader(http.StatusTooManyRequests) })(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusSwitchingProtocols) }))
	open := func() int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/graphql", nil)
		req.RemoteAddr = "192.0.2.1:4000"
		upgrades.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusSwitchingProtocols, open())
	assert.Equal(t, http.StatusTooManyRequests, open())
}
