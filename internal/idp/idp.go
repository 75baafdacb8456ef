// Package idp is a minimal in-process identity provider: an OIDC discovery
// document, a key set of one RSA key, and RS256 access tokens for an email.
// The load tool and the benchmarks measure the gateway's verification of a
// provider's tokens with it; the tests of a real provider use Ory Hydra.
package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Audience is the audience of the provider's tokens.
const Audience = "authz-gateway"

// Provider serves its keys on loopback until Close.
type Provider struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	jwks []byte
}

const kid = "idp-1"

// New starts a provider.
func New() (*Provider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("idp key: %w", err)
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: kid, ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		return nil, fmt.Errorf("idp jwk: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(context.Background(), jwk); err != nil {
		return nil, fmt.Errorf("idp jwk: %w", err)
	}
	set, err := store.JSONPublic(context.Background())
	if err != nil {
		return nil, fmt.Errorf("idp jwks: %w", err)
	}
	p := &Provider{key: key, jwks: set}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p, nil
}

func (p *Provider) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.Issuer(), "jwks_uri": p.Issuer() + "/jwks"})
	case "/jwks":
		_, _ = w.Write(p.jwks)
	default:
		http.NotFound(w, r)
	}
}

// Issuer is the provider's URL, its tokens' iss.
func (p *Provider) Issuer() string { return p.srv.URL }

// Token returns an RS256 access token for email (verified), valid for ttl.
func (p *Provider) Token(email string, ttl time.Duration) (string, error) {
	return p.TokenWith(email, ttl, nil)
}

// TokenWith is Token with more claims (a groups claim, say).
func (p *Provider) TokenWith(email string, ttl time.Duration, extra map[string]any) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": p.Issuer(), "aud": Audience, "sub": "idp|" + email, "email": email, "email_verified": true,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	for k, v := range extra {
		claims[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(p.key)
	if err != nil {
		return "", fmt.Errorf("idp token: %w", err)
	}
	return s, nil
}

// Close stops the provider.
func (p *Provider) Close() { p.srv.Close() }
