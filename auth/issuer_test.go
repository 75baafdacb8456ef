package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// provider is a small in-process identity provider: a discovery document
// and a key set that a test can change or take down, counting requests.
type provider struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	keys     []signingKey
	extra    []map[string]any // raw JWKs served beside the keys
	down     bool
	issuer   string // the discovery document's issuer ("": the server's URL)
	jwksHits int
}

type signingKey struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

func newProvider(t testing.TB) *provider {
	p := &provider{t: t}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		iss := p.issuer
		if iss == "" {
			iss = p.srv.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.srv.URL + "/jwks"})
	case "/jwks":
		p.jwksHits++
		store := jwkset.NewMemoryStorage()
		for _, k := range p.keys {
			jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
				KID: k.kid, ALG: jwkset.ALG(k.method.Alg()), USE: jwkset.UseSig}})
			require.NoError(p.t, err)
			require.NoError(p.t, store.KeyWrite(r.Context(), jwk))
		}
		set, err := store.Marshal(r.Context())
		require.NoError(p.t, err)
		out := map[string]any{"keys": set.Keys}
		if len(p.extra) > 0 {
			all := []any{}
			for _, k := range set.Keys {
				all = append(all, k)
			}
			for _, k := range p.extra {
				all = append(all, k)
			}
			out["keys"] = all
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

func (p *provider) set(f func(p *provider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *provider) hits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksHits
}

func rsaKey(t testing.TB, kid string) signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return signingKey{kid: kid, method: jwt.SigningMethodRS256, priv: priv}
}

func ecKey(t *testing.T, kid string) signingKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return signingKey{kid: kid, method: jwt.SigningMethodES256, priv: priv}
}

func edKey(t *testing.T, kid string) signingKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return signingKey{kid: kid, method: jwt.SigningMethodEdDSA, priv: priv}
}

const testAudience = "authz-gateway"

// claims are a good token's claims; edit them to make a bad one.
func (p *provider) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": p.srv.URL, "aud": testAudience, "sub": "user-1", "email": "Ada@Example.com", "email_verified": true, "name": "Ada",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func sign(t testing.TB, k signingKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	require.NoError(t, err)
	return s
}

var ownSecret = []byte("0123456789abcdef0123456789abcdef")

// verifiers returns the gateway's verifiers for p, with claim, after the
// first fetch.
func (p *provider) verifiers(claim UserClaim) *Verifiers {
	ctx, cancel := context.WithCancel(context.Background())
	p.t.Cleanup(cancel)
	keys := NewKeySet(ctx, KeySetConfig{Issuer: p.srv.URL})
	issuer, err := NewIssuer(IssuerConfig{Issuer: p.srv.URL, Audience: testAudience, Claim: claim, Keys: keys})
	require.NoError(p.t, err)
	return NewVerifiers(NewTokens(ownSecret), issuer)
}

func TestIssuer_AcceptsTheProvidersAsymmetricTokens(t *testing.T) {
	p := newProvider(t)
	rs, es, ed := rsaKey(t, "rs"), ecKey(t, "es"), edKey(t, "ed")
	p.keys = []signingKey{rs, es, ed}
	v := p.verifiers(ClaimEmail)
	require.NoError(t, v.Ready(context.Background()))
	for _, k := range p.keys {
		id, err := v.Verify(sign(t, k, p.claims()))
		require.NoError(t, err, k.method.Alg())
		require.NotNil(t, id.External)
		assert.Equal(t, External{By: ClaimEmail, Key: "ada@example.com", Subject: "user-1", Email: "Ada@Example.com", Name: "Ada"}, *id.External)
		assert.Zero(t, id.UserID)
	}
	// With the sub claim, the subject is the key.
	id, err := p.verifiers(ClaimSub).Verify(sign(t, rs, p.claims()))
	require.NoError(t, err)
	assert.Equal(t, "user-1", id.External.Key)
	// The gateway's own tokens keep working beside the provider's.
	own, err := NewTokens(ownSecret).Issue(7, time.Hour)
	require.NoError(t, err)
	id, err = v.Verify(own)
	require.NoError(t, err)
	assert.Equal(t, 7, id.UserID)
	assert.Nil(t, id.External)
}

