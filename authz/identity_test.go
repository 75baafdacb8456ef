package authz_test

import (
	"context"
	"testing"

	"authz-gateway/auth"
	"authz-gateway/ent"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// provisionAlways lets every unknown caller be provisioned (the gate's
// rate limits are tested through the transport).
func provisionAlways(context.Context) error { return nil }

// TestResolveExternal: the identity provider's caller mapped to a user:
// provisioned once when allowed, remembered (a warm call runs no SQL), and
// moved at once when the user's email changes; claims that make no valid
// user sign nobody in, without an error.
func TestResolveExternal(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := context.Background()
	ada := auth.External{By: auth.ClaimEmail, Key: "ada@example.com", Email: "Ada@Example.com", Name: "Ada"}

	_, u, err := g.Authz.ResolveExternal(ctx, ada, nil)
	require.NoError(t, err)
	assert.Nil(t, u, "unknown, and no provisioning")

	_, u, err = g.Authz.ResolveExternal(ctx, ada, provisionAlways)
	require.NoError(t, err)
	require.NotNil(t, u)
	assert.Equal(t, "ada@example.com", u.Email)
	assert.Equal(t, "Ada", u.Name)
	g.SQL.Reset()
	_, again, err := g.Authz.ResolveExternal(ctx, ada, provisionAlways)
	require.NoError(t, err)
	assert.Equal(t, u.ID, again.ID, "provisioned once")
	assert.Zero(t, g.SQL.Count(), "warm: %v", g.SQL.Statements())

	email := "lovelace@example.com"
	_, err = g.Authz.UpdateUser(testenv.AsUser(g.Admin.ID), u.ID, ent.UpdateUserInput{Email: &email})
	require.NoError(t, err)
	_, gone, err := g.Authz.ResolveExternal(ctx, ada, nil)
	require.NoError(t, err)
	assert.Nil(t, gone, "the old email no longer names the user")
	_, moved, err := g.Authz.ResolveExternal(ctx, auth.External{By: auth.ClaimEmail, Key: email}, nil)
	require.NoError(t, err)
	require.NotNil(t, moved)
	assert.Equal(t, u.ID, moved.ID)

	_, bad, err := g.Authz.ResolveExternal(ctx, auth.External{By: auth.ClaimEmail, Key: "not an email"}, provisionAlways)
	assert.NoError(t, err, "not an outage")
	assert.Nil(t, bad)

	bot := auth.External{By: auth.ClaimSub, Key: "svc|reporting", Subject: "svc|reporting"}
	_, b, err := g.Authz.ResolveExternal(ctx, bot, provisionAlways)
	require.NoError(t, err)
	require.NotNil(t, b)
	assert.Regexp(t, `^svc-reporting-[0-9a-f]{10}@idp\.invalid$`, b.Email, "a service account without an email")
	require.NotNil(t, b.ExternalID)
	assert.Equal(t, "svc|reporting", *b.ExternalID)

	// A subject that reads alike gets its own placeholder, so it can sign
	// in too (it once collided on svc-reporting@idp.invalid).
	twin := auth.External{By: auth.ClaimSub, Key: "svc-reporting", Subject: "svc-reporting"}
	_, tw, err := g.Authz.ResolveExternal(ctx, twin, provisionAlways)
	require.NoError(t, err)
	require.NotNil(t, tw, "the second subject signs in")
	assert.NotEqual(t, b.ID, tw.ID)
	assert.NotEqual(t, b.Email, tw.Email)
}

// TestResolveExternal_LookalikesNameNobody: emails that display like
// another's (a decomposed accent, zero-width or bidirectional characters)
// are never stored by provisioning, and a dotted capital I is not folded
// onto an ASCII i: they sign nobody in, without an error.
func TestResolveExternal_LookalikesNameNobody(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := context.Background()
	kim := auth.External{By: auth.ClaimEmail, Key: "kim.admin@bank.example"}
	_, u, err := g.Authz.ResolveExternal(ctx, kim, provisionAlways)
	require.NoError(t, err)
	require.NotNil(t, u)

	for _, key := range []string{
		"jose\u0301@bank.example",      // NFD: e + combining acute
		"kim.admin\u200b@bank.example", // zero-width space (Cf)
		"kim.\u202enimda@bank.example", // right-to-left override (Cf)
		"kim.admin\u0007@bank.example", // a control character (Cc)
	} {
		_, got, err := g.Authz.ResolveExternal(ctx, auth.External{By: auth.ClaimEmail, Key: key}, provisionAlways)
		assert.NoError(t, err, "%q: not an outage", key)
		assert.Nil(t, got, "%q: nobody, and nobody provisioned", key)
	}
	// A dotted capital I stays what it is: another address than kim's.
	_, other, err := g.Authz.ResolveExternal(ctx, auth.External{By: auth.ClaimEmail, Key: auth.NormalizeEmail("k\u0130m.admin@bank.example")}, provisionAlways)
	require.NoError(t, err)
	require.NotNil(t, other)
	assert.NotEqual(t, u.ID, other.ID)
	assert.Equal(t, "k\u0130m.admin@bank.example", other.Email)
}
