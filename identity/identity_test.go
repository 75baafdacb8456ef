package identity_test

import (
	"context"
	"testing"

	"authz-gateway/auth"
	"authz-gateway/ent"
	"authz-gateway/identity"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// always lets every unknown caller be provisioned (the provisioning pace
// is tested through the transport, httpapi/identity_test.go).
type always struct{}

func (always) Allow(context.Context, string, string) error { return nil }

// resolvers returns g's identity resolvers: one that provisions unknown
// callers, one that only looks them up.
func resolvers(g *testenv.Gateway) (provisioning, lookingUp *identity.Resolver) {
	cfg := identity.Config{DB: g.DB.Client, Viewers: g.Authz, Log: g.App.Log()}
	lookingUp = identity.New(cfg)
	cfg.Provision, cfg.Pace, cfg.Issuer = true, always{}, "https://issuer.test"
	return identity.New(cfg), lookingUp
}

// TestResolve: the identity provider's caller mapped to a user:
// provisioned once when allowed, remembered (a warm call runs no SQL), and
// moved at once when the user's email changes; claims that make no valid
// user sign nobody in, without an error.
func TestResolve(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	provisioning, lookingUp := resolvers(g)
	ctx := context.Background()
	ada := auth.External{By: auth.ClaimEmail, Key: "ada@example.com", Email: "Ada@Example.com", Name: "Ada"}

	_, u, err := lookingUp.Resolve(ctx, ada, "192.0.2.1")
	require.NoError(t, err)
	assert.Nil(t, u, "unknown, and no provisioning")

	_, u, err = provisioning.Resolve(ctx, ada, "192.0.2.1")
	require.NoError(t, err)
	require.NotNil(t, u)
	assert.Equal(t, "ada@example.com", u.Email)
	assert.Equal(t, "Ada", u.Name)
	g.SQL.Reset()
	_, again, err := provisioning.Resolve(ctx, ada, "192.0.2.1")
	require.NoError(t, err)
	assert.Equal(t, u.ID, again.ID, "provisioned once")
	assert.Zero(t, g.SQL.Count(), "warm: %v", g.SQL.Statements())

	email := "lovelace@example.com"
	_, err = g.Authz.UpdateUser(testenv.AsUser(g.Admin.ID), u.ID, ent.UpdateUserInput{Email: &email})
	require.NoError(t, err)
	_, gone, err := lookingUp.Resolve(ctx, ada, "192.0.2.1")
	require.NoError(t, err)
	assert.Nil(t, gone, "the old email no longer names the user")
	_, moved, err := lookingUp.Resolve(ctx, auth.External{By: auth.ClaimEmail, Key: email}, "192.0.2.1")
	require.NoError(t, err)
	require.NotNil(t, moved)
	assert.Equal(t, u.ID, moved.ID)

	_, bad, err := provisioning.Resolve(ctx, auth.External{By: auth.ClaimEmail, Key: "not an email"}, "192.0.2.1")
	assert.NoError(t, err, "not an outage")
	assert.Nil(t, bad)

	bot := auth.External{By: auth.ClaimSub, Key: "svc|reporting", Subject: "svc|reporting"}
	_, b, err := provisioning.Resolve(ctx, bot, "192.0.2.1")
	require.NoError(t, err)
	require.NotNil(t, b)
	assert.Regexp(t, `^svc-reporting-[0-9a-f]{10}@idp\.invalid$`, b.Email, "a service account without an email")
	require.NotNil(t, b.ExternalID)
	assert.Equal(t, "svc|reporting", *b.ExternalID)

	// A subject that reads alike gets its own placeholder, so it can sign
	// in too (it once collided on svc-reporting@idp.invalid).
	twin := auth.External{By: auth.ClaimSub, Key: "svc-reporting", Subject: "svc-reporting"}
	_, tw, err := provisioning.Resolve(ctx, twin, "192.0.2.1")
	require.NoError(t, err)
	require.NotNil(t, tw, "the second subject signs in")
	assert.NotEqual(t, b.ID, tw.ID)
	assert.NotEqual(t, b.Email, tw.Email)
}

// TestResolve_LookalikesNameNobody: emails that display like
// another's (a decomposed accent, zero-width or bidirectional characters)
// are never stored by provisioning, and a dotted capital I is not folded
// onto an ASCII i: they sign nobody in, without an error.
func TestResolve_LookalikesNameNobody(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	provisioning, _ := resolvers(g)
	ctx := context.Background()
	kim := auth.External{By: auth.ClaimEmail, Key: "kim.admin@bank.example"}
	_, u, err := provisioning.Resolve(ctx, kim, "192.0.2.1")
	require.NoError(t, err)
	require.NotNil(t, u)

	for _, key := range []string{
		"jose\u0301@bank.example",      // NFD: e + combining acute
		"kim.admin\u200b@bank.example", // zero-width space (Cf)
		"kim.\u202enimda@bank.example", // right-to-left override (Cf)
		"kim.admin\u0007@bank.example", // a control character (Cc)
	} {
		_, got, err := provisioning.Resolve(ctx, auth.External{By: auth.ClaimEmail, Key: key}, "192.0.2.1")
		assert.NoError(t, err, "%q: not an outage", key)
		assert.Nil(t, got, "%q: nobody, and nobody provisioned", key)
	}
	// A dotted capital I stays what it is: another address than kim's.
	_, other, err := provisioning.Resolve(ctx, auth.External{By: auth.ClaimEmail, Key: auth.NormalizeEmail("k\u0130m.admin@bank.example")}, "192.0.2.1")
	require.NoError(t, err)
	require.NotNil(t, other)
	assert.NotEqual(t, u.ID, other.ID)
	assert.Equal(t, "k\u0130m.admin@bank.example", other.Email)
}