func TestIssuer_RefusesBadTokens(t *testing.T) {
	p := newProvider(t)
	rs, es := rsaKey(t, "rs"), ecKey(t, "es")
	p.keys = []signingKey{rs, es}
	secret := []byte("a-symmetric-secret-of-32-bytes!!")
	p.extra = []map[string]any{{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(secret)}}
	v := p.verifiers(ClaimEmail)
	require.Equal(t, 2, v.Issuer.Keys().Len(), "the symmetric key is not taken into the set")

	edit := func(f func(c jwt.MapClaims)) jwt.MapClaims {
		c := p.claims()
		f(c)
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs := func(secret []byte, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, p.claims())
		tok.Header["kid"] = kid
		s, err := tok.SignedString(secret)
		require.NoError(t, err)
		return s
	}
	noKid := rs
	noKid.kid = ""
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, p.claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	stranger := rsaKey(t, "rs") // same kid, another key

	cases := map[string]struct {
		token string
		want  error
	}{
		"wrong audience":         {sign(t, rs, edit(func(c jwt.MapClaims) { c["aud"] = "another-service" })), ErrTokenInvalid},
		"no audience":            {sign(t, rs, edit(func(c jwt.MapClaims) { delete(c, "aud") })), ErrTokenInvalid},
		"another issuer":         {sign(t, rs, edit(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), ErrTokenInvalid},
		"expired":                {sign(t, rs, edit(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), ErrTokenExpired},
		"no expiry":              {sign(t, rs, edit(func(c jwt.MapClaims) { delete(c, "exp") })), ErrTokenInvalid},
		"not yet valid (nbf)":    {sign(t, rs, edit(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), ErrTokenInvalid},
		"issued in the future":   {sign(t, rs, edit(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() })), ErrTokenInvalid},
		"no email claim":         {sign(t, rs, edit(func(c jwt.MapClaims) { delete(c, "email") })), ErrTokenInvalid},
		"no kid, several keys":   {sign(t, noKid, p.claims()), ErrTokenInvalid},
		"unknown kid":            {sign(t, rsaKey(t, "nobody"), p.claims()), ErrTokenInvalid},
		"another key, known kid": {sign(t, stranger, p.claims()), ErrTokenInvalid},
		"alg none":               {unsigned, ErrTokenInvalid},
		"HS256 with the PEM key": {hs(pubPEM, "rs"), ErrTokenInvalid},
		"HS256 with the DER key": {hs(pubDER, "rs"), ErrTokenInvalid},
		"HS256 with an oct JWK":  {hs(secret, "hmac"), ErrTokenInvalid},
		"HS256 with own secret":  {hs(ownSecret, "rs"), ErrTokenInvalid},
		"ES256 header, RSA key":  {rsAsES(t, rs, p.claims()), ErrTokenInvalid},
		"signature of another":   {swapSignature(sign(t, rs, p.claims()), sign(t, rs, edit(func(c jwt.MapClaims) { c["email"] = "eve@example.com" }))), ErrTokenInvalid},
		"garbage":                {"not.a.token", ErrTokenInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			id, err := v.Verify(c.token)
			assert.ErrorIs(t, err, c.want)
			assert.Nil(t, id.External)
			assert.Zero(t, id.UserID)
		})
	}
	// The same bad token again (the verified-token memory holds only
	// verified tokens).
	_, err = v.Verify(cases["wrong audience"].token)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

// rsAsES signs with the RSA key but claims ES256 in the header.
func rsAsES(t *testing.T, k signingKey, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["alg"] = "ES256"
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	require.NoError(t, err)
	return s
}

// swapSignature puts b's signature under a's header and claims.
func swapSignature(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pa[1] + "." + pb[2]
}

func TestIssuer_NoKidWithOneKey(t *testing.T) {
	p := newProvider(t)
	only := rsaKey(t, "only")
	p.keys = []signingKey{only}
	v := p.verifiers(ClaimEmail)
	noKid := only
	noKid.kid = ""
	_, err := v.Verify(sign(t, noKid, p.claims()))
	assert.NoError(t, err, "a set of one key says which key is meant")
}

// TestKeySet_UnknownKidFlood: a burst of tokens naming random keys costs
// the provider at most one fetch per 10 s, however many there are.
func TestKeySet_UnknownKidFlood(t *testing.T) {
	p := newProvider(t)
	p.keys = []signingKey{rsaKey(t, "rs")}
	v := p.verifiers(ClaimEmail)
	require.Equal(t, 1, p.hits())
	signer := rsaKey(t, "x")
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := signer
			k.kid = fmt.Sprintf("random-%d", i)
			_, err := v.Verify(sign(t, k, p.claims()))
			assert.ErrorIs(t, err, ErrTokenInvalid)
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, p.hits(), 2, "200 unknown kids: one refetch at most")
	assert.Equal(t, int64(p.hits()), v.Issuer.Keys().Fetches())
}

// TestKeySet_Rotation: the provider rotates to a new key; a token of the
// new key is accepted (the unknown kid refetches), a token of the removed
// key is refused from then on, even one verified before.
func TestKeySet_Rotation(t *testing.T) {
	p := newProvider(t)
	old, next := rsaKey(t, "2026-11"), ecKey(t, "2026-12")
	p.keys = []signingKey{old}
	v := p.verifiers(ClaimEmail)
	oldToken := sign(t, old, p.claims())
	_, err := v.Verify(oldToken)
	require.NoError(t, err)

	p.set(func(p *provider) { p.keys = []signingKey{next} })
	_, err = v.Verify(sign(t, next, p.claims()))
	require.NoError(t, err, "the new kid refetches the set")
	_, err = v.Verify(oldToken)
	assert.ErrorIs(t, err, ErrTokenInvalid, "the removed key verifies nothing more, remembered or not")
	assert.Equal(t, 2, p.hits())
}

// TestKeySet_ProviderDown: once keys are known, the provider being down
// changes nothing (the last good set stays); a gateway that starts while
// the provider is down is not ready until a fetch succeeds.
func TestKeySet_ProviderDown(t *testing.T) {
	p := newProvider(t)
	rs := rsaKey(t, "rs")
	p.keys = []signingKey{rs}
	v := p.verifiers(ClaimEmail)
	p.set(func(p *provider) { p.down = true })
	require.Error(t, v.Issuer.Keys().Refresh(context.Background()))
	_, err := v.Verify(sign(t, rs, p.claims()))
	assert.NoError(t, err, "the last good key set survives")
	assert.NoError(t, v.Ready(context.Background()))

	cold := p.verifiers(ClaimEmail)
	err = cold.Ready(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	_, err = cold.Verify(sign(t, rs, p.claims()))
	assert.ErrorIs(t, err, ErrTokenInvalid)

	p.set(func(p *provider) { p.down = false })
	require.NoError(t, cold.Issuer.Keys().Refresh(context.Background()))
	assert.NoError(t, cold.Ready(context.Background()))
	_, err = cold.Verify(sign(t, rs, p.claims()))
	assert.NoError(t, err)
}

// TestKeySet_DiscoveryOfAnotherIssuer: a discovery document naming
// another issuer is refused (its keys are not this issuer's).
func TestKeySet_DiscoveryOfAnotherIssuer(t *testing.T) {
	p := newProvider(t)
	p.keys = []signingKey{rsaKey(t, "rs")}
	p.issuer = "https://someone-else.example"
	v := p.verifiers(ClaimEmail)
	err := v.Ready(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "someone-else")
}

// TestVerifiers_RememberUntilExpiry: a verified token is served from
// memory, but never past its expiry.
func TestVerifiers_RememberUntilExpiry(t *testing.T) {
	p := newProvider(t)
	rs := rsaKey(t, "rs")
	p.keys = []signingKey{rs}
	v := p.verifiers(ClaimEmail)
	now := time.Now()
	v.Own.now = func() time.Time { return now }
	v.Issuer.now = func() time.Time { return now }
	c := p.claims()
	c["exp"] = now.Add(time.Minute).Unix()
	token := sign(t, rs, c)
	first, err := v.Verify(token)
	require.NoError(t, err)
	again, err := v.Verify(token)
	require.NoError(t, err)
	assert.Same(t, first.External, again.External, "served from memory")

	now = now.Add(time.Minute + ClockSkew + time.Second)
	_, err = v.Verify(token)
	assert.Error(t, err, "past exp and the skew, memory or not")
}

// TestKeySet_JWKSURL: with AUTH_JWKS_URL the key set is read there, no
// discovery asked (the provider here has none).
func TestKeySet_JWKSURL(t *testing.T) {
	p := newProvider(t)
	rs := rsaKey(t, "rs")
	p.keys = []signingKey{rs}
	jwksOnly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys" {
			http.NotFound(w, r)
			return
		}
		r.URL.Path = "/jwks"
		p.serve(w, r)
	}))
	t.Cleanup(jwksOnly.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	keys := NewKeySet(ctx, KeySetConfig{Issuer: "https://issuer.example", JWKSURL: jwksOnly.URL + "/keys"})
	require.NoError(t, keys.Ready())
	issuer, err := NewIssuer(IssuerConfig{Issuer: "https://issuer.example", Audience: testAudience, Claim: ClaimEmail, Keys: keys})
	require.NoError(t, err)
	c := p.claims()
	c["iss"] = "https://issuer.example/"
	id, err := NewVerifiers(NewTokens(ownSecret), issuer).Verify(sign(t, rs, c))
	require.NoError(t, err, "the iss with or without its trailing slash")
	assert.Equal(t, "ada@example.com", id.External.Key)
}

// TestIssuer_AnEmailNeedsProof: the email claim names a user only when the
// provider verified it (the JSON true, nothing that merely looks true),
// when it is already in NFC and free of invisible characters, and only by
// the exact claim names; ASCII letters fold, nothing else does.
func TestIssuer_AnEmailNeedsProof(t *testing.T) {
	p := newProvider(t)
	rs := rsaKey(t, "rs")
	p.keys = []signingKey{rs}
	v := p.verifiers(ClaimEmail)
	with := func(f func(c jwt.MapClaims)) string {
		c := p.claims()
		f(c)
		return sign(t, rs, c)
	}
	refusedTokens := map[string]string{
		"email_verified false":       with(func(c jwt.MapClaims) { c["email_verified"] = false }),
		"no email_verified":          with(func(c jwt.MapClaims) { delete(c, "email_verified") }),
		"email_verified \"true\"":    with(func(c jwt.MapClaims) { c["email_verified"] = "true" }),
		"email_verified 1":           with(func(c jwt.MapClaims) { c["email_verified"] = 1 }),
		"EMAIL_VERIFIED true only":   with(func(c jwt.MapClaims) { delete(c, "email_verified"); c["EMAIL_VERIFIED"] = true }),
		"Kelvin sign (not NFC)":      with(func(c jwt.MapClaims) { c["email"] = "\u212Aim.admin@bank.example" }),
		"decomposed accent":          with(func(c jwt.MapClaims) { c["email"] = "jose\u0301@bank.example" }),
		"zero-width space":           with(func(c jwt.MapClaims) { c["email"] = "kim.admin\u200B@bank.example" }),
		"right-to-left override":     with(func(c jwt.MapClaims) { c["email"] = "kim.\u202Enimda@bank.example" }),
		"EMAIL without email":        with(func(c jwt.MapClaims) { delete(c, "email"); c["EMAIL"] = "kim.admin@bank.example" }),
		"ISS without iss":            with(func(c jwt.MapClaims) { c["ISS"] = c["iss"]; delete(c, "iss") }),
		"empty email":                with(func(c jwt.MapClaims) { c["email"] = " " }),
		"email of another JSON type": with(func(c jwt.MapClaims) { c["email"] = []string{"kim.admin@bank.example"} }),
	}
	for name, token := range refusedTokens {
		t.Run(name, func(t *testing.T) {
			id, err := v.Verify(token)
			assert.ErrorIs(t, err, ErrTokenInvalid)
			var why *RefusedError
			if assert.ErrorAs(t, err, &why) {
				assert.NotEmpty(t, why.Reason, "the log can say why")
			}
			assert.Nil(t, id.External)
		})
	}

	// A later claim that differs only in case overrides nothing: the key is
	// the exact "email".
	id, err := v.Verify(with(func(c jwt.MapClaims) { c["EMAIL"] = "kim.admin@bank.example"; c["Email"] = "kim.admin@bank.example" }))
	require.NoError(t, err)
	assert.Equal(t, "ada@example.com", id.External.Key)
	// ASCII letters fold; a dotted capital I does not become an i.
	id, err = v.Verify(with(func(c jwt.MapClaims) { c["email"] = "K\u0130M.Admin@Bank.Example" }))
	require.NoError(t, err)
	assert.Equal(t, "k\u0130m.admin@bank.example", id.External.Key)

	// With the sub claim an unverified email signs in by sub but is not
	// kept as the user's address.
	id, err = p.verifiers(ClaimSub).Verify(with(func(c jwt.MapClaims) { c["email_verified"] = false }))
	require.NoError(t, err)
	assert.Equal(t, "user-1", id.External.Key)
	assert.Empty(t, id.External.Email, "an unverified email is not kept")
}

// TestIssuer_MaxAge: TOKEN_MAX_AGE holds for the provider's tokens as for
// the gateway's own: iat is then required, an older token is expired, and
// a younger one is usable only until iat plus the age.
func TestIssuer_MaxAge(t *testing.T) {
	p := newProvider(t)
	rs := rsaKey(t, "rs")
	p.keys = []signingKey{rs}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	issuer, err := NewIssuer(IssuerConfig{Issuer: p.srv.URL, Audience: testAudience, Claim: ClaimEmail,
		Keys: NewKeySet(ctx, KeySetConfig{Issuer: p.srv.URL}), MaxAge: time.Hour})
	require.NoError(t, err)
	now := time.Now()
	at := func(iat any) string {
		c := p.claims()
		c["exp"] = now.Add(90 * 24 * time.Hour).Unix()
		if iat == nil {
			delete(c, "iat")
		} else {
			c["iat"] = iat
		}
		return sign(t, rs, c)
	}
	_, err = issuer.Verify(at(now.Add(-30 * 24 * time.Hour).Unix()))
	assert.ErrorIs(t, err, ErrTokenExpired, "issued 30 days ago")
	_, err = issuer.Verify(at(nil))
	assert.ErrorIs(t, err, ErrTokenInvalid, "no iat")
	id, err := issuer.Verify(at(now.Add(-10 * time.Minute).Unix()))
	require.NoError(t, err)
	assert.WithinDuration(t, now.Add(50*time.Minute), id.Until, 2*time.Second, "a socket closes at iat + TOKEN_MAX_AGE, not at exp")
}
